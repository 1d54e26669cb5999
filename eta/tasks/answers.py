"""A known program written as the policy's answer: the text a sampled response would be, for training on it.

The sampler (``eta.sample.generate``) asks with ``build_prompt``, stops at ``stop_strings`` (plus the run's
``sampler.stop``), keeps a chat answer's closing fence, and ``extract_code`` turns the response into the
task's completion. A supervised target has to be that same kind of text, or the policy learns a form that
sampling never produces or that extraction reads differently:

* ``chat``: one ```python block holding the whole program;
* ``completion``: what continues the prompt: for a HumanEval-style task the body after the prompt's
  signature, for a function task the body after ``completion_header`` (the signature and a docstring),
  for a whole-program task (APPS, a QuixBugs repair) the program.

An answer is only given when it survives the stops unchanged and extracts back to a program that defines
what the reference defines; otherwise ``None`` (e.g. a completion-style function task whose reference has
a helper function: the helper's ``\\ndef`` is a stop, so sampling can never write it).
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence

from eta.tasks.extract import as_append_completion, extract_code, truncate
from eta.tasks.prompts import STYLES, completion_header, is_repair, is_stdio, stop_strings
from eta.tasks.pysource import parse_or_none
from eta.tasks.schema import CompletionMode, Task


def sampler_stops(task: Task, style: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The stops the sampler uses for ``task``: the prompt style's, then the run's ``sampler.stop``."""
    return tuple(dict.fromkeys([*stop_strings(task, style), *list(extra or [])]))


def closing_text(stops: Sequence[str]) -> str:
    """What the sampler appends to a response that ended at one of ``stops``: a chat answer stops at its
    closing fence, and training text keeps it so that the policy learns to stop."""
    return "\n```" if any(s.strip() == "```" for s in stops) else ""


def program_answer(task: Task, program: str, style: str, extra_stops: Sequence[str] = ()) -> str | None:
    """``program`` (a whole program for ``task``) as the response the policy would give, or None when the
    response form cannot hold it."""
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; use one of {', '.join(STYLES)}")
    if not program.strip():
        return None
    stops = sampler_stops(task, style, extra_stops)
    body = _chat_body(program) if style == "chat" else _completion_body(task, program)
    if body is None or truncate(body, list(stops)) != body:
        return None
    answer = body + closing_text(stops)
    return answer if _extracts_to(task, answer, style, program) else None


def reference_answer(task: Task, style: str, extra_stops: Sequence[str] = ()) -> str | None:
    """The task's reference solution as the policy's answer; None without a reference or a form for it."""
    return program_answer(task, task.reference, style, extra_stops)


def _chat_body(program: str) -> str:
    # the sampler stops before the closing fence's line break, so the body ends on the last code line
    return "```python\n" + textwrap.dedent(program.strip("\n")).rstrip()


def _completion_body(task: Task, program: str) -> str | None:
    if task.completion_mode is CompletionMode.APPEND:
        if program.startswith(task.prompt):
            return program[len(task.prompt):]
        return as_append_completion(task, program)
    if is_repair(task) or is_stdio(task) or task.dataset == "apps":
        return program  # the prompt ends where the whole program starts
    # A function task: the prompt is the signature and a docstring; the answer is the body after them.
    header_task = dataclasses.replace(task, prompt=completion_header(task), completion_mode=CompletionMode.APPEND)
    body = as_append_completion(header_task, program)
    return None if body is program else body  # unchanged: no function of the prompt's name to take it from


def defined_names(program: str) -> set[str] | None:
    """The top-level functions and classes a program defines (None when it does not parse)."""
    import ast

    module = parse_or_none(program)
    if module is None:
        return None
    return {n.name for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _extracts_to(task: Task, answer: str, style: str, program: str) -> bool:
    """Whether extraction reads ``answer`` back as a program that defines everything ``program`` does."""
    extracted = task.program(extract_code(task, answer, style))
    got, wanted = defined_names(extracted), defined_names(program)
    return got is not None and wanted is not None and wanted <= got
