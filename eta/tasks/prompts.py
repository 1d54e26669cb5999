"""Prompts for the two kinds of model, and where their generation should stop.

- ``completion`` (base models): the text the model continues. HumanEval's prompt as it is; for a
  function task, the signature followed by a docstring that states the task and one test, so the model
  writes the body; APPS in its own QUESTION/ANSWER format; a QuixBugs repair as the buggy program
  followed by a header for the fixed one.
- ``chat`` (instruction models): one user turn through the tokenizer's chat template. It states the task,
  the function name and signature the tests call and one example test where the benchmark gives one,
  and asks for a single ```python block (SmolLM2-Instruct answers in one anyway).

``completion_header(task)`` is the code a completion-style prompt ends with; ``eta.tasks.extract``
puts it back in front of the generated text, so a full-program task gets a whole program.
"""

from __future__ import annotations

from typing import Any

from eta.tasks.schema import CompletionMode, Task

STYLES = ("completion", "chat")
# Codex's stop sequences (Chen et al. 2021): a new top-level statement ends a function body.
FUNCTION_STOPS = ["\nclass", "\ndef", "\n#", "\nif", "\nprint", "\nassert"]
PROGRAM_STOPS = ["\nQUESTION", "\n```", "\n-----"]
REPAIR_STOPS = ["\n###", "\n```"]
# A chat answer ends with the closing fence of its code block (an opening fence carries "python").
CHAT_STOPS = ["\n```\n"]


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; use one of {', '.join(STYLES)}")


def is_repair(task: Task) -> bool:
    return "buggy_program" in task.metadata


def is_stdio(task: Task) -> bool:
    return task.entry_point is None


def _docstring(text: str, indent: str = "    ") -> str:
    # The task text inside a docstring: no closing quotes inside it, and backslashes kept literal.
    body = text.strip().replace("\\", "\\\\").replace('"""', "'''")
    lines = [indent + line if line.strip() else "" for line in body.splitlines()]
    return f'{indent}"""\n' + "\n".join(lines) + f'\n{indent}"""\n'


def completion_header(task: Task) -> str:
    """The code that a completion-style prompt ends with and the model's text continues."""
    if task.completion_mode is CompletionMode.APPEND or is_repair(task) or task.dataset == "apps":
        return ""
    signature = task.metadata.get("signature") or f"def {task.entry_point}(*args):"
    text = task.prompt.strip()
    if task.metadata.get("example_test"):
        text += f"\nFor example:\n{task.metadata['example_test']}"
    return f"{signature}\n{_docstring(text)}"


def completion_prompt(task: Task) -> str:
    if task.completion_mode is CompletionMode.APPEND:
        return task.prompt
    if is_repair(task):
        m = task.metadata  # eta.repair adds worked examples before the program and feedback after it
        return (f"{m.get('repair_shots', '')}### Buggy program\n{m['buggy_program'].strip()}\n\n"
                f"{m.get('repair_feedback', '')}### Fixed program\n")
    if task.dataset == "apps":
        return task.prompt
    return completion_header(task)


def user_message(task: Task) -> str:
    """The chat request: the task, the function the tests call, one example test, the answer format."""
    parts = [task.instruction.strip() or task.prompt.strip()]
    signature = task.metadata.get("signature")
    call = (signature or "").removeprefix("def ").removesuffix(":")
    if signature and task.entry_point and signature not in parts[0] and f"`{call}`" not in parts[0]:
        parts.append(f"The tests call the function `{task.entry_point}`: `{signature}`")
    example = task.metadata.get("example_test")
    if example and example not in parts[0]:
        shown = example.strip() if is_stdio(task) else f"```python\n{example}\n```"
        parts.append(f"For example:\n{shown}")
    if is_repair(task):
        parts.append("Answer with a single ```python code block that contains the whole fixed program.")
    elif is_stdio(task):
        parts.append("Answer with a single ```python code block that contains the whole program.")
    else:
        parts.append(f"Answer with a single ```python code block that contains the complete function "
                     f"`{task.entry_point}`.")
    return "\n\n".join(parts)


def chat_messages(task: Task, *, system: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": user_message(task)}]


def build_prompt(task: Task, style: str, tokenizer: Any = None, *, system: str | None = None) -> str:
    """The text to generate from: ``completion`` (raw) or ``chat`` (through ``tokenizer``'s chat template)."""
    _check_style(style)
    if style == "completion":
        return completion_prompt(task)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{task.task_id}: the chat style needs a tokenizer with a chat template")
    return tokenizer.apply_chat_template(chat_messages(task, system=system), tokenize=False,
                                         add_generation_prompt=True)


def stop_strings(task: Task, style: str) -> list[str]:
    """Strings at which generation for ``task`` should stop (the end of the answer's code)."""
    _check_style(style)
    if style == "chat":
        return list(CHAT_STOPS)
    if is_repair(task):
        return list(REPAIR_STOPS)
    if is_stdio(task) or task.dataset == "apps":  # APPS answers are whole programs, helpers included
        return list(PROGRAM_STOPS)
    return list(FUNCTION_STOPS)
