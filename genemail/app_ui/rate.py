"""Rate tab: blind human style-match evaluation (PRD KR2) and its live statistics.

A pair is one customer's segmented and baseline emails, left/right randomized by the service. The
pair (with its variants, submission id and shas) lives in ``gr.State``, per browser session: the
page never learns which side is which, and a double click re-sends the same ``submission_id``,
which the store de-duplicates.

API endpoints: ``/next_pair``, ``/rate``, ``/stats``.
"""

from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import MAX_LISTED_CUSTOMERS, MODEL_CONCURRENCY, MODEL_QUEUE, guard, strategy_markdown
from genemail.errors import DataError
from genemail.ratings.store import CHOICES
from genemail.ratings.workflow import RatingPair
from genemail.service import GenEmailService

# SQLite (WAL) serializes writers itself and readers never block; many raters may submit at once.
RATE_CONCURRENCY = 16
CHOICE_LABELS = {"A": "A fits the target style better", "B": "B fits the target style better",
                 "tie": "Tie", "both_poor": "Both poor"}


def sign_in_available() -> bool:
    """True on a Hugging Face Space (gradio reads SYSTEM/SPACE_ID) with gradio's OAuth extras installed.

    Without ``authlib``/``itsdangerous`` a login button would stop the app at start-up, so the
    name field is used instead (add ``gradio[oauth]`` to requirements.txt for a Space).
    """
    from importlib.util import find_spec

    from gradio.utils import get_space

    return get_space() is not None and all(find_spec(m) is not None for m in ("authlib", "itsdangerous"))


def stats_markdown(summary: dict[str, Any]) -> str:
    """Headline numbers: ratings, raters, pooled win rate with its sign test, agreement."""
    n = summary.get("n_ratings", 0)
    if not n:
        return "No ratings yet."
    lines = [f"**{n}** ratings by **{summary['n_raters']}** raters on **{summary['n_customers']}** customers."]
    pooled = next((r for r in summary.get("win_rate", []) if r["segment"] == "ALL"), None)
    if pooled and pooled["n_decisive"]:
        lines.append(f"Segmented email preferred in **{100 * pooled['win_rate']:.0f}%** of {pooled['n_decisive']} "
                     f"decisive ratings (95% CI {100 * pooled['ci_low']:.0f}-{100 * pooled['ci_high']:.0f}%, "
                     f"sign test p = {pooled['p_value']:.3g}).")
    agreement = summary.get("agreement") or {}
    alpha = agreement.get("krippendorff_alpha")
    lines.append(f"Krippendorff's alpha: {alpha:.2f}" if alpha is not None
                 else f"Krippendorff's alpha: n/a ({agreement.get('alpha_reason')})")
    kappa = agreement.get("cohen_kappa")
    if kappa is not None:
        lines.append(f"Cohen's kappa (2 raters): {kappa:.2f}")
    return "  \n".join(lines)


def _stats_outputs(service: GenEmailService) -> tuple[str, pd.DataFrame]:
    summary, table = service.stats()
    return stats_markdown(summary), table.round(3)


def build(service: GenEmailService) -> None:
    """Lay out the tab (call inside a ``gr.Tab``) and wire its events."""
    gr.Markdown("Read the **target style**, then both emails (which one is segmented is hidden and random). "
                "Say which fits the target style better and score each from 1 (not at all) to 5 (exactly).")
    if service.export_error:
        gr.Markdown(f"> Ratings are kept locally only: {service.export_error}")
    with gr.Row():
        if sign_in_available():
            gr.LoginButton()
        rater = gr.Textbox(label="Your name (rater)", placeholder="used when not signed in", elem_id="rater-name")
        ids = service.customer_ids(limit=MAX_LISTED_CUSTOMERS)
        customer = gr.Dropdown(["", *ids], value="", label="Customer ID (empty = random)", allow_custom_value=True,
                               filterable=True)
        next_pair = gr.Button("New pair", variant="primary", elem_id="new-pair")
    target = gr.Markdown(elem_id="rate-target")
    with gr.Row(equal_height=True):
        email_a = gr.Textbox(label="Email A", lines=8, interactive=False, elem_id="email-a")
        email_b = gr.Textbox(label="Email B", lines=8, interactive=False, elem_id="email-b")
    with gr.Row():
        choice = gr.Radio([(label, value) for value, label in CHOICE_LABELS.items()], label="Which fits better?",
                          elem_id="rate-choice")
        score_a = gr.Slider(1, 5, value=3, step=1, label="Style match of A (1-5)")
        score_b = gr.Slider(1, 5, value=3, step=1, label="Style match of B (1-5)")
    comment = gr.Textbox(label="Comment (optional)", lines=1)
    submit = gr.Button("Submit rating", variant="primary", elem_id="submit-rating")
    status = gr.Markdown(elem_id="rate-status")
    pair_state = gr.State(None)
    with gr.Accordion("Statistics", open=True):
        stats_md = gr.Markdown(elem_id="rate-stats")
        stats_table = gr.Dataframe(label="Style-match rate (score >= 4) and segmented win rate, 95% Wilson CI",
                                   interactive=False, wrap=True)
        refresh = gr.Button("Refresh statistics")

    @guard
    def on_next_pair(customer_id: str) -> tuple[Any, ...]:
        pair = service.next_pair(customer_id or None)
        header = f"Target style for customer `{pair.customer_id}`:\n\n{strategy_markdown(pair.strategy)}"
        return header, pair.left_email, pair.right_email, pair, None, 3, 3, "", ""

    @guard
    def on_rate(name: str, answer: str | None, a: float, b: float, note: str, pair: RatingPair | None,
                profile: gr.OAuthProfile | None) -> str:
        who = profile.username if profile is not None else (name or "").strip()
        if not who:
            raise DataError("no rater name", where="Rate tab", fix="type your name (or sign in) before submitting")
        if answer not in CHOICES:
            raise DataError("no choice made", where="Rate tab", fix="pick A, B, tie or both poor")
        rating_id = service.rate(pair, rater=who, choice=answer, score_a=a, score_b=b, comment=note or "")
        return f"Saved as rating #{rating_id} by {who}. Press **New pair** for the next one."

    @guard
    def on_stats() -> tuple[str, pd.DataFrame]:
        return _stats_outputs(service)

    next_pair.click(on_next_pair, customer,
                    [target, email_a, email_b, pair_state, choice, score_a, score_b, comment, status],
                    api_name="next_pair", concurrency_id=MODEL_QUEUE, concurrency_limit=MODEL_CONCURRENCY)
    # The page refreshes the statistics after a successful submit; API clients call /stats when they
    # want them, so a burst of ratings does not recompute the statistics once per rating.
    submit.click(on_rate, [rater, choice, score_a, score_b, comment, pair_state], status, api_name="rate",
                 concurrency_id="ratings", concurrency_limit=RATE_CONCURRENCY).success(
        on_stats, None, [stats_md, stats_table], api_visibility="private")
    refresh.click(on_stats, None, [stats_md, stats_table], api_name="stats", concurrency_id="ratings",
                  concurrency_limit=RATE_CONCURRENCY)
