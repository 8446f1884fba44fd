"""The encoder's input: one row of numbers per customer, from the customer table and its events.

The columns are the sequence features (:mod:`genemail.behaviour.sequence_features`) and a few table
columns (:data:`TABLE_FEATURES`). The hidden fact of the ablation (the favourite category) is not a
column: the encoder must read it from behaviour (the decayed per-category spend), as a real system
would have to. Customers come either from the pipeline's own table (training) or freshly synthesized
and segmented (held out: never seen by the segmenter, the corpus, the adapters or the encoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genemail.behaviour.sequence_features import sequence_feature_names, sequence_features
from genemail.behaviour.synth_events import synthesize_events
from genemail.errors import DataError

TABLE_FEATURES: tuple[str, ...] = ("income", "age", "children", "recency", "tenure_days")
HELD_OUT_ID_OFFSET = 50_000_000  # fresh held-out customers: IDs disjoint from the table and the top-ups


def feature_names() -> tuple[str, ...]:
    """The encoder's input columns, in order."""
    return (*sequence_feature_names(), *TABLE_FEATURES)


@dataclass
class CustomerSet:
    """Customers with their profiles, segments and encoder features, row-aligned."""

    frame: pd.DataFrame  # internal schema + ``segment``
    features: pd.DataFrame  # index customer_id, columns :func:`feature_names`
    events: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def feature_matrix(self, names: tuple[str, ...]) -> np.ndarray:
        """(N, F) float32 features of :attr:`frame`'s customers, in ``names`` order (NaN = unknown)."""
        ids = self.frame["customer_id"].astype(str)
        return self.features.reindex(ids)[list(names)].to_numpy(dtype=np.float32)


def build_features(frame: pd.DataFrame, events: pd.DataFrame, reference_date: Any) -> pd.DataFrame:
    """Sequence features of ``events`` beside the table columns of ``frame`` (index customer_id)."""
    ids = frame["customer_id"].astype(str)
    seq = sequence_features(events, reference_date, ids)
    table = frame.set_index(ids)[list(TABLE_FEATURES)].apply(pd.to_numeric, errors="coerce").astype("float64")
    return seq.join(table, how="left")[list(feature_names())]


def customer_set(frame: pd.DataFrame, reference_date: Any, seed: int = 0,
                 events: pd.DataFrame | None = None) -> CustomerSet:
    """Features of ``frame``'s customers; synthetic events (seeded) when ``events`` is None."""
    if reference_date is None:
        raise DataError("no reference date", where="customer table",
                        fix="load customers with genemail.data.load_customers (it finds the reference date)")
    events = synthesize_events(frame, reference_date, seed) if events is None else events
    return CustomerSet(frame.reset_index(drop=True), build_features(frame, events, reference_date), events)


def held_out_customers(segmenter: Any, n: int, reference_date: Any, seed: int) -> pd.DataFrame:
    """About ``n`` fresh synthetic customers, cleaned and segmented, cold-start and no-category rows left out."""
    from genemail.data.loader import clean_frame
    from genemail.data.synth import synthesize
    from genemail.taxonomy import COLD_START

    raw = synthesize(int(n * 1.3) + 20, seed, dirty=False, id_offset=HELD_OUT_ID_OFFSET)
    frame = clean_frame(raw, reference_date=reference_date).frame
    segments = segmenter.segment(frame)
    frame = frame.assign(segment=segments["l2"].to_numpy())
    keep = (frame["segment"] != COLD_START) & frame["segment"].notna() & frame["favourite_category"].notna()
    return frame[keep].head(n).reset_index(drop=True)
