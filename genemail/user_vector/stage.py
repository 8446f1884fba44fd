"""The ``user_vector`` stage of ``make train``: train on an artifacts folder, run the ablation, save.

Reads what earlier stages wrote (``customers.csv`` or the ``--data`` file, ``segmenter/``,
``corpus/``, ``base/``, ``adapters/``, ``strategies.yaml``) and writes ``user_vector/`` (the Hub
artifact) and the ``user_embedding_ablation`` block into ``eval/eval.json`` (other keys untouched).

* **Training customers**: the table's customers in the corpus's *train* split, with their first
  reference email; their events are synthesized from their own table rows
  (:func:`genemail.behaviour.synth_events.synthesize_events`). Top-up customers of the corpus have no
  table row and are left out.
* **Held-out customers**: freshly synthesized customers (IDs from
  :data:`~genemail.user_vector.data.HELD_OUT_ID_OFFSET`), segmented by the trained segmenter: never
  seen by the segmenter, the corpus, the adapters or the encoder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genemail.errors import ArtifactError, ConfigError

ABLATION_KEY = "user_embedding_ablation"


@dataclass(frozen=True)
class StageConfig:
    """What the stage trains and measures (defaults: well under two CPU minutes on the embedded model)."""

    artifacts: Path
    customers: Path | None = None  # default: artifacts/customers.csv
    n_eval: int = 300
    steps: int = 300
    batch_size: int = 16
    learning_rate: float = 3e-3
    embed_dim: int = 32
    n_tokens: int = 4
    seed: int = 0
    max_train_customers: int = 2000

    def __post_init__(self) -> None:
        if self.n_eval < 20:
            raise ConfigError(f"n_eval={self.n_eval} is too small for an interval", fix="pass --n-eval 20 or more")
        if self.max_train_customers < self.batch_size:
            raise ConfigError(f"max_train_customers={self.max_train_customers} is below the batch size",
                              fix=f"pass at least {self.batch_size}")

    @property
    def customers_file(self) -> Path:
        return self.customers or self.artifacts / "customers.csv"


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise ArtifactError(f"{what} not found", where=str(path),
                            fix="run the earlier stages first (make train), or pass --customers FILE")
    return path


def _training_examples(cfg: StageConfig, allowed: set[str]) -> tuple[list[Any], Any, str | None]:
    """(examples, the loaded table, reference date) for customers of the corpus's train split."""
    from genemail.data import load_customers
    from genemail.training.corpus import load_corpus
    from genemail.generation.prompts import CustomerProfile
    from genemail.user_vector.data import customer_set, feature_names
    from genemail.user_vector.training import Example

    loaded = load_customers(_require(cfg.customers_file, "customer table"))
    ref = loaded.report.reference_date
    first: dict[str, tuple[dict[str, Any], str, str]] = {}
    for r in load_corpus(_require(cfg.artifacts / "corpus", "corpus")).get("train", []):
        if r["segment"] in allowed:
            first.setdefault(str(r["customer_id"]), (r["profile"], r["segment"], r["output"]))
    frame = loaded.frame[loaded.frame["customer_id"].astype(str).isin(first)].head(cfg.max_train_customers)
    data = customer_set(frame, ref, cfg.seed)
    x = data.feature_matrix(feature_names())
    examples = [Example(CustomerProfile(**first[cid][0]), first[cid][1], first[cid][2], x[i])
                for i, cid in enumerate(data.frame["customer_id"].astype(str))]
    return examples, data, ref


def _held_out(cfg: StageConfig, ref: Any, allowed: set[str]) -> list[Any]:
    from genemail.generation.prompts import profile_from_row
    from genemail.segmentation import load_segmenter
    from genemail.user_vector.ablation import HeldOut
    from genemail.user_vector.data import customer_set, feature_names, held_out_customers

    segmenter = load_segmenter(_require(cfg.artifacts / "segmenter", "segmenter"))
    frame = held_out_customers(segmenter, int(cfg.n_eval * 1.2), ref, cfg.seed + 1)
    frame = frame[frame["segment"].isin(allowed)].head(cfg.n_eval)
    data = customer_set(frame, ref, cfg.seed + 1)
    x = data.feature_matrix(feature_names())
    return [HeldOut(profile_from_row(row), row["segment"], x[i])
            for i, row in enumerate(data.frame.to_dict(orient="records"))]


def merge_into_eval(eval_json: Path, ablation: dict[str, Any]) -> None:
    """Add (or replace) ``user_embedding_ablation`` in eval.json, keeping every other key."""
    report = json.loads(eval_json.read_text(encoding="utf-8")) if eval_json.is_file() else {}
    report[ABLATION_KEY] = ablation
    eval_json.parent.mkdir(parents=True, exist_ok=True)
    eval_json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


def run_stage(cfg: StageConfig) -> dict[str, Any]:
    """Train, evaluate, save; returns the metrics written to ``user_vector/metrics.json``."""
    from genemail.evaluation.judge import train_style_judge
    from genemail.evaluation.offline import covering_max_new_tokens, decoding
    from genemail.evaluation.variants import load_generator
    from genemail.training.corpus import load_corpus, load_corpus_info
    from genemail.generation.strategies import load_strategies
    from genemail.user_vector.ablation import probe, run_ablation
    from genemail.user_vector.artifact import save_user_vector
    from genemail.user_vector.data import feature_names
    from genemail.user_vector.training import TrainConfig, train_user_vector

    t0 = time.perf_counter()
    art = cfg.artifacts
    strategies = art / "strategies.yaml"
    book = load_strategies(strategies if strategies.is_file() else None)
    gen = load_generator(art)
    allowed = {s for s in book.segments if book.for_segment(s).adapter in gen.adapter_names}
    lang = load_corpus_info(art / "corpus")["lang"]
    examples, _, ref = _training_examples(cfg, allowed)
    model, metrics = train_user_vector(gen, book, examples, feature_names(),
                                       TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, seed=cfg.seed,
                                                   learning_rate=cfg.learning_rate,
                                                   warmup_steps=min(20, cfg.steps // 10)),
                                       lang=lang, embed_dim=cfg.embed_dim, n_tokens=cfg.n_tokens)
    held_out = _held_out(cfg, ref, allowed)
    max_new, _ = covering_max_new_tokens(gen.tokenizer, [e.email for e in examples[:500]])
    judge = train_style_judge(load_corpus(art / "corpus"))
    ablation = run_ablation(gen, book, model, held_out, judge, decoding(0.0, cfg.seed, lang, max_new), seed=cfg.seed)
    ablation["vector_probe"] = probe(model, np.stack([e.features for e in examples]),
                                     [e.profile.favourite_category or "unknown" for e in examples],
                                     np.stack([c.features for c in held_out]),
                                     [c.profile.favourite_category for c in held_out])
    metrics.update(ablation=ablation, reference_date=ref, stage_seconds=round(time.perf_counter() - t0, 1))
    save_user_vector(model, art / "user_vector", metrics, gen.base_model_id)
    merge_into_eval(art / "eval" / "eval.json", ablation)
    return metrics
