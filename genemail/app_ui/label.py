"""Label tab: a marketer labels a customer's L1 tier and L2 segment from the profile alone (KR1).

The model's answer is never shown. The next customer is chosen to cover every segment and the
borderline cases (``genemail.labels.queue``). API endpoints: ``/next_label``, ``/label``, ``/label_stats``.
"""

import html
from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import field_error, guard, segment_label, shorten
from genemail.app_ui.i18n import Texts, t, tier_name
from genemail.app_ui.rate import sign_in_available
from genemail.labels.store import L1_CHOICES, L2_CHOICES
from genemail.labels.workflow import LabelTask
from genemail.service import GenEmailService

LABEL_CONCURRENCY = 16  # SQLite (WAL) serializes the writers itself
# The profile as a marketer reads it: field names in words, numbers rounded, codes spelled out.
PROFILE_NAMES = {
    "customer_id": "Customer", "age": "Age", "gender": "Gender", "education": "Education",
    "marital_status": "Marital status", "income": "Yearly income", "children": "Children at home",
    "kid_age": "Children's ages", "family_size": "Family size", "recency": "Days since last purchase",
    "tenure_days": "Days as a customer", "total_spend": "Spent in total", "total_purchases": "Purchases",
    "purchase_frequency": "Purchases per month", "favourite_category": "Favourite category",
    "web_visits_month": "Website visits last month", "accepted_campaigns": "Earlier offers accepted",
}
KID_AGES = {"none": "no children", "young": "young children", "teen": "teenagers",
            "young_and_teen": "young children and teenagers"}


def _value(field: str, value: Any, lang: str) -> str:
    if value is None or value != value:
        return t("not known", lang)
    if field == "kid_age":
        return t(KID_AGES.get(str(value), str(value)), lang)
    if field == "customer_id":
        return shorten(str(value), 32)
    if isinstance(value, float):
        if field == "purchase_frequency":
            return f"{value:.1f}"
        return f"{value:,.0f}"
    if isinstance(value, int) and field in ("income", "total_spend"):
        return f"{value:,}"
    return t(str(value), lang)


def profile_table(task: LabelTask, lang: str = "en") -> pd.DataFrame:
    """The customer's profile as a two-column table in words (what, value)."""
    rows = [(t(PROFILE_NAMES.get(k, k), lang), _value(k, v, lang)) for k, v in task.profile.items()]
    return pd.DataFrame(rows, columns=[t("what", lang), t("value", lang)])


def stats_markdown(summary: dict[str, Any], service: GenEmailService | None = None, lang: str = "en") -> str:
    """How many labels, by whom, per segment, and the agreement between labelers, in sentences."""
    if not summary["n_labels"]:
        return t("No labels yet.", lang)
    name = (lambda s: segment_label(service, s, lang)) if service is not None else str
    per = ", ".join(f"{name(k)} {v}" for k, v in sorted(summary["per_segment"].items()))
    lines = [t("**{n}** labels by **{raters}** labeler(s) on **{customers}** customers ({per}).", lang,
               n=summary["n_labels"], raters=summary["n_raters"], customers=summary["n_customers"], per=per)]
    agreement = summary.get("agreement") or {}
    if agreement.get("cohen_kappa") is not None:
        lines.append(t("Agreement between {who} on {n} shared customers (Cohen's kappa, 1 = full agreement): {k}.",
                       lang, who=" & ".join(agreement["kappa_raters"]), n=agreement["kappa_n"],
                       k=f"{agreement['cohen_kappa']:.2f}"))
    if agreement.get("krippendorff_alpha") is not None:
        lines.append(t("Agreement across all labelers (Krippendorff's alpha): {a}.", lang,
                       a=f"{agreement['krippendorff_alpha']:.2f}"))
    lines.append(t("These labels are the held-out test set the segmenter is checked against when it is next "
                   "trained.", lang))
    return "  \n".join(lines)


def build(service: GenEmailService, texts: Texts, lang: gr.State) -> list[tuple[Any, list[Any], list[Any]]]:
    """Lay out the tab (call inside a ``gr.Tab``), wire its events; return what refreshes it on every visit."""
    texts.make(gr.Markdown, "Label customers for the test set the segmenter is checked against. You see the "
                            "customer's profile, never the model's answer: pick the value tier and the segment, or "
                            "*unsure*. Customers are chosen to cover every segment and the cases the model finds "
                            "hardest; every fifth one was labelled by someone else, so agreement between labelers can "
                            "be measured.")
    with gr.Row():
        if sign_in_available():
            gr.LoginButton()
        labeler = texts.make(gr.Textbox, label="Your name", placeholder="e.g. ann", elem_id="labeler", scale=2)
        customer = texts.make(gr.Textbox, label="Customer ID (optional)", placeholder="empty: the next one to label",
                              scale=2)
        next_button = texts.make(gr.Button, "Next customer", variant="primary", elem_id="next-label")
    header = gr.Markdown(elem_id="label-header")
    profile = texts.make(gr.Dataframe, label="Profile", interactive=False, elem_id="label-profile", visible=False)
    with gr.Row():
        l1 = texts.make(gr.Radio, choices=lambda lang_: [(tier_name(c, lang_) if c != "unsure" else t("Unsure", lang_),
                                                          c) for c in L1_CHOICES],
                        label="Value tier", elem_id="label-l1")
        l2 = texts.make(gr.Radio, choices=lambda lang_: [(segment_label(service, c, lang_), c) for c in L2_CHOICES],
                        label="Segment", elem_id="label-l2")
    note = texts.make(gr.Textbox, label="Note (optional)", lines=2)
    submit = texts.make(gr.Button, "Save label", variant="primary", elem_id="save-label")
    status = gr.Markdown(elem_id="label-status")
    stats = gr.Markdown(stats_markdown(service.labels.summary(), service, texts.lang), elem_id="label-stats")
    task_state = gr.State(None)

    def who(name: str, login: gr.OAuthProfile | None) -> str:
        return login.username if login is not None else (name or "").strip()

    @guard
    def on_next(name: str, customer_id: str, lang_: str = "en", login: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        task = service.next_label(who(name, login), customer_id or None)
        return (t("### Customer {id}", lang_, id=shorten(task.customer_id)),
                gr.update(value=profile_table(task, lang_), visible=True), task, None, None, "", "")

    @guard
    def on_save(name: str, tier: str | None, segment: str | None, text: str, task: LabelTask | None,
                lang_: str = "en", login: gr.OAuthProfile | None = None) -> tuple[str, str]:
        if not tier or not segment:
            missing = t("Value tier", lang_) if not tier else t("Segment", lang_)
            raise field_error(missing, t("nothing picked", lang_),
                            t("pick the value tier and the segment (or unsure) before saving", lang_), lang_)
        label_id = service.label(task, rater=who(name, login), l1=tier, l2=segment, note=text or "")
        return (t("Saved as label #{n}. Press **Next customer** for the next one.", lang_,
                  n=service.label_number(label_id)),
                stats_markdown(service.labels.summary(), service, lang_))

    @guard
    def on_stats(lang_: str = "en") -> str:
        return stats_markdown(service.labels.summary(), service, lang_)

    next_button.click(on_next, [labeler, customer, lang], [header, profile, task_state, l1, l2, note, status],
                      api_name="next_label", show_progress_on=[header])
    submit.click(on_save, [labeler, l1, l2, note, task_state, lang], [status, stats], api_name="label",
                 concurrency_limit=LABEL_CONCURRENCY, show_progress_on=[status])
    texts.make(gr.Button, "Refresh statistics", size="sm").click(on_stats, lang, stats, api_name="label_stats",
                                                                  show_progress_on=[stats])
    return [(on_stats, [lang], [stats])]
