"""Models tab: the loaded release manifest, the release tags on the Hub, and switching without a restart.

A switch is app-wide (every user sees the new release for new requests); the service loads the
new release completely before swapping it in, so requests already running finish on the old one,
and ratings always record the release their pair was generated with.

API endpoints: ``/release_info``, ``/tags``, ``/release`` (switch).
"""

from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import banner_markdown, guard
from genemail.service import GenEmailService

RELEASE_QUEUE = "release"  # one switch at a time; generation keeps running on the old release meanwhile


def manifest_table(service: GenEmailService) -> pd.DataFrame:
    """Every pinned artifact with repo, type, full sha and a card link (Markdown)."""
    if not service.ready:
        return pd.DataFrame(columns=["artifact", "repo_id", "repo_type", "sha", "card"])
    rows = service.release_rows()
    for row in rows:
        row["card"] = f"[card]({row['card']})"
    return pd.DataFrame(rows)


def release_markdown(service: GenEmailService) -> str:
    """The current release in one block: repo@revision, sha, base model, strategies version."""
    if not service.ready:
        return banner_markdown(service)
    snap = service.snapshot
    base = snap.manifest.base_model
    strategies = snap.manifest.strategies
    lines = [
        f"**Release:** `{snap.repo_id}` at `{snap.revision}` → commit `{snap.release_sha}`",
        f"**Base model:** `{base.id}@{base.revision[:12]}`" if base else "**Base model:** (pinned as an artifact)",
        f"**Strategies:** version {strategies.version}, sha256 `{strategies.sha256[:12]}`" if strategies
        else "**Strategies:** packaged default",
        f"**Adapters loaded:** {', '.join(snap.generator.adapter_names)}",
        f"**Loaded:** {snap.loaded_at} in {snap.load_seconds:.1f} s",
    ]
    lines += [f"> ⚠ {w}" for w in snap.warnings]
    return "  \n".join(lines)


def build(service: GenEmailService, banner: gr.Markdown, tab: gr.Tab | None = None) -> gr.Button:
    """Lay out the tab (call inside ``tab``), wire its events; return the button that reloads it.

    Selecting ``tab`` shows the loaded release and lists the tags, so the tab never opens empty.
    """
    current = gr.Markdown(elem_id="release-info")
    table = gr.Dataframe(label="Pinned artifacts", interactive=False, wrap=True,
                         datatype=["str", "str", "str", "str", "markdown"])
    with gr.Row():
        show = gr.Button("Show loaded release", elem_id="show-release")
        tags = gr.Dropdown([], label="Release tags on the Hub", allow_custom_value=True, elem_id="release-tags",
                           info="a tag (v1, v2, ...), a branch or a commit sha")
        refresh = gr.Button("List tags", elem_id="list-tags")
        switch = gr.Button("Switch to this revision", variant="primary", elem_id="switch-release")

    @guard
    def on_show() -> tuple[str, pd.DataFrame]:
        return release_markdown(service), manifest_table(service)

    @guard
    def on_tags() -> Any:
        found = service.list_tags()
        current_rev = service.snapshot.revision if service.ready else (found[-1] if found else None)
        if not found:
            gr.Warning("The release repo has no tags yet: publish one with `genemail publish --tag v1`.")
        return gr.Dropdown(choices=found, value=current_rev)

    @guard
    def on_switch(revision: str) -> tuple[str, pd.DataFrame, str]:
        previous = service.snapshot.revision if service.ready else None
        snap = service.switch(revision)
        for warning in snap.warnings:
            gr.Warning(warning)
        gr.Info(f"Switched from {previous or 'nothing'} to {snap.revision} (commit {snap.release_sha[:12]}).")
        return release_markdown(service), manifest_table(service), banner_markdown(service)

    show.click(on_show, None, [current, table], api_name="release_info")
    refresh.click(on_tags, None, tags, api_name="tags")
    if tab is not None:
        tab.select(on_show, None, [current, table], api_name="models_tab").then(
            on_tags, None, tags, api_name="models_tab_tags")
    switch.click(on_switch, tags, [current, table, banner], api_name="release", concurrency_id=RELEASE_QUEUE,
                 concurrency_limit=1)
    return show
