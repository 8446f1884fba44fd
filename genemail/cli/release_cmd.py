"""`genemail release ...` and `genemail publish` commands.

Endpoint and token come from ``HF_ENDPOINT`` / ``HF_TOKEN`` as ``huggingface_hub`` reads them: unset
``HF_ENDPOINT`` means the real Hub. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Pull and inspect releases (pinned sets of artifacts on a Hub).", no_args_is_help=True)


def publish_command(
    artifacts: Path = typer.Option(Path("artifacts"), "--artifacts", help="Folder built by `make train`."),
    namespace: str = typer.Option(..., "--namespace", help="User or organization that owns the repos."),
    tag: str = typer.Option(..., "--tag", help="Release tag (e.g. v1), also set on every artifact repo."),
    private: bool = typer.Option(False, "--private", help="Create missing repos as private."),
    force: bool = typer.Option(False, "--force", help="Publish adapters that vLLM would refuse (docs/SCALING.md); "
                               "the release records that it was forced."),
) -> None:
    """Publish every artifact to NS/genemail-* repos and a release repo pinning them, tagged TAG."""
    from genemail.hub.publish import PublishConfig, publish

    result = publish(PublishConfig(artifacts=artifacts, namespace=namespace, tag=tag, private=private, force=force))
    if result.manifest.serving is not None and result.manifest.serving.forced:
        for problem in result.manifest.serving.problems:
            typer.echo(f"warning: forced past the vLLM check: {problem}", err=True)
    for repo in result.repos:
        state = "committed" if repo.committed else "unchanged"
        typer.echo(f"{repo.name:<28} {repo.repo_id:<48} {repo.sha[:12]}  {state}")
    state = "committed" if result.release_committed else "unchanged"
    typer.echo(f"{'release':<28} {result.release_repo:<48} {result.release_sha[:12]}  {state}")
    typer.echo(f"tagged {result.tag}: genemail release pull {result.release_repo} --revision {result.tag}")


@app.command("pull")
def pull(
    repo: str = typer.Argument(..., help="Release repo id, e.g. demo/genemail-release."),
    revision: str = typer.Option("main", "--revision", "-r", help="Tag (reproducible), commit sha, or branch."),
    local_dir: Path | None = typer.Option(None, "--local-dir", help="Download here instead of the HF cache."),
) -> None:
    """Download every artifact a release revision pins (at its pinned sha), verify it and load it."""
    from genemail.generation.strategies import load_strategies
    from genemail.hub.release import format_pull_table, pull_release
    from genemail.segmentation import load_segmenter

    release = pull_release(repo, revision, local_dir=local_dir)
    segmenter = load_segmenter(release.segmenter_path)  # the skops file loads with the trusted types
    load_strategies(release.strategies)  # the strategies file validates
    for warning in release.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"release {repo} {revision} -> {release.release_sha} ({release.revision_kind})")
    typer.echo(format_pull_table(release))
    typer.echo(f"loaded: segmenter {type(segmenter).__name__}, {len(release.adapters)} adapter(s)")


@app.command("serve-args")
def serve_args(
    repo: str = typer.Argument(..., help="Release repo id, e.g. demo/genemail-release."),
    revision: str = typer.Option("main", "--revision", "-r", help="Tag (reproducible), commit sha, or branch."),
    local_dir: Path | None = typer.Option(None, "--local-dir", help="Download here instead of the HF cache."),
) -> None:
    """Print the `vllm serve` command that serves a pulled release's base model and adapters."""
    import shlex

    from genemail.hub.release import pull_release
    from genemail.hub.vllm_compat import vllm_serve_command

    release = pull_release(repo, revision, local_dir=local_dir)  # downloads, verifies, runs the vLLM checks
    for warning in release.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(shlex.join(vllm_serve_command(release)))


@app.command("tags")
def tags(repo: str = typer.Argument(..., help="Release repo id, e.g. demo/genemail-release.")) -> None:
    """List the release tags of a release repo (newest last)."""
    from genemail.hub.release import list_release_tags

    for tag in list_release_tags(repo):
        typer.echo(tag)


def register_top_level(root: typer.Typer) -> None:
    """Add top-level commands (``genemail publish``) to the root app."""
    root.command("publish")(publish_command)
