"""What every trainer shares (``runner``: resume, finished runs, saved weights; ``settings``: a method's keys
and TRL's; ``distributed``: launchers and DeepSpeed); the methods themselves live in ``eta.methods``."""
