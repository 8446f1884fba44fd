"""Train the embedded base model: a byte-level BPE tokenizer and a tiny Qwen3 causal LM, from scratch.

The model learns from the UN-segmented corpus (``baseline_input -> output``, no segment tags): it
is the shared base that every segment's LoRA adapter then specializes. Loss is on the email tokens
only. The folder it writes loads with ``AutoModelForCausalLM`` / ``AutoTokenizer`` like any model,
with a model card (README.md) rendered from the packaged ``base_model_card.md``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genemail.errors import config_error
from genemail.generation.modeling import build_model, count_parameters, get_preset, preset_summary, train_tokenizer
from genemail.generation.trainer import (
    check_positive,
    evaluate_loss,
    jsonable,
    load_corpus_splits,
    render_card,
    run_trainer,
    tokenize_split,
)


@dataclass(frozen=True)
class BaseTrainConfig:
    """Arguments of one base-model training run (validated: each names the bad argument)."""

    corpus: Path
    out: Path
    preset: str = "tiny"
    epochs: float = 8.0  # measured: 3 epochs left numbers mis-copied (fact consistency 0.90)
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
    from huggingface_hub import ModelCardData

    torch.manual_seed(cfg.seed)
    preset = get_preset(cfg.preset)
    corpus = load_corpus_splits(cfg.corpus)
    train = corpus["train"]
    # The tokenizer sees segmented prompts too (so strategy words get merges the adapters can use);
    # the model itself never does.
    texts = [t for col in ("baseline_input", "input", "output") for t in train[col]]
    tokenizer = train_tokenizer(texts, cfg.vocab_size or preset.vocab_size, preset.max_position_embeddings)
    model = build_model(preset, tokenizer, seed=cfg.seed)
    train_ds = tokenize_split(train, tokenizer, "baseline_input", cfg.max_length)
    eval_ds = tokenize_split(corpus["validation"], tokenizer, "baseline_input", cfg.max_length)
    metrics = run_trainer(model, train_ds, tokenizer.pad_token_id, seed=cfg.seed, epochs=cfg.epochs,
                          max_steps=cfg.max_steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                          warmup_ratio=cfg.warmup_ratio, progress=cfg.progress)
    metrics.update(validation_loss=evaluate_loss(model, eval_ds, tokenizer.pad_token_id, cfg.batch_size),
                   parameters=count_parameters(model), vocab_size=len(tokenizer),
                   train_records=len(train), validation_records=len(corpus["validation"]))
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
