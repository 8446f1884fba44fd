"""Build the synthetic email corpus: customers -> segmenter -> reference emails -> JSONL splits.

    python -m training.build_corpus --customers artifacts/customers.csv \\
        --segmenter artifacts/segmenter --out artifacts/corpus [--lang zh|en] [--seed N] \\
        [--emails-per-customer K] [--strategies PATH] [--min-train N] [--min-validation N] [--min-test N] \
        [--neutral-sentences N] [--phrase-mixes N]

A thin command line over :mod:`genemail.training.corpus`. Writes ``train/validation/test.jsonl``,
``neutral.jsonl``, ``corpus_info.json``, the dataset card ``README.md`` and a copy of the strategies
file used (``strategies.yaml``) into ``--out``. With ``--min-*``, synthesized customers (segmented by
``--segmenter``) fill every segment's split up to that many customers
(:mod:`genemail.training.topup`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.build_corpus"


@app.command()
def build(
    customers: Annotated[Path, typer.Option(help="Customer table (CSV/Parquet, PRD or Kaggle schema).")],
    segmenter: Annotated[Path, typer.Option(help="Segmenter folder (with segmenter.skops) or the .skops file.")],
    out: Annotated[Path, typer.Option(help="Output folder for the corpus (created).")],
    lang: Annotated[str, typer.Option(help="Email language: zh or en.")] = "zh",
    seed: Annotated[int, typer.Option(help="Seed for variant choice and the customer split.")] = 0,
    emails_per_customer: Annotated[int, typer.Option(help="Reference emails per customer (distinct variants).")] = 1,
    strategies: Annotated[Path | None, typer.Option(help="Strategies YAML (default: the packaged one).")] = None,
    min_train: Annotated[int, typer.Option(help="Training customers per segment (synthesized up to this).")] = 0,
    min_validation: Annotated[int, typer.Option(help="Validation customers per segment (synthesized up to this).")] = 0,
    min_test: Annotated[int, typer.Option(help="Test customers per segment (synthesized up to this).")] = 0,
    neutral_sentences: Annotated[int, typer.Option(help="Neutral grammar sentences for the base model.")] = 1000,
    phrase_mixes: Annotated[int, typer.Option(help="Phrase mixes (2-3 segments' phrases) for the base model.")]
    = 1500,
) -> None:
    """Segment the customers and write their reference-email corpus, split by customer."""
    from genemail.training.corpus import CorpusConfig, segment_customers, write_corpus_folder

    config = CorpusConfig(lang=lang, seed=seed, emails_per_customer=emails_per_customer, min_train=min_train,
                          min_validation=min_validation, min_test=min_test, neutral_sentences=neutral_sentences,
                          phrase_mixes=phrase_mixes)
    info = write_corpus_folder(segment_customers(customers, segmenter), out, config, strategies, segmenter)
    for split, counts in info["splits"].items():
        typer.echo(f"{split:<10} customers={counts['customers']:<6} records={counts['records']:<6} {counts['segments']}"
                   f"  synthetic={counts.get('synthetic_customers', {})}")
    if info.get("top_up"):
        top_up = info["top_up"]
        typer.echo(f"synthesized {top_up['rows_synthesized']} customers to fill the minimums; "
                   f"still short: {top_up['short'] or 'none'}")
    if info["skipped"]:
        typer.echo(f"skipped: {info['skipped']}")
    typer.echo(f"corpus written to {out}")


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
