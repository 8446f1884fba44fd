"""Loading the base language model and its tokenizer: any causal LM, by Hub id or folder.

Everything that writes an email goes through :func:`load_tokenizer` and :func:`load_base_model`, which
accept any ``AutoModelForCausalLM`` name or folder (e.g. ``Qwen/Qwen3-0.6B``) as well as the embedded
default that :mod:`genemail.training.base_training` trains. Nothing here may assume the tiny model: a
real tokenizer may lack a pad token (we fall back to EOS) and may add special tokens of its own.
Building and training models lives in :mod:`genemail.training`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ArtifactError

if TYPE_CHECKING:  # heavy imports only for type checkers
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


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


# The embedded default is ~1M parameters and the smallest real model GenEmail targets (Qwen3-0.6B) 0.6B:
# below this a base model is the embedded kind (adapter recipe, the gate's voice fluency check).
SMALL_MODEL_PARAMETERS = 50_000_000


def count_parameters(model: Any) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def sync_generation_config(model: Any, tokenizer: "PreTrainedTokenizerBase") -> None:
    """Make ``model``'s generation config use ``tokenizer``'s pad and EOS ids (``generate`` reads them there)."""
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
        sync_generation_config(model, tokenizer)
    return model.eval()
