"""Gathered LoRA: every row of a mixed batch through its own adapter in three torch ops per layer.

PEFT serves a mixed batch (``generate(..., adapter_names=[...])``) with a Python loop in every LoRA
layer: for each distinct adapter it lists that adapter's rows, gathers them, runs ``lora_B(lora_A(x))``
and scatters the result back (``LoraLayer._mixed_batch_forward``). On a small model, or with many
adapters, those K x 6 small ops per layer per decoding step cost more than the layer itself.

Here the adapters of one batch are stacked along the rank axis once per ``generate`` call (the idea
of Punica's and S-LoRA's gathered kernels, in plain torch ops)::

    A_cat = [A_1; ...; A_K]          (R, in)    R = r_1 + ... + r_K
    B_cat = [B_1, ..., B_K]          (out, R)
    mask[i, 0, block(k)] = scaling_k when row i uses adapter k, else 0      (N, 1, R)

    y = base(x) + ((x @ A_cat.T) * mask) @ B_cat.T        x: (N, T, in), y: (N, T, out)

Each row keeps only its own adapter's block of the rank axis; ``__base__`` rows keep none (an
all-zero mask row, so exactly the base output). The extra FLOPs are R (in + out) / (in x out) of the
layer's own matmul (8% for 5 adapters of rank 8 on a 1024-square layer, more on the embedded model's
128-wide ones, see :data:`STACKED_MAX_EXTRA`), the op count no longer grows with K, and adapters of
different ranks or alphas stack without padding. The result is the same sum as
PEFT's up to floating-point rounding order (greedy decoding is tested token for token against
``set_adapter`` and against ``adapter_names``).

Use :func:`gathered_lora` (a context manager around ``model.generate``), or :func:`mixed_batch`,
which takes ``adapter_names`` out of a ``generate`` kwargs dict when it can serve them and leaves them
for PEFT otherwise (:func:`unsupported_reason` says why not; ``GENEMAIL_MIXED_LORA=peft`` always does).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError

if TYPE_CHECKING:
    import torch

BASE_ROW = "__base__"  # PEFT's name for "no adapter" in adapter_names (same as generator.BASE_ROW)


@dataclass(frozen=True)
class LayerPlan:
    """One LoRA layer's adapters for one batch, in one of two forms (shapes in the module docstring).

    ``stacked``: ``a_cat`` (R, in), ``b_cat_t`` (R, out) and ``mask`` (N, 1, R); every row multiplies
    all K adapters' A and keeps its own block. ``rows``: ``a_rows`` (N, in, r) and ``b_rows`` (N, r, out),
    each row's own matrices (scaling folded into B, zero for ``__base__`` rows), for ``torch.bmm``.
    """

    a_cat: "torch.Tensor | None" = None
    b_cat_t: "torch.Tensor | None" = None
    mask: "torch.Tensor | None" = None
    a_rows: "torch.Tensor | None" = None
    b_rows: "torch.Tensor | None" = None

    @property
    def rows(self) -> int:
        return (self.mask if self.mask is not None else self.a_rows).shape[0]


# Stacked costs R / r times a row's own LoRA FLOPs but reads each adapter's weights once and needs no
# per-row copies; per-row bmm costs only the row's own FLOPs but keeps N copies of the weights. Measured
# on the embedded model (5 adapters of rank 8 on every projection, extra FLOPs ~60% of a layer's), stacked
# was as fast or faster (BENCHMARKS.md), so rows are used only when the stacked waste outgrows the layer.
STACKED_MAX_EXTRA = 1.0
def _lora_layers(model: Any) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def unsupported_reason(model: Any) -> str | None:
    """Why the gathered path cannot serve ``model`` exactly (None when it can).

    Supported: PEFT LoRA on ``nn.Linear`` layers (any ranks and alphas, adapters on different
    subsets of layers), in eval mode, unmerged. Not: DoRA and other LoRA variants, ``lora_bias``,
    LoRA on embeddings or convolutions, ``modules_to_save`` / trainable-token wrappers.
    """
    from peft.tuners.lora import Linear
    from peft.utils.other import AuxiliaryTrainingWrapper

    layers = _lora_layers(model)
    if not layers:
        return "the model has no LoRA layers"
    if model.training:
        return "the model is in training mode (dropout would be skipped)"
    if any(isinstance(m, AuxiliaryTrainingWrapper) for m in model.modules()):
        return "the model has modules_to_save or trainable-token wrappers (they route rows themselves)"
    for layer in layers:
        if type(layer) is not Linear:  # subclasses (quantized, conv, embedding) compute differently
            return f"LoRA on a {type(layer).__name__} layer (only plain nn.Linear LoRA layers are gathered)"
        if layer.lora_variant:
            return f"LoRA variant {sorted(layer.lora_variant)} (DoRA etc.) in {type(layer.base_layer).__name__}"
        if any(layer.lora_bias.values()):
            return "an adapter trained with lora_bias=True"
        if layer.merged or layer.disable_adapters:
            return "adapters are merged into the base weights or disabled"
    return None


def plan_layer(layer: Any, names: Sequence[str], mode: str = "auto") -> LayerPlan | None:
    """The adapters that ``names`` uses, stacked (sorted by name) or gathered per row; None if none applies.

    ``mode``: ``"stacked"``, ``"rows"`` or ``"auto"`` (stacked when its extra FLOPs, R (in + out), are at
    most :data:`STACKED_MAX_EXTRA` of the layer's own in x out). An adapter missing from this layer
    (trained on other target modules) contributes nothing to its rows here, as in PEFT.
    """
    present = [a for a in sorted(set(names) - {BASE_ROW}) if a in layer.lora_A]
    if not present:
        return None
    width = sum(layer.lora_A[a].weight.shape[0] for a in present)
    if mode == "auto":
        extra = width * (layer.in_features + layer.out_features) / (layer.in_features * layer.out_features)
        mode = "stacked" if extra <= STACKED_MAX_EXTRA else "rows"
    return _stacked(layer, names, present) if mode == "stacked" else _rows(layer, names, present)


def _stacked(layer: Any, names: Sequence[str], present: list[str]) -> LayerPlan:
    import torch

    a_blocks, b_blocks, offsets, width = [], [], {}, 0
    for name in present:
        a, b = layer.lora_A[name].weight, layer.lora_B[name].weight  # (r, in), (out, r)
        offsets[name] = (width, width + a.shape[0])
        width += a.shape[0]
        a_blocks.append(a)
        b_blocks.append(b)
    a_cat = torch.cat(a_blocks, dim=0)
    mask = torch.zeros(len(names), 1, width, dtype=a_cat.dtype, device=a_cat.device)
    for row, name in enumerate(names):
        if name in offsets:
            start, stop = offsets[name]
            mask[row, 0, start:stop] = float(layer.scaling[name])
    return LayerPlan(a_cat=a_cat, b_cat_t=torch.cat(b_blocks, dim=1).t().contiguous(), mask=mask)


def _rows(layer: Any, names: Sequence[str], present: list[str]) -> LayerPlan:
    import torch

    rank = max(layer.lora_A[a].weight.shape[0] for a in present)  # smaller ranks: zero-padded, adds exact zeros
    weight = layer.lora_A[present[0]].weight
    a_own = torch.zeros(len(present) + 1, layer.in_features, rank, dtype=weight.dtype, device=weight.device)
    b_own = torch.zeros(len(present) + 1, rank, layer.out_features, dtype=weight.dtype, device=weight.device)
    for j, name in enumerate(present, start=1):  # slot 0 stays zero: __base__ and absent adapters
        a, b = layer.lora_A[name].weight, layer.lora_B[name].weight  # (r, in), (out, r)
        a_own[j, :, :a.shape[0]] = a.t()
        b_own[j, :b.shape[1], :] = b.t() * float(layer.scaling[name])
    slot = {name: j for j, name in enumerate(present, start=1)}
    index = torch.tensor([slot.get(name, 0) for name in names], device=weight.device)
    return LayerPlan(a_rows=a_own.index_select(0, index), b_rows=b_own.index_select(0, index))


def _forward(layer: Any, plan: LayerPlan | None, x: "torch.Tensor", *args: Any, **kwargs: Any) -> "torch.Tensor":
    """Replacement for ``LoraLayer.forward`` while a batch runs (``plan`` None: base layer only)."""
    import torch
    import torch.nn.functional as F

    result = layer.base_layer(x, *args, **kwargs)  # fresh tensor: safe to add into in place
    if plan is None:
        return result
    if x.shape[0] != plan.rows:  # beam search / num_return_sequences repeat rows
        raise ConfigError(f"a batch of {x.shape[0]} rows reached a LoRA layer planned for {plan.rows}",
                          fix="use greedy or sampling with one sequence per prompt, or PEFT's adapter_names path")
    if plan.mask is not None:
        h = F.linear(x.to(plan.a_cat.dtype), plan.a_cat)  # (N, T, R): every batch adapter's down-projection
        h.mul_(plan.mask)  # keep row i's own adapter block, scaled; zero the rest
        out = result.view(-1, result.shape[-1])
        out.addmm_(h.view(-1, h.shape[-1]).to(out.dtype), plan.b_cat_t)
    else:
        h = torch.bmm(x.to(plan.a_rows.dtype), plan.a_rows)  # (N, T, r): each row's own down-projection
        result.baddbmm_(h.to(result.dtype), plan.b_rows)
    return result


@contextmanager
def gathered_lora(model: Any, adapter_names: Sequence[str], mode: str = "auto") -> Iterator[None]:
    """Inside this block, ``model``'s forward passes route row ``i`` through ``adapter_names[i]``.

    Call ``model.generate`` / ``model(...)`` *without* ``adapter_names`` inside it. ``mode`` picks each
    layer's form (:func:`plan_layer`). Raises
    :class:`ConfigError` when :func:`unsupported_reason` finds something the gathered path cannot do.
    """
    reason = unsupported_reason(model)
    if reason is not None:
        raise ConfigError(f"the gathered LoRA path cannot serve this model: {reason}",
                          fix="generate with PEFT's adapter_names=[...] instead (mixed_batch falls back by itself)")
    if mode not in ("auto", "stacked", "rows"):
        raise ConfigError(f"gathered LoRA mode {mode!r} is unknown", fix="use auto, stacked or rows")
    names = list(adapter_names)
    known = {a for layer in _lora_layers(model) for a in layer.lora_A}
    unknown = sorted(set(names) - known - {BASE_ROW})
    if unknown:
        raise ConfigError(f"no adapter named {unknown} is loaded (loaded: {sorted(known)})",
                          fix="load those adapters first, or use __base__ for rows without one")
    layers = _lora_layers(model)
    for layer in layers:  # instance attribute shadows the class's forward; deleting it restores PEFT's
        layer.forward = partial(_forward, layer, plan_layer(layer, names, mode))
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


METHODS: tuple[str, ...] = ("gathered", "peft")


def _method(method: str | None) -> str:
    from genemail.settings import Settings

    chosen = Settings.from_env().mixed_lora if method is None else method
    if chosen not in METHODS:
        raise ConfigError(f"mixed-batch LoRA method {chosen!r} is unknown",
                          where="GENEMAIL_MIXED_LORA" if method is None else "method",
                          fix=f"use one of {METHODS}")
    return chosen


@contextmanager
def mixed_batch(model: Any, generate_kwargs: MutableMapping[str, Any], method: str | None = None) -> Iterator[None]:
    """Serve ``generate_kwargs["adapter_names"]`` with :func:`gathered_lora` when the model allows it.

    When it does, ``adapter_names`` is taken out of ``generate_kwargs`` for the block (so PEFT's own
    per-adapter loop does not run as well) and put back after it; otherwise the kwargs are left alone
    and PEFT serves the batch. ``method`` (default: ``$GENEMAIL_MIXED_LORA``, else ``"gathered"``)
    set to ``"peft"`` always leaves the batch to PEFT.
    """
    names = generate_kwargs.get("adapter_names")
    if _method(method) == "peft" or names is None or unsupported_reason(model) is not None:
        yield
        return
    with gathered_lora(model, names):
        del generate_kwargs["adapter_names"]
        try:
            yield
        finally:
            generate_kwargs["adapter_names"] = names
