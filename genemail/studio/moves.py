"""How many customers a change of the segment thresholds would move, and between which segments.

Both sides are the business definition (:func:`genemail.segmentation.rules.business_labels`) on the
same customers with the same value tiers (the loaded segmenter's), once with the thresholds in use
and once with the new ones: so a change that moves no customer reports zero, and the counts are what
a segmenter retrained on the new thresholds learns to reproduce. Customers with too little data count
as ``Cold_Start`` (a lapsed customer with unknown value is segmented, an active one is not).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from genemail.taxonomy import COLD_START

if TYPE_CHECKING:
    import pandas as pd

    from genemail.segmentation import HierarchicalSegmenter
    from genemail.segmentation.rules import RuleConfig


def segment_moves(segmenter: HierarchicalSegmenter, customers: pd.DataFrame, before: RuleConfig,
                  after: RuleConfig) -> tuple[Counter[tuple[str, str]], list[str]]:
    """((segment before, segment after) -> ``customers`` that change segment, segments the change empties).

    A segment left without customers matters: its adapter cannot be retrained on the new thresholds.
    """
    from genemail.features import build_features
    from genemail.segmentation.rules import business_labels

    features = build_features(customers.reset_index(drop=True), segmenter.feature_config)
    old = business_labels(features, segmenter.tiers_, before)["l2"].fillna(COLD_START).astype(str)
    new = business_labels(features, segmenter.tiers_, after)["l2"].fillna(COLD_START).astype(str)
    moved = old != new
    emptied = sorted(set(old) - set(new) - {COLD_START})
    return Counter(zip(old[moved], new[moved])), emptied
