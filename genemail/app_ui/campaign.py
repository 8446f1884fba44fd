"""Campaign tab: segment and write emails for many customers in mixed batches, then download them.

API endpoint: ``/campaign`` (inputs: file or None, N, max new tokens; outputs: status, preview,
counts per segment, the JSONL file and the CSV file).
"""

from typing import Any

import gradio as gr

from genemail.app_ui.common import MODEL_CONCURRENCY, MODEL_QUEUE, guard, options
from genemail.service import GenEmailService

FILE_TYPES = [".csv", ".tsv", ".txt", ".parquet", ".pq"]


def qa_sentence(qa: dict[str, Any] | None) -> str:
    """The quality check's counts per email kind, as sentences."""
    names = {"segmented": "segmented", "baseline": "baseline"}
    parts = []
    for kind, counts in (qa or {}).items():
        n = counts["emails"]
        parts.append(f" Quality check, {names.get(kind, kind)} emails: {counts['first_attempt']} of {n} passed on "
                     f"the first draft, {counts['passed'] - counts['first_attempt']} on a later draft, "
                     f"{counts['fallback']} got the strategy's template email.")
    return "".join(parts)


def build(service: GenEmailService) -> None:
    """Lay out the tab (call inside a ``gr.Tab``) and wire its events."""
    limit = min(service.config.max_campaign_rows, len(service.customers))
    gr.Markdown("Upload a customer file (PRD or Kaggle schema; CSV, TSV or Parquet) **or** leave it empty and "
                f"choose the first N demo customers (at most {limit}). Customers of every segment share batches; "
                "each batch routes its rows through their own adapters.")
    with gr.Row():
        upload = gr.File(label="Customer file", file_types=FILE_TYPES, type="filepath", elem_id="campaign-file")
        with gr.Column():
            n = gr.Number(20, label="N demo customers (used when no file is uploaded)", precision=0, minimum=1,
                          maximum=limit)
            max_tokens = gr.Slider(8, 256, value=64, step=8, label="Length (max new tokens)")
            run = gr.Button("Run campaign", variant="primary", elem_id="run-campaign")
    status = gr.Markdown(elem_id="campaign-status")
    with gr.Row():
        counts = gr.Dataframe(label="Customers per segment", interactive=False)
        with gr.Column():
            jsonl = gr.File(label="Download JSONL", interactive=False)
            csv = gr.File(label="Download CSV", interactive=False)
    preview = gr.Dataframe(label="First rows", interactive=False, wrap=True)

    @guard
    def on_run(path: str | None, n_value: float | None, max_new: float,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - gradio's progress API
        source: str | int = path if path else int(n_value or 0)

        def report(done: int, total: int) -> None:
            progress(done / total, desc=f"{done}/{total} emails")

        progress(0, desc="segmenting")
        # Seeded sampling, as `genemail campaign` does by default: varied emails, each reproducible.
        result = service.campaign(source, options(max_new, 0.7, 0), progress=report)
        note = f"\n\nCleaning report: {result.report}" if result.report else ""
        message = (f"Wrote **{result.n_customers}** emails in {result.seconds:.1f} s "
                   f"({result.n_customers / max(result.seconds, 1e-9):.1f} emails/s).{qa_sentence(result.qa)}{note}")
        return message, result.counts, str(result.jsonl_path), str(result.csv_path), result.preview

    run.click(on_run, [upload, n, max_tokens], [status, counts, jsonl, csv, preview], api_name="campaign",
              concurrency_id=MODEL_QUEUE, concurrency_limit=MODEL_CONCURRENCY)
