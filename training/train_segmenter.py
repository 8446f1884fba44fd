"""Train and evaluate the hierarchical segmenter (a thin command line over ``genemail.segmentation.training``).

    python -m training.train_segmenter --data PATH --out DIR [--seed N] [--half-life DAYS] [--labels FILE]
        [--dormant-days 60 --reengage-days 30]

Without ``--data`` it trains on synthetic customers, for the demo. The protocol and the artifacts
it writes are documented in :mod:`genemail.segmentation.training` and docs/SEGMENTATION.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer
from genemail.segmentation.training import MIN_TEST, TrainConfig

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.train_segmenter"
D = TrainConfig  # the defaults live on the config


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Output directory.")],
    data: Annotated[Path | None, typer.Option(help="Customer CSV/Parquet (default: synthetic customers).",
                                              exists=True, dir_okay=False, readable=True)] = None,
    seed: Annotated[int, typer.Option(help="Seed of split, KMeans, augmentation and models.")] = D.seed,
    half_life: Annotated[float, typer.Option(help="Time-decay half-life in days.")] = D.half_life_days,
    test_fraction: Annotated[float, typer.Option(help=f"Held-out share (at least {MIN_TEST} rows).")] = D.test_fraction,
    n_synthetic: Annotated[int, typer.Option(help="Synthetic customers when --data is omitted.")] = D.n_synthetic,
    threads: Annotated[int, typer.Option(help="OpenMP threads (1 is fastest on shared machines).")] = D.threads,
    reference_date: Annotated[str | None, typer.Option(
        help="Date age and tenure are counted to (default: the file's latest plausible join date).")] = None,
    labels: Annotated[Path | None, typer.Option(
        help="Hand labels (CSV/JSONL/Parquet: customer_id, rater, l1, l2) of customers of DATA, as the app's "
             "Label tab exports them: KR1 is also measured against them.", exists=True, dir_okay=False,
        readable=True)] = None,
    dormant_days: Annotated[float, typer.Option(
        help="Days since the last purchase after which a customer is Dormant.")] = D.dormant_days,
    reengage_days: Annotated[float, typer.Option(
        help="Days since the last purchase after which an active customer needs re-engagement.")] = D.reengage_days,
) -> None:
    """Train the segmenter on DATA's training split and evaluate it on the held-out split."""
    from genemail.labels.evaluate import evaluate_labels, format_labels_report, read_labels
    from genemail.segmentation.training import summary
    from genemail.segmentation.training import train as run_training

    config = TrainConfig(out=out, data=data, seed=seed, half_life_days=half_life, test_fraction=test_fraction,
                         n_synthetic=n_synthetic, threads=threads, reference_date=reference_date,
                         dormant_days=dormant_days, reengage_days=reengage_days)
    reports = {}
    if labels is not None:  # read first: a bad labels file fails before minutes of training
        hand_labels = read_labels(labels)
        reports["hand_labels"] = lambda frame, model, test_ids: evaluate_labels(hand_labels, frame, model,
                                                                                test_ids=test_ids)
    metrics = run_training(config, reports)
    typer.echo(summary(metrics))
    if metrics.get("hand_labels"):
        typer.echo(format_labels_report(metrics["hand_labels"]))
    typer.echo(f"wrote {config.out}/segmenter.skops, metrics.json, cleaning_report.json, clusters.json, plots/")


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
