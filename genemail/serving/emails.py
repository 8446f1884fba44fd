"""``POST /v1/emails`` on ``genemail serve``: customer records in, checked emails out.

``/v1/completions`` is the raw engine API (what vLLM serves; a campaign's OpenAI backend checks what comes
back on the client side). This endpoint is the product path, the same stages a campaign runs:

1. the records are cleaned as one table, as a campaign's customer file is
   (:func:`genemail.data.loader.clean_frame`: same rules, imputation and reference date);
2. each customer is segmented and given its strategy (:func:`genemail.generation.compose.describe`, as
   the app's Compose tab does);
3. the emails are written by :meth:`EmailGenerator.generate`, the call every campaign makes, so each one
   passed the quality gate or is the strategy's template email, and its verdict comes back beside it.

A campaign repairs a few bad cells and drops bad rows, and reports it; an API caller gets no report to
read, so a record the loader would drop and a cell it would set missing are refused instead, naming the
record and the field. The generation runs on the batcher's worker thread (:meth:`MicroBatcher.run`): one
thread owns the model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from genemail.errors import DataError, GenEmailError
from genemail.pipeline.campaign import qa_fields
from genemail.generation.compose import Models, SegmentView, describe
from genemail.generation.gate import qa_summary
from genemail.generation.generator import BASELINE_VARIANT, MAX_NEW_TOKENS, SEGMENTED, GenerationConfig

if TYPE_CHECKING:
    import pandas as pd
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from genemail.generation.gate import QA
    from genemail.generation.generator import GeneratedEmail
    from genemail.generation.strategies import Strategy
    from genemail.serving.batcher import MicroBatcher

logger = logging.getLogger("genemail.serve")

MAX_CUSTOMERS = 100  # one request holds the model's thread while it runs; bigger tables: `genemail campaign`
REFUSED = ("dropped_rows", "set_missing")  # cleaning actions a campaign reports and an API caller gets as a 422
SOURCE = "customers"  # the request field the loader's messages name
RECORD_FIX = ("send the customer with every field of the PRD or Kaggle schema readable (null when unknown): "
              "a campaign file may carry a few bad cells, a request may not")


def _cell(value: Any) -> Any:
    if value is not None and not isinstance(value, (str, int, float)):
        raise ValueError("a customer field holds text, a number or null")
    return value


Cell = Annotated[Any, AfterValidator(_cell)]  # one error at customers.i.field (a union would name each member)


class EmailsRequest(BaseModel):
    """``POST /v1/emails`` body: customer records (a campaign table's columns) and how to write their emails."""

    model_config = ConfigDict(extra="forbid")  # our own API: a misspelt option is an error, not a default

    customers: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_CUSTOMERS)
    variants: list[Literal["segmented", "baseline"]] = Field(default=[SEGMENTED, BASELINE_VARIANT], min_length=1)
    temperature: float = Field(default=0.0, ge=0.0, le=5.0)  # 0: greedy, as in /v1/completions and the app
    seed: int = Field(default=0, ge=0)
    max_new_tokens: int = Field(default=GenerationConfig.max_new_tokens, ge=1, le=MAX_NEW_TOKENS)
    lang: Literal["zh", "en"] = "zh"
    reference_date: str | None = None  # age and tenure (raw Kaggle records); default: the latest Dt_Customer

    def generation_config(self) -> GenerationConfig:
        """Decoding settings: ``temperature=0`` is greedy; otherwise each customer samples from its own seed."""
        sample = self.temperature > 0
        return GenerationConfig(max_new_tokens=self.max_new_tokens, do_sample=sample, seed=self.seed, lang=self.lang,
                                temperature=self.temperature if sample else GenerationConfig.temperature)


class CheckedEmail(BaseModel):
    """One email as the gate let it out: text to send (facts filled), slot form, verdict as campaign rows carry it."""

    email: str
    email_template: str
    qa_status: Literal["passed", "fallback"]
    qa_attempts: int
    qa_failed: str  # the checks that failed on the way, comma-separated ("" when none)


class CustomerEmails(BaseModel):
    """One customer: segment and strategy (the app's segment view) and an email per variant asked for."""

    index: int  # position in the request's customers
    customer_id: str
    l1: str
    l1_proba: float
    l2: str
    l2_proba: float
    cold_start_reason: str | None
    reasons: list[str]
    strategy: dict[str, Any]  # display name, tone, ..., adapter and adapter_ref (repo@sha)
    emails: dict[str, CheckedEmail]  # by variant: segmented, baseline


class EmailsResponse(BaseModel):
    """``POST /v1/emails`` answer: one entry per customer, in request order, and the gate's counts per variant."""

    object: Literal["list"] = "list"
    release: dict[str, str] | None  # repo_id, revision, sha of the served release (None: a local folder)
    data: list[CustomerEmails]
    summary: dict[str, dict[str, Any]]  # per variant: emails, first_attempt, passed, fallback, failed_checks


def customers_frame(records: Sequence[dict[str, Any]], reference_date: str | None = None) -> "pd.DataFrame":
    """The records cleaned as one table (internal schema, one row per record), or a :class:`DataError`.

    The error names the first record that fails when cleaned alone (``customers[3], column Income``), or the
    record the table's cleaning dropped (an ID that is missing, or a duplicate of an earlier customer).
    """
    import pandas as pd

    from genemail.data.loader import clean_frame

    raw = pd.DataFrame.from_records(list(records))  # a key a record lacks is a blank cell, as in a file
    try:
        loaded = clean_frame(raw, reference_date=reference_date, source=SOURCE)
    except DataError:
        _refuse_first_bad_record(raw, reference_date, None)
        raise
    if any(action.kind in REFUSED for action in loaded.report.actions):
        kept = set(loaded.frame["customer_id"].astype(str))
        _refuse_first_bad_record(raw, reference_date or loaded.report.reference_date, kept)
        done = "; ".join(f"{a.column}: {a.rule}" for a in loaded.report.actions if a.kind in REFUSED)
        raise DataError(f"the customers cannot be used as sent ({done})", where=SOURCE,
                        fix="send each customer once, with readable values")
    return loaded.frame.reset_index(drop=True)


def _refuse_first_bad_record(raw: "pd.DataFrame", reference_date: str | None, kept: set[str] | None) -> None:
    """Clean each record alone: a bad cell is refused there (one bad value of one), naming record and field."""
    from genemail.data.loader import clean_frame
    from genemail.data.schema import CUSTOMER_ID_RULE

    for i in range(len(raw)):
        try:
            alone = clean_frame(raw.iloc[[i]], reference_date=reference_date, source=f"{SOURCE}[{i}]").frame
        except DataError as err:  # the loader's fix speaks of files; this caller sends records
            raise DataError(err.what, where=err.where, fix=RECORD_FIX) from None
        if alone.empty or (kept is not None and str(alone["customer_id"].iloc[0]) not in kept):
            raise DataError("the customer has no usable ID, or is an earlier customer again with another ID",
                            where=f"{SOURCE}[{i}], field ID",
                            fix=f"give every customer an ID of {CUSTOMER_ID_RULE}, and send each customer once")


@dataclass(frozen=True)
class EmailPlan:
    """Customers segmented and given strategies; :meth:`write` runs the gate, :meth:`response` shapes the answer."""

    models: Models
    views: list[SegmentView]
    strategies: list["Strategy"]
    profiles: list[Any]  # CustomerProfile, one per customer
    config: GenerationConfig
    variants: frozenset[str]

    @classmethod
    def of(cls, models: Models, request: EmailsRequest) -> "EmailPlan":
        """Clean and segment the request's customers (:class:`DataError` names the record and field)."""
        from genemail.generation.prompts import profile_from_row

        config = request.generation_config()
        frame = customers_frame(request.customers, request.reference_date)
        described = describe(models, frame, config.lang)
        profiles = [profile_from_row(row) for row in frame.to_dict("records")]
        return cls(models, [v for v, _ in described], [s for _, s in described], profiles, config,
                   frozenset(request.variants))

    def write(self, batch_size: int = 16) -> list["GeneratedEmail"]:
        """Every email through :meth:`EmailGenerator.generate` (the gate); call on the model's thread."""
        both = self.variants == {SEGMENTED, BASELINE_VARIANT}
        only = None if both or SEGMENTED in self.variants else [BASELINE_VARIANT] * len(self.profiles)
        per_batch = max(1, batch_size // len(self.variants))  # batch_size counts rows; a customer has one per variant
        return self.models.generator.generate(self.profiles, self.strategies, self.config, batch_size=per_batch,
                                              with_baseline=both, only=only, book=self.models.strategies)

    def response(self, written: Sequence["GeneratedEmail"], release: dict[str, str] | None) -> EmailsResponse:
        """The answer: each customer's segment view and checked emails, and the gate's counts per variant."""
        data: list[CustomerEmails] = []
        verdicts: dict[str, list[QA]] = {v: [] for v in (SEGMENTED, BASELINE_VARIANT) if v in self.variants}
        for i, (view, email) in enumerate(zip(self.views, written)):
            emails = {}
            for variant, text, template, qa in ((SEGMENTED, email.email, email.email_template, email.qa),
                                                (BASELINE_VARIANT, email.baseline_email, email.baseline_template,
                                                 email.baseline_qa)):
                if variant in self.variants and text is not None and template is not None and qa is not None:
                    emails[variant] = CheckedEmail(email=text, email_template=template, **qa_fields(qa))
                    verdicts[variant].append(qa)
            data.append(CustomerEmails(index=i, **view.to_dict(), emails=emails))
        return EmailsResponse(release=release, data=data,
                              summary={variant: qa_summary(qas) for variant, qas in verdicts.items()})


def add_email_route(app: "FastAPI", models: Models, batcher: "MicroBatcher", release: dict[str, str] | None,
                    fail: Callable[..., "JSONResponse"]) -> None:
    """Serve ``POST /v1/emails`` on ``app`` (the API key middleware and error envelope are the app's)."""

    @app.post("/v1/emails", response_model=None)
    async def emails(request: EmailsRequest) -> EmailsResponse | JSONResponse:
        """Checked emails for customer records: cleaned, segmented, written through the quality gate."""
        try:
            plan = await asyncio.to_thread(EmailPlan.of, models, request)
            written = await asyncio.wrap_future(batcher.run(lambda: plan.write(batcher.config.max_batch_size)))
        except DataError as err:
            return fail(422, str(err), "UnprocessableEntityError", err.where)
        except GenEmailError as err:
            return fail(400, str(err), "BadRequestError")
        except Exception:  # noqa: BLE001 - a bug: logged with its traceback, the client gets a 500 without it
            logger.exception("emails failed")
            return fail(500, "internal error while writing emails; see the server log", "InternalServerError")
        return plan.response(written, release)
