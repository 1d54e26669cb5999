"""A behavioural oracle for experiments/bench_signals.py: how far a program is from its reference in what it
returns, measured on more inputs than the tests, with no trace at all.

The bench labels a pair of mutants by their edits (one edit is "nearer" than that edit and more). Whether
that label is right is a question about behaviour, so the oracle asks it directly: every call of the entry
point in the task's tests whose arguments are literals gives an input, and each input gives ``variants``
more, perturbed in type-preserving ways (numbers moved, lists and strings lengthened, shortened, reordered)
with a seeded draw. The reference runs on all of them; the inputs it answers (no exception, in time) are the
oracle's inputs, and a program's *distance* is the number of those on which it returns something else (an
exception or running out of time counts as something else). The nearer-by-edits program should be the one
at the smaller distance; the share of pairs where it is bounds what any signal can score against the label.

Programs here are mutants of the datasets' own references (one operator, comparison, constant or and/or
changed), not model output, so they run in forked children of this process with a memory limit and a
CPU-time limit per call (CPU time, not wall time, so that the answers do not depend on the machine's load),
not in eta's sandbox; a child that overruns a generous wall-clock deadline (a program that catches the
limit's exception and goes on) is killed and its unanswered inputs count as wrong.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import io
import json
import multiprocessing as mp
import random
import resource
import signal
import sys
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Iterable

CALL_SECONDS = 0.05  # CPU seconds per call; references answer in microseconds, a mutant that loops costs this per input
MEMORY_BYTES = 1 << 30
WRONG = "!killed"  # what an input that never got an answer counts as
Job = tuple[str, str, list[tuple[Any, ...]]]  # a program's source, its entry point, the inputs
CACHE_VERSION = 2  # 2: limits in CPU time (1 timed calls by the wall clock, which the load moved)


def literal_inputs(test_code: Iterable[str], entry: str) -> list[tuple[Any, ...]]:
    """The argument tuples of every call of `entry` with literal positional arguments in the tests."""
    found: list[tuple[Any, ...]] = []
    for code in test_code:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry \
                    and not node.keywords:
                try:
                    found.append(tuple(ast.literal_eval(a) for a in node.args))
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    continue
    return found


def perturb(value: Any, rng: random.Random) -> Any:
    """A value of the same type near `value` (a drawn change of a number, a string's characters, a
    container's items and length)."""
    if isinstance(value, bool) or value is None:
        return (not value) if isinstance(value, bool) and rng.random() < 0.3 else value
    if isinstance(value, int):
        spread = max(3, abs(value) // 2)
        return value + rng.randint(-spread, spread)
    if isinstance(value, float):
        return round(value * rng.uniform(0.5, 1.5) + rng.uniform(-1, 1), 2)
    if isinstance(value, str):
        alphabet = sorted(set(value)) or list("abc")
        chars = [c if rng.random() < 0.7 else rng.choice(alphabet) for c in value]
        if chars and rng.random() < 0.3:
            del chars[rng.randrange(len(chars))]
        if rng.random() < 0.3:
            chars.insert(rng.randint(0, len(chars)), rng.choice(alphabet))
        return "".join(chars)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [perturb(v, rng) if rng.random() < 0.6 else v for v in value]
        if items and rng.random() < 0.3:
            del items[rng.randrange(len(items))]
        if value and rng.random() < 0.3:
            items.insert(rng.randint(0, len(items)), perturb(rng.choice(list(value)), rng))
        if rng.random() < 0.2:
            rng.shuffle(items)
        try:
            return type(value)(items)
        except TypeError:  # unhashable items drawn into a set: keep the original
            return value
    if isinstance(value, dict):
        return {k: perturb(v, rng) if rng.random() < 0.6 else v for k, v in value.items()}
    return value


def oracle_inputs(test_code: Iterable[str], entry: str, variants: int, seed: str) -> list[tuple[Any, ...]]:
    """The tests' literal inputs, then `variants` perturbed copies of each, without repeats."""
    originals = literal_inputs(test_code, entry)
    rng = random.Random(hashlib.sha1(seed.encode()).hexdigest())
    out: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for args in originals + [tuple(perturb(a, rng) for a in args) for args in originals for _ in range(variants)]:
        if repr(args) not in seen:
            seen.add(repr(args))
            out.append(args)
    return out


def _out_of_time(signum: int, frame: Any) -> None:
    raise TimeoutError


def _child(conn: Connection, source: str, entry: str, inputs: list[tuple[Any, ...]]) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    sys.stdout = sys.stderr = io.StringIO()  # programs that print must not fill the bench's output
    signal.signal(signal.SIGPROF, _out_of_time)
    ns: dict[str, Any] = {"__name__": "__oracle__"}
    try:
        exec(compile(source, "<program>", "exec"), ns)
        fn = ns[entry]
    except BaseException as e:  # noqa: BLE001 - any failure to define the function is its answer
        conn.send([f"!{type(e).__name__}"] * len(inputs))
        return
    for args in inputs:
        try:
            signal.setitimer(signal.ITIMER_PROF, CALL_SECONDS)
            answer = repr(fn(*copy.deepcopy(args)))
        except BaseException as e:  # noqa: BLE001
            answer = f"!{type(e).__name__}"
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        conn.send(answer[:2000])


def outputs(jobs: dict[str, Job], workers: int) -> dict[str, list[str]]:
    """Each job's answers, one per input (``"!Name"`` for an exception): jobs are id -> (source, entry,
    inputs), run `workers` at a time, each in a forked child killed past its deadline."""
    ctx = mp.get_context("fork")
    todo = list(jobs.items())
    done: dict[str, list[str]] = {}
    running: dict[Connection, tuple[str, Any, float, list[str]]] = {}
    while todo or running:
        while todo and len(running) < workers:
            jid, (source, entry, inputs) = todo.pop()
            here, there = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(there, source, entry, inputs), daemon=True)
            proc.start()
            there.close()
            running[here] = (jid, proc, time.monotonic() + 10 + 10 * CALL_SECONDS * len(inputs), [])
        for conn in wait(list(running), timeout=0.2):
            jid, proc, deadline, got = running[conn]
            try:
                item = conn.recv()
                got.extend(item if isinstance(item, list) else [item])
                if len(got) < len(jobs[jid][2]):
                    continue
            except (EOFError, OSError):
                pass
            _finish(running.pop(conn), conn, jobs, done)
        now = time.monotonic()
        for conn in [c for c, (_, _, deadline, _) in running.items() if now > deadline]:
            _finish(running.pop(conn), conn, jobs, done)
    return done


def _finish(entry: tuple[str, Any, float, list[str]], conn: Connection, jobs: dict[str, Any],
            done: dict[str, list[str]]) -> None:
    jid, proc, _, got = entry
    if proc.is_alive():
        proc.kill()
    proc.join()
    conn.close()
    done[jid] = got + [WRONG] * (len(jobs[jid][2]) - len(got))


def distance(reference: list[str], answers: list[str], among: Iterable[int] | None = None) -> int:
    """How many of the inputs the reference answers (``among``: only those indices) get another answer."""
    keep = range(len(reference)) if among is None else among
    return sum(not reference[i].startswith("!") and answers[i] != reference[i] for i in keep)


def cached_outputs(jobs: dict[str, Job], workers: int, path: Path) -> dict[str, list[str]]:
    """`outputs`, reusing the answers already in `path` (a JSON object keyed by a hash of source, entry and
    inputs) and adding the new ones to it."""
    def key(job: Job) -> str:
        return hashlib.sha1(repr((CACHE_VERSION, CALL_SECONDS, job)).encode()).hexdigest()

    cache: dict[str, list[str]] = json.loads(path.read_text()) if path.exists() else {}
    new = outputs({j: job for j, job in jobs.items() if key(job) not in cache}, workers)
    cache.update({key(jobs[j]): answers for j, answers in new.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cache))
    return {j: cache[key(job)] for j, job in jobs.items()}
