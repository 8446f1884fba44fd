"""Run a typer app so that user errors print one readable line and exit 2, never a traceback."""

from __future__ import annotations

import sys

import typer

from genemail.errors import GenEmailError


def run_typer(app: typer.Typer, argv: list[str] | None, prog_name: str) -> int:
    """Run ``app`` with ``argv`` and return the exit code (0 ok, 2 user error, 130 aborted)."""
    try:
        app(args=argv, prog_name=prog_name, standalone_mode=False)
    except GenEmailError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # typer raises this for --help and usage errors
        return int(exc.code or 0)
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        return 130
    except Exception as exc:  # click usage errors in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0
