"""Train the encoder + projector on top of the frozen base model and the frozen segment adapters.

Each training example is one customer's reference email (the corpus's ``output``) under that
customer's segment prompt **with the hidden fact removed** (the ablation's condition (c)), with the
customer's soft prompt prepended. Only the user-vector module learns; the language model, its
embedding table and every adapter stay frozen, so the segment styles cannot drift and the stage is
cheap. Mixed-segment batches go through the gathered LoRA path (the same routing as serving).

A plain loop rather than ``transformers.Trainer``: the trainable module is not the language model,
its inputs are a (features, token ids) pair, and the whole run is a few hundred steps; AdamW and the
linear warm-up schedule are the libraries' own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genemail.errors import ConfigError, config_error
from genemail.training.trainer import email_token_loss
from genemail.user_vector.encoder import UserVectorConfig, UserVectorModel, embedding_rms
from genemail.generation.soft_prompts import build_training_inputs

if TYPE_CHECKING:
    from genemail.generation.generator import EmailGenerator
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import StrategyBook


@dataclass(frozen=True)
class TrainConfig:
    """Optimization settings (defaults sized for the embedded model: well under a CPU minute)."""

    steps: int = 300
    batch_size: int = 16
    learning_rate: float = 3e-3
    warmup_steps: int = 20
    max_length: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise config_error(name, value, "a positive integer")
        if not 0 < self.learning_rate < 1:
            raise config_error("learning_rate", self.learning_rate, "a number in (0, 1)")
        if not 0 <= self.warmup_steps < self.steps:
            raise config_error("warmup_steps", self.warmup_steps, f"an integer in [0, {self.steps})")


@dataclass(frozen=True)
class Example:
    """One customer's training example: profile (fact still in it), segment, reference email, features."""

    profile: "CustomerProfile"
    segment: str
    email: str
    features: np.ndarray  # (F,)


def hide_fact(profile: "CustomerProfile", fact: str) -> "CustomerProfile":
    """``profile`` with ``fact`` (a CustomerProfile field) unknown, so the prompt does not state it."""
    if fact not in profile.__dataclass_fields__ or fact == "customer_id":
        raise ConfigError(f"fact={fact!r} is not a profile field", fix="use e.g. favourite_category")
    return replace(profile, **{fact: None})


def freeze(model: Any) -> None:
    """No gradient for any language-model or adapter weight; eval mode (no dropout, gathered LoRA allowed)."""
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()


def _encode(gen: "EmailGenerator", book: "StrategyBook", examples: Sequence[Example], fact: str, lang: str,
            max_length: int) -> list[dict[str, list[int]]]:
    from genemail.training.examples import encode_example
    from genemail.generation.prompts import build_prompt

    return [encode_example(gen.tokenizer, build_prompt(hide_fact(e.profile, fact), book.for_segment(e.segment), lang),
                           e.email, max_length) for e in examples]


def _standardization(features: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(features.astype(np.float32))
    mean = torch.nanmean(x, dim=0)
    centered = torch.where(torch.isnan(x), torch.zeros_like(x), x - mean)
    return torch.nan_to_num(mean), centered.pow(2).mean(dim=0).sqrt()


def train_user_vector(gen: "EmailGenerator", book: "StrategyBook", examples: Sequence[Example],
                      feature_names: tuple[str, ...], config: TrainConfig | None = None, *, fact: str = "favourite_category",
                      lang: str = "zh", embed_dim: int = 32, n_tokens: int = 4,
                      log_every: int = 50) -> tuple[UserVectorModel, dict[str, Any]]:
    """Fit a :class:`UserVectorModel` on ``examples``; returns it (eval mode) and the training metrics."""
    from genemail.generation.gathered_lora import gathered_lora
    from genemail.training.examples import CausalLMCollator

    config = config or TrainConfig()
    if len(examples) < config.batch_size:
        raise ConfigError(f"{len(examples)} training customers for batches of {config.batch_size}",
                          fix="use more customers (--n-customers) or a smaller --batch-size")
    torch.manual_seed(config.seed)
    freeze(gen.model)
    hidden = gen.model.get_input_embeddings().weight.shape[1]
    uv_config = UserVectorConfig(feature_names=feature_names, lm_hidden_size=hidden, embed_dim=embed_dim,
                                 n_tokens=n_tokens, fact=fact)
    model = UserVectorModel(uv_config, embedding_scale=embedding_rms(gen.model))
    features = np.stack([e.features for e in examples])
    model.set_standardization(*_standardization(features))
    encoded = _encode(gen, book, examples, fact, lang, config.max_length)
    adapters = [book.for_segment(e.segment).adapter for e in examples]
    collate = CausalLMCollator(gen.tokenizer.pad_token_id)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    from transformers import get_linear_schedule_with_warmup

    schedule = get_linear_schedule_with_warmup(opt, config.warmup_steps, config.steps)
    rng = np.random.default_rng(config.seed)
    emb = gen.model.get_input_embeddings()
    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    for step in range(config.steps):
        rows = rng.choice(len(examples), size=config.batch_size, replace=False)
        batch = collate([encoded[i] for i in rows])
        soft = model(torch.from_numpy(features[rows]))
        inputs = build_training_inputs(emb, batch["input_ids"], batch["attention_mask"], batch["labels"], soft)
        with gathered_lora(gen.model, [adapters[i] for i in rows]):  # frozen segment adapters, per row
            loss, _ = email_token_loss(gen.model, inputs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0:
            print(f"[user_vector] step {step + 1}/{config.steps} loss {np.mean(losses[-log_every:]):.4f}", flush=True)
    model.eval()
    window = max(1, min(50, config.steps // 5))
    metrics = {"train": asdict(config), "n_train_customers": len(examples), "fact": fact,
               "first_loss": round(float(np.mean(losses[:window])), 4),
               "final_loss": round(float(np.mean(losses[-window:])), 4),
               "train_seconds": round(time.perf_counter() - t0, 1),
               "trainable_parameters": sum(p.numel() for p in model.parameters())}
    if not math.isfinite(metrics["final_loss"]):
        raise ConfigError("the user-vector training loss is not finite", fix="lower --learning-rate")
    return model, metrics


@torch.inference_mode()
def soft_prompts_for(model: UserVectorModel, features: np.ndarray) -> list[torch.Tensor]:
    """One (k, H) soft prompt per row of ``features`` (N, F)."""
    if len(features) == 0:
        return []
    return list(model(torch.from_numpy(np.asarray(features, dtype=np.float32))).unbind(0))
