"""EGCA's token-level credit for GRPO (``method.credit=divergence``; arXiv 2603.16158).

A failing rollout whose execution diverges from the reference's at a located line (``divergence.line``:
the candidate line that wrote the first value the reference did not, on the first failing test;
``eta.trace.divergence``) trains only on that line's tokens: the rest of the completion is masked from
the loss, so its (negative) advantage lands where the program went wrong instead of on the whole program.
Passing rollouts, and failures without a located line (no reference, a syntax error, a line outside the
answer), keep the sequence-level advantage on every token.

Through TRL 1.13's ``GRPOTrainer``, not a copy of it: ``_generate_and_score_completions`` returns the
batch the loss reads, and its ``tool_mask`` is the per-token loss mask TRL multiplies into
``completion_mask`` in ``_compute_loss`` (and the liger loss), the hook a ``rollout_func`` fills with
``env_mask`` to keep tokens it did not generate out of the loss. It only masks the loss: the attention mask
(``completion_mask``) is untouched, so the span's tokens are scored in their full context. The subclass
multiplies the credit mask into it and recounts ``num_items_in_batch`` from the new mask, as TRL counts it
with a tool mask (the DAPO loss divides by the tokens trained on). The span comes from the completion's
own generated token ids: the program line -> the answer's characters (``eta.tasks.spans``) -> the tokens
that decode to them (``eta.train.tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eta.execute.result import ExecutionResult
from eta.train.tokens import token_span


def divergent_line(result: ExecutionResult) -> int | None:
    """The line a failing rollout's credit goes to: its first failing test's divergent line, if located."""
    if result.passed or not result.divergence:
        return None
    line = result.divergence.get("line")
    return line if isinstance(line, int) and line > 0 else None


def credit_spans(tokenizer: Any, rollouts: Any, task_ids: Sequence[str], completions: Sequence[Any],
                 completion_ids: Sequence[Sequence[int]], results: Sequence[ExecutionResult]
                 ) -> list[tuple[int, int] | None]:
    """Per rollout, the token span ``[s, e)`` its loss is kept to, or None: every token keeps the sequence
    advantage (a pass, an unlocated failure)."""
    from eta.rl.rollouts import completion_text

    out: list[tuple[int, int] | None] = []
    for task_id, completion, ids, result in zip(task_ids, completions, completion_ids, results):
        line = divergent_line(result)
        chars = rollouts.line_span(task_id, completion, line) if line is not None else None
        out.append(token_span(tokenizer, ids, *chars, text=completion_text(completion)) if chars else None)
    return out


def credit_mask(spans: Sequence[tuple[int, int] | None], width: int) -> Any:
    """The (rollouts, width) 0/1 loss mask of the spans: a row of ones where a rollout has none."""
    import torch

    mask = torch.ones(len(spans), width, dtype=torch.long)
    for row, span in enumerate(spans):
        if span is not None:
            mask[row] = 0
            mask[row, span[0]:span[1]] = 1
    return mask


def credit_trainer(rollouts: Any) -> type:
    """A ``trl.GRPOTrainer`` subclass whose failing rollouts with a located divergence train on the
    divergent line's tokens only; ``rollouts`` is the run's RolloutExecutor, which executed the batch."""
    from trl import GRPOTrainer

    class CreditGRPOTrainer(GRPOTrainer):
        _scored: tuple[list[str], list[Any], list[list[int]]] | None = None

        def _calculate_rewards(self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any) -> Any:
            out = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._scored = ([x["task_id"] for x in inputs], list(completions), [list(c) for c in completion_ids_list])
            return out

        def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
            output = super()._generate_and_score_completions(inputs)
            if self._scored is None:
                raise RuntimeError("method.credit=divergence: TRL built a batch without scoring it")
            task_ids, completions, ids = self._scored
            results = rollouts.results(task_ids, completions)  # the batch just scored: no execution
            spans = credit_spans(self.processing_class, rollouts, task_ids, completions, ids, results)
            completion_mask = output["completion_mask"]
            mask = credit_mask(spans, completion_mask.size(1)).to(completion_mask.device)
            old = output.get("tool_mask")
            output["tool_mask"] = mask if old is None else old * mask
            loss_mask = completion_mask * output["tool_mask"]
            output["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
            failing = [s for s, r in zip(spans, results) if not r.passed]
            mode = "train" if self.model.training else "eval"
            located = [e - s for s, e in (x for x in failing if x is not None)]
            # every batch, every rank (NaN where nothing was located: TRL's log leaves NaN out)
            self._metrics[mode]["credit/located"].append(len(located) / len(failing) if failing else float("nan"))
            self._metrics[mode]["credit/span_tokens"].append(sum(located) / len(located) if located else float("nan"))
            self._scored = None
            return output

    return CreditGRPOTrainer
