"""Compose tab: a customer -> segment, strategy, and the segmented email beside the baseline email.

API endpoints: ``/segment`` (segment only, no generation), ``/compose`` (a known customer),
``/regenerate`` (same customer, next seed, sampling on), ``/compose_new`` (the new-customer form).
The "with user embedding" switch (FR-13) is ``/compose``'s last input, default off, so callers that
pass only the first four keep today's behaviour. Decoding settings and what produced the emails
(adapters, token counts, JSON) sit in the "Advanced" fold; the first screen is for a marketer.
"""

from typing import Any

import gradio as gr

from genemail.app_ui.common import (
    LENGTH_FIELD,
    MAX_LISTED_CUSTOMERS,
    MODEL_CONCURRENCY,
    MODEL_QUEUE,
    SEED_FIELD,
    TEMPERATURE_FIELD,
    TEMPERATURE_RANGE,
    field_error,
    guard,
    latency_markdown,
    number_field,
    options,
    segment_label,
    segment_markdown,
    shorten,
    strategy_markdown,
    technical_markdown,
)
from genemail.app_ui.i18n import Texts, t
from genemail.data.schema import EDUCATION_LEVELS, MARITAL_STATUSES
from genemail.data.table import FORM_FIELDS
from genemail.generation.compose import ComposeResult, SegmentView
from genemail.service import GenEmailService

REGENERATE_TEMPERATURE = 0.8  # "another version" must change the text, so greedy decoding becomes sampling
KID_AGE_CHOICES = (("Not known", ""), ("No children", "none"), ("Young children", "young"),
                   ("Teenagers", "teen"), ("Young children and teenagers", "young_and_teen"))
GENDER_CHOICES = (("Not known", ""), ("Female", "F"), ("Male", "M"))
# The form's numbers as the page names them, with the range a real customer can have.
FORM_NUMBERS: dict[str, tuple[str, float, float, bool]] = {
    "Age": ("Age", 18, 110, True),
    "Income": ("Yearly income", 0, 10_000_000, False),
    "Familysize": ("Family size", 1, 20, True),
    "Recency": ("Days since last purchase", 0, 3650, True),
}


def customer_choices(service: GenEmailService, lang: str) -> list[tuple[str, str]]:
    """The listed customers as ``(ID · segment · age, income, value)`` pairs: findable by segment or age."""
    segments = service.customer_segments(MAX_LISTED_CUSTOMERS)
    frame = service.customers.head(MAX_LISTED_CUSTOMERS)
    out = []
    for cid, row in frame.iterrows():
        parts = [shorten(str(cid), 24)]
        if cid in segments:
            parts.append(segment_label(service, segments[cid], lang))
        if row.get("age") == row.get("age") and row.get("age") is not None:
            parts.append(t("{age} years", lang, age=int(row["age"])))
        if row.get("income") == row.get("income") and row.get("income") is not None:
            parts.append(t("income {income}", lang, income=f"{row['income']:,.0f}"))
        out.append((" · ".join(parts), str(cid)))
    return out


def _segment_outputs(view: SegmentView, service: GenEmailService, lang: str) -> tuple[dict[str, Any], str, str]:
    return view.to_dict(), segment_markdown(view, service, lang), strategy_markdown(view.strategy, service, lang)


def _compose_outputs(result: ComposeResult, service: GenEmailService, lang: str) -> tuple[Any, ...]:
    _, seg_md, strat_md = _segment_outputs(result.view, service, lang)
    return (result.to_dict(), seg_md, strat_md, result.email, latency_markdown(result, "segmented", lang),
            result.baseline_email, latency_markdown(result, "baseline", lang), technical_markdown(result, lang))


def form_fields(values: tuple[Any, ...], lang: str) -> dict[str, Any]:
    """The new-customer form as PRD fields, each number checked with its field's name.

    A blank form is refused with a form message: a customer the page knows nothing about would
    only ever get the default strategy, which is not what someone filling the form wants to see.
    """
    fields = {k: (v.strip() if isinstance(v, str) else v) for k, v in zip(FORM_FIELDS, values)}
    if all(v in (None, "") for v in fields.values()):
        raise field_error(t("New customer", lang), t("the form is empty", lang),
                        t("fill in at least age, yearly income or days since last purchase", lang), lang)
    for key, (label, low, high, whole) in FORM_NUMBERS.items():
        fields[key] = number_field(fields[key], t(label, lang), low=low, high=high, whole=whole, required=False,
                                   lang=lang)
    return fields


def build(service: GenEmailService, texts: Texts, lang: gr.State) -> list[tuple[Any, list[Any], list[Any]]]:
    """Lay out the tab (call inside a ``gr.Tab``), wire its events; return what re-renders it in another language."""
    first = texts.lang
    ids = service.customer_ids(limit=MAX_LISTED_CUSTOMERS)
    texts.make(gr.Markdown, "Pick a customer (type an ID, a segment or an age to search), or describe a new one "
                            "below. The segment and strategy show at once; **Write emails** writes the segmented "
                            "email beside the one-size-fits-all baseline.")
    with gr.Row():
        customer = texts.make(gr.Dropdown, choices=lambda lang_: customer_choices(service, lang_),
                              value=ids[0] if ids else None, label="Customer", allow_custom_value=True,
                              filterable=True, scale=3, elem_id="customer-id",
                              info=lambda lang_: t("{n} customers; any customer ID of the table can be typed", lang_,
                                                   n=f"{len(service.customers):,}"))
        with gr.Column(scale=1):
            generate = texts.make(gr.Button, "Write emails", variant="primary", elem_id="generate")
            regenerate = texts.make(gr.Button, "Write another version", elem_id="regenerate")
    with texts.make(gr.Accordion, label="New customer", open=False):
        with gr.Row():
            # Text boxes, not number boxes: a number box sends 0 for an empty field, and "not known"
            # must stay distinguishable from 0 (0 days since the last purchase is a real value).
            age = texts.make(gr.Textbox, label="Age", placeholder="not known", elem_id="form-age")
            gender = texts.make(gr.Dropdown, choices=list(GENDER_CHOICES), value="", label="Gender")
            education = texts.make(gr.Dropdown, choices=[("Not known", ""), *EDUCATION_LEVELS], value="",
                                   label="Education")
            marital = texts.make(gr.Dropdown, choices=[("Not known", ""), *MARITAL_STATUSES], value="",
                                 label="Marital status")
        with gr.Row():
            income = texts.make(gr.Textbox, label="Yearly income", placeholder="not known", elem_id="form-income")
            kid_age = texts.make(gr.Dropdown, choices=list(KID_AGE_CHOICES), value="", label="Children")
            family = texts.make(gr.Textbox, label="Family size", placeholder="not known", elem_id="form-family")
            recency = texts.make(gr.Textbox, label="Days since last purchase", placeholder="not known",
                                 elem_id="form-recency")
        compose_new = texts.make(gr.Button, "Segment and write for this new customer", elem_id="compose-new")
    first_view = _first_view(service, ids, first)
    with gr.Row():
        segment_md = gr.Markdown(first_view[1], elem_id="segment-info")
        strategy_md = gr.Markdown(first_view[2], elem_id="strategy-card")
    with gr.Row(equal_height=True):
        with gr.Column():
            email = texts.make(gr.Textbox, label="Segmented email", lines=8, interactive=False,
                               elem_id="segmented-email", buttons=["copy"])
            email_info = gr.Markdown(elem_id="segmented-info")
        with gr.Column():
            baseline = texts.make(gr.Textbox, label="Baseline email (one model for everyone)", lines=8,
                                  interactive=False, elem_id="baseline-email", buttons=["copy"])
            baseline_info = gr.Markdown(elem_id="baseline-info")
    with texts.make(gr.Accordion, label="Advanced", open=False, elem_classes=["advanced"], elem_id="compose-advanced"):
        with gr.Row():
            # Plain number boxes: the handler checks each against its range and names the field when
            # refusing (a slider would clamp a typed value silently).
            max_tokens = texts.make(gr.Number, value=96, label=LENGTH_FIELD, precision=0, elem_id="length",
                                    info="how long the email may be, in tokens (8 to 512)")
            temperature = texts.make(gr.Number, value=0.0, label=TEMPERATURE_FIELD, elem_id="temperature",
                                     info="0 = the same email every time; up to 2 = more varied (temperature)")
            seed = texts.make(gr.Number, value=0, label=SEED_FIELD, precision=0, elem_id="seed",
                              info="another seed, another version of a varied email")
            use_embedding = texts.make(gr.Checkbox, value=False, label="With user embedding",
                                       elem_id="user-embedding",
                                       info="the customer's behaviour as extra input beside the segment's "
                                            "adapter (needs a release with a user vector)")
        technical = gr.Markdown(elem_id="compose-technical")
        details = texts.make(gr.JSON, value=first_view[0] or None, label="Details (JSON)")

    form = [age, gender, education, marital, income, kid_age, family, recency]
    composed = [details, segment_md, strategy_md, email, email_info, baseline, baseline_info, technical]
    # Progress and failures show on the emails, never on a control: a failed request leaves every
    # setting usable (the message says what to change).
    model_events: dict[str, Any] = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": MODEL_CONCURRENCY,
                                    "show_progress_on": [email, baseline]}

    @guard
    def on_segment(customer_id: str, lang_: str = "en") -> tuple[Any, ...]:
        """Find a known customer's segment, value tier, the reasons, and the segment's email strategy (no email).

        Args:
            customer_id: the customer's ID in the app's customer table, e.g. "10087".
        """
        if not customer_id:
            return {}, "", ""
        return _segment_outputs(service.segment(customer_id), service, lang_)

    @guard
    def on_compose(customer_id: str, max_new: float, temp: float, seed_value: float,
                   with_embedding: bool = False, lang_: str = "en") -> tuple[Any, ...]:
        """Write the marketing email for a known customer in their segment's voice, beside the one-size-fits-all
        baseline email; both pass the quality check (facts, merge tags, structure) before they are returned.

        Args:
            customer_id: the customer's ID in the app's customer table, e.g. "10087".
            max_new: email length, in tokens (8 to 512; 96 is typical).
            temp: variety, 0 (the same email every time) to 2 (more varied).
            seed_value: a whole number >= 0; another seed gives another version when variety > 0.
            with_embedding: also use the customer's behaviour vector (needs a release that has one).
        """
        result = service.compose(customer_id, options(max_new, temp, seed_value, lang_), bool(with_embedding))
        return _compose_outputs(result, service, lang_)

    @guard
    def on_regenerate(customer_id: str, max_new: float, temp: float, seed_value: float,
                      with_embedding: bool = False, lang_: str = "en") -> tuple[Any, ...]:
        """Write another version of a known customer's emails: the next seed, with some variety.

        Args:
            customer_id: the customer's ID in the app's customer table.
            max_new: email length, in tokens (8 to 512).
            temp: variety, 0 to 2 (0 becomes 0.8, so the text changes).
            seed_value: the current seed; the next one is used.
            with_embedding: also use the customer's behaviour vector.
        """
        checked = options(max_new, temp, seed_value, lang_)  # every field checked before any is changed
        temp_value = checked.temperature if checked.temperature > 0 else REGENERATE_TEMPERATURE
        next_seed = checked.seed + 1
        result = service.compose(customer_id, options(max_new, temp_value, next_seed, lang_),
                                 bool(with_embedding))
        return (temp_value, next_seed, *_compose_outputs(result, service, lang_))

    @guard
    def on_compose_new(age_v: str | None, gender_v: str, education_v: str, marital_v: str, income_v: str | None,
                       kid_age_v: str, family_v: str | None, recency_v: str | None, max_new: float, temp: float,
                       seed_value: float, lang_: str = "en") -> tuple[Any, ...]:
        """Segment a new customer described by a few facts (blank = not known) and write their emails.

        Args:
            age_v: age in years (18 to 110), or blank.
            gender_v: "F", "M" or blank.
            education_v: Basic, 2n Cycle, Graduation, Master, PhD, or blank.
            marital_v: Single, Together, Married, Divorced, Widow, or blank.
            income_v: yearly household income, or blank.
            kid_age_v: none, young, teen, young_and_teen, or blank.
            family_v: family size (1 to 20), or blank.
            recency_v: days since the last purchase (0 to 3650), or blank.
            max_new: email length, in tokens (8 to 512).
            temp: variety, 0 to 2.
            seed_value: a whole number >= 0.
        """
        fields = form_fields((age_v, gender_v, education_v, marital_v, income_v, kid_age_v, family_v, recency_v),
                             lang_)
        result = service.compose_new(fields, options(max_new, temp, seed_value, lang_))
        return _compose_outputs(result, service, lang_)

    # MCP tool names (gradio names a tool after its function): what an agent reads in the tool list.
    for fn, tool in ((on_segment, "segment_customer"), (on_compose, "compose_email"),
                     (on_regenerate, "regenerate_email"), (on_compose_new, "compose_email_for_new_customer")):
        fn.__name__ = tool
    controls = [max_tokens, temperature, seed]
    customer.change(on_segment, [customer, lang], [details, segment_md, strategy_md], api_name="segment",
                    show_progress_on=[segment_md])
    generate.click(on_compose, [customer, *controls, use_embedding, lang], composed, api_name="compose",
                   **model_events)
    regenerate.click(on_regenerate, [customer, *controls, use_embedding, lang], [temperature, seed, *composed],
                     api_name="regenerate", **model_events)
    compose_new.click(on_compose_new, [*form, *controls, lang], composed, api_name="compose_new", **model_events)
    return [(on_segment, [customer, lang], [details, segment_md, strategy_md])]


def _first_view(service: GenEmailService, ids: list[str], lang: str) -> tuple[Any, str, str]:
    """The preselected customer's segment and strategy, so the tab never opens on a blank card."""
    if not ids or not service.ready:
        return {}, "", ""
    try:
        return _segment_outputs(service.segment(ids[0]), service, lang)
    except Exception:  # noqa: BLE001 - an empty card is better than no page; the change event says why
        return {}, "", ""


__all__ = ["build", "customer_choices", "form_fields", "TEMPERATURE_RANGE"]
