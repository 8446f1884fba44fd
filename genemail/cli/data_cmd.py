"""`genemail data ...` commands: check a customer file, write synthetic customers, compare two files.

pandas and the loader are imported inside the commands so that ``genemail --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Customer data: check a file, synthesize customers, compare two files.",
                  no_args_is_help=True)


@app.command("check")
def check(
    path: Path = typer.Argument(..., help="Customer file: CSV (comma, semicolon or tab) or Parquet; "
                                          "PRD or raw Kaggle schema."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the cleaning report as JSON here."),
    reference_date: Optional[str] = typer.Option(
        None, "--reference-date", help="Date for age and tenure (default: latest Dt_Customer in the file)."),
    chunksize: int = typer.Option(100_000, "--chunksize", min=1, help="Rows per chunk (the file is streamed)."),
    date_order: str = typer.Option("auto", "--date-order", help="Day/month order of numeric dates: auto (read "
                                                               "from the whole column), dmy or mdy."),
) -> None:
    """Validate and clean a customer file, streaming it, and print what was dropped, imputed or folded.

    Exits 0 when the file is usable; otherwise prints the file, row and column at fault and exits 2.
    """
    from genemail.data.cleaning import CleaningConfig
    from genemail.data.loader import iter_customer_chunks
    from genemail.errors import DataError

    config = CleaningConfig(date_order=date_order)
    report = None
    for result in iter_customer_chunks(path, chunksize=chunksize, reference_date=reference_date, config=config):
        report = result.report if report is None else report.merge(result.report)
    assert report is not None  # the loader raises DataError for files without rows
    typer.echo(report.summary())
    if json_out is not None:
        report.to_json(json_out)
        typer.echo(f"report written to {json_out}")
    if report.rows_out == 0:
        raise DataError("no usable customer rows remain after cleaning", where=str(path),
                        fix="see the report above for what was dropped")
    typer.echo(f"OK: {report.rows_out} customers usable ({report.source_schema} schema)")


@app.command("synth")
def synth(
    n: int = typer.Option(2240, "--n", min=1, help="Number of customers."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same n and seed -> same file)."),
    out: Path = typer.Option(..., "--out", help="Output file: .csv, .tsv, .parquet or .pq."),
    schema: str = typer.Option("kaggle", "--schema", help="kaggle (raw Kaggle columns) or prd (the PRD's "
                                                         "sample format: no spend, purchases or join date)."),
) -> None:
    """Write N seeded synthetic customers (with the real file's kinds of dirt) in the Kaggle or PRD schema."""
    from genemail.data.synth import write_synthetic

    path = write_synthetic(n, seed, out, schema=schema)
    typer.echo(f"wrote {n} synthetic customers (seed {seed}, {schema} schema) to {path}")


@app.command("compare")
def compare(
    real: Path = typer.Argument(..., help="First customer file (e.g. the real Kaggle file)."),
    synth_file: Path = typer.Argument(..., metavar="SYNTH", help="Second customer file (e.g. synthetic)."),
) -> None:
    """Print a per-column summary of two files side by side (after cleaning, internal schema)."""
    from genemail.data.compare import compare_files, format_comparison

    typer.echo(format_comparison(compare_files(real, synth_file)))
