"""Campaign tab: segment and write emails for many customers in mixed batches, then download them.

A campaign can run as an experiment (segmented / control / holdout arms, assigned from the
experiment's name and seed): the JSONL file is then the experiment's send log, ready for the
Results tab, which ingests it with the platform's events.

API endpoints: ``/campaign`` (inputs: file or None, N, length, and optionally experiment name,
control share, holdout share, seed; outputs: status, counts per segment, the JSONL file, the CSV
file, the preview) and ``/campaign_file`` (checks an upload as it arrives).
"""

from typing import Any

import gradio as gr
import pandas as pd

from genemail.app_ui.common import (
    LENGTH_FIELD,
    MODEL_CONCURRENCY,
    MODEL_QUEUE,
    SEED_FIELD,
    guard,
    number_field,
    checked_upload,
    options,
    segment_label,
)
from genemail.app_ui.i18n import Texts, t
from genemail.service import CUSTOMER_FILE_MAX_MB, CUSTOMER_FILE_TYPES, GenEmailService

FILE_TYPES = list(CUSTOMER_FILE_TYPES)
ARM_NAMES = {"segmented": "segmented email", "control": "one-size-fits-all email", "holdout": "no email (holdout)"}


def qa_sentence(qa: dict[str, Any] | None, lang: str = "en") -> str:
    """The quality check's counts per email kind, as sentences."""
    names = {"segmented": "segmented", "baseline": "baseline"}
    parts = []
    for kind, counts in (qa or {}).items():
        n = counts["emails"]
        parts.append(" " + t("Quality check, {kind} emails: {first} of {n} passed on the first draft, {later} on a "
                             "later draft, {fallback} got the strategy's template email.", lang,
                             kind=t(names.get(kind, kind), lang), first=counts["first_attempt"], n=n,
                             later=counts["passed"] - counts["first_attempt"], fallback=counts["fallback"]))
    return "".join(parts)


def counts_table(counts: pd.DataFrame, service: GenEmailService, lang: str) -> pd.DataFrame:
    """Customers per segment, with the segment's name in the page's language."""
    out = counts.copy()
    out.insert(0, t("segment", lang), [segment_label(service, s, lang) for s in out["l2"]])
    return out.drop(columns=[c for c in ("l1", "l2") if c in out.columns]).rename(
        columns={"customers": t("customers", lang)})


def preview_table(preview: pd.DataFrame, service: GenEmailService, lang: str) -> pd.DataFrame:
    """The first rows as a marketer reads them: ID, segment name, both emails, their check results."""
    out = preview.copy()
    if "l2" in out.columns:
        out["l2"] = [segment_label(service, s, lang) for s in out["l2"]]
    verdicts = {"passed": t("passed", lang), "fallback": t("template email", lang)}
    for column in ("qa_status", "baseline_qa_status"):
        if column in out.columns:
            out[column] = [verdicts.get(v, "") if isinstance(v, str) else "" for v in out[column]]
    names = {"customer_id": "customer", "l2": "segment", "email": "segmented email", "qa_status": "check",
             "baseline_email": "baseline email", "baseline_qa_status": "baseline check", "arm": "arm"}
    keep = [c for c in names if c in out.columns]
    return out[keep].rename(columns={c: t(names[c], lang) for c in keep})


def arm_sentence(jsonl: Any, lang: str) -> str:
    """Customers per arm of an experiment campaign, from its send log."""
    rows = pd.read_json(jsonl, lines=True, dtype={"customer_id": str})
    if "arm" not in rows.columns:
        return ""
    counts = rows["arm"].value_counts()
    parts = [t("{n} got the {arm}", lang, n=int(counts.get(arm, 0)), arm=t(name, lang)) for arm, name in ARM_NAMES.items()]
    return " " + t("Experiment **{name}**: {parts}. Download the JSONL file: it is the send log the Results tab "
                   "ingests with your email platform's events.", lang, name=str(rows["experiment"].iloc[0]),
                   parts="; ".join(parts))


def build(service: GenEmailService, texts: Texts, lang: gr.State) -> None:
    """Lay out the tab (call inside a ``gr.Tab``) and wire its events."""
    limit = min(service.config.max_campaign_rows, len(service.customers))
    texts.make(gr.Markdown, lambda lang_: t(
        "Upload a customer file (CSV, TSV or Parquet, at most {mb} MB) **or** leave it empty and choose the first N "
        "demo customers (at most {limit}). Customers of every segment share batches; each batch routes its rows "
        "through their own segment's model.", lang_, mb=CUSTOMER_FILE_MAX_MB, limit=f"{limit:,}"))
    with gr.Row():
        with gr.Column():
            upload = texts.make(gr.File, label="Customer file", file_types=FILE_TYPES, type="filepath",
                                elem_id="campaign-file")
            upload_status = gr.Markdown(elem_id="campaign-file-status")
        with gr.Column():
            n = texts.make(gr.Number, value=min(20, limit), label="Number of demo customers", precision=0,
                           elem_id="campaign-n", info=lambda lang_: t("used when no file is uploaded; 1 to {limit}",
                                                                      lang_, limit=f"{limit:,}"))
            run = texts.make(gr.Button, "Run campaign", variant="primary", elem_id="run-campaign")
    with texts.make(gr.Accordion, label="Run as an experiment", open=False, elem_id="campaign-experiment"):
        texts.make(gr.Markdown, "Give the experiment a name to split the customers into three arms: the segmented "
                                "email, the one-size-fits-all email (control) and no email (holdout). The same name "
                                "and seed always give every customer the same arm.")
        with gr.Row():
            experiment = texts.make(gr.Textbox, label="Experiment name", placeholder="e.g. spring-2026",
                                    elem_id="experiment-name", info="empty: a plain campaign, no arms")
            control = texts.make(gr.Number, value=20, label="Control share (%)", elem_id="control-share")
            holdout = texts.make(gr.Number, value=10, label="Holdout share (%)", elem_id="holdout-share")
            arm_seed = texts.make(gr.Number, value=0, label="Assignment seed", precision=0, elem_id="arm-seed")
    with texts.make(gr.Accordion, label="Advanced", open=False, elem_classes=["advanced"]):
        max_tokens = texts.make(gr.Number, value=64, label=LENGTH_FIELD, precision=0, elem_id="campaign-length",
                                info="how long each email may be, in tokens (8 to 512)")
    status = gr.Markdown(elem_id="campaign-status")
    with gr.Row():
        counts = texts.make(gr.Dataframe, label="Customers per segment", interactive=False, visible=False)
        with gr.Column():
            jsonl = texts.make(gr.File, label="Download JSONL", interactive=False, visible=False)
            csv = texts.make(gr.File, label="Download CSV", interactive=False, visible=False)
    preview = texts.make(gr.Dataframe, label="First rows", interactive=False, wrap=True, visible=False)

    @guard
    def on_upload(path: str | None, lang_: str = "en") -> tuple[Any, str]:
        return checked_upload(service, path, "customers", t("✅ The file is readable; **Run campaign** uses it.", lang_),
                              lang_)

    @guard
    def on_run(path: str | None, n_value: float | None, max_new: float, name: str | None = None,
               control_pct: float | None = 20, holdout_pct: float | None = 10, seed_value: float | None = 0,
               lang_: str = "en", progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        """Run a campaign: segment many customers and write each one's email in their segment's voice, in mixed
        batches, each email through the quality check. Optionally as an experiment with three arms.

        Args:
            path: a customer file (CSV, TSV or Parquet), or None to use the first n demo customers.
            n_value: how many demo customers, when no file is given.
            max_new: email length, in tokens (8 to 512; 64 is typical).
            name: an experiment name (letters, digits, '.', '_', '-'), or blank for a plain campaign.
            control_pct: share of customers who get the one-size-fits-all email, in percent (experiments).
            holdout_pct: share of customers who get no email, in percent (experiments).
            seed_value: the arm assignment's seed (experiments).
        """
        decoding = options(max_new, 0.7, 0, lang_)
        plan = None
        if name and str(name).strip():
            plan = service.experiment_plan(
                str(name).strip(),
                number_field(control_pct, t("Control share (%)", lang_), low=0, high=90, lang=lang_) / 100,
                number_field(holdout_pct, t("Holdout share (%)", lang_), low=0, high=90, lang=lang_) / 100,
                number_field(seed_value, t("Assignment seed", lang_), low=0, high=2**31 - 1, whole=True,
                             lang=lang_),
                field=t("Experiment name", lang_))
        if path:
            source: str | int = str(service.check_upload(path, "customers"))
        else:
            source = int(number_field(n_value, t("Number of demo customers", lang_), low=1, high=limit,
                                      whole=True, lang=lang_))

        def report(done: int, total: int) -> None:
            progress(done / total, desc=t("{done}/{total} emails", lang_, done=done, total=total))

        progress(0, desc=t("segmenting", lang_))
        # Seeded sampling, as `genemail campaign` does by default: varied emails, each reproducible.
        result = service.campaign(source, decoding, progress=report, experiment=plan)
        note = "\n\n" + t("Cleaning report: {report}", lang_, report=result.report) if result.report else ""
        arms = arm_sentence(result.jsonl_path, lang_) if plan else ""
        message = t("Wrote **{n}** emails in {s} s ({rate} emails/s).", lang_, n=result.n_customers,
                    s=f"{result.seconds:.1f}", rate=f"{result.n_customers / max(result.seconds, 1e-9):.1f}")
        return (message + arms + qa_sentence(result.qa, lang_) + note,
                gr.update(value=counts_table(result.counts, service, lang_), visible=True),
                gr.update(value=str(result.jsonl_path), visible=True), gr.update(value=str(result.csv_path), visible=True),
                gr.update(value=preview_table(result.preview, service, lang_), visible=True))

    on_run.__name__ = "run_campaign"  # its MCP tool name
    upload.upload(on_upload, [upload, lang], [upload, upload_status], api_name="campaign_file",
                  show_progress_on=[upload_status])
    run.click(on_run, [upload, n, max_tokens, experiment, control, holdout, arm_seed, lang],
              [status, counts, jsonl, csv, preview], api_name="campaign", concurrency_id=MODEL_QUEUE,
              concurrency_limit=MODEL_CONCURRENCY, show_progress_on=[status])


__all__ = ["build", "qa_sentence", "SEED_FIELD"]
