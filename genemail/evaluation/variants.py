"""The four variants the offline evaluation writes side by side for the same held-out customers.

=================  =====================================  ==========================================
variant            model                                  prompt
=================  =====================================  ==========================================
segmented          the customer's segment adapter         segmented (segment tag + strategy + profile)
unsegmented        the ``baseline`` adapter (PRD v1.0)    baseline (profile only)
single_strategy    the base model alone (``__base__``)    baseline (profile only)
segment_prompt     the ``segment_prompt`` adapter          segmented (the same prompt as segmented)
=================  =====================================  ==========================================

*single_strategy* is what O3 compares against: one generic strategy and email style for everyone,
which is exactly what the embedded base model was trained to write (see
:mod:`genemail.training.base_training`). *segment_prompt* shows what per-segment adapters add
beyond the segment tag in the prompt: it sees the very prompt the segment adapters see.

All rows of a batch (every variant of several customers) go through one ``complete`` call: PEFT's
``adapter_names`` routes each row through its own adapter, ``__base__`` through none. Sampled
decoding is repeated for each seed on the same customers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ArtifactError, ConfigError

if TYPE_CHECKING:
    from genemail.generation.generator import EmailGenerator, GenerationConfig
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import StrategyBook

SEGMENTED, UNSEGMENTED, SINGLE_STRATEGY, SEGMENT_PROMPT_VARIANT = (
    "segmented", "unsegmented", "single_strategy", "segment_prompt")
VARIANT_NAMES: tuple[str, ...] = (SEGMENTED, UNSEGMENTED, SINGLE_STRATEGY, SEGMENT_PROMPT_VARIANT)
COMPARATORS_DIR = "comparators"  # artifacts/comparators/segment_prompt (never published)


@dataclass(frozen=True)
class Variant:
    """One way to write a customer's email: which adapter, which prompt form."""

    name: str
    adapter: str | None  # None: the customer's own segment adapter (from its strategy)
    segmented_prompt: bool
    description: str


def variants() -> dict[str, Variant]:
    """The four variants by name (see the module docstring)."""
    from genemail.training.adapter_training import SEGMENT_PROMPT
    from genemail.generation.generator import BASE_ROW
    from genemail.taxonomy import BASELINE

    return {
        SEGMENTED: Variant(SEGMENTED, None, True, "each segment's own adapter"),
        UNSEGMENTED: Variant(UNSEGMENTED, BASELINE, False, "one adapter on the whole corpus, no segment information"),
        SINGLE_STRATEGY: Variant(SINGLE_STRATEGY, BASE_ROW, False, "one generic strategy and style for everyone"),
        SEGMENT_PROMPT_VARIANT: Variant(SEGMENT_PROMPT_VARIANT, SEGMENT_PROMPT, True,
                                        "one shared adapter, segment tag in the prompt"),
    }


def row_for(variant: Variant, profile: "CustomerProfile", segment: str, book: "StrategyBook",
            lang: str) -> tuple[str, str]:
    """(prompt, adapter name) of one customer's row for ``variant``."""
    from genemail.generation.prompts import build_baseline_prompt, build_prompt

    strategy = book.for_segment(segment)
    prompt = build_prompt(profile, strategy, lang) if variant.segmented_prompt else build_baseline_prompt(profile, lang)
    return prompt, variant.adapter or strategy.adapter


def load_generator(artifacts: Path) -> "EmailGenerator":
    """The base model with every adapter of ``artifacts/adapters`` and ``artifacts/comparators``."""
    from genemail.generation.generator import AdapterRef, EmailGenerator

    base, adapter_root = artifacts / "base", artifacts / "adapters"
    named = artifacts / "base_model.json"
    if not adapter_root.is_dir() or not (base.is_dir() or named.is_file()):
        raise ArtifactError(
            "base model or adapters missing", where=str(artifacts),
            fix="train them first (make train), or pass --source references to check the metrics only",
        )
    base_model: str | Path = base
    if not base.is_dir():
        import json

        base_model = json.loads(named.read_text(encoding="utf-8"))["id"]
    folders = [p for root in (adapter_root, artifacts / COMPARATORS_DIR) if root.is_dir()
               for p in sorted(root.iterdir()) if (p / "adapter_config.json").is_file()]
    return EmailGenerator.load(base_model, [AdapterRef(name=p.name, path=p) for p in folders])


def available(generator: "EmailGenerator", wanted: Sequence[str], segments: Sequence[str],
              book: "StrategyBook") -> tuple[list[str], dict[str, str]]:
    """The wanted variants the loaded adapters can write, and why the others are skipped."""
    from genemail.generation.generator import BASE_ROW

    loaded = set(generator.adapter_names) | {BASE_ROW}
    by_name = variants()
    keep, skipped = [], {}
    for name in wanted:
        needed = {by_name[name].adapter} if by_name[name].adapter else {book.for_segment(s).adapter for s in set(segments)}
        missing = sorted(needed - loaded)
        if missing:
            skipped[name] = f"adapter(s) {missing} not found"
        else:
            keep.append(name)
    return keep, skipped


def check_variants(names: Sequence[str]) -> list[str]:
    """``names`` validated (segmented first, so every comparison has its reference)."""
    unknown = [n for n in names if n not in VARIANT_NAMES]
    if unknown or not names:
        raise ConfigError(f"unknown variant(s) {unknown or list(names)}", where="--variants",
                          fix=f"choose from {list(VARIANT_NAMES)}")
    return [n for n in VARIANT_NAMES if n in names]


def generate_variants(generator: "EmailGenerator", customers: Sequence[tuple["CustomerProfile", str]],
                      names: Sequence[str], book: "StrategyBook", config: "GenerationConfig", seeds: Sequence[int],
                      batch_size: int = 32, progress: bool = True, artifacts: Path | None = None,
                      workers: int = 1) -> tuple[dict[str, list[list[str]]], dict[str, Any]]:
    """Every variant's email for every customer and seed: ``{variant: [[email per customer] per seed]}``.

    Each email goes through the quality gate as a campaign's would (:mod:`genemail.generation.writer`:
    written, checked, resampled, else the template), and is returned as sent (facts filled);
    ``stats["qa"]`` holds each email's :class:`~genemail.generation.gate.QA` in the same layout. One
    ``complete`` call per batch of ``batch_size`` customers, all variants mixed in it. The batch's
    sampling seed is derived from the decoding seed and the batch index, so batches differ, and each
    batch is a job of its own: with ``workers`` > 1 the batches are written by that many processes
    (:mod:`genemail.parallel`), each loading ``artifacts`` once, with the same emails.
    ``stats["seconds"]`` sums the batches' generation time over the processes.
    """
    from dataclasses import replace

    from tqdm.auto import tqdm

    from genemail.parallel import run_jobs

    if workers > 1 and artifacts is None:
        raise ConfigError("writing emails in several processes needs the artifacts folder to load",
                          where="generate_variants", fix="pass artifacts=, or workers=1")
    by_name = variants()
    rows = [(*row_for(by_name[v], profile, segment, book, config.lang), profile, segment, v)
            for profile, segment in customers for v in names]
    width, step = len(names), batch_size * len(names)
    key = str(artifacts)
    _GENERATORS.clear()
    _GENERATORS[key] = (generator, book)  # workers=1 uses the caller's generator and strategies
    jobs = [(key, rows[start:start + step], replace(config, seed=seed * 100_003 + index) if config.do_sample else config)
            for seed in seeds for index, start in enumerate(range(0, len(rows), step))]
    try:
        with tqdm(total=len(rows) * len(seeds), desc="emails", unit="email", disable=not progress) as bar:
            done = run_jobs(_batch_job, jobs, workers, on_result=lambda result: bar.update(len(result[0])))
    finally:
        _GENERATORS.clear()  # do not keep the caller's model alive after the call
    texts = [text for batch_texts, _, _, _ in done for text in batch_texts]
    tokens = [n for _, batch_tokens, _, _ in done for n in batch_tokens]
    qas = [qa for _, _, _, batch_qas in done for qa in batch_qas]
    emails: dict[str, list[list[str]]] = {v: [] for v in names}
    verdicts: dict[str, list[list[Any]]] = {v: [] for v in names}
    for s in range(len(seeds)):
        per_seed, per_seed_qa = texts[s * len(rows):(s + 1) * len(rows)], qas[s * len(rows):(s + 1) * len(rows)]
        for offset, name in enumerate(names):
            emails[name].append(per_seed[offset::width])
            verdicts[name].append(per_seed_qa[offset::width])
    stats: dict[str, Any] = {"new_tokens": tokens, "truncated": sum(n >= config.max_new_tokens for n in tokens),
                             "seconds": sum(seconds for _, _, seconds, _ in done), "rows": len(tokens),
                             "workers": min(workers, len(jobs))}
    stats = _throughput(stats)
    stats["qa"] = verdicts
    return emails, stats


# The gate variant each evaluation variant's email is checked as (segment fit enforced for the segment voices).
_GATE_VARIANT = {SEGMENTED: "segmented", SEGMENT_PROMPT_VARIANT: "segmented", UNSEGMENTED: "baseline",
                 SINGLE_STRATEGY: "single_strategy"}

# artifacts folder -> its loaded generator and strategies: what a worker process loads once for all its batches.
_GENERATORS: dict[str, Any] = {}


def strategies_file(artifacts: Path) -> Path | None:
    """artifacts/strategies.yaml, else the corpus's copy, else the packaged file (None)."""
    for path in (artifacts / "strategies.yaml", artifacts / "corpus" / "strategies.yaml"):
        if path.is_file():
            return path
    return None


def _load(key: str) -> tuple["EmailGenerator", "StrategyBook"]:
    from genemail.generation.strategies import load_strategies

    return load_generator(Path(key)), load_strategies(strategies_file(Path(key)))


def _batch_job(job: tuple[str, list[tuple[Any, ...]], "GenerationConfig"]) -> tuple[list[str], list[int], float, list[Any]]:
    """One batch of rows -> (emails as sent, new tokens per row, seconds, QA per row)."""
    from genemail.generation.gate import QualityGate
    from genemail.generation.writer import Row, write_checked
    from genemail.parallel import per_process

    key, batch, config = job
    generator, book = per_process(_GENERATORS, key, lambda: _load(key))
    rows = [Row(prompt, adapter, profile, book.for_segment(segment), _GATE_VARIANT[variant])
            for prompt, adapter, profile, segment, variant in batch]
    t0 = time.perf_counter()
    written = write_checked(generator, rows, config, QualityGate(book, config.lang))
    return [w.text for w in written], [w.new_tokens for w in written], time.perf_counter() - t0, [w.qa for w in written]


def _throughput(stats: dict[str, Any]) -> dict[str, Any]:
    tokens = stats.pop("new_tokens")
    rows, seconds = stats["rows"], stats["seconds"]
    return {**stats, "seconds": round(seconds, 1), "emails_per_second": round(rows / seconds, 1) if seconds else None,
            "mean_new_tokens": round(sum(tokens) / len(tokens), 1) if tokens else 0.0}


def reference_variants(customers: Sequence[tuple["CustomerProfile", str, str]], generic: dict[str, str],
                       names: Sequence[str], seed: int = 0) -> dict[str, list[list[str]]]:
    """Reference emails in the variants' places, to check the metrics themselves (one "seed").

    segmented: each customer's own reference; unsegmented: the references shuffled across customers
    (segment-blind); single_strategy: each customer's single-strategy reference; segment_prompt: the
    references shuffled *within* each segment (right style, someone else's facts).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    own = [reference for _, _, reference in customers]
    across = [own[i] for i in rng.permutation(len(own))]
    within = list(own)
    for segment in sorted({s for _, s, _ in customers}):
        index = [i for i, (_, s, _) in enumerate(customers) if s == segment]
        for i, j in zip(index, rng.permutation(index)):
            within[i] = own[j]
    table = {SEGMENTED: own, UNSEGMENTED: across, SEGMENT_PROMPT_VARIANT: within,
             SINGLE_STRATEGY: [generic.get(p.customer_id, "") for p, _, _ in customers]}
    return {name: [table[name]] for name in names}
