"""Segments tab: segment sizes, the 2-D projection, cluster profiles, how well separated the segments are.

Everything but the sizes comes from the release's segmenter artifact (``clusters.json`` and
``plots/*.png``, written by ``genemail.segmentation.clusters.analyze_clusters`` at training time),
so the page shows exactly the analysis published with the loaded release. The numbers are said in
sentences on the first screen; the tables behind them sit in the "Advanced" fold.

A "Drift" section compares two snapshots of the customer table through the loaded segmenter: the
segment migration matrix (who moved from which segment to which), the population stability index per
feature and the retrain verdict with its reasons (``genemail.segmentation.drift``).

API endpoints: ``/segments``, ``/segments_method``, ``/segments_drift``.
"""

import html
from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import guard, segment_label
from genemail.app_ui.i18n import Texts, t, tier_name
from genemail.service import GenEmailService

METHODS: tuple[str, ...] = ("KMeans", "HDBSCAN")
# Below this many customers in both snapshots, who moved between segments says little.
MIN_SHARED_CUSTOMERS = 50
PROFILE_NAMES = {"segment": "segment", "level": "level", "n_customers": "customers", "income": "yearly income",
                 "annual_spend": "spend per year", "decayed_spend_rate": "recent spend rate",
                 "total_purchases": "purchases", "recency": "days since last purchase",
                 "activity_weight": "activity (0-1)", "children": "children"}
FEATURE_NAMES = {"recency": "days since last purchase", "activity_weight": "activity", "income": "yearly income",
                 "log_income": "yearly income", "annual_spend": "spend per year", "log_annual_spend": "spend per year",
                 "total_purchases": "purchases", "log_purchases": "purchases", "children": "children",
                 "purchase_frequency": "purchases per month", "decayed_spend_rate": "recent spend rate",
                 "tenure_days": "days as a customer", "total_spend": "spent in total", "age": "age",
                 "family_size": "family size", "web_visits_month": "website visits"}


def _fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "n/a"


def separation_words(silhouette: Any, lang: str) -> str:
    """A silhouette score read for a marketer (it runs from -1 to 1)."""
    if not isinstance(silhouette, (int, float)):
        return t("not measured", lang)
    if silhouette >= 0.5:
        return t("clearly separated", lang)
    if silhouette >= 0.25:
        return t("fairly separated", lang)
    if silhouette > 0:
        return t("overlapping", lang)
    return t("strongly overlapping", lang)


def summary_markdown(clusters: dict[str, Any], method: str, lang: str = "en") -> str:
    """How separated the segments are, and what the chosen clustering method found, in sentences with numbers."""
    if not clusters:
        return t("This release has no cluster analysis.", lang)
    sil = clusters.get("segment_silhouette")
    lines = [t("**{n}** customers were analysed at training time. The segments are **{words}** in the customer "
               "features (silhouette {s}, on a scale from -1 to 1; above 0.5 would be clearly separated). Segments "
               "follow business rules on recency and value, so some overlap is expected.", lang,
               n=clusters.get("n_customers", "n/a"), words=separation_words(sil, lang), s=_fmt(sil))]
    if method == "KMeans":
        best = clusters.get("best_k_by_silhouette")
        scores = {row.get("k"): row.get("silhouette") for row in clusters.get("kmeans") or []}
        lines.append(t("KMeans, which looks for natural groups, finds the clearest grouping with **{k}** clusters "
                       "(silhouette {s}: {words}).", lang, k=best if best is not None else "n/a",
                       s=_fmt(scores.get(best)), words=separation_words(scores.get(best), lang)))
    else:
        h = clusters.get("hdbscan") or {}
        noise = h.get("noise_fraction")
        lines.append(t("HDBSCAN, which finds its own number of groups and leaves out customers who fit none, finds "
                       "**{n}** groups and leaves out **{noise}** of the customers (silhouette of the grouped "
                       "customers {s}: {words}).", lang, n=h.get("n_clusters", "n/a"),
                       noise=f"{100 * noise:.0f}%" if isinstance(noise, (int, float)) else "n/a",
                       s=_fmt(h.get("silhouette_non_noise")),
                       words=separation_words(h.get("silhouette_non_noise"), lang)))
    return "\n\n".join(lines)


def method_table(clusters: dict[str, Any], method: str, lang: str = "en") -> pd.DataFrame:
    """KMeans: one row per number of clusters tried. HDBSCAN: its numbers, one per row, in words."""
    if method == "KMeans":
        rows = [[r.get("k"), _fmt(r.get("silhouette")), _fmt(r.get("davies_bouldin"))]
                for r in clusters.get("kmeans") or []]
        return pd.DataFrame(rows, columns=[t("clusters", lang), t("silhouette (higher is better)", lang),
                                           t("Davies-Bouldin (lower is better)", lang)])
    h = clusters.get("hdbscan") or {}
    names = {"n_clusters": "groups found", "noise_fraction": "customers in no group",
             "silhouette_non_noise": "silhouette of the grouped customers", "min_cluster_size": "smallest group allowed"}
    rows = [[t(names[k], lang), f"{100 * h[k]:.0f}%" if k == "noise_fraction" else
             (_fmt(h[k]) if isinstance(h[k], float) else str(h[k]))] for k in names if k in h]
    rows += [[t("customers in group {g}", lang, g=g), str(n)] for g, n in (h.get("cluster_sizes") or {}).items()]
    return pd.DataFrame(rows, columns=[t("what", lang), t("value", lang)])


def method_plot(plots: dict[str, Any], method: str) -> str | None:
    """The plot that belongs to the method view (the k scan for KMeans), as a file path."""
    path = plots.get("k_scan") if method == "KMeans" else plots.get("hdbscan")
    return str(path) if path else None


def sizes_table(sizes: pd.DataFrame, service: GenEmailService, lang: str) -> pd.DataFrame:
    """Customers per value tier and segment, named in the page's language."""
    rows = [[tier_name(r.l1, lang), segment_label(service, r.l2, lang), int(r.customers)]
            for r in sizes.itertuples(index=False)]
    return pd.DataFrame(rows, columns=[t("value tier", lang), t("segment", lang), t("customers", lang)])


def profiles_table(profiles: list[dict[str, Any]], service: GenEmailService, lang: str) -> pd.DataFrame:
    """Feature means per tier and segment, rounded, with columns in words."""
    frame = pd.DataFrame(profiles)
    if frame.empty:
        return frame
    frame["segment"] = [tier_name(s, lang) if lvl == "l1" else segment_label(service, s, lang)
                        for s, lvl in zip(frame["segment"], frame.get("level", ["l2"] * len(frame)))]
    frame = frame.drop(columns=[c for c in ("level",) if c in frame.columns])
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            frame[column] = frame[column].round(0 if frame[column].abs().max() > 20 else 2)
    return frame.rename(columns={c: t(PROFILE_NAMES.get(c, c), lang) for c in frame.columns})


def build(service: GenEmailService, texts: Texts, lang: gr.State, tab: gr.Tab | None = None) -> gr.Button:
    """Lay out the tab (call inside ``tab``), wire its events; return the button that reloads it.

    Selecting ``tab`` fills it, so nobody meets a page of empty plots.
    """
    texts.make(gr.Markdown, "How the release in use divides the demo customers into segments, and how well "
                            "separated the segments are.")
    show = texts.make(gr.Button, "Show segments", variant="primary", elem_id="show-segments")
    summary = gr.Markdown(elem_id="segments-summary")
    with gr.Row():
        sizes = texts.make(gr.Dataframe, label="Segment sizes (demo customers)", interactive=False, visible=False)
        projection = texts.make(gr.Image, label="Customers on a map of their features, coloured by segment",
                                type="filepath", interactive=False, visible=False)
    with texts.make(gr.Accordion, label="Advanced", open=False, elem_classes=["advanced"]):
        with gr.Row():
            size_plot = texts.make(gr.Image, label="Segment sizes at training time", type="filepath",
                                   interactive=False, visible=False)
            with gr.Column():
                method = texts.make(gr.Radio, choices=list(METHODS), value="KMeans", label="Clustering view")
                table = texts.make(gr.Dataframe, label="Clustering numbers", interactive=False, visible=False)
                plot = texts.make(gr.Image, label="Clustering plot", type="filepath", interactive=False, visible=False)
        profiles = texts.make(gr.Dataframe, label="Average customer per value tier and segment", interactive=False,
                              wrap=True, visible=False)

    def _shown(value: Any) -> Any:
        empty = value is None or (isinstance(value, pd.DataFrame) and value.empty)
        return gr.update(value=value, visible=not empty)

    @guard
    def on_show(view: str, lang_: str = "en") -> tuple[Any, ...]:
        overview = service.segment_overview()
        clusters, plots = overview["clusters"], overview["plots"]
        return (_shown(sizes_table(overview["sizes"], service, lang_)), _shown(_path(plots.get("projection"))),
                _shown(_path(plots.get("sizes"))), summary_markdown(clusters, view, lang_),
                _shown(method_table(clusters, view, lang_)), _shown(method_plot(plots, view)),
                _shown(profiles_table(clusters.get("profiles") or [], service, lang_)))

    @guard
    def on_method(view: str, lang_: str = "en") -> tuple[Any, ...]:
        overview = service.segment_overview()
        clusters, plots = overview["clusters"], overview["plots"]
        return (summary_markdown(clusters, view, lang_), _shown(method_table(clusters, view, lang_)),
                _shown(method_plot(plots, view)))

    _build_drift(service, texts, lang)
    outputs = [sizes, projection, size_plot, summary, table, plot, profiles]
    show.click(on_show, [method, lang], outputs, api_name="segments", show_progress_on=[summary])
    if tab is not None:
        tab.select(on_show, [method, lang], outputs, api_name="segments_tab", show_progress_on=[summary])
    method.change(on_method, [method, lang], [summary, table, plot], api_name="segments_method",
                  show_progress_on=[summary])
    return show


def verdict_markdown(report: Any, lang: str = "en") -> str:
    """The retrain verdict in a sentence with its numbers, then its reasons.

    With too few customers in both snapshots the share who changed segment means little, so the
    page says that instead of a verdict.
    """
    age = t("unknown", lang) if report.model_age_days is None else t("{d} days", lang, d=f"{report.model_age_days:.0f}")
    numbers = t("{n} customers are in both snapshots, {moved} of them changed segment; the segment mix moved by "
                "{psi} (population stability index; above 0.25 is a real shift); the segmenter is {age} old.", lang,
                n=f"{report.n_both:,}", moved=f"{report.moved_share:.1%}", psi=f"{report.segment_psi:.2f}", age=age)
    if report.n_both < MIN_SHARED_CUSTOMERS:
        head = t("**Too few customers in both snapshots to judge** ({n}; at least {min} are needed). Compare two "
                 "snapshots of the same customer table, taken at different times.", lang, n=report.n_both,
                 min=MIN_SHARED_CUSTOMERS)
        return f"{head} {numbers}"
    head = t("**Retrain recommended.**", lang) if report.retrain else t("**No retraining needed.**", lang)
    lines = [f"{head} {numbers}"]
    lines += [f"- {html.escape(reason)}" for reason in report.reasons]
    return "\n".join(lines)


def _build_drift(service: GenEmailService, texts: Texts, lang: gr.State) -> None:
    """Upload two snapshots; show the verdict, the migration matrix (counts and row shares) and the PSI."""
    with texts.make(gr.Accordion, label="Drift: compare two snapshots of the customer table", open=False):
        texts.make(gr.Markdown, "Segments both snapshots with the release in use. Leave *before* empty to use the "
                                "demo customers.")
        with gr.Row():
            before = texts.make(gr.File, label="Before (CSV/Parquet; empty: demo customers)",
                                file_types=[".csv", ".parquet"])
            after = texts.make(gr.File, label="After (CSV/Parquet)", file_types=[".csv", ".parquet"])
        run = texts.make(gr.Button, "Compare snapshots", elem_id="segments-drift")
        verdict = gr.Markdown(elem_id="drift-verdict")
        counts = texts.make(gr.Dataframe, label="Segment migration: customers (rows = before, columns = after)",
                            interactive=False, visible=False)
        shares = texts.make(gr.Dataframe, label="Segment migration: share of each segment's customers before",
                            interactive=False, visible=False)
        psi = texts.make(gr.Dataframe, label="Change per feature (population stability index; above 0.25: drifted)",
                         interactive=False, visible=False)

    @guard
    def on_drift(first: Any, second: Any, lang_: str = "en") -> tuple[Any, ...]:
        result = service.segment_drift(_file(first), _file(second))
        report = result["report"]
        table = _named(report.migration, service, lang_)
        share = _named(result["shares"], service, lang_)
        rows = sorted(report.psi.items(), key=lambda kv: -kv[1])
        psi_rows = pd.DataFrame([{t("feature", lang_): t(FEATURE_NAMES.get(k, k), lang_), "psi": round(v, 3)}
                                 for k, v in rows])
        return (verdict_markdown(report, lang_), gr.update(value=table, visible=True),
                gr.update(value=share.round(3), visible=True), gr.update(value=psi_rows, visible=True))

    run.click(on_drift, [before, after, lang], [verdict, counts, shares, psi], api_name="segments_drift",
              show_progress_on=[verdict])


def _named(matrix: pd.DataFrame, service: GenEmailService, lang: str) -> pd.DataFrame:
    """A migration matrix with segment names in the page's language (rows: before, columns: after)."""
    def name(s: Any) -> str:
        special = {"(new)": t("(new customer)", lang), "(gone)": t("(gone)", lang)}
        return special.get(str(s), segment_label(service, str(s), lang))

    out = matrix.rename(index=name, columns=name)
    return out.rename_axis(index=t("before", lang), columns=None).reset_index()


def _file(value: Any) -> str | None:
    """A gr.File value (path string or object with .name) as a path, or None."""
    if not value:
        return None
    return str(getattr(value, "name", value))


def _path(value: Any) -> str | None:
    return str(value) if value else None
