"""`genemail campaign`: segment a customer file and write every customer's email."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def campaign(
    data: Path = typer.Option(..., "--data", help="customer file (CSV/Parquet, PRD or Kaggle schema)",
                              exists=True, dir_okay=False, readable=True),
    out: Path = typer.Option(Path("emails.jsonl"), "--out", help="output JSONL, one row per customer"),
    release: str = typer.Option(None, "--release", help="release repo on the Hub, e.g. demo/genemail-release"),
    revision: str = typer.Option("main", "--revision", help="release tag, branch or sha (a tag is reproducible)"),
    artifacts: Path = typer.Option(None, "--artifacts", help="a local artifacts folder instead of a release",
                                   file_okay=False),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="customers per mixed batch"),
    max_new_tokens: int = typer.Option(160, "--max-new-tokens", min=1),
    sample: bool = typer.Option(False, "--sample/--greedy", help="seeded sampling instead of greedy decoding"),
    temperature: float = typer.Option(0.8, "--temperature"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Segment every customer in DATA and generate the segmented and baseline email in mixed batches."""
    from genemail.data import load_customers
    from genemail.generation.campaign import run_campaign
    from genemail.generation.generator import GenerationConfig
    from genemail.loading import load_system

    system = load_system(artifacts=artifacts, release=release, revision=revision)
    for warning in system.warnings:
        typer.echo(f"warning: {warning}", err=True)
    loaded = load_customers(data)
    typer.echo(loaded.report.summary(), err=True)
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=sample, temperature=temperature, seed=seed)
    summary = run_campaign(loaded.frame, system.segmenter, system.strategies, system.generator, out, config,
                           batch_size=batch_size, progress=True, release_info=system.release_info)
    typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))


def register_top_level(root: typer.Typer) -> None:
    """Add ``genemail campaign`` to the root app."""
    root.command("campaign")(campaign)
