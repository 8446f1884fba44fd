"""`genemail hub ...` commands."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Hub commands: run the local Hugging Face Hub-compatible server.", no_args_is_help=True)


@app.command("serve")
def serve(
    root: Path = typer.Option(..., "--root", help="Folder holding the repositories (created if missing)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (keep 127.0.0.1 unless needed)."),
    port: int = typer.Option(8765, "--port", help="TCP port; clients set HF_ENDPOINT=http://HOST:PORT."),
    token: list[str] = typer.Option(
        [], "--token", help="A user and their token as NAME:SECRET (repeatable). Prefer --tokens-file: "
                            "command lines are visible to other local users."),
    tokens_file: Path | None = typer.Option(
        None, "--tokens-file", help="File with one NAME:SECRET per line ('#' comments allowed)."),
    test_commit_delay: float = typer.Option(0.0, "--test-commit-delay", hidden=True,
                                            help="Tests only: sleep inside each commit before the branch moves."),
) -> None:
    """Serve a local Hub: repos are bare git repositories under --root; each user writes to their namespace."""
    from genemail.hub.server.auth import collect_tokens
    from genemail.hub.server.runner import ServeConfig
    from genemail.hub.server.runner import serve as run_server

    config = ServeConfig(root=root, tokens=collect_tokens(token, tokens_file), host=host, port=port,
                         commit_delay=test_commit_delay)
    typer.echo(f"local Hub on {config.endpoint} storing under {config.root} "
               f"(users: {', '.join(sorted(config.tokens))}); set HF_ENDPOINT={config.endpoint}")
    run_server(config)
