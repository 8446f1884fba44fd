"""Results tab: an experiment's outcome per segment and arm, with intervals and a decision, and ingest.

API endpoints: ``/results`` (experiment, metric -> summary, table, rates plot, cumulative plot) and
``/ingest`` (send log file, events file -> status, the refreshed experiment list). Everything here is
also a library call (``genemail.experiments``) and a command (``genemail results ...``).
"""

import html
from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import guard
from genemail.experiments.health import health_lines
from genemail.service import GenEmailService

METRICS = ("click", "open", "conversion", "unsubscribe", "bounce", "delivered")
ARMS = ("segmented", "control", "holdout")
FILE_TYPES = [".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet", ".pq"]
TABLE_COLUMNS = ["segment", "arm", "n", "events", "rate %", "95% CI", "lift pts (vs control)", "P(win)",
                 "p (Holm)", "decision"]


def report_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per segment and arm (and ``Overall``), rates in percent with their 95% intervals."""
    rows = []
    groups = [*report["segments"].items(), ("Overall", report["overall"])]
    for name, entry in groups:
        for arm in ARMS:
            a = entry["arms"][arm]
            first = arm == "segmented"
            lift = entry.get("lift") or {}
            rows.append({
                "segment": name, "arm": arm, "n": a["n"], "events": a["events"],
                "rate %": _pct(a["rate"]), "95% CI": _ci(a["ci"]),
                "lift pts (vs control)": f"{_pts(lift.get('estimate'))} {_ci(lift.get('ci'))}" if first else "",
                "P(win)": _num(entry.get("p_win")) if first else "",
                "p (Holm)": _num(entry.get("p_value_adj")) if first else "",
                "decision": entry["decision"] if first else "",
            })
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def rates_plot(report: dict[str, Any]) -> Any:
    """Rate per segment and arm with 95% error bars (a matplotlib figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [*report["segments"], "Overall"]
    entries = [*report["segments"].values(), report["overall"]]
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(names))
    for k, arm in enumerate(ARMS):
        rates = np.array([100 * (e["arms"][arm]["rate"] or 0.0) for e in entries])
        lows = np.array([100 * e["arms"][arm]["ci"][0] if e["arms"][arm]["ci"] else np.nan for e in entries])
        highs = np.array([100 * e["arms"][arm]["ci"][1] if e["arms"][arm]["ci"] else np.nan for e in entries])
        ax.bar(x + (k - 1) * 0.27, rates, 0.27, label=arm,
               yerr=np.nan_to_num(np.vstack([rates - lows, highs - rates])), capsize=3)
    ax.set(xticks=x, ylabel=f"{report['metric']} rate (%)", title=f"{report['experiment']}: 95% intervals")
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
        ax.step(group["time"], 100 * group["rate"], where="post", label=str(arm))
    ax.set(ylabel=f"cumulative {metric} rate (%)", title="Over time (all segments)")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def build(service: GenEmailService) -> None:
    """Lay out the tab (call inside a ``gr.Tab``) and wire its events."""
    gr.Markdown("Each campaign run with `--experiment` is an experiment: segmented, control (the one-size-fits-all "
                "email) and holdout (no email) arms. Upload the campaign's send log and the events your email "
                "platform exported to ingest them (a second upload of the same file adds nothing), then pick the "
                "experiment. Click rate is the default metric: opens are inflated by mail privacy proxies.")
    names = service.experiments()
    with gr.Row():
        experiment = gr.Dropdown(names, value=names[-1] if names else None, label="Experiment",
                                 allow_custom_value=True, elem_id="experiment", scale=2)
        metric = gr.Dropdown(list(METRICS), value="click", label="Metric")
        show = gr.Button("Show results", variant="primary", elem_id="show-results")
    summary = gr.Markdown(elem_id="results-summary")
    table = gr.Dataframe(label="Per segment and arm", interactive=False, wrap=True)
    with gr.Row():
        rates = gr.Plot(label="Rates with 95% intervals")
        over_time = gr.Plot(label="Cumulative rate over time")
    with gr.Accordion("Ingest outcome events", open=not names):
        with gr.Row():
            send_log = gr.File(label="Campaign send log", file_types=FILE_TYPES, type="filepath")
            events = gr.File(label="Events file (platform export)", file_types=FILE_TYPES, type="filepath")
        ingest = gr.Button("Ingest", elem_id="ingest")
        ingest_status = gr.Markdown(elem_id="ingest-status")

    @guard
    def on_show(name: str | None, metric_name: str) -> tuple[Any, ...]:
        if not name:
            raise gr.Error("Pick an experiment (ingest one first if the list is empty).", title="Check the input")
        report, cumulative = service.results(name, metric_name or "click")
        lines = [f"**{html.escape(report['experiment'])}** · metric `{report['metric']}` · "
                 f"{report.get('analysis', 'sequential')} analysis · "
                 f"decisions need at least {report['min_n']} recipients per arm"]
        lines += [f"> **{html.escape(line)}**" for line in health_lines(report)]  # no decision over a bad ingest
        lines += [f"> {html.escape(note)}" for note in report.get("notes", [])]
        return ("\n\n".join(lines), report_table(report), rates_plot(report),
                cumulative_plot(cumulative, report["metric"]))

    @guard
    def on_ingest(log_path: str | None, events_path: str | None) -> tuple[str, Any]:
        result = service.ingest(log_path or "", events_path or "")
        names = service.experiments()
        text = "\n".join(f"- {html.escape(line)}" for line in result.summary().splitlines())
        return text, gr.update(choices=names, value=result.experiment)

    show.click(on_show, [experiment, metric], [summary, table, rates, over_time], api_name="results")
    ingest.click(on_ingest, [send_log, events], [ingest_status, experiment], api_name="ingest")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _pts(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f}"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
