"""KR1 with and without behaviour-sequence features, on the same held-out customers.

    python -m bench.bench_sequence [--n 2000] [--seed 0] [--data FILE]

Customers (synthetic, or ``--data``) are cleaned; their events are synthesized from the table
(:mod:`genemail.behaviour.synth_events`) and turned into ``seq_*`` features. The segmenter's own
protocol (:func:`genemail.segmentation.training.split` and ``evaluate``) runs twice on the *same*
train/test split: once on the table alone, once with the ``seq_*`` columns joined in. KR1 is the L2
accuracy against the business-rule labels on the held-out rows, with a 95% Wilson interval.

Caveat printed with the table: the perturbed accuracy perturbs only the table columns, not the events,
so with sequence features it is *not* comparable to the table-only one. And the events are synthesized
from the very table columns the rule labels are defined on, so they add little that the table lacks.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def run(n: int, seed: int, data: Path | None) -> list[dict[str, object]]:
    """Fit and evaluate both ways; one result row per variant."""
    from genemail.behaviour.sequence_features import sequence_features
    from genemail.behaviour.synth_events import synthesize_events
    from genemail.data.loader import clean_frame, load_customers
    from genemail.data.synth import synthesize
    from genemail.evaluation.stats import wilson_interval
    from genemail.features import build_features
    from genemail.segmentation import HierarchicalSegmenter
    from genemail.segmentation.rules import cold_start_reasons
    from genemail.segmentation.training import TrainConfig, evaluate, split

    loaded = load_customers(data) if data else clean_frame(synthesize(n, seed))
    frame = loaded.frame.reset_index(drop=True)
    ref = loaded.report.reference_date
    events = synthesize_events(frame, ref, seed)
    seq = sequence_features(events, ref, frame["customer_id"].astype(str))
    with_seq = frame.join(seq, on=frame["customer_id"].astype(str).rename("customer_id"))
    cold = cold_start_reasons(build_features(frame)).notna().to_numpy()
    config = TrainConfig(out=Path(tempfile.mkdtemp()), seed=seed)
    train_rows, test_rows = split(frame[~cold], config)
    rows = []
    for name, table in (("table only", frame), ("table + sequence", with_seq)):
        t0 = time.perf_counter()
        model = HierarchicalSegmenter(random_state=seed).fit(table.loc[train_rows.index])
        metrics = evaluate(model, table.loc[test_rows.index], seed)
        n_test, acc = int(metrics["n_test"]) if "n_test" in metrics else len(test_rows), float(metrics["l2_accuracy"])
        rows.append({"variant": name, "n_train": len(train_rows), "n_test": n_test, "l2_accuracy": acc,
                     "ci": wilson_interval(round(acc * n_test), n_test),
                     "l2_accuracy_perturbed": float(metrics["l2_accuracy_perturbed"]),
                     "groups": ",".join(model.feature_groups_), "seconds": round(time.perf_counter() - t0, 1)})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_sequence", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=None)
    a = p.parse_args(argv)
    rows = run(a.n, a.seed, a.data)
    print(f"{'variant':<18}{'n_train':>8}{'n_test':>8}  {'KR1 (L2 acc) [95% CI]':<26}{'perturbed*':>11}  seconds")
    for r in rows:
        print(f"{r['variant']:<18}{r['n_train']:>8}{r['n_test']:>8}  {r['l2_accuracy']:.4f} "
              f"[{r['ci'][0]:.4f}, {r['ci'][1]:.4f}]  {r['l2_accuracy_perturbed']:>9.4f}  {r['seconds']:>7}")
    print("* perturbation touches table columns only, not events: not comparable across the two rows")


if __name__ == "__main__":
    main()
