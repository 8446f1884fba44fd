"""Plots of an evaluation report: every rate with its 95% interval as an error bar.

* ``style_match.png`` and ``relevance.png``: per segment, one bar per variant (Wilson intervals);
* ``metrics.png``: the three rates overall (Wilson intervals), and distinct-2 / self-BLEU (mean +- sd
  over decoding seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genemail.evaluation.report import STYLE_TARGET

RATE_TITLES = {"style_match": "style match", "fact_consistency": "fact consistency", "relevance": "content relevance"}


def write_plots(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the three figures into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests

    variants = report["variants"]
    paths = [_per_segment(report, "style_match", out_dir / "style_match.png", target=STYLE_TARGET),
             _per_segment(report, "relevance", out_dir / "relevance.png")]
    paths.append(_overall(report, variants, out_dir / "metrics.png"))
    return paths


def _bars(ax: Any, groups: Sequence[str], series: dict[str, list[tuple[float, float, float]]]) -> None:
    """Grouped bars: ``series[name]`` is one (value, low, high) per group; error bars from low/high."""
    import numpy as np

    x = np.arange(len(groups))
    width = 0.8 / max(len(series), 1)
    for i, (name, points) in enumerate(series.items()):
        values = np.array([p[0] for p in points])
        err = np.array([[max(p[0] - p[1], 0.0) for p in points], [max(p[2] - p[0], 0.0) for p in points]])
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, yerr=err, capsize=3, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=15)


def _per_segment(report: dict[str, Any], rate: str, path: Path, target: float | None = None) -> Path:
    import matplotlib.pyplot as plt

    segments = list(report["per_segment_n"])
    series = {name: [(v[rate]["per_segment"][s]["rate"], *v[rate]["per_segment"][s]["ci"]) for s in segments]
              for name, v in report["variants"].items()}
    fig, ax = plt.subplots(figsize=(10, 4.5))
    _bars(ax, [f"{s}\n(n={report['per_segment_n'][s]})" for s in segments], series)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1)
    ax.set(ylim=(0, 1.05), ylabel=RATE_TITLES[rate],
           title=f"{RATE_TITLES[rate].capitalize()} per segment, 95% Wilson intervals (n={report['n']})")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _overall(report: dict[str, Any], variants: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    rates = list(RATE_TITLES)
    _bars(left, [RATE_TITLES[r] for r in rates],
          {name: [(v[r]["rate"], *v[r]["ci"]) for r in rates] for name, v in variants.items()})
    left.set(ylim=(0, 1.05), title="Rates, 95% Wilson intervals")
    left.legend(fontsize=8, loc="lower right")
    _bars(right, ["distinct-2", "self-BLEU"],
          {name: [(v[k], v[k] - v[f"{k}_sd"], v[k] + v[f"{k}_sd"]) for k in ("distinct2", "self_bleu")]
           for name, v in variants.items()})
    right.set(ylim=(0, 1.05), title="Diversity, mean +- sd over seeds (self-BLEU: lower = diverse)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
