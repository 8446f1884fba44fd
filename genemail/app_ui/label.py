"""Label tab: a marketer labels a customer's L1 tier and L2 segment from the profile alone (KR1).

The model's answer is never shown. The next customer is chosen to cover every segment and the
borderline cases (``genemail.labels.queue``). API endpoints: ``/next_label``, ``/label``, ``/label_stats``.
"""

import html
from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import guard
from genemail.app_ui.rate import sign_in_available
from genemail.errors import DataError
from genemail.labels.store import L1_CHOICES, L2_CHOICES
from genemail.labels.workflow import LabelTask
from genemail.service import GenEmailService

LABEL_CONCURRENCY = 16  # SQLite (WAL) serializes the writers itself


def profile_table(task: LabelTask) -> pd.DataFrame:
    """The customer's profile as a two-column table (field, value)."""
    return pd.DataFrame([(k, "" if v is None else v) for k, v in task.profile.items()], columns=["field", "value"])


def stats_markdown(summary: dict[str, Any]) -> str:
    """How many labels, by whom, per segment, and the agreement between labelers."""
    if not summary["n_labels"]:
        return "No labels yet."
    per = ", ".join(f"{k} {v}" for k, v in sorted(summary["per_segment"].items()))
    lines = [f"**{summary['n_labels']}** labels by **{summary['n_raters']}** labeler(s) on "
             f"**{summary['n_customers']}** customers ({per})."]
    agreement = summary.get("agreement") or {}
    if agreement.get("cohen_kappa") is not None:
        lines.append(f"Cohen's kappa ({' vs '.join(agreement['kappa_raters'])}, {agreement['kappa_n']} shared "
                     f"customers): {agreement['cohen_kappa']:.2f}")
    if agreement.get("krippendorff_alpha") is not None:
        lines.append(f"Krippendorff's alpha: {agreement['krippendorff_alpha']:.2f}")
    lines.append("Evaluate the segmenter on these labels: `genemail labels export --out labels.csv`, then "
                 "`python -m training.train_segmenter --data CUSTOMERS --out DIR --labels labels.csv`.")
    return "  \n".join(lines)


def build(service: GenEmailService) -> None:
    """Lay out the tab (call inside a ``gr.Tab``) and wire its events."""
    gr.Markdown("Label customers for the held-out KR1 test set. You see the customer's profile, never the model's "
                "answer: pick the value tier (L1) and the segment (L2), or *unsure*. Customers are chosen to cover "
                "every segment and the cases the model finds hardest; every fifth one was labelled by someone else, "
                "so agreement between labelers can be measured.")
    with gr.Row():
        if sign_in_available():
            gr.LoginButton()
        labeler = gr.Textbox(label="Your name", placeholder="e.g. ann", elem_id="labeler", scale=2)
        customer = gr.Textbox(label="Customer ID (optional)", placeholder="empty: the next one to label", scale=2)
        next_button = gr.Button("Next customer", variant="primary", elem_id="next-label")
    header = gr.Markdown(elem_id="label-header")
    profile = gr.Dataframe(label="Profile", interactive=False, elem_id="label-profile")
    with gr.Row():
        l1 = gr.Radio(list(L1_CHOICES), label="Value tier (L1)", elem_id="label-l1")
        l2 = gr.Radio(list(L2_CHOICES), label="Segment (L2)", elem_id="label-l2")
    note = gr.Textbox(label="Note (optional)", lines=2)
    submit = gr.Button("Save label", variant="primary", elem_id="save-label")
    status = gr.Markdown(elem_id="label-status")
    stats = gr.Markdown(stats_markdown(service.labels.summary()), elem_id="label-stats")
    task_state = gr.State(None)

    def who(name: str, login: gr.OAuthProfile | None) -> str:
        return login.username if login is not None else (name or "").strip()

    @guard
    def on_next(name: str, customer_id: str, login: gr.OAuthProfile | None) -> tuple[Any, ...]:
        task = service.next_label(who(name, login), customer_id or None)
        return (f"### Customer `{html.escape(task.customer_id)}`", profile_table(task), task, None, None, "", "")

    @guard
    def on_save(name: str, tier: str | None, segment: str | None, text: str, task: LabelTask | None,
                login: gr.OAuthProfile | None) -> tuple[str, str]:
        if not tier or not segment:
            raise DataError("no tier or no segment picked", where="Label tab",
                            fix="pick the value tier and the segment (or unsure) before saving")
        label_id = service.label(task, rater=who(name, login), l1=tier, l2=segment, note=text or "")
        return (f"Saved as label #{label_id}. Press **Next customer** for the next one.",
                stats_markdown(service.labels.summary()))

    @guard
    def on_stats() -> str:
        return stats_markdown(service.labels.summary())

    next_button.click(on_next, [labeler, customer], [header, profile, task_state, l1, l2, note, status],
                      api_name="next_label")
    submit.click(on_save, [labeler, l1, l2, note, task_state], [status, stats], api_name="label",
                 concurrency_limit=LABEL_CONCURRENCY)
    gr.Button("Refresh statistics", size="sm").click(on_stats, None, stats, api_name="label_stats")
