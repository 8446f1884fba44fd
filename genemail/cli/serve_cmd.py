"""`genemail serve`: a release's generator behind the OpenAI-compatible completions API, and checked emails."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    release: str = typer.Option(None, "--release", help="release repo on the Hub, e.g. demo/genemail-release"),
    revision: str = typer.Option("main", "--revision", help="release tag, branch or sha (a tag is reproducible)"),
    artifacts: Path = typer.Option(None, "--artifacts", help="a local artifacts folder instead of a release",
                                   file_okay=False),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (0.0.0.0: every interface)"),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    max_batch_size: int = typer.Option(32, "--max-batch-size", min=1, help="rows per generate call"),
    batch_wait_ms: float = typer.Option(10.0, "--batch-wait-ms", min=0, max=10_000,
                                        help="how long the first request waits for others to share its batch"),
    api_key: str = typer.Option(None, "--api-key", help="require `Authorization: Bearer KEY` (as vLLM's --api-key)"),
) -> None:
    """Serve the release: checked emails at /v1/emails, raw completions at /v1/completions (OpenAI API).

    POST /v1/emails: customer records in; each one's segment and gate-checked emails (with verdicts) out.

    /v1/completions is the raw engine API, as vLLM serves it: its text is NOT checked by the quality gate.

    Its `model` is an adapter name (a segment, or baseline) or the base model's id; concurrent requests are
    batched across adapters. `genemail campaign --backend openai --base-url http://HOST:PORT/v1` uses it
    and checks every email on the client side.
    """
    from genemail.loading import load_system
    from genemail.serving.batcher import BatcherConfig
    from genemail.serving.server import ServeConfig
    from genemail.serving.server import serve as run_server

    config = ServeConfig(host=host, port=port, api_key=api_key,
                         batcher=BatcherConfig(max_batch_size=max_batch_size, max_wait_ms=batch_wait_ms))
    system = load_system(artifacts=artifacts, release=release, revision=revision)
    for warning in system.warnings:
        typer.echo(f"warning: {warning}", err=True)

    def ready(models) -> None:  # noqa: ANN001 - ServedModels
        typer.echo(f"serving {models.base_id} with adapters {', '.join(sorted(models.adapter_roots))} "
                   f"on http://{host}:{port}/v1", err=True)

    run_server(system, config, on_ready=ready)


def register_top_level(root: typer.Typer) -> None:
    """Add ``genemail serve`` to the root app."""
    root.command("serve")(serve)
