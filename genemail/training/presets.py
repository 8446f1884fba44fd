"""The embedded default's shapes and how it is built from scratch: Qwen3 presets, a byte-level BPE tokenizer.

``tiny`` is GenEmail's embedded default (trained by :mod:`genemail.training.base_training`), ``micro``
the tests' model, ``qwen3-0.6b`` a real model's shape with random weights for the benchmarks. Loading a
trained or real model is :mod:`genemail.generation.modeling`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError, config_error
from genemail.generation.modeling import sync_generation_config

if TYPE_CHECKING:  # heavy imports only for type checkers
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, EOS_TOKEN)


@dataclass(frozen=True)
class ModelPreset:
    """A Qwen3 shape. ``vocab_size`` is the tokenizer's target size (the model uses the real one)."""

    name: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    rope_theta: float = 10_000.0
    tie_word_embeddings: bool = True

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                     "head_dim", "intermediate_size", "vocab_size", "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise config_error(name, value, "a positive integer")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError(
                f"num_attention_heads={self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads={self.num_key_value_heads}",
                where=f"preset {self.name!r}",
                fix="choose num_key_value_heads dividing num_attention_heads (grouped-query attention)",
            )


PRESETS: dict[str, ModelPreset] = {
    # The embedded default: ~1.2M parameters, trains in a minute or two on 2 CPU cores.
    "tiny": ModelPreset("tiny", 128, 4, 4, 2, 32, 384, 3000, 1024),
    # For tests: builds and trains in seconds.
    "micro": ModelPreset("micro", 32, 2, 2, 1, 16, 64, 400, 1024),
    # Qwen/Qwen3-0.6B's config.json shape (random weights; used by the benchmark only).
    "qwen3-0.6b": ModelPreset("qwen3-0.6b", 1024, 28, 16, 8, 128, 3072, 151_936, 40_960, 1_000_000.0),
}


def get_preset(name: str) -> ModelPreset:
    """The preset called ``name`` (``tiny``, ``micro`` or ``qwen3-0.6b``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise config_error("preset", name, f"one of {sorted(PRESETS)}") from None


def preset_summary(preset: ModelPreset) -> dict[str, Any]:
    """The preset as a plain dict (for model cards and metrics files)."""
    return asdict(preset)


def train_tokenizer(texts: Iterable[str], vocab_size: int, model_max_length: int = 1024) -> "PreTrainedTokenizerBase":
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it for ``transformers``.

    Digits are split one per token so the model can copy numbers (ages, days, incomes) from the
    prompt into the email instead of having to memorize multi-digit merges.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300:  # 256 byte symbols + specials + a few merges
        raise config_error("vocab_size", vocab_size, "an integer >= 300 (byte alphabet is 256)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side="left",  # decoder-only generation: pad on the left so new tokens follow the prompt
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def build_model(preset: ModelPreset, tokenizer: "PreTrainedTokenizerBase | None" = None,
                seed: int = 0) -> "PreTrainedModel":
    """A freshly initialized (random, seeded) ``Qwen3ForCausalLM`` of ``preset``'s shape, fp32.

    With a ``tokenizer``, the vocabulary and pad/eos ids come from it; without one (benchmarks),
    from the preset.
    """
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    vocab = len(tokenizer) if tokenizer is not None else preset.vocab_size
    config = Qwen3Config(
        vocab_size=vocab,
        hidden_size=preset.hidden_size,
        intermediate_size=preset.intermediate_size,
        num_hidden_layers=preset.num_hidden_layers,
        num_attention_heads=preset.num_attention_heads,
        num_key_value_heads=preset.num_key_value_heads,
        head_dim=preset.head_dim,
        max_position_embeddings=preset.max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": preset.rope_theta},
        tie_word_embeddings=preset.tie_word_embeddings,
        pad_token_id=tokenizer.pad_token_id if tokenizer is not None else None,
        eos_token_id=tokenizer.eos_token_id if tokenizer is not None else None,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).to(torch.float32)
    if tokenizer is not None:
        sync_generation_config(model, tokenizer)
    return model
