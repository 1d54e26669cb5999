"""Scoring with a trained reward model: the same input text and tokenization it was trained on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eta.rm.text import LAYOUT, Fit, rm_input

META_FILE = "eta_rm.json"  # how the inputs were built (with_trace, layout, max_length) and the backbone


def encode(tokenizer: Any, text: str, max_length: int) -> list[int]:
    """Token ids ending with EOS (as TRL's RewardTrainer adds it). ``rm_input`` fits its texts to
    ``max_length`` already, so nothing of them is cut here; only another text too long loses its middle-left
    part, keeping the first token (BERT's [CLS]) and the end."""
    ids = list(tokenizer(text)["input_ids"])
    eos = tokenizer.eos_token_id
    if eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
    if len(ids) > max_length:
        ids = ids[:1] + ids[len(ids) - (max_length - 1):]
    return ids


class Scorer:
    def __init__(self, model: Any, tokenizer: Any, meta: dict[str, Any], batch_size: int = 8) -> None:
        self.model, self.tokenizer, self.meta, self.batch_size = model.eval(), tokenizer, meta, batch_size

    @classmethod
    def load(cls, path: "str | Path") -> "Scorer":
        from peft import PeftModel

        from eta.errors import ConfigError
        from eta.rm.backbones import build_backbone

        path = Path(path)
        if not (path / META_FILE).is_file():
            raise ConfigError(f"{path}: not a reward model folder (no {META_FILE})")
        meta = json.loads((path / META_FILE).read_text())
        if meta.get("layout") != LAYOUT:
            raise ConfigError(f"{path}: a reward model trained on inputs of another layout "
                              f"({meta.get('layout', 'lines, before the token window')}); train it again")
        model = tokenizer = None
        if meta["backbone"] == "policy":
            from eta.models.load import load_model

            model, tokenizer = load_model(meta["model"])
        base, tok = build_backbone(meta["backbone"], model, tokenizer, seed=meta.get("seed", 0))
        return cls(PeftModel.from_pretrained(base, str(path)), tok, meta)

    def texts(self, prompts: Sequence[str], codes: Sequence[str], executions: Sequence[Any]) -> list[str]:
        if not len(prompts) == len(codes) == len(executions):
            raise ValueError(f"score: {len(prompts)} prompts, {len(codes)} codes, {len(executions)} executions")
        fit = Fit(self.tokenizer, self.meta["max_length"])
        return [rm_input(p, c, e, fit, with_trace=self.meta["with_trace"]) for p, c, e in zip(prompts, codes, executions)]

    def score(self, prompts: Sequence[str], codes: Sequence[str], executions: Sequence[Any]) -> list[float]:
        """One reward per program; `executions` are ``ExecutionResult`` objects or their dicts."""
        return self.score_texts(self.texts(prompts, codes, executions))

    def score_texts(self, texts: Sequence[str]) -> list[float]:
        import torch

        pad = self.tokenizer.pad_token_id
        device = next(self.model.parameters()).device
        scores: list[float] = []
        self.model.eval()
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                ids = [encode(self.tokenizer, t, self.meta["max_length"]) for t in texts[start:start + self.batch_size]]
                width = max(len(x) for x in ids)
                input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
                mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
                scores += logits[:, 0].float().tolist()
        return scores
