"""Train one LoRA adapter per L2 segment, the ``baseline`` adapter, and the ``segment_prompt`` comparator.

* A **segment adapter** learns from that segment's records with the *segmented* prompt (``input ->
  output``): the segment's style on top of a base model that does not know it.
* The ``baseline`` adapter is the PRD's v1.0 "one model for everyone" (the **unsegmented** model):
  the whole corpus, prompts without segment information (``baseline_input -> output``).
* The ``segment_prompt`` adapter (:data:`SEGMENT_PROMPT`) is one shared adapter trained on the whole
  corpus *with* the segmented prompt (the PRD's Phase 1 approach: the segment tag in the prompt). It
  is an evaluation comparator: what per-segment adapters add beyond the tag. It is saved under
  ``comparators_out``, never with the adapters a release publishes.

Loss is on email tokens only. Each adapter folder has the standard PEFT layout,
``training_metrics.json`` and a README.md card (rendered from the packaged ``adapter_card.md``).
Every segment adapter records, on the *same* validation customers of its segment: its own loss, the
base model alone (baseline prompt; the base never saw a styled email), the baseline adapter and the
segment-prompt adapter. ``beats_base`` says whether it is clearly below the base alone (by at least
``min_gain``, relative). A segment with fewer than ``min_train_records`` training records is not
trained and is reported as too small in ``training_summary.json``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from genemail.errors import ConfigError, DataError, config_error
from genemail.generation.modeling import SMALL_MODEL_PARAMETERS, tied_head_lora
from genemail.training.trainer import (
    check_positive,
    evaluate_loss,
    jsonable,
    load_corpus_splits,
    render_card,
    run_trainer,
    tokenize_split,
)
from genemail.taxonomy import BASELINE, L2_SEGMENTS

DEFAULT_TARGET_MODULES: tuple[str, ...] = ("q_proj", "v_proj")  # the PRD's LoRA recipe
# Measured (docs/MODELS.md): on the ~1M-parameter embedded model, q_proj+v_proj at r=8 barely beats
# the baseline adapter on its own segment; every linear projection learns the segment style 2-3x
# better. So small base models default to all of them; real models keep the PRD recipe.
# The output projection (lm_head) too: with it frozen, the adapters plateaued at ~0.8 nats/token on
# their segment however long they trained (rank 8 or 32, any LR), 2x the corpus's own entropy, and
# their sampled emails splice clauses; with it, 0.33, level with fine-tuning every weight (docs/MODELS.md).
ALL_LINEAR_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                       "lm_head")
PRD_DROPOUT, SMALL_MODEL_DROPOUT = 0.1, 0.0
# The shared adapter with the segment tag in the prompt: an evaluation comparator, not a segment.
SEGMENT_PROMPT = "segment_prompt"
WHOLE_CORPUS = (BASELINE, SEGMENT_PROMPT)  # adapters trained on every segment's records
SUMMARY_FILE = "training_summary.json"


@dataclass(frozen=True)
class AdapterTrainConfig:
    """What to train and how (validated: each error names the argument, the value and the fix)."""

    base_model: str
    corpus: Path
    out: Path
    segments: tuple[str, ...] | None = None  # default: every L2 segment in the corpus + baseline
    r: int = 8
    alpha: int = 16
    dropout: float | None = None  # None: see resolve_lora (0.1, the PRD's, on a real model)
    target_modules: tuple[str, ...] | None = None  # None: see resolve_lora
    epochs: float = 3.0  # measured in docs/MODELS.md; `make train` must stay within its time budget
    max_steps: int | None = None
    # A floor on optimizer steps: a 400-record segment gets 75 steps from 3 epochs, which left its
    # adapter far from its voice (greedy pass rate 0 on Regular_Active; docs/MODELS.md).
    min_steps: int = 400
    batch_size: int = 16
    learning_rate: float = 1e-2  # measured (docs/MODELS.md): the styles are learned from a base that lacks them
    warmup_ratio: float = 0.05
    max_length: int = 384
    seed: int = 0
    strategies: Path | None = None  # display names for the cards; default strategies file
    base_model_id: str | None = None  # Hub id written as the card's base_model (default: base_model)
    progress: bool = True
    extra_tags: tuple[str, ...] = field(default_factory=tuple)
    comparators_out: Path | None = None  # where segment_prompt goes; None: it is not trained
    min_train_records: int = 20  # fewer: the segment is reported as too small to train
    min_gain: float = 0.1  # "clearly below the base": validation loss at least 10% under it
    workers: int | None = None  # processes; None: genemail.parallel.model_workers decides

    def __post_init__(self) -> None:
        if not isinstance(self.r, int) or self.r < 1:
            raise config_error("r", self.r, "a positive integer (LoRA rank, e.g. 8)")
        check_positive("alpha", self.alpha)
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise config_error("dropout", self.dropout, "a number in [0, 1)")
        if self.target_modules is not None and (
                not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules)):
            raise config_error("target_modules", self.target_modules, "module names such as q_proj,v_proj")
        check_positive("epochs", self.epochs)
        if self.max_steps is not None:
            check_positive("max_steps", self.max_steps)
        check_positive("batch_size", self.batch_size)
        if not isinstance(self.min_steps, int) or isinstance(self.min_steps, bool) or self.min_steps < 0:
            raise config_error("min_steps", self.min_steps, "a non-negative integer (0: epochs alone decide)")
        check_positive("learning_rate", self.learning_rate)
        if self.segments is not None:
            names = [*L2_SEGMENTS, *WHOLE_CORPUS]
            unknown = [s for s in self.segments if s not in names]
            if unknown or not self.segments:
                raise config_error("segments", list(self.segments), f"names from {names}")
        if not isinstance(self.min_train_records, int) or self.min_train_records < 1:
            raise config_error("min_train_records", self.min_train_records, "a positive integer")
        if not 0 <= self.min_gain < 1:
            raise config_error("min_gain", self.min_gain, "a fraction in [0, 1)")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise config_error("workers", self.workers, "a positive integer (worker processes)")


def parse_target_modules(text: str | None) -> tuple[str, ...] | None:
    """``"q_proj, v_proj"`` -> ``("q_proj", "v_proj")``; None or blank -> None (the default targets)."""
    names = tuple(m.strip() for m in (text or "").split(",") if m.strip())
    return names or None


def resolve_lora(cfg: AdapterTrainConfig, n_parameters: int) -> AdapterTrainConfig:
    """``cfg`` with its LoRA recipe settled: the targets and dropout given, else the defaults for the
    model's size. A real model keeps the PRD's recipe (``q_proj, v_proj``, dropout 0.1); a small
    (embedded) one gets every linear projection and no dropout."""
    small = n_parameters < SMALL_MODEL_PARAMETERS
    targets = cfg.target_modules or (ALL_LINEAR_MODULES if small else DEFAULT_TARGET_MODULES)
    # Measured on the embedded model (docs/MODELS.md): dropout 0.1 did not lower its segments'
    # validation loss (the adapters underfit, they do not overfit) and cost a quarter of each step.
    dropout = cfg.dropout if cfg.dropout is not None else (SMALL_MODEL_DROPOUT if small else PRD_DROPOUT)
    return replace(cfg, target_modules=targets, dropout=dropout)


def lora_config(cfg: AdapterTrainConfig) -> Any:
    """The ``peft.LoraConfig`` of a resolved ``cfg`` (:func:`resolve_lora`)."""
    from peft import LoraConfig

    if cfg.target_modules is None or cfg.dropout is None:
        raise ConfigError("the LoRA recipe is not resolved", fix="call resolve_lora(cfg, n_parameters) first")
    return LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                      target_modules=list(cfg.target_modules), task_type="CAUSAL_LM", bias="none")


def plan_adapters(cfg: AdapterTrainConfig, corpus_segments: set[str] | dict[str, int]) -> list[str]:
    """The adapters to train: baseline, then segment_prompt (with ``comparators_out``), then segments.

    ``corpus_segments`` is the set of segments with training records, or segment -> record count
    (then segments under ``min_train_records`` are left out: see :func:`too_small`).
    :class:`DataError` for a requested segment with no records at all.
    """
    counts = corpus_segments if isinstance(corpus_segments, dict) else {s: cfg.min_train_records for s in corpus_segments}
    comparators = (SEGMENT_PROMPT,) if cfg.comparators_out is not None else ()
    wanted = cfg.segments or (*[s for s in L2_SEGMENTS if s in counts], BASELINE, *comparators)
    missing = [s for s in wanted if s not in WHOLE_CORPUS and s not in counts]
    if missing:
        raise DataError(f"no training records for segment(s) {missing}", where=str(cfg.corpus / "train.jsonl"),
                        fix="drop them from --segments or rebuild the corpus with more customers")
    if SEGMENT_PROMPT in wanted and cfg.comparators_out is None:
        raise ConfigError(f"{SEGMENT_PROMPT!r} needs a folder of its own", where="--segments",
                          fix="pass --comparators-out DIR (it is never saved with the published adapters)")
    # Baseline first: its per-segment losses are the reference every segment adapter is compared to.
    order = {BASELINE: 0, SEGMENT_PROMPT: 1}
    return sorted((s for s in wanted if s in WHOLE_CORPUS or counts[s] >= cfg.min_train_records),
                  key=lambda s: order.get(s, 2))


def too_small(cfg: AdapterTrainConfig, counts: dict[str, int]) -> dict[str, int]:
    """Segments with records but fewer than ``min_train_records``: reported, not trained."""
    wanted = cfg.segments or L2_SEGMENTS
    return {s: counts[s] for s in wanted if s in counts and counts[s] < cfg.min_train_records}


def train_adapters(cfg: AdapterTrainConfig) -> dict[str, dict[str, Any]]:
    """Train every planned adapter and save each to ``cfg.out/<name>`` (``segment_prompt`` to
    ``cfg.comparators_out``); write ``training_summary.json``; return metrics by name.

    The adapters are independent jobs (each seeds itself), so they train in ``cfg.workers`` processes
    (:mod:`genemail.parallel`), the largest first; the cross-references (the whole-corpus adapters'
    loss on each segment) are joined once every job is done.
    """
    from collections import Counter

    from genemail.generation.modeling import load_base_model, load_tokenizer
    from genemail.parallel import model_workers, run_jobs

    corpus = load_corpus_splits(cfg.corpus)
    tokenizer = load_tokenizer(cfg.base_model)
    base = load_base_model(cfg.base_model, tokenizer)
    n_parameters = sum(p.numel() for p in base.parameters())
    cfg = resolve_lora(cfg, n_parameters)
    assert cfg.target_modules is not None  # settled by resolve_lora
    _check_targets(base, cfg.target_modules, cfg.base_model)
    _LOADED.clear()
    _LOADED[(cfg.base_model, str(cfg.corpus))] = (corpus, tokenizer, base)  # workers=1 reuses them
    display = _display_names(cfg.strategies, corpus["train"]["lang"][0])  # the corpus's language
    counts = dict(Counter(corpus["train"]["segment"]))
    plan = plan_adapters(cfg, counts)
    total = sum(counts.values())
    by_cost = sorted(plan, key=lambda name: -(total if name in WHOLE_CORPUS else counts[name]))
    workers = model_workers(cfg.workers, len(plan), n_parameters)
    print(f"[adapters] {len(plan)} adapters in {workers} process(es): {', '.join(by_cost)}", flush=True)
    try:
        trained = dict(zip(by_cost, run_jobs(_train_job, [(cfg, name) for name in by_cost], workers)))
    finally:
        _LOADED.clear()  # do not keep the base model and corpus alive after the call
    references = {name: trained[name]["validation_loss_by_segment"] for name in plan if name in WHOLE_CORPUS}
    results: dict[str, dict[str, Any]] = {}
    for name in plan:
        metrics = trained[name]
        if name not in WHOLE_CORPUS:
            metrics["baseline_validation_loss"] = references.get(BASELINE, {}).get(name)
            metrics["segment_prompt_validation_loss"] = references.get(SEGMENT_PROMPT, {}).get(name)
            metrics.update(_gain_over_base(metrics, cfg.min_gain))
        metrics["strategy"] = display.get(name, name)
        _save_record(cfg, name, metrics)
        results[name] = metrics
    write_summary(cfg, results, too_small(cfg, counts))
    return results


# (base model, corpus) -> (corpus splits, tokenizer, base model): what a worker loads once for its jobs.
_LOADED: dict[Any, Any] = {}


def _train_job(job: tuple[AdapterTrainConfig, str]) -> dict[str, Any]:
    """Train one adapter and save its weights; return its metrics (a job of :func:`train_adapters`)."""
    from genemail.generation.modeling import load_base_model, load_tokenizer
    from genemail.parallel import per_process

    cfg, name = job

    def load() -> tuple[Any, Any, Any]:
        tokenizer = load_tokenizer(cfg.base_model)
        return load_corpus_splits(cfg.corpus), tokenizer, load_base_model(cfg.base_model, tokenizer)

    corpus, tokenizer, base = per_process(_LOADED, (cfg.base_model, str(cfg.corpus)), load)
    print(f"[adapters] training {name!r}", flush=True)
    metrics, model = _train_one(cfg, name, base, tokenizer, corpus)
    if name in WHOLE_CORPUS:
        metrics["validation_loss_by_segment"] = _per_segment_losses(
            model, tokenizer, corpus["validation"], cfg, _prompt_field(name))
    # LoRA tensors only: with lm_head a target, PEFT would also save the (frozen, tied) full embedding.
    model.save_pretrained(_adapter_dir(cfg, name), save_embedding_layers=False)
    print(f"[adapters] {name!r} done: validation loss {metrics['validation_loss']}", flush=True)
    return metrics


def _prompt_field(name: str) -> str:
    """The corpus field an adapter's prompts come from: only the baseline adapter lacks segment information."""
    return "baseline_input" if name == BASELINE else "input"


def _gain_over_base(metrics: dict[str, Any], min_gain: float) -> dict[str, Any]:
    """Relative gain of a segment adapter over the base model alone, and whether it is clear."""
    own, base = metrics.get("validation_loss"), metrics.get("base_validation_loss")
    if own is None or not base:
        return {"gain_over_base": None, "beats_base": None}
    gain = round(1 - own / base, 4)
    return {"gain_over_base": gain, "beats_base": gain >= min_gain}


def write_summary(cfg: AdapterTrainConfig, results: dict[str, dict[str, Any]], small: dict[str, int]) -> Any:
    """``training_summary.json`` beside the adapters: the loss table and the segments too small to train."""
    rows = {name: {key: m.get(key) for key in (
        "validation_loss", "base_validation_loss", "baseline_validation_loss", "segment_prompt_validation_loss",
        "gain_over_base", "beats_base", "train_records", "validation_records", "steps", "seconds")}
        for name, m in results.items()}
    summary = {"adapters": rows, "too_small": small, "min_train_records": cfg.min_train_records,
               "min_gain": cfg.min_gain,
               "all_segments_beat_base": all(r["beats_base"] for n, r in rows.items() if n not in WHOLE_CORPUS)}
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


def _train_one(cfg: AdapterTrainConfig, name: str, base: Any, tokenizer: Any, corpus: Any) -> tuple[dict[str, Any], Any]:
    import torch
    from peft import get_peft_model

    whole = name in WHOLE_CORPUS
    prompt_field = _prompt_field(name)
    train = corpus["train"] if whole else corpus["train"].filter(lambda r: r["segment"] == name)
    val = corpus["validation"] if whole else corpus["validation"].filter(lambda r: r["segment"] == name)
    torch.manual_seed(cfg.seed)  # same LoRA init for every adapter of a run
    # PEFT saves a non-"default" adapter into a sub-folder; keep "default" so each folder is flat.
    with tied_head_lora():
        model = get_peft_model(copy.deepcopy(base), lora_config(cfg))
    train_ds = tokenize_split(train, tokenizer, prompt_field, cfg.max_length)
    metrics: dict[str, Any] = run_trainer(
        model, train_ds, tokenizer.pad_token_id, seed=cfg.seed, epochs=cfg.epochs, max_steps=cfg.max_steps,
        min_steps=cfg.min_steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, warmup_ratio=cfg.warmup_ratio,
        progress=cfg.progress)
    if len(val):
        val_ds = tokenize_split(val, tokenizer, prompt_field, cfg.max_length)
        metrics["validation_loss"] = evaluate_loss(model, val_ds, tokenizer.pad_token_id, cfg.batch_size)
        # The base alone gets the prompt form it was trained on (no segment tag): its best chance.
        ref_ds = tokenize_split(val, tokenizer, "baseline_input", cfg.max_length)
        with model.disable_adapter():
            metrics["base_validation_loss"] = evaluate_loss(model, ref_ds, tokenizer.pad_token_id, cfg.batch_size)
    else:
        metrics["validation_loss"] = metrics["base_validation_loss"] = None
    trainable = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    metrics.update(segment=name, train_records=len(train), validation_records=len(val),
                   trainable_parameters=trainable, prompt_field=prompt_field)
    return metrics, model


def _per_segment_losses(model: Any, tokenizer: Any, validation: Any, cfg: AdapterTrainConfig,
                        prompt_field: str) -> dict[str, float]:
    """A whole-corpus adapter's validation loss on each segment's customers (its own prompt form)."""
    losses = {}
    for seg in sorted(set(validation["segment"])):
        ds = tokenize_split(validation.filter(lambda r: r["segment"] == seg), tokenizer, prompt_field, cfg.max_length)
        losses[seg] = evaluate_loss(model, ds, tokenizer.pad_token_id, cfg.batch_size)
    return losses


def _adapter_dir(cfg: AdapterTrainConfig, name: str) -> Path:
    return (cfg.comparators_out if name == SEGMENT_PROMPT else cfg.out) / name


def _save_record(cfg: AdapterTrainConfig, name: str, metrics: dict[str, Any]) -> None:
    """``training_metrics.json`` and the card (over PEFT's README) beside the saved weights."""
    from huggingface_hub import ModelCardData

    out = _adapter_dir(cfg, name)
    info = {**metrics, "base_model": cfg.base_model, "lora": _lora_summary(cfg),
            "config": jsonable({k: v for k, v in asdict(cfg).items() if k != "extra_tags"})}
    (out / "training_metrics.json").write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
    base_id = cfg.base_model_id or cfg.base_model
    card_data = ModelCardData(library_name="peft", base_model=base_id, pipeline_tag="text-generation",
                              license="apache-2.0",
                              tags=["genemail", "lora", "peft", "marketing-email", name, *cfg.extra_tags])
    render_card("adapter_card.md", card_data, name=name, is_baseline=name == BASELINE,
                is_comparator=name == SEGMENT_PROMPT, metrics=metrics, min_gain=cfg.min_gain,
                lora=_lora_summary(cfg), base_model_id=base_id, seed=cfg.seed).save(out / "README.md")


def _lora_summary(cfg: AdapterTrainConfig) -> dict[str, Any]:
    return {"r": cfg.r, "alpha": cfg.alpha, "dropout": cfg.dropout, "target_modules": list(cfg.target_modules or ())}


def _check_targets(model: Any, targets: tuple[str, ...], base_model: str) -> None:
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [m for m in targets if m not in names]
    if missing:
        raise ConfigError(f"target_modules {missing} are not modules of {base_model!r}",
                          where="--target-modules", fix="use linear layer names of this model, e.g. q_proj,v_proj")


def _display_names(path: Path | None, lang: str) -> dict[str, str]:
    from genemail.generation.strategies import load_strategies

    book = load_strategies(path)
    names = {s: book.for_segment(s).text(lang).display_name for s in book.segments}
    names.setdefault(BASELINE, "baseline: one model for everyone (PRD v1.0)")
    names[SEGMENT_PROMPT] = "segment as prompt: one shared adapter, segment tag in the prompt (comparator)"
    return names
