"""Sampling that is reproducible per row, whatever else shares the batch.

``transformers`` samples a whole batch from one global random stream, so a customer's email would
depend on which customers shared its batch. Here each row draws from its own seeded stream with the
Gumbel-max trick: adding independent Gumbel noise to the temperature-scaled, top-p-filtered logits and
taking the arg-max draws a token from exactly that softmax distribution (Gumbel 1954; Maddison et al.
2014). Decoding is then greedy over noisy logits, and row ``i``'s noise depends only on its seed and the
step, so a campaign re-run (or a customer moved to another batch) writes the same email.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any


def row_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (campaign seed, customer id, variant, attempt), stable across processes."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class RowSampler:
    """A ``LogitsProcessor``: temperature, top-p, then per-row Gumbel noise (decode greedily after it)."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float) -> None:
        import torch

        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.generators = []
        for seed in seeds:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(int(seed))
            self.generators.append(gen)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        scores = scores.float() / self.temperature
        if self.top_p < 1.0:
            ordered, index = torch.sort(scores, descending=True, dim=-1)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            drop = cumulative - ordered.softmax(dim=-1) > self.top_p  # keep the smallest set reaching top_p
            scores = scores.masked_fill(drop.scatter(-1, index, drop), float("-inf"))
        uniform = torch.stack([torch.rand(scores.shape[-1], generator=g) for g in self.generators])
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1 - 1e-10)))
        return scores + gumbel.to(scores.device)
