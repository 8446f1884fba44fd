"""`genemail hub serve` (also `python -m genemail.hub.server`): run the local Hub-compatible server.

The command lives with the server, so `python -m genemail.hub.server` runs it without the CLI package;
`genemail hub` adds it to the command line.
"""

from __future__ import annotations

from pathlib import Path

import typer

from genemail.hub.server.body import DEFAULT_MAX_COMMIT_BYTES, DEFAULT_MAX_REQUEST_BYTES, MIB
from genemail.hub.server.local import port_taken
from genemail.hub.server.probe import probe

app = typer.Typer(help="Hub commands: run the local Hugging Face Hub-compatible server.", no_args_is_help=True)


def serve(
    root: Path = typer.Option(..., "--root", help="Folder holding the repositories (created if missing).",
                              file_okay=False),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (keep 127.0.0.1 unless needed)."),
    port: int = typer.Option(8765, "--port", min=1, max=65535,
                             help="TCP port; clients set HF_ENDPOINT=http://HOST:PORT."),
    token: list[str] = typer.Option(
        [], "--token", help="A user and their token as NAME:SECRET (repeatable). Prefer --tokens-file: "
                            "command lines are visible to other local users."),
    tokens_file: Path | None = typer.Option(
        None, "--tokens-file", help="File with one NAME:SECRET per line ('#' comments allowed).",
        exists=True, dir_okay=False, readable=True),
    max_commit_mb: float = typer.Option(
        DEFAULT_MAX_COMMIT_BYTES / MIB, "--max-commit-mb",
        help="Largest commit body in MiB (file contents base64-encoded: about 4/3 of their size)."),
    max_request_mb: float = typer.Option(DEFAULT_MAX_REQUEST_BYTES / MIB, "--max-request-mb",
                                         help="Largest body of any other request in MiB."),
    test_commit_delay: float = typer.Option(0.0, "--test-commit-delay", hidden=True,
                                            help="Tests only: sleep inside each commit before the branch moves."),
) -> None:
    """Serve a local Hub: repos are bare git repositories under --root; each user writes to their namespace."""
    from genemail.hub.server.auth import collect_tokens
    from genemail.hub.server.runner import ServeConfig
    from genemail.hub.server.runner import serve as run_server

    config = ServeConfig(root=root, tokens=collect_tokens(token, tokens_file), host=host, port=port,
                         commit_delay=test_commit_delay, max_commit_bytes=round(max_commit_mb * MIB),
                         max_request_bytes=round(max_request_mb * MIB))
    answer = probe(config.endpoint)
    if answer.kind != "nothing":  # say who holds the port, rather than uvicorn's "address already in use"
        raise port_taken(config, answer)
    typer.echo(f"local Hub on {config.endpoint} storing under {config.root} "
               f"(users: {', '.join(sorted(config.tokens))}); set HF_ENDPOINT={config.endpoint}")
    run_server(config)


app.command("serve")(serve)
# The same command alone, for `python -m genemail.hub.server` (what test fixtures start).
serve_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
serve_app.command()(serve)
