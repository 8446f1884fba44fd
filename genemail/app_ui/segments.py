"""Segments tab: segment sizes, the 2-D projection, cluster profiles, silhouette; KMeans and HDBSCAN views.

Everything but the sizes comes from the release's segmenter artifact (``clusters.json`` and
``plots/*.png``, written by ``genemail.segmentation.clusters.analyze_clusters`` at training time),
so the page shows exactly the analysis published with the loaded release.

A "Drift" section compares two snapshots of the customer table through the loaded segmenter: the
segment migration matrix (who moved from which segment to which), the population stability index per
feature and the retrain verdict with its reasons (``genemail.segmentation.drift``).

API endpoints: ``/segments``, ``/segments_drift``.
"""

from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import guard
from genemail.service import GenEmailService

METHODS: tuple[str, ...] = ("KMeans", "HDBSCAN")


def _fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "n/a"


def summary_markdown(clusters: dict[str, Any], method: str) -> str:
    """Silhouette of the business segments plus the chosen clustering method's numbers."""
    if not clusters:
        return "This release has no cluster analysis (`clusters.json` is missing from its segmenter)."
    lines = [f"**Customers analysed:** {clusters.get('n_customers', 'n/a')} "
             f"(sampled {clusters.get('n_sampled', 'n/a')}) · "
             f"**Silhouette of the L2 segments:** {_fmt(clusters.get('segment_silhouette'))}"]
    if method == "KMeans":
        lines.append(f"**KMeans:** best k by silhouette = {clusters.get('best_k_by_silhouette', 'n/a')} "
                     "(table: silhouette higher is better, Davies-Bouldin lower is better).")
    else:
        h = clusters.get("hdbscan") or {}
        details = ", ".join(f"{k} = {_fmt(v) if isinstance(v, float) else v}" for k, v in h.items()
                            if not isinstance(v, (dict, list)))
        lines.append(f"**HDBSCAN** (finds its own number of clusters, marks noise): {details or 'n/a'}")
    return "  \n".join(lines)


def method_table(clusters: dict[str, Any], method: str) -> pd.DataFrame:
    """KMeans: one row per k scanned. HDBSCAN: its summary as key/value rows."""
    if method == "KMeans":
        return pd.DataFrame(clusters.get("kmeans") or []).round(3)
    h = clusters.get("hdbscan") or {}
    return pd.DataFrame([{"measure": k, "value": str(v)} for k, v in h.items()])


def method_plot(plots: dict[str, Any], method: str) -> str | None:
    """The plot that belongs to the method view (the k scan for KMeans), as a file path."""
    path = plots.get("k_scan") if method == "KMeans" else plots.get("hdbscan")
    return str(path) if path else None


def build(service: GenEmailService, tab: gr.Tab | None = None) -> gr.Button:
    """Lay out the tab (call inside ``tab``), wire its events; return the button that reloads it.

    Selecting ``tab`` fills it, so nobody meets a page of empty plots.
    """
    gr.Markdown("How the loaded release's segmenter divides the demo customers, and how well separated the "
                "segments are in the feature space.")
    show = gr.Button("Show segments", variant="primary", elem_id="show-segments")
    with gr.Row():
        sizes = gr.Dataframe(label="Segment sizes (demo customers)", interactive=False)
        projection = gr.Image(label="2-D projection (PCA), coloured by segment", type="filepath", interactive=False)
    with gr.Row():
        size_plot = gr.Image(label="Segment sizes at training time", type="filepath", interactive=False)
        with gr.Column():
            method = gr.Radio(list(METHODS), value="KMeans", label="Clustering view")
            summary = gr.Markdown()
            table = gr.Dataframe(label="Clustering numbers", interactive=False)
            plot = gr.Image(label="Clustering plot", type="filepath", interactive=False)
    profiles = gr.Dataframe(label="Cluster profiles (feature means per L1 tier and L2 segment)", interactive=False,
                            wrap=True)

    @guard
    def on_show(view: str) -> tuple[Any, ...]:
        overview = service.segment_overview()
        clusters, plots = overview["clusters"], overview["plots"]
        return (overview["sizes"], _path(plots.get("projection")), _path(plots.get("sizes")),
                summary_markdown(clusters, view), method_table(clusters, view), method_plot(plots, view),
                pd.DataFrame(clusters.get("profiles") or []))

    @guard
    def on_method(view: str) -> tuple[Any, ...]:
        overview = service.segment_overview()
        clusters, plots = overview["clusters"], overview["plots"]
        return summary_markdown(clusters, view), method_table(clusters, view), method_plot(plots, view)

    _build_drift(service)
    outputs = [sizes, projection, size_plot, summary, table, plot, profiles]
    show.click(on_show, method, outputs, api_name="segments")
    if tab is not None:
        tab.select(on_show, method, outputs, api_name="segments_tab")
    method.change(on_method, method, [summary, table, plot], api_name="segments_method")
    return show


def verdict_markdown(report: Any) -> str:
    """The retrain verdict, its reasons and the headline numbers."""
    head = "**Retrain recommended.**" if report.retrain else "**No retraining needed.**"
    age = "unknown" if report.model_age_days is None else f"{report.model_age_days:.0f} days"
    lines = [f"{head} {report.n_both} customers in both snapshots, {report.moved_share:.1%} changed segment; "
             f"segment-mix PSI {report.segment_psi:.3f}; model age {age} ({report.trained_at_source}), "
             f"cadence {report.config.cadence_days:.0f} days."]
    lines += [f"- {reason}" for reason in report.reasons]
    return "\n".join(lines)


def _build_drift(service: GenEmailService) -> None:
    """Upload two snapshots; show the verdict, the migration matrix (counts and row shares) and the PSI."""
    with gr.Accordion("Drift: compare two snapshots of the customer table", open=False):
        gr.Markdown("Segments both snapshots with the loaded segmenter. Leave *before* empty to use the demo "
                    "customers. `genemail segment synth-drift` writes a later snapshot to try this with.")
        with gr.Row():
            before = gr.File(label="Before (CSV/Parquet; empty: demo customers)", file_types=[".csv", ".parquet"])
            after = gr.File(label="After (CSV/Parquet)", file_types=[".csv", ".parquet"])
        run = gr.Button("Compare snapshots", elem_id="segments-drift")
        verdict = gr.Markdown()
        counts = gr.Dataframe(label="Segment migration: customers (rows = before, columns = after)", interactive=False)
        shares = gr.Dataframe(label="Segment migration: share of each segment's customers before", interactive=False)
        psi = gr.Dataframe(label="Population stability index per feature (> 0.25: drifted)", interactive=False)

    @guard
    def on_drift(first: Any, second: Any) -> tuple[Any, ...]:
        result = service.segment_drift(_file(first), _file(second))
        report = result["report"]
        table = report.migration.rename_axis(index="before", columns=None).reset_index()
        share = result["shares"].rename_axis(index="before", columns=None).reset_index()
        rows = sorted(report.psi.items(), key=lambda kv: -kv[1])
        return (verdict_markdown(report), table, share,
                pd.DataFrame([{"feature": k, "psi": round(v, 3)} for k, v in rows]))

    run.click(on_drift, [before, after], [verdict, counts, shares, psi], api_name="segments_drift")


def _file(value: Any) -> str | None:
    """A gr.File value (path string or object with .name) as a path, or None."""
    if not value:
        return None
    return str(getattr(value, "name", value))


def _path(value: Any) -> str | None:
    return str(value) if value else None
