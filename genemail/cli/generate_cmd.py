"""`genemail campaign` command."""

from __future__ import annotations

import typer


def register_top_level(root: typer.Typer) -> None:
    """Add top-level commands (``genemail campaign``) to the root app."""
