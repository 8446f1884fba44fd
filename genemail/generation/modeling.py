"""The base language model: Qwen3 presets, the byte-level BPE tokenizer, loading any causal LM.

GenEmail's embedded default is a tiny Qwen3-architecture model the project trains itself
(``training/train_base.py``), but everything downstream goes through :func:`load_tokenizer` and
:func:`load_base_model`, which accept any ``AutoModelForCausalLM`` name or folder (e.g.
``Qwen/Qwen3-0.6B``). Nothing here may assume the tiny model: a real tokenizer may lack a pad
token (we fall back to EOS) and may add special tokens of its own.

Training examples are encoded as ``prompt ids + email ids + EOS`` with labels ``-100`` on the
prompt, so the loss is on the email only and generation sees exactly the prompt ids it was trained on.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ArtifactError, ConfigError, config_error

if TYPE_CHECKING:  # heavy imports only for type checkers
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, EOS_TOKEN)
IGNORE_INDEX = -100  # label value the causal-LM loss skips (prompt and padding positions)


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


@contextmanager
def tied_head_lora() -> Iterator[None]:
    """PEFT calls on a LoRA that targets ``lm_head`` of a model with tied embeddings, without PEFT's warning.

    PEFT warns that such an adapter can be awkward to *merge* (the head's weight is also the input
    embedding). GenEmail never merges adapters: the LoRA stays a separate delta on the output projection,
    which is what vLLM serves too (docs/MODELS.md), so the warning would only alarm a user. Also quiet:
    transformers' deprecation of ``is_gradient_checkpointing``, which PEFT still calls when it wraps a
    model (PEFT's to change, not ours; it printed in every command's output).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Model has `tie_word_embeddings=True` and a tied layer")
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def get_preset(name: str) -> ModelPreset:
    """The preset called ``name`` (``tiny``, ``micro`` or ``qwen3-0.6b``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise config_error("preset", name, f"one of {sorted(PRESETS)}") from None


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
        _sync_generation_config(model, tokenizer)
    return model


# The embedded default is ~1M parameters and the smallest real model GenEmail targets (Qwen3-0.6B) 0.6B:
# below this a base model is the embedded kind (adapter recipe, the gate's voice fluency check).
SMALL_MODEL_PARAMETERS = 50_000_000


def count_parameters(model: Any) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def _sync_generation_config(model: Any, tokenizer: "PreTrainedTokenizerBase") -> None:
    # generate() reads pad/eos from the generation config; keep it consistent with the tokenizer.
    gen = model.generation_config
    gen.pad_token_id = tokenizer.pad_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.bos_token_id = None


def load_tokenizer(name_or_path: str | Path) -> "PreTrainedTokenizerBase":
    """Load any tokenizer by Hub name or folder; left padding; pad token falls back to EOS."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"cannot load a tokenizer: {exc}", where=str(name_or_path),
            fix="pass --base-model as a folder written by training.train_base or a Hub model id",
        ) from exc
    if tokenizer.eos_token_id is None:
        raise ArtifactError("the tokenizer has no EOS token, so emails could never stop",
                            where=str(name_or_path), fix="use a causal-LM tokenizer with an eos_token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # common for real causal LMs (Llama, some Qwen)
    tokenizer.padding_side = "left"
    return tokenizer


def load_base_model(name_or_path: str | Path,
                    tokenizer: "PreTrainedTokenizerBase | None" = None) -> "PreTrainedModel":
    """Load any causal LM in fp32 (CPU), in eval mode, with pad/eos taken from ``tokenizer``."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(str(name_or_path), dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"cannot load a causal language model: {exc}", where=str(name_or_path),
            fix="pass --base-model as a folder with config.json + model.safetensors or a Hub model id",
        ) from exc
    if tokenizer is not None:
        _sync_generation_config(model, tokenizer)
    return model.eval()


def encode_example(tokenizer: "PreTrainedTokenizerBase", prompt: str, output: str,
                   max_length: int) -> dict[str, list[int]]:
    """``input_ids`` = prompt + output + EOS; ``labels`` are -100 on the prompt (loss on the email only).

    Too long examples lose the *start* of the prompt: the end of the prompt (the customer's
    details and the cue to start writing) matters most for the email.
    """
    prompt_ids = tokenizer(prompt)["input_ids"]
    output_ids = tokenizer(output, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    output_ids = output_ids[:max_length // 2] if len(output_ids) > max_length // 2 else output_ids
    keep = max_length - len(output_ids)
    prompt_ids = prompt_ids[-keep:] if len(prompt_ids) > keep else prompt_ids
    return {
        "input_ids": prompt_ids + output_ids,
        "attention_mask": [1] * (len(prompt_ids) + len(output_ids)),
        "labels": [IGNORE_INDEX] * len(prompt_ids) + output_ids,
    }


class CausalLMCollator:
    """Pads ``encode_example`` rows on the right (training: positions start at 0 for every row)."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)

        def pad(key: str, value: int) -> "torch.Tensor":
            return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows], dtype=torch.long)

        return {"input_ids": pad("input_ids", self.pad_token_id),
                "attention_mask": pad("attention_mask", 0),
                "labels": pad("labels", IGNORE_INDEX)}


def preset_summary(preset: ModelPreset) -> dict[str, Any]:
    """The preset as a plain dict (for model cards and metrics files)."""
    return asdict(preset)
