"""Stage 1: sample k completions per problem from a policy, into a jsonl file, resumably."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from eta.jsonl import read_rows, write_rows
from eta.tasks.schema import Task

CHUNK = 32  # prompts per sampler call: results reach the disk this often; a full batch keeps refilling


def sample_tasks(model: Any, tokenizer: Any, tasks: list[Task], out: Path, *, n: int, temperature: float,
                 sampler_cfg: Any, style: str, policy: str, seed: int, progress: bool = True) -> list[dict[str, Any]]:
    """n samples per task into `out` (one line each); tasks already complete there are not sampled again."""
    from eta.sample import JOURNAL_SUFFIX, sample
    from eta.tasks.answers import closing_text, sampler_stops
    from eta.tasks.extract import extract_code
    from eta.tasks.prompts import build_prompt

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
    # closed on an error too: the one-line error run.py prints then starts on a line of its own
    with _bar(len(todo), f"sampling ({policy}, n={n})", progress) as bar:
        for stops, group in groups.items():
            for start in range(0, len(group), CHUNK):
                chunk = group[start:start + CHUNK]
                prompts = [build_prompt(t, style, tokenizer) for t in chunk]
                generations = sample(model, tokenizer, prompts, n=n, temperature=temperature, top_p=sampler_cfg.top_p,
                                     max_new_tokens=sampler_cfg.max_new_tokens, stop=list(stops),
                                     seed=seed + start, batch_size=sampler_cfg.batch_size,
                                     journal=out.with_suffix(JOURNAL_SUFFIX))  # a hosted policy's replies, as they come
                with out.open("a", encoding="utf-8") as f:
                    for task, prompt, gens in zip(chunk, prompts, generations):
                        for sid, g in enumerate(gens):
                            response = g.text + (closing_text(stops) if g.finish_reason == "stop" else "")
                            f.write(json.dumps({"task_id": task.task_id, "sample_id": sid, "policy": policy,
                                                "prompt": prompt, "response": response,
                                                "completion": extract_code(task, g.text, style),
                                                "num_tokens": g.num_tokens, "finish_reason": g.finish_reason}) + "\n")
                bar.update(len(chunk))
    order = {t.task_id: i for i, t in enumerate(tasks)}
    rows = [r for r in read_rows(out) if r["task_id"] in order]
    return sorted(rows, key=lambda r: (order[r["task_id"]], r["sample_id"]))


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="problem", disable=not enabled or total == 0, dynamic_ncols=True)
