"""`genemail labels ...`: export the hand labels the app's Label tab collected, and summarize them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Hand labels for KR1: export them for `train_segmenter --labels`, summarize them.",
                  no_args_is_help=True)
_DB_HELP = "labels SQLite file (default: $GENEMAIL_LABELS_DB or labels.sqlite)"


def _store(db: Optional[Path]):  # noqa: ANN202 - LabelsStore
    from genemail.errors import DataError
    from genemail.labels.store import LabelsStore
    from genemail.settings import Settings

    path = db if db is not None else Settings.from_env().labels_db
    if not Path(path).is_file():
        raise DataError("no labels database here", where=str(path),
                        fix="label customers in the app's Label tab first, or pass --db FILE")
    return LabelsStore(path)


@app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="labels file to write: .csv, .jsonl or .parquet"),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP, dir_okay=False),
) -> None:
    """Write every stored label (customer_id, rater, l1, l2, note, release) for `train_segmenter --labels`."""
    from genemail.experiments.tables import write_table

    labels = _store(db).all()
    write_table(labels, out)
    typer.echo(f"wrote {len(labels)} labels by {labels['rater'].nunique()} labeler(s) -> {out}")


@app.command("summary")
def summary(db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP, dir_okay=False)) -> None:
    """Counts per segment and labeler, and the agreement between labelers (JSON)."""
    from genemail.labels.evaluate import agreement

    labels = _store(db).all()
    out = {"n_labels": int(len(labels)), "per_rater": labels["rater"].value_counts().to_dict(),
           "per_segment": labels["l2"].value_counts().to_dict(), "agreement": agreement(labels) if len(labels) else None}
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
