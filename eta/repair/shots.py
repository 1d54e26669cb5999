"""Worked examples for the repair prompt, made from the training split only.

A training problem's reference solution is mutated into a failing program (one small edit of the kind
QuixBugs' bugs are: a comparison, an arithmetic operator, an integer constant off by one, ``and``/``or``),
the mutant is executed in the sandbox like any program (so its error and trace are real), and the
reference is the fix. A training problem that is itself a repair task (QuixBugs) brings its own bug. The
problems are drawn in a seeded order; a problem asked is never its own example (``for_problem``).
"""

from __future__ import annotations

import ast
import hashlib
from typing import Any, Callable, Iterator

from eta.repair.problems import RepairProblem
from eta.repair.prompt import Shot
from eta.tasks.prompts import is_repair
from eta.tasks.schema import Task

MUTANTS_PER_TASK = 3
_SWAP_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_SWAP_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mod, ast.Mod: ast.FloorDiv}


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    sites = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _SWAP_CMP:
            sites.append((node, "compare"))
        elif isinstance(node, ast.BinOp) and type(node.op) in _SWAP_BIN:
            sites.append((node, "binop"))
        elif isinstance(node, ast.BoolOp):
            sites.append((node, "boolop"))
        elif isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value <= 100:
            sites.append((node, "constant"))
    return sites


def edit(node: ast.AST, kind: str) -> None:
    """Make the one edit of a site's kind on its node, in place."""
    if kind == "compare":
        node.ops[0] = _SWAP_CMP[type(node.ops[0])]()
    elif kind == "binop":
        node.op = _SWAP_BIN[type(node.op)]()
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    else:
        node.value += 1


def mutants(source: str, seed: str) -> Iterator[str]:
    """Programs that differ from ``source`` by one edit, in a seeded order (each different from it)."""
    try:
        n_sites = len(_sites(ast.parse(source)))
    except (SyntaxError, ValueError):
        return
    order = sorted(range(n_sites), key=lambda i: hashlib.sha1(f"{seed}:{i}".encode()).hexdigest())
    for i in order:
        tree = ast.parse(source)
        edit(*_sites(tree)[i])
        mutated = ast.unparse(tree) + "\n"
        if mutated.strip() != ast.unparse(ast.parse(source)).strip():
            yield mutated


def candidates(tasks: list[Task], count: int, seed: int) -> list[tuple[Task, str, str]]:
    """(task, failing-program candidate, its fix) for the first ``count`` usable training problems in a seeded
    order, a few mutants each (the sandbox decides which of them fail)."""
    ranked = sorted((t for t in tasks if t.reference.strip()),
                    key=lambda t: hashlib.sha1(f"shots:{seed}:{t.task_id}".encode()).hexdigest())
    out = []
    for task in ranked[:count]:
        if is_repair(task):
            out.append((task, task.metadata["buggy_program"], task.reference))
            continue
        try:  # the fix as the mutant is written (ast.unparse), so that the one edit is all they differ by
            fixed = ast.unparse(ast.parse(task.reference)) + "\n"
        except (SyntaxError, ValueError):
            continue
        for j, mutant in enumerate(mutants(task.reference, f"{seed}:{task.task_id}")):
            if j >= MUTANTS_PER_TASK:
                break
            out.append((task, mutant, fixed))
    return out


def build_shots(tasks: list[Task], count: int, seed: int,
                execute: Callable[[list[tuple[str, Task, str]]], list[dict[str, Any]]]) -> list[Shot]:
    """Up to ``count + 1`` worked examples (one more than a prompt holds, so that a problem of the
    training split, asked itself, can leave its own out); ``execute`` runs (id, task, program) triples."""
    if count < 1:
        return []
    found = candidates(tasks, count + 1 + 2, seed)  # spares: some problems yield no failing mutant
    todo = [(f"{task.task_id}#m{i}", task, program) for i, (task, program, _) in enumerate(found)]
    records = execute(todo)
    shots, used = [], set()
    for (pid, task, program), (_, _, fixed), record in zip(todo, found, records):
        if task.task_id in used or record.get("passed") or record.get("outcome") in ("infra_error", "syntax_error"):
            continue
        used.add(task.task_id)
        shots.append(Shot(RepairProblem(pid, task, program, record), fixed))
        if len(shots) > count:
            break
    return shots


def for_problem(shots: list[Shot], problem: RepairProblem, count: int) -> list[Shot]:
    """The first ``count`` examples that are not of the problem asked (nor share its reference)."""
    own = problem.task
    return [s for s in shots if s.problem.task.task_id != own.task_id
            and s.problem.task.reference.strip() != own.reference.strip()][:count]
