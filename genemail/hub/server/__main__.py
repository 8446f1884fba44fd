"""``python -m genemail.hub.server``: the same command as ``genemail hub serve`` (same options, same errors)."""

from __future__ import annotations

import sys

from genemail.hub.server.command import serve_app
from genemail.runner import run_typer


def main(argv: list[str] | None = None) -> int:
    """Run the ``serve`` command with ``argv``; usage and user errors exit 2 without a traceback."""
    return run_typer(serve_app, argv, "python -m genemail.hub.server")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
