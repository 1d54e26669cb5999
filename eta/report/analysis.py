"""Error analysis for a reader: what a trained policy newly solves and newly breaks against the base, and
the failures of both counted by error category (``analysis.md`` in the run folder, W&B tables).

Reads the evaluation's files only (``eval/<policy>/sampled_executions.jsonl``; an iterative run's rounds in
``round_<n>/eval/trained/``), so it runs and is tested without a model.
"""

from __future__ import annotations

import ast
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eta import rundir
from eta.report.mistakes import DIFF_CATEGORIES, DIFF_RULES, VALUE_RELATIONS, VALUE_RULES, classify
from eta.tasks.schema import Task

# In the order analysis.md lists them.
CATEGORIES = ("syntax", "name or attribute", "type", "index or key", "wrong value", "infinite loop or timeout",
              "other runtime error")
NAME_ERRORS = {"NameError", "UnboundLocalError", "AttributeError"}
INDEX_ERRORS = {"IndexError", "KeyError"}
LOOPING = {"RecursionError"}  # unbounded recursion: the recursive form of an infinite loop
RULES = {
    "syntax": "outcome `syntax_error`: the program does not compile",
    "name or attribute": "outcome `runtime_error` with `NameError`, `UnboundLocalError` or `AttributeError`",
    "type": "outcome `runtime_error` with `TypeError`",
    "index or key": "outcome `runtime_error` with `IndexError` or `KeyError`; marked *off-by-one* when the "
                    "trace's exception line shows an integer variable `i` equal to the length of a list, tuple or "
                    "string variable `xs` and the program subscripts `xs[i]` (the index one past the end)",
    "wrong value": "outcome `wrong_answer`: the program ran and a test's assertion or output comparison failed",
    "infinite loop or timeout": "outcome `timeout` (wall clock or CPU time ran out), or `RecursionError`",
    "other runtime error": "any other exception (`ValueError`, `ZeroDivisionError`, ...), and the outcomes "
                           "`memory_exceeded` and `crashed`",
}
SOLVED_RULE = "a problem counts as solved by a policy when at least half of its sampled evaluation programs pass"
_STATE = re.compile(r"^\[L\d+\] \w+: (?P<state>.*?) \| EXCEPTION: ", re.MULTILINE)


def categorize(record: dict[str, Any]) -> str | None:
    """The error category of one execution record; None when it passed or the harness failed."""
    outcome = record.get("outcome")
    if outcome in ("passed", "infra_error") or record.get("passed"):
        return None
    error = _first_failing_test(record).get("error_type") or record.get("error_type")
    if outcome == "syntax_error":
        return "syntax"
    if outcome == "wrong_answer":
        return "wrong value"
    if outcome == "timeout" or error in LOOPING:
        return "infinite loop or timeout"
    if outcome == "runtime_error":
        if error in NAME_ERRORS:
            return "name or attribute"
        if error == "TypeError":
            return "type"
        if error in INDEX_ERRORS:
            return "index or key"
    return "other runtime error"


def off_by_one(record: dict[str, Any]) -> bool:
    """Whether the trace shows an index one past the end where an ``IndexError`` rose."""
    test = _first_failing_test(record)
    if (test.get("error_type") or record.get("error_type")) != "IndexError":
        return False
    program = record.get("completion") or ""
    for match in _STATE.finditer(test.get("trace") or ""):
        values = _state_values(match.group("state"))
        for seq, seq_value in values.items():
            if not isinstance(seq_value, (list, tuple, str)):
                continue
            for index, value in values.items():
                # `seq[index]` in the program, with `index` at len(seq) when it rose
                if isinstance(value, int) and not isinstance(value, bool) and value == len(seq_value) \
                        and re.search(rf"\b{re.escape(seq)}\[\s*{re.escape(index)}\s*\]", program):
                    return True
    return False


def _state_values(state: str) -> dict[str, Any]:
    """``a=[1, 2], i=2`` (a trace line's variables) as values, where they are literals."""
    try:
        call = ast.parse(f"f({state})", mode="eval").body
    except SyntaxError:
        return {}
    values = {}
    for keyword in getattr(call, "keywords", []):
        try:
            values[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, SyntaxError, TypeError):
            continue
    return values


def _first_failing_test(record: dict[str, Any]) -> dict[str, Any]:
    return next((t for t in record.get("tests") or [] if t.get("outcome") != "passed"), {})


def solved(records: list[dict[str, Any]]) -> bool:
    """The rule of :data:`SOLVED_RULE` (infra errors are masked, as in the metrics)."""
    judged = [r for r in records if r.get("outcome") != "infra_error"]
    return bool(judged) and 2 * sum(bool(r.get("passed")) for r in judged) >= len(judged)


def compare(base: list[dict[str, Any]], trained: list[dict[str, Any]]) -> dict[str, Any]:
    """Newly solved and newly broken problems, and the failure categories of both policies."""
    by_task: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"base": [], "trained": []})
    for name, records in (("base", base), ("trained", trained)):
        for r in records:
            by_task[r["task_id"]][name].append(r)
    newly_solved, newly_broken = [], []
    for task_id, both in by_task.items():
        if not both["base"] or not both["trained"]:
            continue
        before, after = solved(both["base"]), solved(both["trained"])
        if after and not before:
            newly_solved.append(_example(task_id, failing=both["base"], passing=both["trained"]))
        elif before and not after:
            newly_broken.append(_example(task_id, failing=both["trained"], passing=both["base"]))
    return {"newly_solved": newly_solved, "newly_broken": newly_broken,
            "categories": {"base": category_counts(base), "trained": category_counts(trained)}}


def category_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(c for c in map(categorize, records) if c)
    out = {c: counts.get(c, 0) for c in CATEGORIES}
    out["off-by-one (of index or key)"] = sum(off_by_one(r) for r in records)
    return out


def wrong_counts(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Wrong answers by diff class and by value relation (``not recorded``: no value to compare)."""
    diffs = Counter(r.get("diff") or "no reference" for r in rows)
    values = Counter(r.get("value") or "not recorded" for r in rows)
    return {"diff": _counted(diffs, DIFF_CATEGORIES, "no reference"),
            "value": _counted(values, VALUE_RELATIONS, "not recorded")}


def _counted(counts: Counter, classes: Sequence[str], unknown: str) -> dict[str, int]:
    # every class shown, zero or not; the unknown one only where it occurs
    return {c: counts.get(c, 0) for c in classes} | ({unknown: counts[unknown]} if counts.get(unknown) else {})


def _example(task_id: str, *, failing: list[dict[str, Any]], passing: list[dict[str, Any]]) -> dict[str, Any]:
    fail = next(r for r in failing if not r.get("passed"))
    ok = next((r for r in passing if r.get("passed")), passing[0])
    test = _first_failing_test(fail)
    return {"task_id": task_id, "failing_program": fail.get("completion", ""), "category": categorize(fail),
            "off_by_one": off_by_one(fail), "error": f"{test.get('error_type') or fail.get('error_type') or ''}: "
            f"{test.get('error_message') or fail.get('error_message') or ''}".strip(": "),
            "trace": test.get("trace") or "", "passing_program": ok.get("completion", ""),
            "failing_passed": sum(bool(r.get("passed")) for r in failing), "failing_n": len(failing),
            "passing_passed": sum(bool(r.get("passed")) for r in passing), "passing_n": len(passing)}


def trained_policies(run_dir: Path) -> dict[str, Path]:
    """Each trained policy's sampled evaluation file: ``trained``, or ``round_<n>`` for an iterative run."""
    found = {}
    trained = f"{rundir.EVAL}/{rundir.TRAINED}/{rundir.SAMPLED_EXECUTIONS}"
    rounds = sorted(run_dir.glob(f"{rundir.ROUND_PREFIX}*/{trained}"),
                    key=lambda p: int(p.parts[-4].removeprefix(rundir.ROUND_PREFIX)))
    for path in rounds:
        found[path.parts[-4]] = path
    single = run_dir / trained
    if single.is_file():
        found[rundir.TRAINED] = single
    return found


WRONG_FILE = rundir.WRONG_ANSWERS  # beside sampled_executions.jsonl: each wrong answer's classes


def wrong_answers(records: list[dict[str, Any]], tasks: Mapping[str, Task]) -> list[dict[str, Any]]:
    """The :mod:`eta.report.mistakes` classes of each wrong answer among ``records`` whose task is known."""
    out = []
    for r in records:
        task = tasks.get(r.get("task_id", ""))
        if task is None or r.get("outcome") != "wrong_answer":
            continue
        classes = classify(r, task.reference or None, [t.code for t in task.tests], task.entry_point,
                           program=task.program(r.get("completion") or ""))
        out.append({"task_id": r["task_id"], "sample_id": r.get("sample_id", 0), **(classes or {})})
    return out


def write_wrong_answers(path: Path, records: list[dict[str, Any]], tasks: Mapping[str, Task]) -> list[dict[str, Any]]:
    """``wrong_answers.jsonl`` beside the executions ``path`` (rewritten: a pure function of the two)."""
    from eta.jsonl import write_rows

    rows = wrong_answers(records, tasks)
    write_rows(path.parent / WRONG_FILE, rows)
    return rows


def write_analysis(run_dir: Path, tasks: Sequence[Task] = ()) -> tuple[Path, dict[str, dict[str, Any]]] | None:
    """``analysis.md`` for every trained policy against the base; None without both evaluations. With the
    held-out ``tasks``, each policy's wrong answers are classed against the references too (and written to
    ``eval/<policy>/wrong_answers.jsonl``, which the comparison's transition table reads)."""
    from eta.jsonl import read_rows as read_records

    base_file = rundir.eval_dir(run_dir, rundir.BASE) / rundir.SAMPLED_EXECUTIONS
    policies = trained_policies(run_dir)
    if not base_file.is_file() or not policies:
        return None
    by_id = {t.task_id: t for t in tasks}
    base = read_records(base_file)
    base_wrong = write_wrong_answers(base_file, base, by_id) if by_id else None
    results = {}
    for name, path in policies.items():
        records = read_records(path)
        results[name] = compare(base, records)
        if base_wrong is not None:
            results[name]["wrong"] = {"base": wrong_counts(base_wrong),
                                      "trained": wrong_counts(write_wrong_answers(path, records, by_id))}
    out = run_dir / rundir.ANALYSIS
    out.write_text(render(results))
    return out, results


def render(results: dict[str, dict[str, Any]], max_chars: int = 2500) -> str:
    lines = ["# Error analysis: each trained policy against the base", "",
             f"Held-out problems, sampled evaluation programs (`eval/<policy>/sampled_executions.jsonl`); "
             f"{SOLVED_RULE}. Programs are shown as the evaluation executed them (for a HumanEval-style task, the "
             f"body that follows the prompt).", "", "## How a failure is categorised", "",
             "From each failing program's outcome and, for runtime errors, the exception type of its first "
             "failing test:", ""]
    lines += [f"- **{c}**: {RULES[c]}" for c in CATEGORIES] + [""]
    if any(r.get("wrong") for r in results.values()):
        lines += _wrong_rules()
    for name, result in results.items():
        lines += [f"## {name} against base", "", "### Failures by category (failing programs)", "",
                  f"| category | base | {name} | change |", "| --- | --- | --- | --- |"]
        base, trained = result["categories"]["base"], result["categories"]["trained"]
        for c in base:
            lines.append(f"| {c} | {base[c]} | {trained[c]} | {trained[c] - base[c]:+d} |")
        lines += _wrong_tables(name, result.get("wrong"))
        for title, key, bad in (("Newly solved", "newly_solved", "base"), ("Newly broken", "newly_broken", name)):
            good = name if bad == "base" else "base"
            lines += ["", f"### {title} ({len(result[key])})", ""]
            if not result[key]:
                lines.append("None.")
            for ex in result[key]:
                obo = " (off-by-one)" if ex["off_by_one"] else ""
                lines += [f"#### {ex['task_id']}", "",
                          f"{bad}: {ex['failing_passed']}/{ex['failing_n']} pass, {good}: "
                          f"{ex['passing_passed']}/{ex['passing_n']} pass. {bad}'s failure: {ex['category']}{obo}"
                          + (f", `{ex['error']}`" if ex["error"] else ""), "",
                          f"{bad}'s failing program:", "", _fence(ex["failing_program"], max_chars, "python"), ""]
                if ex["trace"]:
                    lines += ["its trace (first failing test):", "", _fence(ex["trace"], max_chars, "text"), ""]
                lines += [f"{good}'s program:", "", _fence(ex["passing_program"], max_chars, "python"), ""]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _wrong_tables(name: str, wrong: dict[str, dict[str, dict[str, int]]] | None) -> list[str]:
    if not wrong:
        return []
    lines = []
    for key, title in (("diff", "change against the reference"), ("value", "value returned")):
        base, trained = wrong["base"][key], wrong["trained"][key]
        lines += ["", f"### Wrong values by {title}", "", f"| class | base | {name} | change |", "| --- | --- | --- | --- |"]
        for c in dict.fromkeys([*base, *trained]):
            b, t = base.get(c, 0), trained.get(c, 0)
            lines.append(f"| {c} | {b} | {t} | {t - b:+d} |")
    return lines


def _wrong_rules() -> list[str]:
    lines = ["", "A wrong value (outcome `wrong_answer`) is also classed by its change against the task's reference "
             "(eta/report/mistakes.py: local names renamed by first use, statements aligned, each difference "
             "placed; the class every difference shares):", ""]
    lines += [f"- **{c}**: {DIFF_RULES[c]}" for c in DIFF_CATEGORIES]
    lines += ["", "and by the value its first failing test's call returned against the expected one:", ""]
    return lines + [f"- **{c}**: {VALUE_RULES[c]}" for c in VALUE_RELATIONS] + [""]


def _fence(text: str, max_chars: int, lang: str) -> str:
    text = text.rstrip()
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n... [{len(text) - max_chars} more characters]"
    return f"````{lang}\n{text}\n````"  # four backticks: a program may hold a ``` of its own


def table_rows(results: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """W&B tables: the category counts, the newly solved and broken problems, the wrong values' classes."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for name, result in results.items():
        tables[f"analysis_{name}_categories"] = [
            {"category": c, "base": n, name: result["categories"]["trained"][c]}
            for c, n in result["categories"]["base"].items()]
        tables[f"analysis_{name}_changes"] = [
            {"change": key.replace("_", " "), "task_id": ex["task_id"], "category": ex["category"],
             "off_by_one": ex["off_by_one"], "error": ex["error"], "failing_program": ex["failing_program"],
             "trace": ex["trace"], "passing_program": ex["passing_program"]}
            for key in ("newly_solved", "newly_broken") for ex in result[key]]
        if result.get("wrong"):
            base, trained = result["wrong"]["base"], result["wrong"]["trained"]
            tables[f"analysis_{name}_wrong_values"] = [
                {"by": by, "class": c, "base": base[by].get(c, 0), name: trained[by].get(c, 0)}
                for by in ("diff", "value") for c in dict.fromkeys([*base[by], *trained[by]])]
    return tables
