"""Compose tab: a customer -> segment, strategy, and the segmented email beside the baseline email.

API endpoints: ``/segment`` (segment only, no generation), ``/compose`` (a known customer),
``/regenerate`` (same customer, next seed, sampling on), ``/compose_new`` (the cold-start form).
The "with user embedding" switch (FR-13) is ``/compose``'s last input, default off, so callers that
pass only the first four keep today's behaviour.
"""

from typing import Any

import gradio as gr

from genemail.app_ui.common import (
    MAX_LISTED_CUSTOMERS,
    MODEL_CONCURRENCY,
    MODEL_QUEUE,
    guard,
    latency_markdown,
    options,
    segment_markdown,
    strategy_markdown,
)
from genemail.data.schema import EDUCATION_LEVELS, KID_AGE_BANDS, MARITAL_STATUSES
from genemail.data.table import FORM_FIELDS
from genemail.generation.compose import ComposeResult, SegmentView
from genemail.service import GenEmailService

REGENERATE_TEMPERATURE = 0.8  # "regenerate" must change the text, so greedy decoding becomes sampling


def _segment_outputs(view: SegmentView) -> tuple[dict[str, Any], str, str]:
    return view.to_dict(), segment_markdown(view), strategy_markdown(view.strategy)


def _compose_outputs(result: ComposeResult) -> tuple[Any, ...]:
    details, seg_md, strat_md = _segment_outputs(result.view)
    return (result.to_dict(), seg_md, strat_md, result.email, latency_markdown(result, "segmented"),
            result.baseline_email, latency_markdown(result, "baseline"))


def build(service: GenEmailService) -> None:
    """Lay out the tab (call inside a ``gr.Tab``) and wire its events."""
    ids = service.customer_ids(limit=MAX_LISTED_CUSTOMERS)
    gr.Markdown("Pick a customer (type to search), or describe a new one below. The segment and strategy "
                "show at once; **Generate** writes the segmented email beside the one-size-fits-all baseline.")
    with gr.Row():
        customer = gr.Dropdown(ids, value=ids[0] if ids else None, label="Customer ID", allow_custom_value=True,
                               filterable=True, scale=2, elem_id="customer-id",
                               info=f"{len(service.customers)} customers; any ID of the table can be typed")
        max_tokens = gr.Slider(8, 256, value=96, step=8, label="Length (max new tokens)")
        temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.1, label="Temperature", info="0 = greedy (deterministic)")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0)
        use_embedding = gr.Checkbox(False, label="With user embedding", elem_id="user-embedding",
                                    info="the customer's behaviour as soft-prompt tokens beside the segment adapter "
                                    "(FR-13; needs a release with a user vector)")
    with gr.Row():
        generate = gr.Button("Generate", variant="primary", elem_id="generate")
        regenerate = gr.Button("Regenerate (next seed)", elem_id="regenerate")
    with gr.Accordion("New customer (cold start)", open=False):
        with gr.Row():
            age = gr.Number(label="Age", precision=0)
            gender = gr.Dropdown(["", "F", "M"], value="", label="Gender")
            education = gr.Dropdown(["", *EDUCATION_LEVELS], value="", label="Education")
            marital = gr.Dropdown(["", *MARITAL_STATUSES], value="", label="Marital status")
        with gr.Row():
            income = gr.Number(label="Yearly income")
            kid_age = gr.Dropdown(["", *KID_AGE_BANDS], value="", label="Children's ages (KidAge)")
            family = gr.Number(label="Family size", precision=0)
            recency = gr.Number(label="Days since last purchase", precision=0)
        compose_new = gr.Button("Segment and write for this new customer")
    with gr.Row():
        segment_md = gr.Markdown(elem_id="segment-info")
        strategy_md = gr.Markdown(elem_id="strategy-card")
    with gr.Row(equal_height=True):
        with gr.Column():
            email = gr.Textbox(label="Segmented email", lines=8, interactive=False, elem_id="segmented-email",
                               buttons=["copy"])
            email_info = gr.Markdown()
        with gr.Column():
            baseline = gr.Textbox(label="Baseline email (one model for everyone)", lines=8, interactive=False,
                                  elem_id="baseline-email", buttons=["copy"])
            baseline_info = gr.Markdown()
    with gr.Accordion("Details (JSON)", open=False):
        details = gr.JSON(label="Details")

    form = [age, gender, education, marital, income, kid_age, family, recency]
    composed = [details, segment_md, strategy_md, email, email_info, baseline, baseline_info]
    model_events: dict[str, Any] = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": MODEL_CONCURRENCY}

    @guard
    def on_segment(customer_id: str) -> tuple[Any, ...]:
        if not customer_id:
            return {}, "", ""
        return _segment_outputs(service.segment(customer_id))

    @guard
    def on_compose(customer_id: str, max_new: float, temp: float, seed_value: float,
                   with_embedding: bool = False) -> tuple[Any, ...]:
        return _compose_outputs(service.compose(customer_id, options(max_new, temp, seed_value), bool(with_embedding)))

    @guard
    def on_regenerate(customer_id: str, max_new: float, temp: float, seed_value: float,
                      with_embedding: bool = False) -> tuple[Any, ...]:
        temp = temp if temp > 0 else REGENERATE_TEMPERATURE
        next_seed = int(seed_value or 0) + 1
        result = service.compose(customer_id, options(max_new, temp, next_seed), bool(with_embedding))
        return (temp, next_seed, *_compose_outputs(result))

    @guard
    def on_compose_new(age_v: float | None, gender_v: str, education_v: str, marital_v: str, income_v: float | None,
                       kid_age_v: str, family_v: float | None, recency_v: float | None, max_new: float, temp: float,
                       seed_value: float) -> tuple[Any, ...]:
        values = (age_v, gender_v, education_v, marital_v, income_v, kid_age_v, family_v, recency_v)
        fields = dict(zip(FORM_FIELDS, values))
        return _compose_outputs(service.compose_new(fields, options(max_new, temp, seed_value)))

    controls = [max_tokens, temperature, seed]
    customer.change(on_segment, customer, [details, segment_md, strategy_md], api_name="segment")
    generate.click(on_compose, [customer, *controls, use_embedding], composed, api_name="compose", **model_events)
    regenerate.click(on_regenerate, [customer, *controls, use_embedding], [temperature, seed, *composed],
                     api_name="regenerate", **model_events)
    compose_new.click(on_compose_new, [*form, *controls], composed, api_name="compose_new", **model_events)
