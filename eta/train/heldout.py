"""How far preference training moved the policy on problems it never trained on: DPO's implicit reward
``beta * (log pi(y|x) - log pi_ref(y|x))`` on held-out pairs, its accuracy (the chosen completion's reward
above the rejected one's; a tie counts as wrong, as TRL's ``rewards/accuracies``) and mean margin.

The held-out pairs are made from the held-out problems' evaluation samples of the base policy
(``eval/base/sampled_samples.jsonl`` and their executions, drawn and run for pass@k anyway), paired by the
run's own heuristic, or by ``prefer.heldout`` where set (a comparison: one heuristic for every arm, so that
every arm, DPO-binary too, is scored on the same pairs, split by the criterion that decided each; those
only a trace orders also as ``trace_ordered``), with references where prefer.include_reference; free
composition (every decided pair, under the heuristic's cap): no training pair is lost to a
split, and no problem of these pairs is a training problem. At step 0 (policy == reference) every margin is
0, so the accuracy is 0 and the held-out DPO loss ln 2; a policy that learned the preference in general,
not only on its training problems, goes above 50% and below ln 2.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eta import rundir
from eta.config import plain_dict
from eta.prefer.criteria import TRACE_CRITERIA

CACHE = rundir.HELDOUT_PAIRS  # in the method's train/ folder: moved aside with it when training is redone


def base_eval_dir(run_dir: Path, round_: int = 1) -> Path:
    """The base policy's evaluation folder (a later round's files live in round_<n>/ below the run)."""
    return rundir.eval_dir(run_dir if round_ <= 1 else run_dir.parent, rundir.BASE)


def heldout_pairs(eval_dir: Path, heuristic: Any, max_pairs: int | None = None, seed: int = 0,
                  references: Sequence[Any] = ()) -> list[Any]:
    """Pairs of the evaluation samples in ``eval_dir`` by ``heuristic`` (at most ``max_pairs``, drawn by ``seed``),
    with the reference solutions of the tasks ``references`` as passing candidates (prefer.include_reference)."""
    from eta.jsonl import read_rows
    from eta.prefer import HeuristicConfig, build_pairs
    from eta.prefer.records import read_records, reference_records

    executions = eval_dir / rundir.SAMPLED_EXECUTIONS
    if not executions.is_file():
        return []
    prompts = {s["task_id"]: s["prompt"] for s in read_rows(eval_dir / rundir.SAMPLED_SAMPLES)}
    # as the prefer stage: the policy is scored on what it said, the heuristic reads the extracted program
    texts = [dict(r, code=r["completion"], completion=r.get("response", r["completion"]))
             for r in read_records(executions)]
    if references:
        texts += reference_records([t for t in references if t.task_id in prompts])
    pairs = build_pairs(texts, HeuristicConfig.from_mapping(heuristic), prompts)
    if max_pairs is not None and len(pairs) > max_pairs:
        keep = sorted(random.Random(seed).sample(range(len(pairs)), max_pairs))
        pairs = [pairs[i] for i in keep]
    return pairs


def implicit_reward_stats(policy: Any, tokenizer: Any, pairs: Sequence[Any], beta: float,
                          batch_size: int = 8) -> dict[str, Any] | None:
    """Accuracy, margin and DPO loss of ``policy`` against itself with its adapter off, on ``pairs``
    (objects with prompt, chosen, rejected, criterion); None without pairs or an adapter to switch off."""
    if not pairs or not hasattr(policy, "disable_adapter"):
        return None
    import torch

    from eta.train.drift import policy_and_reference_logps
    from eta.train.losses import dpo_loss

    prompts = [p.prompt for p in pairs] * 2
    completions = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    was_training = policy.training
    policy.eval()
    try:
        scored = policy_and_reference_logps(policy, tokenizer, prompts, completions, batch_size)
        ours, ref = ([lp for lp, _ in side] for side in scored)
    finally:
        policy.train(was_training)
    n = len(pairs)
    t = lambda xs: torch.tensor(xs, dtype=torch.float64)  # noqa: E731
    out = dpo_loss(t(ours[:n]), t(ours[n:]), t(ref[:n]), t(ref[n:]), beta)
    margins = (out.chosen_rewards - out.rejected_rewards).tolist()
    losses = out.losses.tolist()
    stats = _summary(margins, losses)
    stats.update(chosen_reward=float(out.chosen_rewards.mean()), rejected_reward=float(out.rejected_rewards.mean()))
    by: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by.setdefault(str(getattr(p.criterion, "value", p.criterion)), []).append(i)
    stats["by_criterion"] = {c: _summary([margins[i] for i in idx], [losses[i] for i in idx]) for c, idx in by.items()}
    # the pairs only a trace orders (a verdict ties them): what a binary or verdict-only arm never saw
    trace = [i for c, idx in by.items() if c in TRACE_CRITERIA for i in idx]
    if trace:
        stats["trace_ordered"] = _summary([margins[i] for i in trace], [losses[i] for i in trace])
    return stats


def _summary(margins: Sequence[float], losses: Sequence[float]) -> dict[str, Any]:
    return {"pairs": len(margins), "accuracy": sum(m > 0 for m in margins) / len(margins),
            "margin": sum(margins) / len(margins), "loss": sum(losses) / len(losses)}


def heldout_report(run: Any, policy: Any, tokenizer: Any, beta: float, max_pairs: int | None,
                   cache_dir: Path) -> dict[str, Any] | None:
    """The held-out pair statistics of a trained policy, computed once per training (cached in ``cache_dir``
    with a digest of the evaluation files it read); None, said in a line, where it cannot be measured."""
    eval_dir = base_eval_dir(run.run_dir, run.round)
    executions = eval_dir / rundir.SAMPLED_EXECUTIONS
    if not executions.is_file():
        run.say("held-out pairs: no base evaluation (eval.base=false or evaluate not in stages); not measured")
        return None
    # prefer.heldout: one heuristic for every arm of a comparison, so all are scored on the same pairs
    heuristic = plain_dict(getattr(run.cfg.prefer, "heldout", None) or run.cfg.heuristic, "heuristic")
    digest = hashlib.sha256(executions.read_bytes()).hexdigest()[:16]
    cache = cache_dir / CACHE
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if (saved.get("executions"), saved.get("max_pairs"), saved.get("heuristic")) == (digest, max_pairs, heuristic):
            return saved["stats"]
    references = run.eval_tasks if run.cfg.prefer.include_reference else ()  # paired as the training samples are
    pairs = heldout_pairs(eval_dir, heuristic, max_pairs, seed=int(run.cfg.seed), references=references)
    stats = implicit_reward_stats(policy, tokenizer, pairs, beta)
    if stats is None:
        why = "no pair among the held-out evaluation samples" if not pairs else "no adapter to switch off"
        run.say(f"held-out pairs: {why}; not measured")
        return None
    run.say(f"held-out pairs ({stats['pairs']}): implicit-reward accuracy {stats['accuracy']:.1%}, "
            f"margin {stats['margin']:+.4f}, DPO loss {stats['loss']:.4f} (ln 2 = 0.6931)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    stats["heuristic"] = heuristic["name"]
    cache.write_text(json.dumps({"executions": digest, "max_pairs": max_pairs, "heuristic": heuristic, "stats": stats},
                                indent=1))
    return stats
