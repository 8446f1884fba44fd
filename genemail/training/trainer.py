"""What training the base model and the adapters share: corpus splits, tokenizing, one Trainer run, cards.

Both :mod:`genemail.training.base_training` and :mod:`genemail.training.adapter_training` read the
corpus with :func:`load_corpus_splits`, tokenize with :func:`tokenize_split` (loss on the email tokens
only), train with :func:`run_trainer` (the ``transformers`` Trainer, fp32 on CPU, seeded), measure with
:func:`evaluate_loss` and write their model cards with :func:`render_card`.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ArtifactError, DataError, config_error
from genemail.training.examples import CausalLMCollator, IGNORE_INDEX, encode_example
from genemail.resources import card_template

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

CORPUS_FIELDS: tuple[str, ...] = ("input", "baseline_input", "output", "segment", "customer_id", "lang")
GENERIC_FIELD = "generic_output"  # the single-strategy email (only the base model's training needs it)
SPLITS: tuple[str, ...] = ("train", "validation", "test")


def check_positive(name: str, value: float) -> None:
    """:class:`ConfigError` naming ``name`` unless ``value`` is a positive number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise config_error(name, value, "a positive number")


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


def tokenize_split(split: "Dataset", tokenizer: Any, prompt_field: str, max_length: int,
                   output_field: str = "output") -> "Dataset":
    """Map records to ``input_ids/attention_mask/labels`` (loss on ``output_field`` only)."""
    return split.map(
        lambda r: encode_example(tokenizer, r[prompt_field], r[output_field], max_length),
        remove_columns=split.column_names,
        desc=f"tokenize ({prompt_field} -> {output_field})",
    )


def email_token_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, int]:
    """Mean next-token loss over the labelled (email) tokens of ``batch``, and their count.

    The same loss as the model's own, but the output layer runs only from the first position that
    predicts a labelled token: on the embedded model the vocabulary projection is a third of the
    compute, and the prompt positions' logits were computed only to be ignored.
    """
    import torch.nn.functional as F

    labels = batch["labels"]
    targets = labels[:, 1:]  # the token each position predicts
    labelled = targets != IGNORE_INDEX
    first = int(labelled.any(dim=0).int().argmax())  # earliest position predicting a labelled token, any row
    inputs = {k: v for k, v in batch.items() if k != "labels"}  # input_ids or inputs_embeds, attention_mask
    out = model(**inputs, logits_to_keep=labels.shape[1] - first)
    logits = out.logits[:, :-1]  # positions first .. width-2 (the last position predicts nothing)
    n = int(labelled.sum())
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets[:, first:].reshape(-1),
                            ignore_index=IGNORE_INDEX, reduction="sum")
    return total / max(n, 1), n


def run_trainer(model: Any, train_ds: "Dataset", pad_token_id: int, *, seed: int,
                epochs: float, max_steps: int | None, batch_size: int, learning_rate: float,
                warmup_ratio: float, progress: bool, min_steps: int = 0) -> dict[str, float]:
    """Train ``model`` in place with the ``transformers`` Trainer (fp32, CPU, seeded, no reporting).

    ``max_steps`` when given, else ``epochs`` over ``train_ds`` but at least ``min_steps`` steps.

    Returns ``train_loss``, ``steps`` and ``seconds`` (validation: :func:`evaluate_loss`).
    """
    from transformers import TrainingArguments

    steps_per_epoch = math.ceil(len(train_ds) / batch_size)
    total = max_steps or max(1, min_steps, math.ceil(steps_per_epoch * epochs))
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
        trainer = _trainer_class()(model=model, args=args, train_dataset=train_ds,
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
            loss, n = email_token_loss(model, batch)
            total += float(loss) * n
            tokens += n
    return round(total / max(tokens, 1), 4)


def _trainer_class() -> Any:
    """The ``transformers`` Trainer with :func:`email_token_loss` (imported on first use: it is heavy)."""
    from transformers import Trainer

    class EmailTokenTrainer(Trainer):
        loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by accumulation steps

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            loss, _ = email_token_loss(model, inputs)
            return (loss, None) if return_outputs else loss

    return EmailTokenTrainer


def render_card(template: str, card_data: Any, **values: Any) -> Any:
    """A ``huggingface_hub.ModelCard`` rendered from the packaged card template ``template``."""
    from huggingface_hub import ModelCard

    path = card_template(template)
    if not path.is_file():
        raise ArtifactError("card template missing", where=str(path),
                            fix="reinstall genemail (the card templates are package data)")
    return ModelCard.from_template(card_data, template_path=str(path), **values)


def jsonable(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with paths as text (for JSON files and cards)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}
