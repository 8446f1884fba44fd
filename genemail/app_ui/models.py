"""Models tab: the release in use, the releases on the Hub, and switching without a restart.

A switch is app-wide (every user gets the new release for new requests), so the page asks for a
confirmation that says so. The service loads the new release completely before swapping it in, so
requests already running finish on the old one, and a switch that fails leaves the release in use,
its table and the banner as they were. Ratings always record the release their pair came from.

API endpoints: ``/release_info``, ``/tags``, ``/release`` (switch; an API caller confirms by calling it).
"""

import html
from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import banner_markdown, guard
from genemail.app_ui.i18n import Texts, t
from genemail.service import GenEmailService

RELEASE_QUEUE = "release"  # one switch at a time; generation keeps running on the old release meanwhile
TABLE_COLUMNS = ["artifact", "repo_id", "repo_type", "sha", "card"]


def manifest_table(service: GenEmailService) -> pd.DataFrame:
    """Every pinned artifact with repo, type, full sha and a card link (Markdown)."""
    if not service.ready:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    rows = service.release_rows()
    for row in rows:
        row["card"] = f"[card]({row['card']})"
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def release_markdown(service: GenEmailService, lang: str = "en") -> str:
    """The release in use, in a sentence (the technical detail is in :func:`release_details`)."""
    if not service.ready:
        return banner_markdown(service, lang)
    snap = service.snapshot
    return t("The app is serving release **{rev}**, loaded {at} in {s} s. It has {n} segment models and the "
             "baseline.", lang, rev=html.escape(str(snap.revision)), at=str(snap.loaded_at)[:16].replace("T", " "),
             s=f"{snap.load_seconds:.1f}", n=len([a for a in snap.generator.adapter_names if a != "baseline"]))


def release_details(service: GenEmailService, lang: str = "en") -> str:
    """Repo, commit, base model, strategies version, adapters: for whoever supports the app."""
    if not service.ready:
        return ""
    snap = service.snapshot
    base = snap.manifest.base_model
    strategies = snap.manifest.strategies
    lines = [
        t("**Release:** `{repo}` at `{rev}` → commit `{sha}`", lang, repo=snap.repo_id, rev=snap.revision,
          sha=snap.release_sha),
        (t("**Base model:** `{id}@{rev}`", lang, id=base.id, rev=base.revision[:12]) if base
         else t("**Base model:** (pinned as an artifact)", lang)),
        (t("**Strategies:** version {v}, sha256 `{sha}`", lang, v=strategies.version, sha=strategies.sha256[:12])
         if strategies else t("**Strategies:** packaged default", lang)),
        t("**Adapters loaded:** {names}", lang, names=", ".join(snap.generator.adapter_names)),
    ]
    lines += [f"> ⚠ {html.escape(w)}" for w in snap.warnings]
    return "  \n".join(lines)


def build(service: GenEmailService, banner: gr.Markdown, texts: Texts, lang: gr.State,
          tab: gr.Tab | None = None) -> gr.Button:
    """Lay out the tab (call inside ``tab``), wire its events; return the button that reloads it.

    Selecting ``tab`` shows the release in use and lists the tags, so the tab never opens empty.
    """
    current = gr.Markdown(release_markdown(service, texts.lang), elem_id="release-info")
    with gr.Row():
        tags = texts.make(gr.Dropdown, choices=[], label="Releases on the Hub", allow_custom_value=True,
                          elem_id="release-tags", info="a release tag (v1, v2, ...)")
        with gr.Column():
            refresh = texts.make(gr.Button, "List releases", elem_id="list-tags")
            switch = texts.make(gr.Button, "Switch to this release…", variant="primary", elem_id="switch-release")
    with gr.Group(visible=False, elem_id="switch-confirm") as confirm_box:
        confirm_text = gr.Markdown(elem_id="switch-confirm-text")
        with gr.Row():
            confirm = texts.make(gr.Button, "Yes, switch for everyone", variant="stop", elem_id="switch-confirm-yes")
            cancel = texts.make(gr.Button, "Cancel", elem_id="switch-confirm-no")
    switch_status = gr.Markdown(elem_id="switch-status")
    with texts.make(gr.Accordion, label="Advanced", open=False, elem_classes=["advanced"]):
        details = gr.Markdown(release_details(service, texts.lang), elem_id="release-details")
        table = texts.make(gr.Dataframe, value=manifest_table(service), label="Pinned artifacts", interactive=False,
                           wrap=True, datatype=["str", "str", "str", "str", "markdown"], visible=service.ready)
        show = texts.make(gr.Button, "Show the release in use", elem_id="show-release")

    @guard
    def on_show(lang_: str = "en") -> tuple[Any, ...]:
        return (release_markdown(service, lang_), gr.update(value=manifest_table(service), visible=service.ready),
                release_details(service, lang_))

    @guard
    def on_tags(lang_: str = "en") -> Any:
        found = service.list_tags()
        current_rev = service.snapshot.revision if service.ready else (found[-1] if found else None)
        if not found:
            gr.Warning(t("The Hub has no release yet: ask whoever runs the app to publish one.", lang_))
        return gr.Dropdown(choices=found, value=current_rev)

    def on_ask(revision: str | None, lang_: str = "en") -> tuple[Any, str, str]:
        revision = str(revision or "").strip()
        if not revision:
            return gr.update(visible=False), "", t("⚠️ **Releases on the Hub:** pick a release first.", lang_)
        now = service.snapshot.revision if service.ready else t("none", lang_)
        text = t("Switch from **{old}** to **{new}**? This applies to **everyone** using the app, from their next "
                 "email on.", lang_, old=html.escape(str(now)), new=html.escape(revision[:64]))
        return gr.update(visible=True), text, ""

    @guard
    def on_switch(revision: str, lang_: str = "en") -> tuple[Any, ...]:
        previous = service.snapshot.revision if service.ready else None
        snap = service.switch(revision)
        for warning in snap.warnings:
            gr.Warning(warning)
        done = t("Switched from {old} to {new} for everyone.", lang_, old=previous or t("none", lang_),
                 new=snap.revision)
        gr.Info(done)
        return (release_markdown(service, lang_), gr.update(value=manifest_table(service), visible=True),
                banner_markdown(service, lang_), release_details(service, lang_), "✅ " + done)

    refresh.click(on_tags, lang, tags, api_name="tags", show_progress_on=[current])
    if tab is not None:
        tab.select(on_show, lang, [current, table, details], api_name="models_tab").then(
            on_tags, lang, tags, api_name="models_tab_tags")
    show.click(on_show, lang, [current, table, details], api_name="release_info", show_progress_on=[details])
    switch.click(on_ask, [tags, lang], [confirm_box, confirm_text, switch_status], api_visibility="private")
    cancel.click(lambda: gr.update(visible=False), None, confirm_box, api_visibility="private")
    # A failed switch shows its message on the status line only: the table and the banner keep
    # showing the release that is still serving.
    confirm.click(lambda: gr.update(visible=False), None, confirm_box, api_visibility="private").then(
        on_switch, [tags, lang], [current, table, banner, details, switch_status], api_name="release",
        concurrency_id=RELEASE_QUEUE, concurrency_limit=1, show_progress_on=[switch_status])
    return show
