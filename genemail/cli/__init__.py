"""The ``genemail`` command line: one typer sub-app per pipeline stage.

Each stage's commands live in their own module (``data_cmd``, ``segment_cmd``, ...). Heavy
libraries are imported inside the commands, so ``genemail --help`` is instant.
User errors (:class:`genemail.errors.GenEmailError`) print one readable message and exit 2;
they never show a traceback.
"""

from __future__ import annotations

import sys

import typer

from genemail.cli import data_cmd, generate_cmd, labels_cmd, release_cmd, results_cmd
from genemail.cli import segment_cmd, serve_cmd
from genemail.hub.server import command as hub_command
from genemail.runner import run_typer

app = typer.Typer(
    name="genemail",
    help="GenEmail: segment customers first, then personalize their emails.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_cmd.app, name="data")
app.add_typer(segment_cmd.app, name="segment")
app.add_typer(hub_command.app, name="hub")
app.add_typer(release_cmd.app, name="release")
app.add_typer(results_cmd.app, name="results")
app.add_typer(labels_cmd.app, name="labels")
release_cmd.register_top_level(app)
generate_cmd.register_top_level(app)
serve_cmd.register_top_level(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (used by ``main`` and by tests)."""
    return run_typer(app, argv, "genemail")


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))
