"""Train the embedded base model: a byte-level BPE tokenizer and a tiny Qwen3 causal LM, from scratch.

The base model must behave like a real pretrained one (Qwen3): fluent in the product's language and
vocabulary, but knowing none of GenEmail's segment templates, so that each segment's LoRA adapter has
to carry its segment's style. So it never sees a segment-styled email. It learns from

* the **single-strategy** emails (``baseline_input -> generic_output``: the customer's profile, no
  segment information, and the one generic style and offer for everyone, from the strategies file's
  ``baseline`` record), which also teaches it to copy the profile's facts in their fixed forms; and
* the corpus's **neutral sentences** (``neutral.jsonl``: the shop's words, the segments' offer words
  too, in plain statements; no prompt), so it can spell what the adapters will ask of it.

So the base model alone (``__base__`` rows in the generator) *is* the single strategy. Loss is on the
email (or sentence) tokens only. Its card and ``training_metrics.json`` record the validation loss on
its own task (single-strategy emails) and on the segment-styled emails it was never shown (the
number every segment adapter must clearly beat). The folder loads with ``AutoModelForCausalLM`` /
``AutoTokenizer`` like any model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError, config_error
from genemail.generation.modeling import count_parameters
from genemail.training.presets import build_model, get_preset, preset_summary, train_tokenizer
from genemail.training.trainer import (
    GENERIC_FIELD,
    check_positive,
    evaluate_loss,
    jsonable,
    load_corpus_splits,
    render_card,
    run_trainer,
    tokenize_split,
)

if TYPE_CHECKING:
    from datasets import Dataset


@dataclass(frozen=True)
class BaseTrainConfig:
    """Arguments of one base-model training run (validated: each names the bad argument)."""

    corpus: Path
    out: Path
    preset: str = "tiny"
    epochs: float = 4.0  # see docs/MODELS.md (measured: fact consistency of the base alone)
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 16
    learning_rate: float = 3e-3  # tiny from-scratch models want a high LR
    warmup_ratio: float = 0.05
    max_length: int = 384
    vocab_size: int | None = None  # default: the preset's
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        get_preset(self.preset)  # raises ConfigError naming the preset
        check_positive("epochs", self.epochs)
        if self.max_steps is not None:
            check_positive("max_steps", self.max_steps)
        check_positive("batch_size", self.batch_size)
        check_positive("learning_rate", self.learning_rate)
        if not 0 <= self.warmup_ratio < 1:
            raise config_error("warmup_ratio", self.warmup_ratio, "a number in [0, 1)")
        if self.max_length < 32:
            raise config_error("max_length", self.max_length, "an integer >= 32")
        if self.vocab_size is not None and self.vocab_size < 300:
            raise config_error("vocab_size", self.vocab_size, "an integer >= 300")


def train_base(cfg: BaseTrainConfig) -> dict[str, Any]:
    """Train tokenizer + model on ``cfg.corpus`` and save both (and a card) to ``cfg.out``."""
    import torch

    # One torch thread: a second one does not make a step of this tiny model faster (docs/MODELS.md),
    # and with one the trained weights are the same on any machine, whatever its core count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(cfg)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: BaseTrainConfig) -> dict[str, Any]:
    import torch
    from datasets import concatenate_datasets
    from huggingface_hub import ModelCardData

    from genemail.training.corpus import load_neutral

    torch.manual_seed(cfg.seed)
    preset = get_preset(cfg.preset)
    corpus = load_corpus_splits(cfg.corpus)
    train, validation = corpus["train"], corpus["validation"]
    _check_generic(train, cfg.corpus)
    neutral = load_neutral(cfg.corpus)
    # The tokenizer is trained on exactly what the model sees, as a real model's tokenizer comes from its
    # pretraining text: trained on the styled emails too, it would merge their template phrases into
    # tokens the model never saw, whose (random) embeddings no LoRA adapter can learn to write.
    texts = [t for col in ("baseline_input", GENERIC_FIELD) for t in train[col]] + neutral
    tokenizer = train_tokenizer(texts, cfg.vocab_size or preset.vocab_size, preset.max_position_embeddings)
    model = build_model(preset, tokenizer, seed=cfg.seed)
    train_ds = tokenize_split(train, tokenizer, "baseline_input", cfg.max_length, GENERIC_FIELD)
    if neutral:
        train_ds = concatenate_datasets([train_ds, _neutral_dataset(neutral, tokenizer, cfg.max_length)])
    metrics = run_trainer(model, train_ds, tokenizer.pad_token_id, seed=cfg.seed, epochs=cfg.epochs,
                          max_steps=cfg.max_steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                          warmup_ratio=cfg.warmup_ratio, progress=cfg.progress)
    generic_val = tokenize_split(validation, tokenizer, "baseline_input", cfg.max_length, GENERIC_FIELD)
    styled_val = tokenize_split(validation, tokenizer, "baseline_input", cfg.max_length)
    metrics.update(validation_loss=evaluate_loss(model, generic_val, tokenizer.pad_token_id, cfg.batch_size),
                   styled_validation_loss=evaluate_loss(model, styled_val, tokenizer.pad_token_id, cfg.batch_size),
                   parameters=count_parameters(model), vocab_size=len(tokenizer),
                   train_records=len(train), neutral_records=len(neutral), validation_records=len(validation),
                   training_data="single-strategy emails + neutral sentences (no segment-styled email)")
    cfg.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(cfg.out)  # safetensors by default
    tokenizer.save_pretrained(cfg.out)
    info = {"preset": preset_summary(preset), "config": jsonable(asdict(cfg)), "metrics": metrics}
    (cfg.out / "training_metrics.json").write_text(json.dumps(info, indent=2, ensure_ascii=False))
    card_data = ModelCardData(library_name="transformers", pipeline_tag="text-generation", license="apache-2.0",
                              language=sorted(set(train["lang"])), tags=["genemail", "qwen3", "tiny", "marketing-email"])
    render_card("base_model_card.md", card_data, preset=preset_summary(preset), metrics=metrics,
                config=jsonable(asdict(cfg))).save(cfg.out / "README.md")
    return info


def _check_generic(train: "Dataset", corpus: Path) -> None:
    """:class:`DataError` unless every training record has its single-strategy email."""
    if GENERIC_FIELD not in train.column_names or not all(train[GENERIC_FIELD]):
        raise DataError(
            f"the corpus has no single-strategy emails ({GENERIC_FIELD!r})", where=str(Path(corpus) / "train.jsonl"),
            fix="rebuild it with `python -m training.build_corpus` from a strategies file whose 'baseline' record "
                "has variants (the packaged one does)")


def _neutral_dataset(sentences: list[str], tokenizer: Any, max_length: int) -> "Dataset":
    """Neutral sentences as training rows with an empty prompt (loss on every token of the sentence)."""
    from datasets import Dataset

    rows = Dataset.from_dict({"prompt": [""] * len(sentences), "output": sentences})
    return tokenize_split(rows, tokenizer, "prompt", max_length)
