"""Strategy studio: an operator edits a segment's strategy and previews it on that segment's customers.

The texts edited are the ones the emails are written in (tone, greeting, focus, call to action, and
what the segment must never be told). The preview writes the emails of the segment's first demo
customers with the edited strategy, through the quality gate, beside a diff of the change; the
release in use is not touched. Below the editor (:mod:`genemail.app_ui.studio_save`): the segment
thresholds, saving as a new release version, and retraining what the save made stale.

API endpoints: ``/studio_strategy`` (segment -> its current texts), ``/studio_preview`` (segment,
texts, phrases -> diff, emails with their verdicts); the save's are listed in ``studio_save``.
"""

import html
from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui import studio_save
from genemail.app_ui.common import MODEL_CONCURRENCY, MODEL_QUEUE, field_error, guard, qa_markdown, segment_label
from genemail.app_ui.i18n import Texts, t
from genemail.service import GenEmailService
from genemail.taxonomy import L2_SEGMENTS

PREVIEW_CUSTOMERS = 3


def build(service: GenEmailService, texts: Texts, lang: gr.State) -> list[tuple[Any, list[Any], list[Any]]]:
    """Lay out the tab (call inside a ``gr.Tab``) and wire its events; return what refreshes it when it opens."""
    texts.make(gr.Markdown, "Edit a segment's strategy and try it on that segment's customers before anyone "
                            "else sees it: the emails go through the same quality check, and the release in use "
                            "does not change.")
    with gr.Row():
        segment = texts.make(gr.Dropdown, choices=lambda lang_: [(segment_label(service, s, lang_), s)
                                                                for s in L2_SEGMENTS],
                             value=None, label="Segment", elem_id="studio-segment")
    with gr.Row():
        tone = texts.make(gr.Textbox, label="Tone", elem_id="studio-tone")
        greeting = texts.make(gr.Textbox, label="Greeting", elem_id="studio-greeting")
    with gr.Row():
        focus = texts.make(gr.Textbox, label="Focus", elem_id="studio-focus")
        cta = texts.make(gr.Textbox, label="Call to action", elem_id="studio-cta")
    avoid = texts.make(gr.Textbox, label="Never tell this segment (phrases, comma-separated)", lines=2,
                       elem_id="studio-avoid")
    preview = texts.make(gr.Button, "Preview on this segment's customers", variant="primary",
                         elem_id="studio-preview")
    status = gr.Markdown(elem_id="studio-status")
    emails = texts.make(gr.Dataframe, label="Preview", interactive=False, wrap=True, visible=False,
                        elem_id="studio-emails")
    with texts.make(gr.Accordion, label="Advanced", open=False, elem_classes=["advanced"]):
        diff = gr.Code(language=None, label="Change", interactive=False, elem_id="studio-diff")
    refresh = studio_save.build(service, texts, lang, segment, [tone, greeting, focus, cta, avoid])

    @guard
    def on_strategy(name: str | None, lang_: str = "en") -> tuple[Any, ...]:
        """The current texts of a segment's strategy (in the language the emails are written in).

        Args:
            name: the segment, e.g. "Dormant".
        """
        if not name:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        text = service.snapshot.strategies.for_segment(name).text(service.config.lang)
        return text.tone, text.greeting, text.focus, text.call_to_action, ", ".join(text.must_not_say)

    @guard
    def on_preview(name: str | None, tone_v: str, greeting_v: str, focus_v: str, cta_v: str, avoid_v: str,
                   lang_: str = "en") -> tuple[Any, ...]:
        """Try an edited strategy on the segment's first customers, through the quality check.

        Args:
            name: the segment, e.g. "Dormant".
            tone_v: the tone of voice.
            greeting_v: how the email greets the customer.
            focus_v: what the email is about.
            cta_v: the call to action.
            avoid_v: phrases this segment's emails must never contain, comma-separated.
        """
        if not name:
            raise field_error(t("Segment", lang_), t("nothing picked", lang_),
                              t("pick the segment whose strategy you edit", lang_), lang_)
        found = service.studio.preview(name, {"tone": tone_v, "greeting": greeting_v, "focus": focus_v,
                                              "call_to_action": cta_v, "must_not_say": avoid_v},
                                       n=PREVIEW_CUSTOMERS)
        rows = [[r["customer_id"], r["email"], qa_markdown(r["qa"], lang_)] for r in found["rows"]]
        table = pd.DataFrame(rows, columns=[t("customer", lang_), t("email", lang_), t("check", lang_)])
        head = t("Preview of **{segment}** on {n} of its customers; the release in use is unchanged.", lang_,
                 segment=html.escape(segment_label(service, name, lang_)), n=len(rows))
        if not found["changed"]:
            head += " " + t("(nothing was changed)", lang_)
        return head, gr.update(value=table, visible=bool(rows)), found["diff"]

    on_strategy.__name__ = "strategy_texts"
    on_preview.__name__ = "preview_strategy"
    segment.change(on_strategy, [segment, lang], [tone, greeting, focus, cta, avoid], api_name="studio_strategy",
                   show_progress_on=[status])
    preview.click(on_preview, [segment, tone, greeting, focus, cta, avoid, lang], [status, emails, diff],
                  api_name="studio_preview", concurrency_id=MODEL_QUEUE, concurrency_limit=MODEL_CONCURRENCY,
                  show_progress_on=[status, emails])
    return refresh
