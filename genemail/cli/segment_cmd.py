"""`genemail segment ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="segment commands.", no_args_is_help=True)
