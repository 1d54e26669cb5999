"""APPS (Hendrycks et al. 2021), the 150-problem subset used by MapCoder, and APPS from the hub.

Two kinds of problem. Call-based ones give starter code (a function, or a method of ``class Solution``)
and each case becomes an ASSERT test that calls it and compares the result as APPS does (a tuple counts
as a list, and the expected value may be wrapped in a one-element list). Standard-input ones are whole
programs; each case becomes a STDIO test that the sandbox compares the APPS way.

The local subset (``apps/selected150.jsonl``) is lossy in two ways that the loader has to undo:
- it wrote each call's arguments as ``"\\n".join(str(arg) for arg in args)``, so an argument is read back
  with ``ast.literal_eval`` where that works and kept as a string where it does not; a string argument
  that spans lines takes the lines left over; a few problems whose string arguments look like numbers
  are listed in ``STRING_PARAMETERS`` (from reading their statements);
- it ships no reference solutions (``Task.reference`` is empty; ``metadata['has_reference']`` is False);
  ``source='hf'`` loads the same problems from codeparrot/apps with their exact arguments and
  solutions, which is how ``--canonical`` can check APPS;
- 22 of its 150 lines repeat an earlier problem; one task is kept per APPS id (128 tasks).
"""

from __future__ import annotations

import ast
import inspect
import json
import os
from typing import Any

from eta.tasks.equality import apps_equal
from eta.tasks.errors import TaskLoadError
from eta.tasks.pysource import parse
from eta.tasks.schema import CompletionMode, Task, TestCase, TestKind
from eta.tasks.sources import check_source, data_file, field, load_hub, read_jsonl
from eta.tasks.splitting import shorten

SPLITS = ("test",)
DIFFICULTIES = ("introductory", "interview", "competition")
LOCAL_FILE = ("apps", "selected150.jsonl")
HUB_DATASET = "codeparrot/apps"
HUB_FILES = {"train": "train.jsonl", "test": "test.jsonl"}

# Parameters that take strings although every value in the subset's tests reads as a number
# (e.g. validate_pin("1234")); the statements say so.
STRING_PARAMETERS: dict[int, set[str]] = {4440: {"pin"}, 3569: {"ticket"}, 2798: {"string"}, 1627: {"s"}}

# Runs in the program's namespace before the tests, for the tests that are judged whole in the child: APPS'
# own comparison, kept apart from the candidate's names by its leading underscore. A test of the form
# `assert _apps_equal(call, expected)` is split instead, and the supervisor runs `apps_equal` itself.
COMPARE_SETUP = inspect.getsource(apps_equal).replace("def apps_equal(", "def _apps_equal(", 1)


class Starter:
    """What the starter code says about the function the tests call."""

    def __init__(self, code: str):
        self.code = code
        module = _parse_starter(code)
        functions = [n for n in ast.walk(module) if isinstance(n, ast.FunctionDef)]
        if not functions:
            raise ValueError("the starter code defines no function")
        node = functions[-1]
        self.in_class = any(isinstance(n, ast.ClassDef) and node in n.body for n in module.body)
        self.class_name = next((n.name for n in module.body if isinstance(n, ast.ClassDef) and node in n.body), None)
        args = [a.arg for a in node.args.args]
        self.params = args[1:] if self.in_class and args and args[0] == "self" else args
        self.required = len(self.params) - len(node.args.defaults)
        self.name = node.name
        self.signature = f"def {node.name}({ast.unparse(node.args)}):"

    def call(self, args: list[Any]) -> str:
        target = f"{self.class_name}().{self.name}" if self.in_class else self.name
        return f"{target}({', '.join(map(repr, args))})"


def _parse_starter(code: str) -> ast.Module:
    # Starter code stops after the signature ("def f(x):\n\t"); give each block a body to parse it.
    lines = code.rstrip().splitlines()
    indent = len(lines[-1]) - len(lines[-1].lstrip()) if lines else 0
    try:
        return parse(code.rstrip().expandtabs(4) + "\n" + " " * (indent + 4) + "pass\n")
    except SyntaxError as exc:
        raise ValueError(f"the starter code does not parse: {exc.msg}") from None


def _literal_or_text(text: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, text


def read_arguments(text: str, starter: Starter, strings: set[str]) -> list[Any]:
    """The arguments of one call from the subset's ``"\\n".join(str(arg) ...)`` form."""
    lines = text.split("\n")
    count = len(starter.params)
    if starter.required <= len(lines) <= count:
        pieces = lines
    elif len(lines) > count >= 1:
        pieces = _absorb_lines(lines, starter, strings)
    else:
        raise ValueError(f"{len(lines)} input line(s) for {count} parameter(s)")
    args = []
    for name, piece in zip(starter.params, pieces):
        ok, value = _literal_or_text(piece)
        args.append(piece if name in strings or not ok else value)
    return args


def _absorb_lines(lines: list[str], starter: Starter, strings: set[str]) -> list[str]:
    # One string argument held newlines: try each parameter as the one that takes the extra lines, and
    # keep the first split where every other argument reads as a Python literal.
    count, extra = len(starter.params), len(lines) - len(starter.params)
    for spot in range(count):
        pieces = lines[:spot] + ["\n".join(lines[spot:spot + extra + 1])] + lines[spot + extra + 1:]
        others = [p for i, p in enumerate(pieces) if i != spot and starter.params[i] not in strings]
        if all(_literal_or_text(p)[0] for p in others):
            return pieces
    raise ValueError(f"{len(lines)} input lines for {count} parameter(s), and no split reads as literals")


def call_test(starter: Starter, args: list[Any], expected: Any) -> TestCase:
    call = starter.call(args)
    return TestCase(kind=TestKind.ASSERT, code=f"assert _apps_equal({call}, {expected!r})", display=shorten(call))


def stdio_test(stdin: str, expected: Any) -> TestCase:
    if isinstance(expected, list):  # the subset wraps outputs in a list; APPS keeps some as lists of lines
        expected = "\n".join(str(x) for x in expected)
    return TestCase(kind=TestKind.STDIO, stdin=stdin, expected_stdout=str(expected),
                    display=shorten("stdin " + repr(stdin), 80))


def apps_prompt(question: str, starter_code: str, call_based: bool) -> str:
    """The prompt format of APPS' own generation script."""
    form = "\nUse Call-Based format" if call_based else "\nUse Standard Input format"
    return f"\nQUESTION:\n{question}\n{starter_code}{form}\nANSWER:\n"


def instruction_for(question: str, starter: Starter | None) -> str:
    if starter is None:
        how = ("Write a complete Python 3 program that reads the input from standard input and prints the "
               "answer to standard output.")
    else:
        how = (f"Write the Python function `{starter.name}` that solves it, starting from this code:\n"
               f"```python\n{starter.code.strip()}\n```")
    return f"{question.strip()}\n\n{how}"


def build_task(*, apps_id: int, question: str, difficulty: str, starter_code: str,
               cases: list[tuple[Any, Any]], reference: str, file: object, where: str,
               raw_arguments: bool) -> Task:
    """One task; ``raw_arguments`` when case inputs are the subset's text form, not argument lists."""
    starter = None
    if starter_code.strip():
        try:
            starter = Starter(starter_code)
        except ValueError as exc:
            raise TaskLoadError(f"field 'starter_code': {exc}", file=file, record=where) from None
    tests = []
    for number, (given, expected) in enumerate(cases, start=1):
        try:
            if starter is None:
                if not isinstance(given, str):
                    raise ValueError(f"a standard-input case needs a string input, found {type(given).__name__}")
                tests.append(stdio_test(given, expected))
            else:
                strings = STRING_PARAMETERS.get(apps_id, set())
                args = read_arguments(given, starter, strings) if raw_arguments else _hub_arguments(given)
                tests.append(call_test(starter, args, expected))
        except ValueError as exc:
            raise TaskLoadError(f"test {number}: {exc}", file=file, record=where) from None
    if not tests:
        raise TaskLoadError("no test cases", file=file, record=where)
    call_based = starter is not None
    metadata = {"difficulty": difficulty, "call_based": call_based, "has_reference": bool(reference.strip())}
    if starter is not None:
        given, expected = cases[0]
        if isinstance(expected, list) and len(expected) == 1:
            expected = expected[0]
        metadata.update(signature=starter.signature, example_test=f"assert {tests[0].display} == {expected!r}")
    else:
        metadata["example_test"] = f"Input:\n{tests[0].stdin}\nOutput:\n{tests[0].expected_stdout}"
    return Task(task_id=f"APPS/{apps_id}", prompt=apps_prompt(question, starter_code, call_based),
                reference=reference, tests=tuple(tests), entry_point=starter.name if starter else None,
                setup=COMPARE_SETUP if call_based else "", completion_mode=CompletionMode.FULL,
                instruction=instruction_for(question, starter), dataset="apps", split="test", metadata=metadata)


def _hub_arguments(given: Any) -> list[Any]:
    if not isinstance(given, list):
        raise ValueError(f"call inputs should be a list of arguments, found {type(given).__name__}")
    # JSON forces string keys on dictionaries; APPS turns them back into ints for a single dict argument.
    if given and isinstance(given[0], dict):
        try:
            return [{int(k): v for k, v in given[0].items()}] + given[1:]
        except ValueError:
            pass
    return given


def from_local(record: Any, *, file: object, where: str) -> Task:
    apps_id = field(record, "id", int, file=file, where=where)
    where = f"{where} (id {apps_id})"
    cases = []
    for number, case in enumerate(field(record, "test_list", list, file=file, where=where), start=1):
        if not isinstance(case, dict) or "input" not in case or "output" not in case:
            raise TaskLoadError(f"test {number} should be an object with 'input' and 'output'", file=file, record=where)
        cases.append((case["input"], case["output"]))
    return build_task(apps_id=apps_id, question=field(record, "description", str, file=file, where=where),
                      difficulty=field(record, "difficulty", str, file=file, where=where),
                      starter_code=field(record, "starter_code", str, file=file, where=where), cases=cases,
                      reference="", file=file, where=where, raw_arguments=True)


def from_hub(row: dict[str, Any], *, file: object, where: str) -> Task:
    apps_id = field(row, "problem_id", int, file=file, where=where)
    where = f"{where} (problem_id {apps_id})"
    try:
        in_out = json.loads(row.get("input_output") or "{}")
        solutions = json.loads(row.get("solutions") or "[]")
    except json.JSONDecodeError as exc:
        raise TaskLoadError(f"input_output/solutions is not valid JSON: {exc}", file=file, record=where) from None
    cases = list(zip(in_out.get("inputs", []), in_out.get("outputs", [])))
    starter = row.get("starter_code") or ""
    if in_out.get("fn_name") and not starter.strip():
        starter = f"def {in_out['fn_name']}(*args):\n"
    return build_task(apps_id=apps_id, question=field(row, "question", str, file=file, where=where),
                      difficulty=str(row.get("difficulty", "")), starter_code=starter, cases=cases,
                      reference=solutions[0] if solutions else "", file=file, where=where, raw_arguments=False)


def subset_ids(data_dir: str | os.PathLike | None) -> list[int] | None:
    """The APPS ids of the local subset, when its file can be read (else None: no filter)."""
    try:
        path = data_file(data_dir, *LOCAL_FILE)
        return list(dict.fromkeys(record["id"] for _, record in read_jsonl(path) if isinstance(record, dict)))
    except TaskLoadError:
        return None


def load(*, split: str | None = None, data_dir: str | os.PathLike | None = None, source: str = "local",
         difficulty: str | None = None, hub_split: str = "train", ids: list[int] | None = None) -> list[Task]:
    """The subset's problems (one split, ``test``), optionally of one ``difficulty``.

    From the hub (``source='hf'``, codeparrot/apps): the same problems, with their exact arguments and
    reference solutions, from ``hub_split`` (the subset was drawn from ``train``); ``ids`` picks others,
    ``ids=[]`` takes every problem of the split that has tests.
    """
    check_source(source, "apps")
    if (split or "test") not in SPLITS:
        raise TaskLoadError(f"APPS has no split {split!r}; it has only 'test' (use hub_split for the hub's)")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        raise TaskLoadError(f"unknown APPS difficulty {difficulty!r}; use one of {', '.join(DIFFICULTIES)}")
    if source == "hf":
        wanted = subset_ids(data_dir) if ids is None else ids
        rows = load_hub(HUB_DATASET, split=hub_split, data_files=HUB_FILES)
        by_id = {row.get("problem_id"): (i, row) for i, row in enumerate(rows) if row.get("input_output")}
        order = wanted if wanted else list(by_id)
        missing = [i for i in order if i not in by_id]
        if missing:
            raise TaskLoadError(f"{len(missing)} problem(s) not in the hub's {hub_split!r} split or without tests: "
                                f"{missing[:10]}", file=f"hf://{HUB_DATASET}")
        tasks = [from_hub(by_id[i][1], file=f"hf://{HUB_DATASET}", where=f"row {by_id[i][0]}") for i in order]
    else:
        path = data_file(data_dir, *LOCAL_FILE)
        tasks, first = [], {}
        for number, record in read_jsonl(path):
            task = from_local(record, file=path, where=f"line {number}")
            if task.task_id in first:  # the subset repeats some problems: keep one, if the copies agree
                if record != first[task.task_id]:
                    raise TaskLoadError(f"{task.task_id} appears again with different content",
                                        file=path, record=f"line {number}")
                continue
            first[task.task_id] = record
            if not ids or int(task.task_id.split("/")[1]) in ids:
                tasks.append(task)
    return [t for t in tasks if difficulty is None or t.metadata["difficulty"] == difficulty]
