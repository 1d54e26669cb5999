"""The DPO objective as a small, documented unit.

Training itself goes through TRL's ``DPOTrainer`` (``eta.methods.dpo``), which computes the same loss
inside ``_compute_loss``; this module states the formula once, in the torchtune style (per-pair losses
and implicit rewards, no reduction), so that analysis code and tests can evaluate it on logged numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import torch


class DPOLossOutput(NamedTuple):
    losses: "torch.Tensor"  # one loss per pair, not reduced: the caller chooses mean or sum
    chosen_rewards: "torch.Tensor"  # beta * log(pi/pi_ref) of the chosen completion, detached
    rejected_rewards: "torch.Tensor"


def dpo_loss(
    policy_chosen_logps: "torch.Tensor",
    policy_rejected_logps: "torch.Tensor",
    ref_chosen_logps: "torch.Tensor",
    ref_rejected_logps: "torch.Tensor",
    beta: float,
) -> DPOLossOutput:
    """Direct Preference Optimization loss, Rafailov et al. 2023, "Direct Preference Optimization: Your
    Language Model is Secretly a Reward Model" (NeurIPS 2023, arXiv:2305.18290), eq. 7::

        L = -log sigmoid( beta * [ (log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x)) ] )

    Every argument is a 1-D tensor of summed completion log-probabilities, one entry per pair (y_w is the
    chosen completion, y_l the rejected one). ``beta`` scales the implicit reward: a larger beta keeps the
    policy closer to the reference. At the start of training (policy == reference) every loss is log 2.
    """
    import torch.nn.functional as F

    shapes = {t.shape for t in (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"dpo_loss: the four log-prob tensors must be 1-D and of one shape, got {sorted(map(tuple, shapes))}")
    chosen_logratios = policy_chosen_logps - ref_chosen_logps
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    # logsigmoid rather than log(sigmoid(.)) keeps large negative margins finite
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    return DPOLossOutput(losses, beta * chosen_logratios.detach(), beta * rejected_logratios.detach())
