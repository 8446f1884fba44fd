"""Soft-prompt injection: prepend per-row virtual tokens through ``inputs_embeds``, extend the mask.

A generation batch is left-padded (:mod:`genemail.generation.modeling`). Row ``i`` with a soft
prompt ``S_i`` of ``k_i`` tokens and ``n_i`` real prompt tokens becomes, at width ``K + T``
(``K`` = the batch's largest ``k_i``, ``T`` = the padded prompt width)::

    [pad x (K + T - k_i - n_i)] [S_i (k_i, H)] [prompt_i (n_i, H)]      attention 0 ... 0 1 ... 1

so the soft tokens sit right before the prompt, all padding stays on the left, and the positions
that ``generate`` derives from the mask (``cumsum - 1``) are 0..k_i+n_i-1. A row without a soft
prompt (``None``) is only padded further on the left: its real tokens keep positions 0..n_i-1 and
padded keys get exactly zero attention weight, so it decodes as it would without any of this (the
tests check it token for token against the plain ``input_ids`` path).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from genemail.errors import ConfigError


def has_soft_prompts(soft_prompts: Sequence[torch.Tensor | None] | None) -> bool:
    """True when at least one row carries a soft prompt."""
    return soft_prompts is not None and any(s is not None for s in soft_prompts)


def _check(soft_prompts: Sequence[torch.Tensor | None], rows: int, hidden: int) -> int:
    if len(soft_prompts) != rows:
        raise ConfigError(f"{len(soft_prompts)} soft prompts for {rows} rows",
                          fix="pass one soft prompt (or None) per prompt")
    widths = [0]
    for i, soft in enumerate(soft_prompts):
        if soft is None:
            continue
        if soft.ndim != 2 or soft.shape[1] != hidden:
            raise ConfigError(f"soft prompt {i} has shape {tuple(soft.shape)}",
                              fix=f"pass (k, {hidden}) tensors: k virtual tokens of the model's embedding width")
        widths.append(soft.shape[0])
    return max(widths)


def build_inputs_embeds(embedding: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        soft_prompts: Sequence[torch.Tensor | None],
                        pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs_embeds (N, K + T, H), attention_mask (N, K + T))`` for a left-padded batch.

    ``embedding`` is the model's input embedding (``model.get_input_embeddings()``); gradients flow
    into the soft prompts (training) and not into the frozen embedding table unless it requires them.
    """
    rows, width = input_ids.shape
    token_embeds = embedding(input_ids)  # (N, T, H)
    hidden = token_embeds.shape[-1]
    k = _check(soft_prompts, rows, hidden)
    pad = embedding(torch.tensor([pad_token_id], device=input_ids.device))[0]  # (H,)
    total = k + width
    real = attention_mask.sum(dim=1).tolist()
    out_rows, mask_rows = [], []
    for i in range(rows):
        n = int(real[i])
        soft = soft_prompts[i]
        parts = [token_embeds[i, width - n:]]
        k_i = 0
        if soft is not None:
            parts.insert(0, soft.to(token_embeds.dtype))
            k_i = soft.shape[0]
        left = total - k_i - n
        parts.insert(0, pad.expand(left, hidden))
        out_rows.append(torch.cat(parts, dim=0))
        mask_rows.append(torch.cat([torch.zeros(left, dtype=attention_mask.dtype, device=attention_mask.device),
                                    torch.ones(k_i + n, dtype=attention_mask.dtype, device=attention_mask.device)]))
    return torch.stack(out_rows), torch.stack(mask_rows)


def build_training_inputs(embedding: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                          labels: torch.Tensor, soft_prompts: torch.Tensor) -> dict[str, torch.Tensor]:
    """Right-padded training rows with ``soft_prompts`` (N, k, H) prepended; labels -100 on the soft tokens.

    Training batches are right-padded (``CausalLMCollator``): the soft tokens go first in every row, so
    each row's positions start at 0 as in generation.
    """
    rows, k = soft_prompts.shape[0], soft_prompts.shape[1]
    if rows != input_ids.shape[0]:
        raise ConfigError(f"{rows} soft prompts for {input_ids.shape[0]} rows", fix="pass one soft prompt per row")
    embeds = torch.cat([soft_prompts.to(embedding.weight.dtype), embedding(input_ids)], dim=1)
    ones = torch.ones(rows, k, dtype=attention_mask.dtype, device=attention_mask.device)
    ignore = torch.full((rows, k), -100, dtype=labels.dtype, device=labels.device)
    return {"inputs_embeds": embeds, "attention_mask": torch.cat([ones, attention_mask], dim=1),
            "labels": torch.cat([ignore, labels], dim=1)}
