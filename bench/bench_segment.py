"""Benchmark: segment N synthetic customers, the trained segmenter beside the plain pandas rules.

    python -m bench.bench_segment [--n 1000000] [--seed 0] [--model DIR] [--threads 1]

Stages (each timed with its own peak of traced memory):
  load      read + clean the CSV (``load_customers``): shared by both paths;
  features  ``build_features`` (vectorized pandas);
  predict   segmenter: ``segment()`` (features again + L1 model + 3 L2 models + decoding);
            rules:     ``business_labels`` (KMeans tier assignment + ``np.select`` on the thresholds).
The "ratio" column is rules speed / segmenter speed: what the learned model costs over the rules.
Generating the CSV is not timed. Without ``--model`` a segmenter is trained on 3,000 synthetic
customers first (also not timed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

MB = 2**20


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``fn`` once; return (result, seconds, peak traced MiB).

    tracemalloc sees numpy and pandas buffers (they allocate through Python's tracked allocator),
    so the peak is the stage's own working memory above what was already allocated.
    """
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / MB


def _train_small(seed: int, threads: int):  # noqa: ANN202 - HierarchicalSegmenter
    from genemail.data import synthesize
    from genemail.data.loader import clean_frame
    from genemail.segmentation import HierarchicalSegmenter

    frame = clean_frame(synthesize(3000, seed)).frame
    return HierarchicalSegmenter(random_state=seed, n_threads=threads).fit(frame)


def run_bench(n: int, seed: int, model_dir: Path | None, threads: int) -> list[dict[str, Any]]:
    """Time the stages on ``n`` customers; return one row per stage."""
    from genemail.data import load_customers, write_synthetic
    from genemail.features import build_features
    from genemail.segmentation import load_segmenter
    from genemail.segmentation.rules import business_labels

    model = load_segmenter(model_dir) if model_dir else _train_small(seed, threads)
    model.set_params(n_threads=threads)
    with tempfile.TemporaryDirectory(prefix="genemail-bench-") as tmp:
        path = write_synthetic(n, seed + 1, Path(tmp) / "customers.csv")
        loaded, t_load, m_load = measure(lambda: load_customers(path, max_bytes=None))
    frame = loaded.frame
    rows = len(frame)
    features, t_feat, m_feat = measure(lambda: build_features(frame, model.feature_config))
    _, t_seg, m_seg = measure(lambda: model.segment(frame))
    _, t_rule, m_rule = measure(lambda: business_labels(features, model.tiers_, model.rule_config))
    stages = [
        ("load (CSV -> internal schema)", t_load, m_load, t_load, m_load),
        ("features", t_feat, m_feat, t_feat, m_feat),
        ("predict", t_seg, m_seg, t_rule, m_rule),
        ("total", t_load + t_feat + t_seg, max(m_load, m_feat, m_seg), t_load + t_feat + t_rule,
         max(m_load, m_feat, m_rule)),
    ]
    return [
        {"stage": name, "rows": rows, "seg_per_s": rows / ts, "seg_mb": ms, "rule_per_s": rows / tr,
         "rule_mb": mr, "ratio": (rows / tr) / (rows / ts)}
        for name, ts, ms, tr, mr in stages
    ]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The results as a fixed-width table."""
    header = f"{'stage':<31}{'segmenter cust/s':>18}{'peak MiB':>10}{'rules cust/s':>15}{'peak MiB':>10}{'ratio':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['stage']:<31}{r['seg_per_s']:>18,.0f}{r['seg_mb']:>10.1f}"
                     f"{r['rule_per_s']:>15,.0f}{r['rule_mb']:>10.1f}{r['ratio']:>7.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_segment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic customers (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None, help="trained segmenter dir (default: train a small one)")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads for the models")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be a positive number of customers")
    rows = run_bench(args.n, args.seed, args.model, args.threads)
    print(f"segmenting {rows[0]['rows']:,} customers (of {args.n:,} generated; the cleaner drops duplicates)")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
