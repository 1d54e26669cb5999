"""Online RL's side of the sandbox: every rollout executed (and traced) by one long-lived executor per
process (``eta.rl.rollouts``), eta's sampler as a GRPO rollout function (``eta.rl.sampler``), EGCA's
token-level credit from the divergent line (``eta.rl.credit``), and the per-step plot (``eta.rl.plot``).

Importable without torch.
"""
