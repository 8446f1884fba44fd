"""Evaluate segmented vs baseline emails on held-out customers (O3, KR2).

    python -m training.evaluate --artifacts artifacts [--n-customers N] [--batch-size B]
        [--source model|references] [--temperature T] [--seed S]

A thin command line over :mod:`genemail.evaluation.offline`. Writes ``artifacts/eval/eval.json``,
``emails.jsonl`` and plots, and prints a table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.cli.runner import run_typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.evaluate"


@app.command()
def evaluate(
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder (corpus/, base/, adapters/).")] = Path("artifacts"),
    n_customers: Annotated[int | None, typer.Option(help="Test customers to evaluate (default: all).")] = None,
    batch_size: Annotated[int, typer.Option(help="Generation batch size.")] = 16,
    source: Annotated[str, typer.Option(help="model (generate) or references (check the metrics).")] = "model",
    seed: Annotated[int, typer.Option(help="Seed for customer sampling, the reference shuffle and decoding.")] = 0,
    temperature: Annotated[float, typer.Option(help="0 = greedy decoding; above 0 = seeded sampling.")] = 0.0,
) -> None:
    """Score segmented vs baseline emails of held-out customers; write artifacts/eval/."""
    from genemail.evaluation.offline import format_table, run_evaluation, write_outputs

    report, rows = run_evaluation(artifacts, n_customers, batch_size, source, seed, temperature)
    written = write_outputs(report, rows, artifacts / "eval")
    typer.echo(format_table(report))
    typer.echo(f"wrote {', '.join(str(p) for p in written)}")


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
