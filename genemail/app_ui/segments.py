"""Segments tab: segment sizes, the 2-D projection, cluster profiles, silhouette; KMeans and HDBSCAN views.

Everything but the sizes comes from the release's segmenter artifact (``clusters.json`` and
``plots/*.png``, written by ``genemail.segmentation.clusters.analyze_clusters`` at training time),
so the page shows exactly the analysis published with the loaded release.

API endpoint: ``/segments``.
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

    outputs = [sizes, projection, size_plot, summary, table, plot, profiles]
    show.click(on_show, method, outputs, api_name="segments")
    if tab is not None:
        tab.select(on_show, method, outputs, api_name="segments_tab")
    method.change(on_method, method, [summary, table, plot], api_name="segments_method")
    return show


def _path(value: Any) -> str | None:
    return str(value) if value else None
