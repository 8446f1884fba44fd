"""`genemail release ...` and `genemail publish` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Pull and inspect releases.", no_args_is_help=True)


def register_top_level(root: typer.Typer) -> None:
    """Add top-level commands (``genemail publish``) to the root app."""
