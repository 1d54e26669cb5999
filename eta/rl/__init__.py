"""Online RL's side of the sandbox: every rollout executed (and traced) by one long-lived executor per
process (``eta.rl.rollouts``), and eta's sampler as a GRPO rollout function (``eta.rl.sampler``).

Importable without torch.
"""
