"""GenEmail app: compose and compare, rate, explore segments, run campaigns, switch releases.

``build_demo(service)`` builds the Gradio Blocks; ``main()`` parses flags, loads the release and
launches. Nothing runs at import time, so a Space (or a test) can import this file freely.

Configuration (flags override the environment; read once by ``genemail.settings``):
``GENEMAIL_RELEASE_REPO``, ``GENEMAIL_RELEASE_REVISION``, ``GENEMAIL_RATINGS_DB``,
``GENEMAIL_RATINGS_REPO``; ``HF_ENDPOINT`` and ``HF_TOKEN`` are read by huggingface_hub.
If the release cannot be loaded, the app still starts and says what failed and how to fix it.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gradio as gr

    from genemail.service import GenEmailService

TITLE = "GenEmail"
QUEUE_MAX_SIZE = 64  # requests waiting beyond this get "queue full" at once instead of a long wait
MAX_UPLOAD = "50mb"
CSS = """
#segmented-email textarea, #baseline-email textarea, #email-a textarea, #email-b textarea { font-size: 15px; }
#release-banner { padding: 4px 0; }
/* A failed request says what to do in its message box; the red "Error" badge Gradio puts on the
   request's output would only cover what the user needs to fix it. */
[data-testid="status-tracker"] .error { display: none !important; }
"""
LANG_STORAGE_KEY = "genemail-ui-lang"


def use_own_upload_folder() -> None:
    """Keep Gradio's uploads in a folder of this user's (``<tmp>/gradio-<uid>``) unless ``GRADIO_TEMP_DIR`` is set.

    Gradio's default, ``<tmp>/gradio``, is one folder for every user of a machine, owned by whoever
    first ran a Gradio app there: every upload of another user then failed (HTTP 500, PermissionError).
    Gradio reads the variable when it is imported and when the app starts, so this runs before both.
    """
    if "GRADIO_TEMP_DIR" not in os.environ and hasattr(os, "getuid"):  # Windows' temp folder is per user
        os.environ["GRADIO_TEMP_DIR"] = str(Path(tempfile.gettempdir()) / f"gradio-{os.getuid()}")


def build_demo(service: "GenEmailService") -> "gr.Blocks":
    """The whole app for ``service`` (already started): a status banner, a language switch and eight tabs."""
    use_own_upload_folder()
    import gradio as gr

    from genemail.app_ui import campaign, compose, label, models, rate, results, segments, studio
    from genemail.app_ui.common import banner_markdown, guard
    from genemail.app_ui.i18n import LANG_CHOICES, Texts, lang_of

    first = service.config.ui_lang
    texts = Texts(lang=first)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        lang = gr.State(first)  # the session's language: every handler that writes text reads it
        saved_lang = gr.BrowserState(None, storage_key=LANG_STORAGE_KEY)  # survives a reload
        with gr.Row():
            texts.make(gr.Markdown, "# GenEmail\nSegment customers first, then write each segment's email in its "
                                    "own voice.")
            switch = gr.Radio(list(LANG_CHOICES), value=first, label="Language / 语言", elem_id="ui-lang",
                              scale=0, min_width=180)
        banner = gr.Markdown(banner_markdown(service, first), elem_id="release-banner")
        refreshers: list = []
        with gr.Tabs():
            with texts.make(gr.Tab, label="Compose", id="compose"):
                compose_refresh = compose.build(service, texts, lang)
            with texts.make(gr.Tab, label="Rate", id="rate") as rate_tab:
                rate_refresh = rate.build(service, texts, lang)
            with texts.make(gr.Tab, label="Label", id="label") as label_tab:
                label_refresh = label.build(service, texts, lang)
            with texts.make(gr.Tab, label="Segments", id="segments") as segments_tab:
                segments.build(service, texts, lang, segments_tab)
            with texts.make(gr.Tab, label="Campaign", id="campaign"):
                campaign.build(service, texts, lang)
            with texts.make(gr.Tab, label="Results", id="results") as results_tab:
                results_refresh = results.build(service, texts, lang)
            with texts.make(gr.Tab, label="Strategy studio", id="studio") as studio_tab:
                studio_refresh = studio.build(service, texts, lang)
            with texts.make(gr.Tab, label="Models", id="models") as models_tab:
                models.build(service, banner, texts, lang, models_tab)
        # Ratings, labels and experiments are read from their stores whenever a tab opens and on every
        # page load, so what another user (or a command) stored since shows up, and a reload loses nothing.
        for tab, found in ((rate_tab, rate_refresh), (label_tab, label_refresh), (results_tab, results_refresh)):
            for fn, inputs, outputs in found:
                tab.select(fn, inputs, outputs, api_visibility="private", show_progress="hidden")
                refreshers.append((fn, inputs, outputs))
        # The newest retraining job (also one from before an app restart) is shown when the studio opens.
        for fn, inputs, outputs in studio_refresh:
            studio_tab.select(fn, inputs, outputs, api_visibility="private", show_progress="hidden")
        # What the server wrote in one language is written again in the other after a switch.
        rewritten = [*compose_refresh, *rate_refresh, *label_refresh]

        @guard
        def on_load() -> str:
            return banner_markdown(service)

        def on_language(choice: str) -> list:
            chosen = lang_of(choice)
            return [chosen, chosen, banner_markdown(service, chosen), *texts.updates(chosen)]

        def on_restore(stored: str | None, current: str) -> list:
            if not stored or stored == current:  # nothing saved, or already built in it: leave the page alone
                return [gr.skip()] * (3 + len(texts.widgets))
            chosen = lang_of(stored)
            return [chosen, chosen, banner_markdown(service, chosen), *texts.updates(chosen)]

        translated = [lang, switch, banner, *texts.widgets]
        demo.load(on_load, None, banner, api_name="status")
        switched = switch.input(on_language, switch, translated, api_name="language", show_progress="hidden").then(
            lambda chosen: chosen, lang, saved_lang, api_visibility="private")
        for fn, inputs, outputs in rewritten:
            switched = switched.then(fn, inputs, outputs, api_visibility="private", show_progress="hidden")
        restore = demo.load(on_restore, [saved_lang, lang], translated, api_visibility="private",
                            show_progress="hidden")
        for fn, inputs, outputs in [*compose_refresh, *refreshers]:
            restore = restore.then(fn, inputs, outputs, api_visibility="private", show_progress="hidden")
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=4)
    demo.page_texts = texts  # the translated widgets, for the translation tests
    return demo


def launch_kwargs(service: "GenEmailService") -> dict[str, Any]:
    """Keyword arguments of ``demo.launch`` that belong to the app (theme, CSS, errors, paths)."""
    import gradio as gr

    return {
        "theme": gr.themes.Soft(),
        "css": CSS,
        "show_error": True,  # shows only the gr.Error message (the guard never lets a traceback through)
        "max_file_size": MAX_UPLOAD,
        "allowed_paths": [str(service.work_dir)],  # campaign files and plot copies live there
        "footer_links": ["api"],
        "mcp_server": mcp_available(),
    }


def mcp_available() -> bool:
    """Serve the app's named endpoints as MCP tools when gradio's MCP extra is installed."""
    from importlib.util import find_spec

    return find_spec("mcp") is not None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags; defaults come from the environment through ``genemail.settings``."""
    from genemail.settings import Settings
    from genemail.taxonomy import LANGS

    settings = Settings.from_env()
    p = argparse.ArgumentParser(prog="python app.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--release-repo", default=settings.release_repo, help="release repo id (GENEMAIL_RELEASE_REPO)")
    p.add_argument("--revision", default=settings.release_revision,
                   help="release tag, branch, sha or \"latest\" (GENEMAIL_RELEASE_REVISION)")
    p.add_argument("--customers", type=Path, default=None, help="demo customer file (default: 500 synthetic)")
    p.add_argument("--ratings-db", type=Path, default=settings.ratings_db, help="SQLite file (GENEMAIL_RATINGS_DB)")
    p.add_argument("--results-db", type=Path, default=settings.results_db,
                   help="experiment results SQLite file (GENEMAIL_RESULTS_DB)")
    p.add_argument("--lang", choices=LANGS, default="zh", help="prompt and strategy language")
    p.add_argument("--ui-lang", choices=LANGS, default="zh",
                   help="language the page opens in (each user can switch in the page)")
    p.add_argument("--host", default=None, help="interface to bind (default: gradio's, 0.0.0.0 on a Space)")
    p.add_argument("--port", type=int, default=None, help="port (default: gradio's, 7860)")
    p.add_argument("--share", action=argparse.BooleanOptionalAction, default=False,
                   help="gradio share link (off: it needs the internet)")
    return p.parse_args(argv)


def make_service(args: argparse.Namespace) -> "GenEmailService":
    """The started service for the parsed flags (a release that fails to load is reported, not raised)."""
    from genemail.service import GenEmailService, ServiceConfig
    from genemail.settings import Settings

    config = ServiceConfig.from_settings(Settings.from_env(), release_repo=args.release_repo, revision=args.revision,
                                         customers_path=args.customers, ratings_db=args.ratings_db,
                                         results_db=args.results_db, lang=args.lang, ui_lang=args.ui_lang)
    return GenEmailService(config).start()


def main(argv: list[str] | None = None) -> None:
    """Parse flags, load the release and serve the app until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2", "huggingface_hub"):  # one line per Hub request drowns the app's own log
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parse_args(argv)
    service = make_service(args)
    if not service.ready:
        logging.getLogger("genemail.app").warning("starting without a release: %s", service.load_error)
    try:
        build_demo(service).launch(server_name=args.host, server_port=args.port, share=args.share,
                                   **launch_kwargs(service))
    finally:
        service.close()


if __name__ == "__main__":
    main()
