"""The send log: what a campaign run as an experiment sent to whom. Its schema lives here, only here.

A send log row is a campaign row (``genemail.pipeline.campaign``) plus three fields:
``experiment``, ``arm`` and ``sent_at`` (UTC ISO 8601 ``...Z``). In an experiment ``email`` holds
the email actually sent for the arm (the segment's email for ``segmented``, the baseline email for
``control``, nothing for ``holdout``) and ``adapter`` / ``adapter_repo`` / ``adapter_sha`` name what
wrote it. The segment is ``l2``. Outcomes are joined to the send log on ``customer_id``, read in the
normal form of :func:`genemail.experiments.ids.normalize_id` whatever the format (``6936.0`` is
``6936`` in CSV as in JSON or Parquet; invisible characters are removed).

**Pre-period covariates.** Any field named ``pre_*`` is a number known before the send (the campaign
writes ``pre_spend``, ``pre_purchases`` and ``pre_responses`` from the customer table's total spend,
purchases and accepted earlier campaigns); the report uses them to cut the variance of its lifts
(``genemail.experiments.cuped``). They are stored per customer as one JSON object (``covariates``).

:func:`read_send_log` reads JSONL, CSV or Parquet and refuses a bad file naming the line and field;
:func:`send_log_row` builds a row from a campaign row, for the campaign command.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError, DataError
from genemail.experiments.assignment import ARMS, CONTROL, HOLDOUT, SEGMENTED
from genemail.experiments.ids import normalize_id
from genemail.experiments.tables import iter_chunks, table_format
from genemail.experiments.times import parse_sent_at

if TYPE_CHECKING:
    import pandas as pd

# The quality gate's verdict on the email (genemail.generation.gate.QA, flattened for CSV and Parquet):
# "passed" or "fallback", model attempts made, and the checks that failed on the way ("facts,fluency").
QA_FIELDS: tuple[str, ...] = ("qa_status", "qa_attempts", "qa_failed")

# The campaign row's fields, in its order (see ``_row`` in genemail/pipeline/campaign.py) ...
CAMPAIGN_FIELDS: tuple[str, ...] = (
    "customer_id", "l1", "l2", "l2_proba", "cold_start_reason", "strategy", "email", "baseline_email",
    "adapter", "adapter_repo", "adapter_sha", "release_repo", "release_revision", "release_sha",
    "latency_s", "new_tokens", *QA_FIELDS, "email_template",
)
# ... and what an experiment adds.
EXPERIMENT_FIELDS: tuple[str, ...] = ("experiment", "arm", "sent_at")
SEND_LOG_FIELDS: tuple[str, ...] = (*CAMPAIGN_FIELDS, *EXPERIMENT_FIELDS)
REQUIRED_FIELDS: tuple[str, ...] = ("experiment", "customer_id", "l2", "arm", "sent_at")
# What the results database keeps of each row (``l2`` is stored as ``segment``).
STORED_FIELDS: tuple[str, ...] = (
    "experiment", "customer_id", "segment", "arm", "strategy", "adapter", "adapter_repo", "adapter_sha",
    "release_repo", "release_revision", "release_sha", "sent_at", "email", "covariates",
)
COVARIATE_PREFIX = "pre_"
# The covariates a campaign records: send log field -> customer table column (genemail.data.schema).
CAMPAIGN_COVARIATES: dict[str, str] = {"pre_spend": "total_spend", "pre_purchases": "total_purchases",
                                       "pre_responses": "accepted_campaigns"}
_TEXT_FIELDS = ("strategy", "adapter", "adapter_repo", "adapter_sha", "release_repo", "release_revision",
                "release_sha")
_FIX = ("write the send log with `genemail campaign ... --experiment NAME` (fields: "
        + ", ".join(REQUIRED_FIELDS) + ", and email for segmented/control rows)")


def send_log_row(campaign_row: Mapping[str, Any], *, experiment: str, arm: str, sent_at: str,
                 baseline_adapter: Mapping[str, Any] | None = None,
                 covariates: Mapping[str, float | None] | None = None) -> dict[str, Any]:
    """The send log row of one campaign row for ``arm``: the sent email and what wrote it.

    ``baseline_adapter`` (``adapter``, ``adapter_repo``, ``adapter_sha`` of the baseline) is needed
    for a ``control`` row, since the campaign row names the segment's adapter. ``covariates`` are the
    customer's pre-period numbers (``pre_*`` names; ``None`` or NaN for unknown).
    """
    bad = [name for name in (covariates or {}) if not str(name).startswith(COVARIATE_PREFIX)]
    if bad:
        raise ConfigError(f"covariate name {bad[0]!r} is invalid", where="send_log_row",
                          fix=f"name pre-period covariates {COVARIATE_PREFIX}*, e.g. pre_spend")
    if arm not in ARMS:
        raise ConfigError(f"arm={arm!r} is invalid", where="send_log_row", fix=f"pass one of {', '.join(ARMS)}")
    if parse_sent_at(sent_at) is None:
        raise ConfigError(f"sent_at={sent_at!r} is invalid", where="send_log_row",
                          fix="pass a UTC ISO 8601 time ending in Z, e.g. 2025-03-01T10:00:00Z")
    row = {name: campaign_row.get(name) for name in CAMPAIGN_FIELDS}
    row.update(experiment=experiment, arm=arm, sent_at=sent_at)
    if arm == CONTROL:
        if not baseline_adapter:
            raise ConfigError("a control row needs the baseline adapter", where="send_log_row",
                              fix="pass baseline_adapter={'adapter': ..., 'adapter_repo': ..., 'adapter_sha': ...}")
        row["email"] = campaign_row.get("baseline_email")
        row.update({k: baseline_adapter.get(k) for k in ("adapter", "adapter_repo", "adapter_sha")})
        row.update({k: campaign_row.get(f"baseline_{k}") for k in (*QA_FIELDS, "email_template")})
    elif arm == HOLDOUT:
        row.update(email=None, adapter=None, adapter_repo=None, adapter_sha=None, email_template=None)
        row.update({k: None for k in QA_FIELDS})
    for name, value in (covariates or {}).items():
        row[str(name)] = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    return row


def read_send_log(path: Path) -> "pd.DataFrame":
    """Read and validate a send log; one row per (experiment, customer), columns :data:`STORED_FIELDS`.

    Raises :class:`DataError` naming the file, the line (row for Parquet) and the field at fault:
    a missing required field, an unknown arm, a ``sent_at`` that is not UTC ISO 8601, a customer
    twice in one experiment, an email on a holdout row or none on a segmented/control row.
    """
    import pandas as pd

    path = Path(path)
    fmt = table_format(path)
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    has_email: bool | None = None
    for chunk in iter_chunks(path, fmt):
        if chunk.errors:
            position, message = chunk.errors[0]
            raise DataError(message, where=f"{path}, {fmt.unit} {position}", fix=_FIX)
        for position, record in zip(chunk.positions, chunk.records):
            where = f"{path}, {fmt.unit} {position}"
            if has_email is None:
                has_email = "email" in record
            row = _validate(record, where, has_email)
            key = (row["experiment"], row["customer_id"])
            if key in seen:
                raise DataError(f"customer {key[1]!r} is in experiment {key[0]!r} twice (first at {fmt.unit} "
                                f"{seen[key]})", where=f"{where}, field customer_id",
                                fix="keep one row per customer and experiment: a customer has one arm")
            seen[key] = position
            rows.append(row)
    if not rows:
        raise DataError("send log has no rows", where=str(path), fix=_FIX)
    return pd.DataFrame(rows, columns=list(STORED_FIELDS))


def _validate(record: Mapping[str, Any], where: str, has_email: bool) -> dict[str, Any]:
    for name in REQUIRED_FIELDS:
        if (normalize_id if name == "customer_id" else _text)(record.get(name)) is None:
            state = "missing" if name not in record else "empty"
            raise DataError(f"required field {name!r} is {state}", where=f"{where}, field {name}", fix=_FIX)
    arm = _text(record["arm"])
    if arm not in ARMS:
        raise DataError(f"arm {arm!r} is unknown", where=f"{where}, field arm", fix=f"use one of {', '.join(ARMS)}")
    sent_at = parse_sent_at(record["sent_at"])
    if sent_at is None:
        raise DataError(f"sent_at {record['sent_at']!r} is not a UTC ISO 8601 time", where=f"{where}, field sent_at",
                        fix="write it as e.g. 2025-03-01T10:00:00Z (UTC, with Z or +00:00)")
    email = record.get("email") if _text(record.get("email")) is not None else None  # kept as written
    if has_email and arm == HOLDOUT and email is not None:
        raise DataError("a holdout row carries an email", where=f"{where}, field email",
                        fix="holdout customers are sent nothing: leave email empty (null) on holdout rows")
    if has_email and arm in (SEGMENTED, CONTROL) and email is None:
        raise DataError(f"a {arm} row has no email", where=f"{where}, field email",
                        fix="write the email that was sent to this customer (or drop the email column)")
    row = {name: _text(record.get(name)) for name in _TEXT_FIELDS}
    row.update(experiment=_text(record["experiment"]), customer_id=normalize_id(record["customer_id"]),
               segment=_text(record["l2"]), arm=arm, sent_at=sent_at, email=None if email is None else str(email),
               covariates=_covariates(record, where))
    return row


def _covariates(record: Mapping[str, Any], where: str) -> str | None:
    """The ``pre_*`` fields as a JSON object (unknown values left out); ``None`` when there are none."""
    values: dict[str, float] = {}
    for name, raw in record.items():
        if not str(name).startswith(COVARIATE_PREFIX) or _text(raw) is None:
            continue
        try:
            number = float(str(raw).strip()) if not isinstance(raw, (int, float)) else float(raw)
        except ValueError:
            number = math.nan
        if isinstance(raw, bool) or not math.isfinite(number):
            raise DataError(f"covariate {name!r} is {raw!r}, not a number", where=f"{where}, field {name}",
                            fix="write pre-period covariates as plain numbers (empty for unknown)")
        values[str(name)] = number
    return json.dumps(values, sort_keys=True) if values else None


def _text(value: Any) -> str | None:
    """Text of a field; ``None`` for null, NaN and empty text (CSV writes nulls as empty fields)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an id column read as floats by a spreadsheet
    text = str(value).strip()
    return text or None


def covariate_frame(sends: "pd.DataFrame") -> "pd.DataFrame":
    """The ``pre_*`` covariates of a send log frame as float columns (NaN where unknown): from the
    stored ``covariates`` JSON of :func:`genemail.experiments.read_send_log`, or from ``pre_*`` columns."""
    import pandas as pd

    if "covariates" in sends.columns:
        rows = [json.loads(v) if isinstance(v, str) and v else {} for v in sends["covariates"]]
        return pd.DataFrame(rows, index=sends.index, dtype=float)
    return sends[[c for c in sends.columns if str(c).startswith("pre_")]].astype(float)
