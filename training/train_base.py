"""Train the embedded base model: a byte-level BPE tokenizer and a tiny Qwen3 causal LM, from scratch.

    python -m training.train_base --corpus artifacts/corpus --out artifacts/base [--preset tiny|micro]
        [--max-steps N] [--epochs E] [--seed N]

The model learns from the UN-segmented corpus (``baseline_input -> output``, no segment tags): it
is the shared base that every segment's LoRA adapter then specializes. Loss is on the email tokens
only. The folder it writes loads with ``AutoModelForCausalLM`` / ``AutoTokenizer`` like any model,
with a model card (README.md) rendered from ``hub_cards/base_model_card.md``.

The helpers here (corpus reading, tokenizing, one ``Trainer`` run, card rendering) are shared with
``training/train_adapters.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ArtifactError, DataError, config_error
from genemail.generation.modeling import (
    CausalLMCollator,
    build_model,
    count_parameters,
    encode_example,
    get_preset,
    preset_summary,
    train_tokenizer,
)

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

CARDS_DIR = Path(__file__).resolve().parent.parent / "hub_cards"
CORPUS_FIELDS: tuple[str, ...] = ("input", "baseline_input", "output", "segment", "customer_id", "lang")
SPLITS: tuple[str, ...] = ("train", "validation", "test")


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
        _check_positive("epochs", self.epochs)
        if self.max_steps is not None:
            _check_positive("max_steps", self.max_steps)
        _check_positive("batch_size", self.batch_size)
        _check_positive("learning_rate", self.learning_rate)
        if not 0 <= self.warmup_ratio < 1:
            raise config_error("warmup_ratio", self.warmup_ratio, "a number in [0, 1)")
        if self.max_length < 32:
            raise config_error("max_length", self.max_length, "an integer >= 32")
        if self.vocab_size is not None and self.vocab_size < 300:
            raise config_error("vocab_size", self.vocab_size, "an integer >= 300")


def _check_positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise config_error(name, value, "a positive number")


# ---------------------------------------------------------------- corpus (shared with adapters)

def load_corpus_splits(corpus_dir: Path) -> "DatasetDict":
    """Read ``train/validation[/test].jsonl`` from a corpus folder and check the record fields."""
    from datasets import DatasetDict, load_dataset

    corpus_dir = Path(corpus_dir)
    files = {s: str(corpus_dir / f"{s}.jsonl") for s in SPLITS if (corpus_dir / f"{s}.jsonl").is_file()}
    for required in ("train", "validation"):
        if required not in files:
            raise DataError(f"the corpus has no {required}.jsonl", where=str(corpus_dir),
                            fix="build it with `python -m training.build_corpus --out DIR`")
    splits = load_dataset("json", data_files=files)
    for name, split in splits.items():
        missing = [f for f in CORPUS_FIELDS if f not in split.column_names]
        if missing:
            raise DataError(f"records lack field(s) {missing}", where=files[name],
                            fix=f"each JSONL record needs {list(CORPUS_FIELDS)}")
        if len(split) == 0:
            raise DataError("the split is empty", where=files[name], fix="rebuild the corpus with more customers")
    return DatasetDict(splits)


def tokenize_split(split: "Dataset", tokenizer: Any, prompt_field: str, max_length: int) -> "Dataset":
    """Map records to ``input_ids/attention_mask/labels`` (loss on ``output`` only)."""
    return split.map(
        lambda r: encode_example(tokenizer, r[prompt_field], r["output"], max_length),
        remove_columns=split.column_names,
        desc=f"tokenize ({prompt_field})",
    )


# ---------------------------------------------------------------- one Trainer run (shared)

def run_trainer(model: Any, train_ds: "Dataset", pad_token_id: int, *, seed: int,
                epochs: float, max_steps: int | None, batch_size: int, learning_rate: float,
                warmup_ratio: float, progress: bool) -> dict[str, float]:
    """Train ``model`` in place with the ``transformers`` Trainer (fp32, CPU, seeded, no reporting).

    Returns ``train_loss``, ``steps`` and ``seconds`` (validation: :func:`evaluate_loss`).
    """
    from transformers import Trainer, TrainingArguments

    steps_per_epoch = math.ceil(len(train_ds) / batch_size)
    total = max_steps or max(1, math.ceil(steps_per_epoch * epochs))
    with tempfile.TemporaryDirectory(prefix="genemail-train-") as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            max_steps=total,
            per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=batch_size,
            learning_rate=learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=int(total * warmup_ratio),
            weight_decay=0.0,
            logging_steps=max(1, total // 10),
            save_strategy="no",
            eval_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=seed,
            data_seed=seed,
            disable_tqdm=not progress,
            remove_unused_columns=False,
            dataloader_num_workers=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=train_ds,
                          data_collator=CausalLMCollator(pad_token_id))
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
    model.eval()
    return {
        "train_loss": round(float(result.training_loss), 4),
        "steps": int(result.global_step),
        "seconds": round(seconds, 1),
    }


def evaluate_loss(model: Any, eval_ds: "Dataset", pad_token_id: int, batch_size: int = 16) -> float:
    """Mean token loss of ``model`` on a tokenized split (no training)."""
    import torch

    collate = CausalLMCollator(pad_token_id)
    model.eval()
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(eval_ds), batch_size):
            batch = collate([eval_ds[i] for i in range(start, min(start + batch_size, len(eval_ds)))])
            n = int((batch["labels"][:, 1:] != -100).sum())  # tokens the shifted loss counts
            total += float(model(**batch).loss) * n
            tokens += n
    return round(total / max(tokens, 1), 4)


# ---------------------------------------------------------------- cards (shared)

def render_card(template: str, card_data: Any, **values: Any) -> Any:
    """A ``huggingface_hub.ModelCard`` rendered from ``hub_cards/<template>``."""
    from huggingface_hub import ModelCard

    path = CARDS_DIR / template
    if not path.is_file():
        raise ArtifactError("card template missing", where=str(path), fix="restore hub_cards/ from the repository")
    return ModelCard.from_template(card_data, template_path=str(path), **values)


# ---------------------------------------------------------------- the base model

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
    info = {"preset": preset_summary(preset), "config": _jsonable(asdict(cfg)), "metrics": metrics}
    (cfg.out / "training_metrics.json").write_text(json.dumps(info, indent=2, ensure_ascii=False))
    card_data = ModelCardData(library_name="transformers", pipeline_tag="text-generation", license="apache-2.0",
                              language=sorted(set(train["lang"])), tags=["genemail", "qwen3", "tiny", "marketing-email"])
    render_card("base_model_card.md", card_data, preset=preset_summary(preset), metrics=metrics,
                config=_jsonable(asdict(cfg))).save(cfg.out / "README.md")
    return info


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


def parse_args(argv: list[str] | None = None) -> BaseTrainConfig:
    """Command-line arguments -> validated :class:`BaseTrainConfig`."""
    p = argparse.ArgumentParser(prog="python -m training.train_base", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, required=True, help="corpus folder (train/validation JSONL)")
    p.add_argument("--out", type=Path, required=True, help="output folder for model + tokenizer + card")
    p.add_argument("--preset", default="tiny", help="tiny (default, ~1M params) or micro (tests)")
    p.add_argument("--epochs", type=float, default=BaseTrainConfig.epochs)
    p.add_argument("--max-steps", type=int, default=None, help="optimizer steps (overrides --epochs)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--max-length", type=int, default=384, help="tokens per example (prompt is cut first)")
    p.add_argument("--vocab-size", type=int, default=None, help="tokenizer size (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    a = p.parse_args(argv)
    return BaseTrainConfig(corpus=a.corpus, out=a.out, preset=a.preset, epochs=a.epochs, max_steps=a.max_steps,
                           batch_size=a.batch_size, learning_rate=a.learning_rate, max_length=a.max_length,
                           vocab_size=a.vocab_size, seed=a.seed, progress=not a.no_progress)


def main(argv: list[str] | None = None) -> None:
    """Entry point: train, save, print the metrics."""
    from genemail.errors import GenEmailError

    try:
        info = train_base(parse_args(argv))
    except GenEmailError as err:
        raise SystemExit(f"error: {err}") from None
    print(json.dumps(info["metrics"], indent=2))


if __name__ == "__main__":
    main()
