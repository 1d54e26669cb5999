"""Stage 1: sample k completions per problem from a policy, into a jsonl file, resumably."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from eta.jsonl import read_rows, write_rows
from eta.tasks.schema import Task

CHUNK = 32  # prompts per call to a policy that samples itself (hosted): its journal reaches the disk this often


def sample_tasks(model: Any, tokenizer: Any, tasks: list[Task], out: Path, *, n: int, temperature: float,
                 sampler_cfg: Any, style: str, policy: str, seed: int, progress: bool = True,
                 label: str | None = None) -> list[dict[str, Any]]:
    """n samples per task into `out` (one line each); tasks already complete there are not sampled again.
    The progress bar says ``label`` (default: sampling, the policy and n)."""
    from eta.tasks.answers import sampler_stops

    have = read_rows(out)
    counts = Counter(r["task_id"] for r in have)
    kept = [r for r in have if counts[r["task_id"]] >= n]
    torn = out.exists() and out.read_bytes().count(b"\n") != len(have)
    if len(kept) != len(have) or torn or not out.exists():
        write_rows(out, kept)  # drop partial tasks (they are redone whole) and a line torn by a kill
    complete = {r["task_id"] for r in kept}
    todo = [t for t in tasks if t.task_id not in complete]
    groups: dict[tuple[str, ...], list[Task]] = {}
    for task in todo:
        stops = sampler_stops(task, style, sampler_cfg.stop or ())
        groups.setdefault(stops, []).append(task)
    # The local engine gets a whole group in one call, so that its batch keeps refilling across problems
    # (no half-empty batch at the end of every chunk); each problem reaches the disk as its samples finish.
    chunk_size = CHUNK if hasattr(model, "sample_prompts") else max(1, len(todo))
    # closed on an error too: the one-line error run.py prints then starts on a line of its own
    with _bar(len(todo), label or f"sampling ({policy}, n={n})", progress) as bar:
        for stops, group in groups.items():
            for start in range(0, len(group), chunk_size):
                _sample_chunk(model, tokenizer, group[start:start + chunk_size], stops, out, bar, n=n,
                              temperature=temperature, sampler_cfg=sampler_cfg, style=style, policy=policy,
                              seed=seed + start)
    order = {t.task_id: i for i, t in enumerate(tasks)}
    rows = [r for r in read_rows(out) if r["task_id"] in order]
    return sorted(rows, key=lambda r: (order[r["task_id"]], r["sample_id"]))


def _sample_chunk(model: Any, tokenizer: Any, chunk: list[Task], stops: tuple[str, ...], out: Path, bar: Any, *,
                  n: int, temperature: float, sampler_cfg: Any, style: str, policy: str, seed: int) -> None:
    """Sample ``chunk`` in one call, each problem appended to ``out`` as soon as its samples are done."""
    from eta.sample import JOURNAL_SUFFIX, sample
    from eta.tasks.prompts import build_prompt

    prompts = [build_prompt(t, style, tokenizer) for t in chunk]
    written: set[int] = set()

    def keep(i: int, gens: list[Any]) -> None:
        _write(out, chunk[i], prompts[i], gens, stops, style, policy)
        written.add(i)
        bar.update(1)

    generations = sample(model, tokenizer, prompts, n=n, temperature=temperature, top_p=sampler_cfg.top_p,
                         max_new_tokens=sampler_cfg.max_new_tokens, stop=list(stops), seed=seed,
                         batch_size=sampler_cfg.batch_size, dtype=_dtype(sampler_cfg), on_done=keep,
                         journal=out.with_suffix(JOURNAL_SUFFIX))  # a hosted policy's replies, as they come
    for i, gens in enumerate(generations):  # a policy that samples itself does not call on_done
        if i not in written:
            keep(i, gens)


def _dtype(sampler_cfg: Any) -> str | None:
    from eta.config import enum_text

    value = getattr(sampler_cfg, "dtype", None)
    return None if value is None else str(enum_text(value))


def _write(out: Path, task: Task, prompt: str, gens: list[Any], stops: tuple[str, ...], style: str,
           policy: str) -> None:
    from eta.tasks.answers import closing_text
    from eta.tasks.extract import extract_code

    with out.open("a", encoding="utf-8") as f:
        for sid, g in enumerate(gens):
            response = g.text + (closing_text(stops) if g.finish_reason == "stop" else "")
            f.write(json.dumps({"task_id": task.task_id, "sample_id": sid, "policy": policy, "prompt": prompt,
                                "response": response, "completion": extract_code(task, g.text, style),
                                "num_tokens": g.num_tokens, "finish_reason": g.finish_reason}) + "\n")


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="problem", disable=not enabled or total == 0, dynamic_ncols=True)
