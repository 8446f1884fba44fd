"""The segment explorer's data: segment sizes of a customer table plus the segmenter's cluster analysis.

The cluster analysis (``clusters.json`` and ``plots/*.png``) is written next to ``segmenter.skops``
at training time by :func:`genemail.segmentation.clusters.analyze_clusters`; only the sizes are
computed here, for whatever customer table the caller shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

CLUSTERS_FILE = "clusters.json"


@dataclass(frozen=True)
class SegmentOverview:
    """Sizes per (L1, L2), the cluster analysis as saved, and its plots (name -> file)."""

    sizes: pd.DataFrame
    clusters: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, Path] = field(default_factory=dict)


def segment_overview(segmenter: Any, customers: pd.DataFrame, segmenter_dir: Path | None) -> SegmentOverview:
    """Segment ``customers`` and read the analysis saved in ``segmenter_dir`` (empty when absent)."""
    scored = segmenter.segment(customers.reset_index(drop=True))
    sizes = scored.groupby(["l1", "l2"]).size().reset_index(name="customers")
    clusters: dict[str, Any] = {}
    plots: dict[str, Path] = {}
    if segmenter_dir is not None and (segmenter_dir / CLUSTERS_FILE).is_file():
        clusters = json.loads((segmenter_dir / CLUSTERS_FILE).read_text(encoding="utf-8"))
        for name, rel in (clusters.get("plots") or {}).items():
            if (segmenter_dir / rel).is_file():
                plots[name] = segmenter_dir / rel
    return SegmentOverview(sizes, clusters, plots)
