"""The user encoder and its projector (FR-13): a customer's numbers -> d-dim vector -> k soft-prompt tokens.

In the spirit of USER-LLM (user embeddings from interaction histories, fed to the LM as soft
prompts) and PPlug (one personal embedding attached to a frozen LM's input), at the scale of this
project: the input is one row of standardized features (the sequence features of
:mod:`genemail.behaviour.sequence_features` plus a few table columns), not a long event sequence,
so the encoder is a small MLP rather than a sequence model. Shapes::

    features (N, F) --standardize--> (N, F) --encoder MLP--> user vector (N, d)
    user vector (N, d) --projector--> (N, k * H) --reshape--> soft prompt (N, k, H)

``H`` is the language model's embedding width. The standardization's mean and scale are buffers,
saved with the weights, so a loaded artifact needs nothing else to turn features into tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from genemail.errors import ConfigError, config_error

FORMAT_VERSION = 1


@dataclass(frozen=True)
class UserVectorConfig:
    """Shape of the encoder and projector; validated at construction."""

    feature_names: tuple[str, ...]
    lm_hidden_size: int
    embed_dim: int = 32  # d: the user vector
    n_tokens: int = 4  # k: virtual tokens prepended to the prompt
    hidden_size: int = 64  # the encoder MLP's width
    fact: str = "favourite_category"  # the fact the ablation hides from the text prompt
    format_version: int = field(default=FORMAT_VERSION)

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        if not self.feature_names or len(set(self.feature_names)) != len(self.feature_names):
            raise ConfigError(f"feature_names={list(self.feature_names)[:5]}... is invalid",
                              fix="pass at least one feature name, each once")
        for name, top in (("lm_hidden_size", 65_536), ("embed_dim", 4096), ("n_tokens", 64), ("hidden_size", 8192)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise config_error(name, value, f"an integer in [1, {top}]")
        if self.format_version != FORMAT_VERSION:
            raise ConfigError(f"format_version={self.format_version} is not supported (this code reads "
                              f"{FORMAT_VERSION})", fix="retrain the user vector with this version (make train)")

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["feature_names"] = list(self.feature_names)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UserVectorConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown user-vector config keys {unknown}", fix=f"use only {sorted(known)}")
        return cls(**data)


class UserVectorModel(nn.Module):
    """Encoder (features -> user vector) and projector (user vector -> soft prompt) in one module."""

    def __init__(self, config: UserVectorConfig, embedding_scale: float = 1.0) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("feature_mean", torch.zeros(config.n_features))
        self.register_buffer("feature_scale", torch.ones(config.n_features))
        self.encoder = nn.Sequential(
            nn.Linear(config.n_features, config.hidden_size), nn.GELU(),
            nn.Linear(config.hidden_size, config.embed_dim), nn.LayerNorm(config.embed_dim),
        )
        self.projector = nn.Linear(config.embed_dim, config.n_tokens * config.lm_hidden_size)
        # Start the tokens at the size of real token embeddings (RMS ``embedding_scale``): much larger
        # ones swamp the prompt, much smaller ones are ignored until training has grown them.
        nn.init.normal_(self.projector.weight, std=embedding_scale / config.embed_dim ** 0.5)
        nn.init.zeros_(self.projector.bias)

    def set_standardization(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Mean and scale of the training features (a zero scale is replaced by 1)."""
        self.feature_mean.copy_(mean.to(self.feature_mean))
        self.feature_scale.copy_(torch.where(scale > 0, scale, torch.ones_like(scale)).to(self.feature_scale))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) raw features -> (N, d) user vectors."""
        if features.ndim != 2 or features.shape[1] != self.config.n_features:
            raise ConfigError(f"features of shape {tuple(features.shape)} do not fit this encoder",
                              fix=f"pass (N, {self.config.n_features}) features in the order of config.feature_names")
        x = (features.to(self.feature_mean) - self.feature_mean) / self.feature_scale
        return self.encoder(torch.nan_to_num(x.clamp(-10, 10)))  # unknown values read as the mean

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) raw features -> (N, k, H) soft-prompt embeddings."""
        vectors = self.embed(features)
        return self.projector(vectors).view(-1, self.config.n_tokens, self.config.lm_hidden_size)


def embedding_rms(model: Any) -> float:
    """Root-mean-square of a language model's token embeddings (the scale soft tokens start at)."""
    weight = model.get_input_embeddings().weight
    return float(weight.detach().float().pow(2).mean().sqrt())
