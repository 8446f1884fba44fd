"""Synthesized customers for small segments and for the evaluation set.

On 2,000 demo customers Regular_Active has about 30 customers, so its adapter sees ~25 of them and the
evaluation 3: neither can carry a number. The corpus config sets how many customers per segment each
split must reach (``min_train``, ``min_validation``, ``min_test``). This module fills the gaps:

1. the table's own customers are split exactly as the corpus will split them
   (:func:`genemail.training.corpus.split_customers`), which gives each segment's shortfall;
2. customers are synthesized in chunks (:func:`genemail.data.synth.synthesize`, clean rows, IDs
   disjoint from the table's), cleaned against the table's reference date, and segmented by the
   *trained segmenter*; the ones that land in a short segment are kept (rejection sampling, so a kept
   customer follows the generator's distribution within that segment as the segmenter draws it);
3. they fill the test split first, then validation, then train, and carry ``split`` and
   ``source="synthetic"`` columns that :func:`genemail.training.corpus.build_corpus` respects.

So evaluation customers are never training customers (disjoint IDs, one split each). A segment that
is still short after ``max_rows`` synthesized rows is reported in ``short`` (the corpus is built
with what there is, and the adapter stage reports a segment too small to train).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genemail.errors import config_error
from genemail.training.corpus import SPLITS, CorpusConfig, split_customers
from genemail.taxonomy import L2_SEGMENTS

if TYPE_CHECKING:
    import pandas as pd

ID_OFFSET = 10_000_000  # synthesized IDs start here; the demo and Kaggle IDs are below 12,000
ID_STRIDE = 1_000_000  # per chunk, so chunks never share an ID
FILL_ORDER: tuple[str, ...] = ("test", "validation", "train")


@dataclass(frozen=True)
class TopUpConfig:
    """How many rows to synthesize per round and at most."""

    chunk_rows: int = 5_000
    max_rows: int = 100_000

    def __post_init__(self) -> None:
        if not isinstance(self.chunk_rows, int) or not 100 <= self.chunk_rows <= 1_000_000:
            raise config_error("chunk_rows", self.chunk_rows, "an integer from 100 to 1000000")
        if not isinstance(self.max_rows, int) or self.max_rows < self.chunk_rows:
            raise config_error("max_rows", self.max_rows, f"an integer >= chunk_rows ({self.chunk_rows})")


@dataclass
class TopUpReport:
    """What was needed, what was added, how many rows it took, and what is still missing."""

    needed: dict[str, dict[str, int]]
    added: dict[str, dict[str, int]] = field(default_factory=dict)
    rows_synthesized: int = 0
    short: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the corpus stores it in ``corpus_info.json``)."""
        return {"needed": self.needed, "added": self.added, "rows_synthesized": self.rows_synthesized,
                "short": self.short}


def shortfalls(frame: "pd.DataFrame", config: CorpusConfig, segment_column: str = "segment") -> dict[str, dict[str, int]]:
    """segment -> split -> customers missing to reach the config's minimums."""
    segments = {str(c): s for c, s in zip(frame["customer_id"], frame[segment_column]) if s in L2_SEGMENTS}
    split_of = split_customers(segments, config)
    counts = Counter((segments[c], split) for c, split in split_of.items())
    return {seg: {split: max(0, config.minimums[split] - counts[(seg, split)]) for split in SPLITS}
            for seg in L2_SEGMENTS}


def top_up(frame: "pd.DataFrame", segmenter: Any, config: CorpusConfig, topup: TopUpConfig | None = None,
           segment_column: str = "segment") -> tuple["pd.DataFrame", TopUpReport]:
    """Synthesized, segmented customers that fill every shortfall; they carry ``split`` and ``source``.

    ``frame`` is the table's internal-schema rows with a ``segment_column`` (``frame.attrs
    ["reference_date"]`` is used for cleaning when present); ``segmenter`` is a fitted segmenter.
    """
    import pandas as pd

    topup = topup or TopUpConfig()
    needed = shortfalls(frame, config, segment_column)
    remaining = {seg: sum(splits.values()) for seg, splits in needed.items()}
    report = TopUpReport(needed=needed)
    taken: dict[str, list[pd.DataFrame]] = {seg: [] for seg in L2_SEGMENTS}
    known_ids = set(frame["customer_id"].astype(str))
    chunk = 0
    while any(remaining.values()) and report.rows_synthesized < topup.max_rows:
        candidates = _segmented_chunk(segmenter, topup.chunk_rows, config.seed, chunk,
                                      frame.attrs.get("reference_date"), segment_column)
        candidates = candidates[~candidates["customer_id"].astype(str).isin(known_ids)]
        report.rows_synthesized += topup.chunk_rows
        chunk += 1
        for seg, missing in remaining.items():
            if missing:
                rows = candidates[candidates[segment_column] == seg].head(missing)
                taken[seg].append(rows)
                remaining[seg] -= len(rows)
    parts = [_assign(pd.concat(taken[seg]) if taken[seg] else None, needed[seg], seg, report) for seg in L2_SEGMENTS]
    parts = [p for p in parts if p is not None and len(p)]
    extra = pd.concat(parts, ignore_index=True) if parts else frame.iloc[0:0].assign(split=None, source=None)
    return extra, report


def _segmented_chunk(segmenter: Any, n: int, seed: int, chunk: int, reference_date: str | None,
                     segment_column: str) -> "pd.DataFrame":
    """``n`` clean synthetic customers, cleaned and segmented (L2 or Cold_Start in ``segment``)."""
    from genemail.data.loader import clean_frame
    from genemail.data.synth import synthesize

    # Its own seed stream: the table (seed `seed`) and the chunks never share draws.
    raw = synthesize(n, seed=10_007 * (seed + 1) + chunk, dirty=False, id_offset=ID_OFFSET + chunk * ID_STRIDE)
    customers = clean_frame(raw, reference_date=reference_date).frame
    labels = segmenter.segment(customers)
    mapping = dict(zip(labels["customer_id"].astype(str), labels["l2"].astype(str)))
    customers = customers.copy()
    customers[segment_column] = customers["customer_id"].astype(str).map(mapping)
    return customers


def _assign(rows: "pd.DataFrame | None", needed: dict[str, int], segment: str,
            report: TopUpReport) -> "pd.DataFrame | None":
    """Give each kept row its split (test first), and record what was added and what is short."""
    n = 0 if rows is None else len(rows)
    splits: list[str] = []
    for split in FILL_ORDER:
        splits += [split] * min(needed[split], n - len(splits))
    report.added[segment] = {split: splits.count(split) for split in SPLITS}
    short = {split: needed[split] - splits.count(split) for split in SPLITS if needed[split] > splits.count(split)}
    if short:
        report.short[segment] = short
    if rows is None:
        return None
    return rows.iloc[:len(splits)].assign(split=splits, source="synthetic")
