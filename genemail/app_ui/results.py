"""Results tab: experiments ingested from a send log and the platform's outcome events, per segment and arm.

API endpoints: ``/results`` (experiment, metric -> summary, table, rates plot, cumulative plot),
``/ingest`` (send log file, events file -> status, the refreshed experiment list), ``/experiments``
(the experiment list, read from the results database on every visit) and ``/outcome_file`` (checks
an upload as it arrives). Everything here is also a library call (``genemail.experiments``).
"""

import html
from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import checked_upload, guard, plain_message, segment_label
from genemail.app_ui.i18n import Texts, t
from genemail.errors import GenEmailError
from genemail.experiments.health import health_lines
from genemail.service import OUTCOME_FILE_MAX_MB, OUTCOME_FILE_TYPES, GenEmailService

METRICS = ("click", "open", "conversion", "unsubscribe", "bounce", "delivered")
METRIC_NAMES = {"click": "clicks", "open": "opens", "conversion": "conversions", "unsubscribe": "unsubscribes",
                "bounce": "bounces", "delivered": "deliveries"}
ARMS = ("segmented", "control", "holdout")
ARM_NAMES = {"segmented": "segmented email", "control": "one-size-fits-all email", "holdout": "no email"}
FILE_TYPES = list(OUTCOME_FILE_TYPES)
DECISIONS = {
    "significant_win": "the segmented email wins",
    "significant_loss": "the segmented email loses",
    "inconclusive": "no clear difference yet",
    "not_enough_data": "too few customers yet to decide",
    "srm_blocked": "no decision: the arms' sizes do not match the plan (check the send log and the export)",
    "guardrail_breached": "no decision: unsubscribes or complaints went up",
}
TABLE_COLUMNS = ["segment", "arm", "recipients", "events", "rate %", "95% interval", "lift vs control (points)",
                 "decision", "check: first draft", "check: later draft", "check: template"]
ADVANCED_COLUMNS = ["segment", "P(segmented wins)", "p (Holm-adjusted)", "decision code"]


def report_table(report: dict[str, Any], service: GenEmailService, lang: str = "en",
                 qa: dict[tuple[str, str], dict[str, int]] | None = None) -> pd.DataFrame:
    """One row per segment and arm (and the overall line): rates in percent with their 95% intervals,
    the decision in words, and how many of the arm's emails passed the quality check."""
    rows = []
    qa = qa or {}
    groups = [*report["segments"].items(), ("Overall", report["overall"])]
    for name, entry in groups:
        for arm in ARMS:
            a = entry["arms"][arm]
            first = arm == "segmented"
            lift = entry.get("lift") or {}
            checks = _qa_row(qa, name, arm)
            rows.append([
                t("Overall", lang) if name == "Overall" else segment_label(service, name, lang),
                t(ARM_NAMES[arm], lang), a["n"], a["events"], _pct(a["rate"]), _ci(a["ci"]),
                f"{_pts(lift.get('estimate'))} {_ci(lift.get('ci'))}".strip() if first else "",
                t(DECISIONS.get(entry["decision"], entry["decision"]), lang) if first else "",
                *checks])
    return pd.DataFrame(rows, columns=[t(c, lang) for c in TABLE_COLUMNS])


def advanced_table(report: dict[str, Any], lang: str = "en") -> pd.DataFrame:
    """The statistics behind each decision, for whoever checks them."""
    groups = [*report["segments"].items(), ("Overall", report["overall"])]
    rows = [[name, _num(e.get("p_win")), _num(e.get("p_value_adj")), e["decision"]] for name, e in groups]
    return pd.DataFrame(rows, columns=[t(c, lang) for c in ADVANCED_COLUMNS])


def _qa_row(qa: dict[tuple[str, str], dict[str, int]], segment: str, arm: str) -> list[Any]:
    if arm == "holdout":
        return ["", "", ""]
    found = [v for (s, a), v in qa.items() if a == arm and (segment == "Overall" or s == segment)]
    if not found:
        return ["", "", ""]
    return [sum(v.get(k, 0) for v in found) for k in ("first_draft", "later_draft", "template")]


def decision_sentences(report: dict[str, Any], service: GenEmailService, lang: str = "en") -> list[str]:
    """Each segment's result as a sentence with its numbers: rates of both emails, the decision, what is missing."""
    metric = t(METRIC_NAMES.get(report["metric"], report["metric"]), lang)
    out = []
    for name, entry in [*report["segments"].items(), ("Overall", report["overall"])]:
        seg, ctl = entry["arms"]["segmented"], entry["arms"]["control"]
        label = t("All segments", lang) if name == "Overall" else segment_label(service, name, lang)
        text = t("**{segment}**: segmented emails got {seg} {metric} against {ctl} with the one-size-fits-all "
                 "email ({n1:,} and {n0:,} recipients); {decision}", lang, segment=html.escape(label),
                 seg=_pct_text(seg["rate"]), ctl=_pct_text(ctl["rate"]), metric=metric, n1=seg["n"], n0=ctl["n"],
                 decision=t(DECISIONS.get(entry["decision"], entry["decision"]), lang))
        if entry["decision"] == "not_enough_data":
            need = _needed_per_arm(ctl["rate"], seg["rate"], report["min_n"])
            text += t(", about {n:,} per arm needed", lang, n=need)
        out.append(text + ".")
    return out


def _needed_per_arm(control_rate: float | None, segmented_rate: float | None, min_n: int) -> int:
    """Recipients per arm to decide on the lift seen so far (the report's minimum when none can be planned)."""
    from genemail.experiments.planning import plan_experiment

    if not control_rate or segmented_rate is None or segmented_rate <= control_rate or control_rate >= 1:
        return min_n
    try:
        return plan_experiment(control_rate, min(segmented_rate, 0.999) - control_rate, min_n=min_n).per_arm
    except GenEmailError:
        return min_n


def rates_plot(report: dict[str, Any], service: GenEmailService | None = None, lang: str = "en") -> Any:
    """Rate per segment and arm with 95% error bars (a matplotlib figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from genemail.app_ui.i18n import SEGMENT_NAMES

    # Plot labels stay in Latin letters: the plot's font may have no Chinese glyphs.
    names = [*(SEGMENT_NAMES["en"].get(s, s) for s in report["segments"]), "All segments"]
    entries = [*report["segments"].values(), report["overall"]]
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(names))
    for k, arm in enumerate(ARMS):
        rates = np.array([100 * (e["arms"][arm]["rate"] or 0.0) for e in entries])
        lows = np.array([100 * e["arms"][arm]["ci"][0] if e["arms"][arm]["ci"] else np.nan for e in entries])
        highs = np.array([100 * e["arms"][arm]["ci"][1] if e["arms"][arm]["ci"] else np.nan for e in entries])
        ax.bar(x + (k - 1) * 0.27, rates, 0.27, label=ARM_NAMES[arm],
               yerr=np.nan_to_num(np.vstack([rates - lows, highs - rates])), capsize=3)
    ax.set(xticks=x, ylabel=f"{METRIC_NAMES.get(report['metric'], report['metric'])} (%)",
           title=f"{report['experiment']}: rates with 95% intervals")
    ax.set_xticklabels(names, rotation=20)
    ax.legend()
    fig.tight_layout()
    return fig


def cumulative_plot(rates: pd.DataFrame, metric: str) -> Any:
    """The cumulative rate of every arm over time, all segments pooled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    pooled = rates[rates["segment"] == "ALL"]
    for arm, group in pooled.groupby("arm"):
        ax.step(group["time"], 100 * group["rate"], where="post", label=ARM_NAMES.get(str(arm), str(arm)))
    ax.set(ylabel=f"cumulative {METRIC_NAMES.get(metric, metric)} (%)", title="Over time (all segments)")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def build(service: GenEmailService, texts: Texts, lang: gr.State) -> list[tuple[Any, list[Any], list[Any]]]:
    """Lay out the tab (call inside a ``gr.Tab``), wire its events; return what refreshes it on every visit."""
    texts.make(gr.Markdown, "Each campaign run as an experiment (Campaign tab, *Run as an experiment*) splits its "
                            "customers into the segmented email, the one-size-fits-all email (control) and no email "
                            "(holdout). Upload its send log and the events your email platform exported to ingest "
                            "them (a second upload of the same file adds nothing), then pick the experiment. Clicks "
                            "are the default measure: opens are inflated by mail privacy proxies.")
    names = service.experiments()
    with gr.Row():
        experiment = texts.make(gr.Dropdown, choices=names, value=names[-1] if names else None, label="Experiment",
                                allow_custom_value=True, elem_id="experiment", scale=2)
        metric = texts.make(gr.Dropdown, choices=[(METRIC_NAMES[m].capitalize(), m) for m in METRICS], value="click",
                            label="Measure", elem_id="metric")
        show = texts.make(gr.Button, "Show results", variant="primary", elem_id="show-results")
    summary = gr.Markdown(elem_id="results-summary")
    table = texts.make(gr.Dataframe, label="Per segment and arm", interactive=False, wrap=True, visible=False,
                       elem_id="results-table")
    with gr.Row():
        rates = texts.make(gr.Plot, label="Rates with 95% intervals", visible=False)
        over_time = texts.make(gr.Plot, label="Cumulative rate over time", visible=False)
    with texts.make(gr.Accordion, label="Advanced", open=False, elem_classes=["advanced"]):
        details = gr.Markdown(elem_id="results-details")
        stats_table = texts.make(gr.Dataframe, label="Statistics per segment", interactive=False, visible=False)
    with texts.make(gr.Accordion, label="Ingest outcome events", open=not names):
        texts.make(gr.Markdown, lambda lang_: t("File types: {types}; at most {mb} MB each.", lang_,
                                                  types=", ".join(FILE_TYPES), mb=OUTCOME_FILE_MAX_MB))
        with gr.Row():
            send_log = texts.make(gr.File, label="Campaign send log", file_types=FILE_TYPES, type="filepath",
                                  elem_id="send-log")
            events = texts.make(gr.File, label="Events file (platform export)", file_types=FILE_TYPES,
                                type="filepath", elem_id="events-file")
        upload_status = gr.Markdown(elem_id="outcome-file-status")
        ingest = texts.make(gr.Button, "Ingest", elem_id="ingest")
        ingest_status = gr.Markdown(elem_id="ingest-status")

    @guard
    def on_show(name: str | None, metric_name: str, lang_: str = "en") -> tuple[Any, ...]:
        if not name:
            raise gr.Error(t("Experiment: none picked. Pick one from the list (ingest one first if the list is "
                             "empty).", lang_), title=t("Check the input", lang_))
        report, cumulative = service.results(name, metric_name or "click")
        lines = [t("Experiment **{name}**, measured by {metric}.", lang_, name=html.escape(report["experiment"]),
                   metric=t(METRIC_NAMES.get(report["metric"], report["metric"]), lang_))]
        lines += [f"> **{html.escape(plain_message(line))}**" for line in health_lines(report)[:1]
                  if line.startswith("NO DECISION")]
        lines += decision_sentences(report, service, lang_)
        lines.append(t("Every rate has its 95% interval in the table; a decision needs at least {n:,} recipients "
                       "per arm.", lang_, n=report["min_n"]))
        tech = [t("{analysis} analysis, measure `{metric}`.", lang_, analysis=report.get("analysis", "sequential"),
                  metric=report["metric"])]
        tech += [html.escape(line) for line in health_lines(report)]
        tech += [html.escape(note) for note in report.get("notes", [])]
        qa = service.qa_counts(name)
        return ("\n\n".join(lines),
                gr.update(value=report_table(report, service, lang_, qa), visible=True),
                gr.update(value=rates_plot(report, service, lang_), visible=True),
                gr.update(value=cumulative_plot(cumulative, report["metric"]), visible=True),
                "\n\n".join(tech), gr.update(value=advanced_table(report, lang_), visible=True))

    @guard
    def on_ingest(log_path: str | None, events_path: str | None, lang_: str = "en") -> tuple[str, Any]:
        result = service.ingest(log_path or "", events_path or "")
        text = "\n".join(f"- {html.escape(plain_message(line))}" for line in result.summary().splitlines())
        return text, gr.update(choices=service.experiments(), value=result.experiment)

    @guard
    def on_experiments() -> Any:
        found = service.experiments()
        return gr.update(choices=found, value=found[-1] if found else None)

    def on_file(path: str | None, lang_: str = "en") -> tuple[Any, str]:
        return checked_upload(service, path, "outcomes", "", lang_)

    show.click(on_show, [experiment, metric, lang], [summary, table, rates, over_time, details, stats_table],
               api_name="results", show_progress_on=[summary])
    ingest.click(on_ingest, [send_log, events, lang], [ingest_status, experiment], api_name="ingest",
                 show_progress_on=[ingest_status])
    send_log.upload(guard(on_file), [send_log, lang], [send_log, upload_status], api_name="outcome_file",
                    show_progress_on=[upload_status])
    events.upload(guard(on_file), [events, lang], [events, upload_status], api_visibility="private",
                  show_progress_on=[upload_status])
    gr.Button("↻", visible=False).click(on_experiments, None, experiment, api_name="experiments")
    return [(on_experiments, [], [experiment])]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _pct_text(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _pts(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f}"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
