"""Train and evaluate the hierarchical segmenter (a thin command line over ``genemail.segmentation.training``).

    python -m training.train_segmenter --data PATH --out DIR [--seed N] [--half-life DAYS]

Without ``--data`` it trains on synthetic customers, for the demo. The protocol and the artifacts
it writes are documented in :mod:`genemail.segmentation.training` and docs/SEGMENTATION.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genemail.errors import GenEmailError
from genemail.segmentation.training import MIN_TEST, TrainConfig, split, summary, train

__all__ = ["MIN_TEST", "TrainConfig", "main", "parse_args", "split"]


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Command-line arguments -> :class:`TrainConfig`."""
    parser = argparse.ArgumentParser(prog="python -m training.train_segmenter", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="customer CSV/Parquet (default: synthetic customers)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, KMeans, augmentation, models")
    parser.add_argument("--half-life", type=float, default=90.0, help="time-decay half-life in days")
    parser.add_argument("--test-fraction", type=float, default=0.2, help=f"held-out share (at least {MIN_TEST} rows)")
    parser.add_argument("--n-synthetic", type=int, default=3000, help="synthetic customers when --data is omitted")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads (1 is fastest on shared machines)")
    args = parser.parse_args(argv)
    return TrainConfig(
        out=args.out, data=args.data, seed=args.seed, half_life_days=args.half_life,
        test_fraction=args.test_fraction, n_synthetic=args.n_synthetic,
        threads=args.threads,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point; user errors print one line and return 2."""
    try:
        config = parse_args(argv)
        metrics = train(config)
    except GenEmailError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary(metrics))
    print(f"wrote {config.out}/segmenter.skops, metrics.json, cleaning_report.json, clusters.json, plots/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
