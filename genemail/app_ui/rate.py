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

from genemail.app_ui.common import (
    MAX_LISTED_CUSTOMERS,
    MODEL_CONCURRENCY,
    MODEL_QUEUE,
    field_error,
    guard,
    number_field,
    segment_label,
    shorten,
    strategy_markdown,
)
from genemail.app_ui.i18n import Texts, t
from genemail.app_ui.widgets import FieldSlider
from genemail.ratings.store import CHOICES
from genemail.ratings.workflow import RatingPair
from genemail.service import GenEmailService

# SQLite (WAL) serializes writers itself and readers never block; many raters may submit at once.
RATE_CONCURRENCY = 16
CHOICE_LABELS = {"A": "A fits the target style better", "B": "B fits the target style better",
                 "tie": "Tie", "both_poor": "Both poor"}
METRIC_NAMES = {"style_match_rate": "fits the style (score 4 or 5)", "segmented_win_rate": "segmented email preferred"}
VARIANT_NAMES = {"segmented": "segmented email", "baseline": "baseline email"}
STATS_COLUMNS = ["segment", "measure", "email", "ratings", "share %", "95% interval"]


def sign_in_available() -> bool:
    """True on a Hugging Face Space (gradio reads SYSTEM/SPACE_ID) with gradio's OAuth extras installed.

    Without ``authlib``/``itsdangerous`` a login button would stop the app at start-up, so the
    name field is used instead (add ``gradio[oauth]`` to requirements.txt for a Space).
    """
    from importlib.util import find_spec

    from gradio.utils import get_space

    return get_space() is not None and all(find_spec(m) is not None for m in ("authlib", "itsdangerous"))


def stats_markdown(summary: dict[str, Any], lang: str = "en") -> str:
    """Headline numbers as sentences: ratings, raters, how often the segmented email won, agreement."""
    n = summary.get("n_ratings", 0)
    if not n:
        return t("No ratings yet.", lang)
    lines = [t("**{n}** ratings by **{raters}** raters on **{customers}** customers.", lang, n=n,
               raters=summary["n_raters"], customers=summary["n_customers"])]
    pooled = next((r for r in summary.get("win_rate", []) if r["segment"] == "ALL"), None)
    if pooled and pooled["n_decisive"]:
        lines.append(t("Raters preferred the segmented email in **{p}%** of {n} ratings that picked a side (95% "
                       "interval {lo}-{hi}%; sign test p = {pv}).", lang, p=f"{100 * pooled['win_rate']:.0f}",
                       n=pooled["n_decisive"], lo=f"{100 * pooled['ci_low']:.0f}",
                       hi=f"{100 * pooled['ci_high']:.0f}", pv=f"{pooled['p_value']:.3g}"))
    agreement = summary.get("agreement") or {}
    alpha = agreement.get("krippendorff_alpha")
    if alpha is not None:
        lines.append(t("Agreement between raters (Krippendorff's alpha, 1 = full agreement): {a}.", lang,
                       a=f"{alpha:.2f}"))
    else:
        lines.append(t("Agreement between raters: not measurable yet (it needs customers rated by two people).", lang))
    return "  \n".join(lines)


def stats_table(table: pd.DataFrame, service: GenEmailService, lang: str = "en") -> pd.DataFrame:
    """The statistics table in words: segment name, what is measured, share with its 95% interval."""
    rows = []
    for r in table.itertuples(index=False):
        segment = t("All segments", lang) if r.segment == "ALL" else segment_label(service, r.segment, lang)
        ci = "" if r.ci_low != r.ci_low else f"{100 * r.ci_low:.0f}-{100 * r.ci_high:.0f}%"
        rows.append([segment, t(METRIC_NAMES.get(r.metric, r.metric), lang),
                     t(VARIANT_NAMES.get(r.variant, r.variant), lang), int(r.n),
                     "" if r.value != r.value else f"{100 * r.value:.0f}", ci])
    return pd.DataFrame(rows, columns=[t(c, lang) for c in STATS_COLUMNS])


def _stats_outputs(service: GenEmailService, lang: str = "en") -> tuple[str, Any]:
    summary, table = service.stats()
    if table.empty:
        return stats_markdown(summary, lang), gr.update(visible=False)
    return stats_markdown(summary, lang), gr.update(value=stats_table(table, service, lang), visible=True)


def build(service: GenEmailService, texts: Texts, lang: gr.State) -> list[tuple[Any, list[Any], list[Any]]]:
    """Lay out the tab (call inside a ``gr.Tab``), wire its events; return what refreshes it on every visit."""
    texts.make(gr.Markdown, "Read the **target style**, then both emails (which one is segmented is hidden and "
                            "random). Say which fits the target style better and score each from 1 (not at all) "
                            "to 5 (exactly).")
    if service.export_error:
        texts.make(gr.Markdown, "> Ratings are kept on this server only; they are not copied to the Hub.")
    with gr.Row():
        if sign_in_available():
            gr.LoginButton()
        rater = texts.make(gr.Textbox, label="Your name", placeholder="used when not signed in", elem_id="rater-name")
        ids = service.customer_ids(limit=MAX_LISTED_CUSTOMERS)
        customer = texts.add(gr.Dropdown([("", ""), *((shorten(i, 24), i) for i in ids)], value="",
                                         label=t("Customer (empty = random)", texts.lang), allow_custom_value=True,
                                         filterable=True), label="Customer (empty = random)")
        next_pair = texts.make(gr.Button, "New pair", variant="primary", elem_id="new-pair")
    target = gr.Markdown(elem_id="rate-target")
    with gr.Row(equal_height=True):
        email_a = texts.make(gr.Textbox, label="Email A", lines=8, interactive=False, elem_id="email-a")
        email_b = texts.make(gr.Textbox, label="Email B", lines=8, interactive=False, elem_id="email-b")
    with gr.Row():
        choice = texts.make(gr.Radio, choices=[(label, value) for value, label in CHOICE_LABELS.items()],
                            label="Which fits better?", elem_id="rate-choice")
        score_a = texts.make(FieldSlider, 1, 5, value=3, step=1, label="Style match of A (1-5)", elem_id="score-a")
        score_b = texts.make(FieldSlider, 1, 5, value=3, step=1, label="Style match of B (1-5)", elem_id="score-b")
    comment = texts.make(gr.Textbox, label="Comment (optional)", lines=1)
    submit = texts.make(gr.Button, "Submit rating", variant="primary", elem_id="submit-rating")
    status = gr.Markdown(elem_id="rate-status")
    pair_state = gr.State(None)
    with texts.make(gr.Accordion, label="Statistics", open=True):
        stats_md = gr.Markdown(elem_id="rate-stats")
        stats_df = texts.make(gr.Dataframe, label="Style match and preference per segment, with 95% intervals",
                              interactive=False, wrap=True, visible=False, elem_id="rate-table")
        refresh = texts.make(gr.Button, "Refresh statistics")

    @guard
    def on_next_pair(customer_id: str, lang_: str = "en") -> tuple[Any, ...]:
        pair = service.next_pair(customer_id or None)
        header = (t("Target style for customer {id} ({segment}):", lang_, id=shorten(pair.customer_id),
                    segment=segment_label(service, pair.strategy.segment, lang_))
                  + f"\n\n{strategy_markdown(pair.strategy, service, lang_)}")
        return header, pair.left_email, pair.right_email, pair, None, 3, 3, "", ""

    @guard
    def on_rate(name: str, answer: str | None, a: float, b: float, note: str, pair: RatingPair | None,
                lang_: str = "en", profile: gr.OAuthProfile | None = None) -> str:
        who = profile.username if profile is not None else (name or "").strip()
        if not who:
            raise field_error(t("Your name", lang_), t("is empty", lang_),
                            t("type your name (or sign in) before submitting", lang_), lang_)
        if answer not in CHOICES:
            raise field_error(t("Which fits better?", lang_), t("nothing picked", lang_),
                            t("pick A, B, tie or both poor", lang_), lang_)
        if pair is None:
            raise field_error(t("Rate", lang_), t("no pair to rate", lang_),
                            t("press New pair first", lang_), lang_)
        score_a_v = number_field(a, t("Style match of A (1-5)", lang_), low=1, high=5, whole=True, lang=lang_)
        score_b_v = number_field(b, t("Style match of B (1-5)", lang_), low=1, high=5, whole=True, lang=lang_)
        rating_id = service.rate(pair, rater=who, choice=answer, score_a=score_a_v, score_b=score_b_v,
                                 comment=note or "")
        # Row ids may skip numbers (an idempotent retry still draws one), so the page numbers the
        # ratings by their place in the store: 1, 2, 3, ...
        return t("Saved as rating #{n} by {who}. Press **New pair** for the next one.", lang_,
                 n=service.rating_number(rating_id), who=shorten(who))

    @guard
    def on_stats(lang_: str = "en") -> tuple[str, Any]:
        return _stats_outputs(service, lang_)

    next_pair.click(on_next_pair, [customer, lang],
                    [target, email_a, email_b, pair_state, choice, score_a, score_b, comment, status],
                    api_name="next_pair", concurrency_id=MODEL_QUEUE, concurrency_limit=MODEL_CONCURRENCY,
                    show_progress_on=[email_a, email_b])
    # The page refreshes the statistics after a successful submit; API clients call /stats when they
    # want them, so a burst of ratings does not recompute the statistics once per rating.
    submit.click(on_rate, [rater, choice, score_a, score_b, comment, pair_state, lang], status, api_name="rate",
                 concurrency_id="ratings", concurrency_limit=RATE_CONCURRENCY, show_progress_on=[status]).success(
        on_stats, lang, [stats_md, stats_df], api_visibility="private")
    refresh.click(on_stats, lang, [stats_md, stats_df], api_name="stats", concurrency_id="ratings",
                  concurrency_limit=RATE_CONCURRENCY, show_progress_on=[stats_md])
    return [(on_stats, [lang], [stats_md, stats_df])]
