"""Build the synthetic email corpus: customers -> segmenter -> reference emails -> JSONL splits.

    python -m training.build_corpus --customers artifacts/customers.csv \\
        --segmenter artifacts/segmenter --out artifacts/corpus [--lang zh|en] [--seed N] \\
        [--emails-per-customer K] [--strategies PATH]

Writes ``train/validation/test.jsonl``, ``corpus_info.json``, the dataset card ``README.md`` and a
copy of the strategies file used (``strategies.yaml``) into ``--out``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from genemail.errors import ArtifactError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)


def segment_customers(customers: Path, segmenter: Path) -> Any:
    """Load customers (internal schema) and add the segmenter's L2 name as a ``segment`` column."""
    from genemail.data import load_customers
    from genemail.segmentation import load_segmenter

    frame = load_customers(customers).frame
    if not segmenter.exists():
        raise ArtifactError("segmenter not found", where=str(segmenter), fix="train it first (make train) or pass --segmenter DIR")
    segments = load_segmenter(segmenter).segment(frame)  # accepts the folder or the .skops file
    mapping = dict(zip(segments["customer_id"].astype(str), segments["l2"]))
    frame = frame.copy()
    frame["segment"] = frame["customer_id"].astype(str).map(mapping)
    return frame


def build(
    frame: Any, out: Path, lang: str = "zh", seed: int = 0, emails_per_customer: int = 1, strategies: Path | None = None
) -> dict[str, Any]:
    """Build, save and card the corpus from a frame with a ``segment`` column; returns corpus_info."""
    from genemail.generation.corpus import CorpusConfig, build_corpus, render_corpus_card, save_corpus
    from genemail.generation.strategies import load_strategies

    book = load_strategies(strategies)
    config = CorpusConfig(lang=lang, seed=seed, emails_per_customer=emails_per_customer)
    corpus, info = build_corpus(frame, book, config)
    save_corpus(corpus, info, out)
    shutil.copyfile(book.source, out / "strategies.yaml")  # the corpus is reproducible from its folder
    render_corpus_card(info).save(out / "README.md")
    return info


@app.command()
def main(
    customers: Annotated[Path, typer.Option(help="Customer table (CSV/Parquet, PRD or Kaggle schema).")],
    segmenter: Annotated[Path, typer.Option(help="Segmenter folder (with segmenter.skops) or the .skops file.")],
    out: Annotated[Path, typer.Option(help="Output folder for the corpus (created).")],
    lang: Annotated[str, typer.Option(help="Email language: zh or en.")] = "zh",
    seed: Annotated[int, typer.Option(help="Seed for variant choice and the customer split.")] = 0,
    emails_per_customer: Annotated[int, typer.Option(help="Reference emails per customer (distinct variants).")] = 1,
    strategies: Annotated[Path | None, typer.Option(help="Strategies YAML (default: the packaged one).")] = None,
) -> None:
    """Segment the customers and write their reference-email corpus, split by customer."""
    frame = segment_customers(customers, segmenter)
    info = build(frame, out, lang, seed, emails_per_customer, strategies)
    for split, counts in info["splits"].items():
        typer.echo(f"{split:<10} customers={counts['customers']:<6} records={counts['records']:<6} {counts['segments']}")
    if info["skipped"]:
        typer.echo(f"skipped: {info['skipped']}")
    typer.echo(f"corpus written to {out}")


def run(argv: list[str] | None = None) -> int:
    """Run the command; user errors print one line and return 2 (no traceback)."""
    from genemail.cli.runner import run_typer

    return run_typer(app, argv, "python -m training.build_corpus")


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
