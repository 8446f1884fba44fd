"""Evaluate four variants of held-out customers' emails side by side (O3, KR1/KR2).

    python -m training.evaluate --artifacts artifacts [--n-customers N] [--batch-size B]
        [--source model|references] [--temperature T] [--seeds 0,1,2] [--seed S]
        [--variants segmented,unsegmented,single_strategy,segment_prompt] [--max-new-tokens K] [--out DIR]

A thin command line over :mod:`genemail.evaluation.offline`. Writes ``artifacts/eval/eval.json``,
``emails.jsonl`` and plots, and prints a table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.evaluate"


def _ints(text: str | None) -> list[int] | None:
    from genemail.errors import ConfigError

    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r} is not a list of integers", fix="pass e.g. --seeds 0,1,2") from None


@app.command()
def evaluate(
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder (corpus/, base/, adapters/, comparators/).")]
    = Path("artifacts"),
    n_customers: Annotated[int | None, typer.Option(help="Test customers to evaluate (default: all).")] = None,
    batch_size: Annotated[int, typer.Option(help="Customers per generation batch (every variant of each).")] = 32,
    source: Annotated[str, typer.Option(help="model (generate) or references (check the metrics).")] = "model",
    seed: Annotated[int, typer.Option(help="Seed for customer sampling, the reference shuffle and the bootstrap.")] = 0,
    temperature: Annotated[float, typer.Option(help="0 = greedy decoding; above 0 = seeded sampling.")] = 0.0,
    seeds: Annotated[str | None, typer.Option(help="Decoding seeds for sampling, e.g. 0,1,2 (default: --seed).")]
    = None,
    variants: Annotated[str | None, typer.Option(help="Comma-separated variants (default: all four).")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(
        help="Token limit per email (default: 1.5 x the longest test reference).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    workers: Annotated[int | None, typer.Option(
        help="Processes writing batches side by side (default: one per core for a small base model, else 1); "
             "the emails do not depend on it.", min=1)] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: ARTIFACTS/eval).", file_okay=False)] = None,
) -> None:
    """Score the variants' emails of held-out customers; write artifacts/eval/."""
    from genemail.evaluation.offline import format_table, run_evaluation, write_outputs

    names = [v.strip() for v in variants.split(",") if v.strip()] if variants else None
    report, rows = run_evaluation(artifacts, n_customers, batch_size, source, seed, temperature, _ints(seeds), names,
                                  max_new_tokens, progress, workers)
    written = write_outputs(report, rows, out or artifacts / "eval")
    typer.echo(format_table(report))
    typer.echo(f"wrote {', '.join(str(p) for p in written)}")


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
