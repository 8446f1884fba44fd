"""Simulate outcome events for a send log from a known truth, so the whole loop runs with no platform.

The truth (a YAML file) gives, per segment (and under ``default:`` for the others), the click
probability of each arm, and optionally opens, conversions, bounces, unsubscribes, order value and
content effects::

    default: {control: 0.03, segmented: 0.03}
    Parent_Active:
      control: 0.04          # P(click) of a control recipient
      segmented: 0.07        # P(click) of a segmented recipient
      holdout: 0.0           # holdout gets no email: 0 (the only value allowed)
      open: {control: 0.30, segmented: 0.35}           # default: 4 x click
      conversion: {control: 0.010, segmented: 0.015, holdout: 0.008}   # default: 0
      bounce: 0.01           # per sent email (default 0.01)
      unsubscribe: 0.002     # per delivered email (default 0.002); or per arm: {control: 0.002, segmented: 0.004}
      revenue: 60            # mean order value of a conversion (default 40)
      content: {"限时": 0.02, "free shipping": -0.01}   # phrase in the email -> change of P(click)
      complaint: 0.0005      # spam reports per delivered email (default 0)
      covariates: {pre_responses: 0.02}   # change of P(click) per unit of a pre-period covariate
                                          # above its segment mean in the send log (default none)
      not_sent: {control: 0.077}          # share of an arm the platform silently never sent (default 0)

**Response model** (one customer at a time; all draws from one seeded generator):

* ``c`` = the arm's click probability plus the ``content`` changes of every phrase found in the
  customer's own email (substring match) plus the ``covariates`` effects (each covariate centred on
  its segment's mean, so the segment's average rate is unchanged), clipped to [0, 1 - bounce];
  ``o`` = max(open, c).
* One uniform ``u`` decides delivery and engagement, nested so the given rates hold exactly:
  bounce if ``u >= 1 - bounce``; else delivered, opened if ``u < o``, clicked if ``u < c`` (every
  clicker has opened). Holdout customers get no email, so no delivery, open or click.
* Unsubscribe: an independent draw per delivered email. Conversion: an independent draw with the
  arm's probability, holdout included (people buy without an email: that is what the holdout
  measures).
* Times after ``sent_at``: delivered or bounced within ~1 minute, opened ~6 hours after delivery,
  clicked ~15 minutes after the open, converted ~2 hours after the click (~2 days after the send
  without a click), unsubscribed ~1 hour after the open or delivery (exponential delays).
* Revenue of a conversion: log-normal with the segment's mean order value (sigma 0.5).
* Complaint: an independent draw per delivered email, ~1 hour after the open or delivery.
  ``not_sent``: an independent draw per emailed customer; a customer not sent has no event at all
  but an organic conversion with the holdout's probability (a sample-ratio mismatch, as when a
  platform's suppression list drops part of one arm). These draws come after all the others, so a
  truth without them gives the same events as before they existed.
* Event ids are hashes of (seed, customer, event type): deterministic, unique per event.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError
from genemail.experiments.assignment import ARMS, CONTROL, HOLDOUT, SEGMENTED
from genemail.experiments.events import BOUNCE, CLICK, COMPLAINT, CONVERSION, DELIVERED, OPEN, UNSUBSCRIBE
from genemail.experiments.sendlog import covariate_frame
from genemail.experiments.times import ISO_FORMAT

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULT = "default"
DEFAULT_BOUNCE, DEFAULT_UNSUBSCRIBE, DEFAULT_REVENUE = 0.01, 0.002, 40.0
OPEN_PER_CLICK = 4.0  # default opens: 4 x the click probability (a 25% click-to-open rate)
REVENUE_SIGMA = 0.5
# Mean delays in seconds (exponential).
DELAY_S = {"deliver": 60.0, "open": 6 * 3600.0, "click": 15 * 60.0, "convert_after_click": 2 * 3600.0,
           "convert_no_click": 2 * 86400.0, "unsubscribe": 3600.0}
EVENT_COLUMNS: tuple[str, ...] = ("event_id", "customer_id", "event_type", "time", "revenue")
_SEGMENT_KEYS = (*ARMS, "open", "conversion", "bounce", "unsubscribe", "revenue", "content", "complaint",
                 "covariates", "not_sent")


@dataclass(frozen=True)
class SegmentTruth:
    """The true response of one segment (see the module docstring for the model)."""

    click: dict[str, float]
    open: dict[str, float] | None = None
    conversion: dict[str, float] = field(default_factory=dict)
    bounce: float = DEFAULT_BOUNCE
    unsubscribe: float | dict[str, float] = DEFAULT_UNSUBSCRIBE
    revenue: float = DEFAULT_REVENUE
    content: dict[str, float] = field(default_factory=dict)
    complaint: float = 0.0
    covariates: dict[str, float] = field(default_factory=dict)
    not_sent: dict[str, float] = field(default_factory=dict)

    def open_probability(self, arm: str, click: float) -> float:
        """P(open) of an arm given its (content-adjusted) click probability."""
        given = None if self.open is None else self.open.get(arm)
        base = OPEN_PER_CLICK * self.click.get(arm, 0.0) if given is None else given
        return min(max(base, click), 1.0 - self.bounce)


@dataclass(frozen=True)
class Truth:
    """Per-segment truths and an optional default for segments not named."""

    segments: dict[str, SegmentTruth]
    default: SegmentTruth | None = None

    def for_segment(self, segment: str) -> SegmentTruth | None:
        """The truth of ``segment`` (the default when not named; ``None`` when neither)."""
        return self.segments.get(segment, self.default)


# --- reading and validating the truth ----------------------------------------------------------
def load_truth(path: Path) -> Truth:
    """Read and validate a truth YAML file; errors name the file and the key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="pass a truth YAML file (see docs/EXPERIMENTS.md)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise DataError(f"not valid YAML ({getattr(err, 'problem', err)})", where=where,
                        fix="check the indentation and quoting there") from None
    return parse_truth(data, source=str(path))


def parse_truth(data: Any, source: str = "truth") -> Truth:
    """Validate a truth mapping (the parsed YAML)."""
    if isinstance(data, Truth):
        return data
    if not isinstance(data, Mapping) or not data:
        raise DataError("the truth must be a mapping of segment name -> arm probabilities", where=source,
                        fix="write e.g. 'Parent_Active: {control: 0.04, segmented: 0.07, holdout: 0.0}'")
    segments = {str(name): _segment(value, f"{source}, key {name}") for name, value in data.items()
                if str(name) != DEFAULT}
    default = _segment(data[DEFAULT], f"{source}, key {DEFAULT}") if DEFAULT in data else None
    return Truth(segments=segments, default=default)


def _bad(where: str, what: str, fix: str) -> DataError:
    return DataError(what, where=where, fix=fix)


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1 or math.isnan(value):
        raise _bad(where, f"{value!r} is not a probability", "write a number from 0 to 1, e.g. 0.04")
    return float(value)


def _arm_map(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise _bad(where, f"{value!r} is not a mapping of arm -> probability",
                   f"write e.g. {{control: 0.3, segmented: 0.35}} (arms: {', '.join(ARMS)})")
    unknown = [k for k in value if k not in ARMS]
    if unknown:
        raise _bad(f"{where}.{unknown[0]}", f"unknown arm {unknown[0]!r}", f"use the arms {', '.join(ARMS)}")
    return {arm: _probability(p, f"{where}.{arm}") for arm, p in value.items()}


def _segment(value: Any, where: str) -> SegmentTruth:
    if not isinstance(value, Mapping):
        raise _bad(where, f"{value!r} is not a mapping", "write e.g. {control: 0.04, segmented: 0.07}")
    unknown = [k for k in value if k not in _SEGMENT_KEYS]
    if unknown:
        raise _bad(f"{where}.{unknown[0]}", f"unknown key {unknown[0]!r}", f"use only {', '.join(_SEGMENT_KEYS)}")
    missing = [arm for arm in (CONTROL, SEGMENTED) if arm not in value]
    if missing:
        raise _bad(where, f"no click probability for {', '.join(missing)}",
                   "give both, e.g. {control: 0.04, segmented: 0.07}")
    click = {arm: _probability(value[arm], f"{where}.{arm}") for arm in ARMS if arm in value}
    if click.get(HOLDOUT, 0.0) != 0.0:
        raise _bad(f"{where}.holdout", f"holdout click probability {click[HOLDOUT]!r} must be 0",
                   "holdout customers get no email, so they cannot click; put organic purchases under conversion")
    click[HOLDOUT] = 0.0
    opens = _arm_map(value["open"], f"{where}.open") if "open" in value else None
    if opens and opens.get(HOLDOUT, 0.0) != 0.0:
        raise _bad(f"{where}.open.holdout", "holdout open probability must be 0", "holdout customers get no email")
    bounce = _probability(value.get("bounce", DEFAULT_BOUNCE), f"{where}.bounce")
    for arm in (CONTROL, SEGMENTED):
        top = max(click[arm], (opens or {}).get(arm, 0.0))
        if top + bounce > 1:
            raise _bad(f"{where}.bounce", f"bounce {bounce} + P(open or click) {top} of {arm} exceeds 1",
                       "lower the bounce, open or click probability")
    revenue = value.get("revenue", DEFAULT_REVENUE)
    if isinstance(revenue, bool) or not isinstance(revenue, (int, float)) or not revenue > 0:
        raise _bad(f"{where}.revenue", f"{revenue!r} is not a positive mean order value", "write e.g. 40")
    content = value.get("content", {}) or {}
    if not isinstance(content, Mapping):
        raise _bad(f"{where}.content", f"{content!r} is not a mapping of phrase -> change of P(click)",
                   "write e.g. {\"free shipping\": 0.02}")
    for phrase, delta in content.items():
        if not isinstance(phrase, str) or not phrase:
            raise _bad(f"{where}.content", f"phrase {phrase!r} is not text", "quote each phrase")
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not -1 <= delta <= 1:
            raise _bad(f"{where}.content.{phrase}", f"{delta!r} is not a change of probability in [-1, 1]",
                       "write e.g. 0.02 (two points more clicks) or -0.01")
    effects = value.get("covariates", {}) or {}
    if not isinstance(effects, Mapping) or not all(
            isinstance(k, str) and k.startswith("pre_") and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in effects.items()):
        raise _bad(f"{where}.covariates", f"{effects!r} is not a mapping of pre_* covariate -> change of P(click)",
                   "write e.g. {pre_responses: 0.02} (the send log's pre_* fields)")
    not_sent = _arm_map(value["not_sent"], f"{where}.not_sent") if "not_sent" in value else {}
    return SegmentTruth(
        complaint=_probability(value.get("complaint", 0.0), f"{where}.complaint"),
        covariates={str(k): float(v) for k, v in effects.items()}, not_sent=not_sent,
        click=click, open=opens,
        conversion=_arm_map(value["conversion"], f"{where}.conversion") if "conversion" in value else {},
        bounce=bounce, unsubscribe=(_arm_map(value["unsubscribe"], f"{where}.unsubscribe")
                                    if isinstance(value.get("unsubscribe"), Mapping)
                                    else _probability(value.get("unsubscribe", DEFAULT_UNSUBSCRIBE), f"{where}.unsubscribe")),
        revenue=float(revenue), content={str(k): float(v) for k, v in content.items()},
    )


def unused_segments(truth: Truth, segments: Any) -> list[str]:
    """Segments the truth names that the send log does not have (often a typo)."""
    present = set(segments)
    return sorted(name for name in truth.segments if name not in present)


# --- simulating --------------------------------------------------------------------------------
def _probabilities(send_log: "pd.DataFrame", truth: Truth) -> dict[str, "np.ndarray"]:
    """Per customer: click, open, bounce, unsubscribe, conversion probabilities and mean revenue."""
    import numpy as np

    n = len(send_log)
    out = {k: np.zeros(n) for k in ("click", "open", "bounce", "unsubscribe", "conversion", "revenue", "complaint",
                                    "not_sent", "organic")}
    shifts = _covariate_shifts(send_log, truth)
    missing = sorted({s for s in send_log["segment"] if truth.for_segment(s) is None})
    if missing:
        raise DataError(f"the truth has no entry for segment(s) {', '.join(missing)} and no default",
                        where="truth", fix="add those segments, or a 'default:' entry")
    emails = send_log["email"].tolist() if "email" in send_log else [None] * n
    for i, (segment, arm) in enumerate(zip(send_log["segment"], send_log["arm"])):
        spec = truth.for_segment(segment)
        out["conversion"][i] = spec.conversion.get(arm, 0.0)
        out["organic"][i] = spec.conversion.get(HOLDOUT, 0.0)
        out["revenue"][i] = spec.revenue
        if arm == HOLDOUT:
            continue  # no email: no delivery, open, click, bounce or unsubscribe
        email = emails[i] or ""
        lift = sum(delta for phrase, delta in spec.content.items() if phrase in email) + shifts[i]
        click = min(max(spec.click.get(arm, 0.0) + lift, 0.0), 1.0 - spec.bounce)
        out["click"][i], out["open"][i] = click, spec.open_probability(arm, click)
        unsubscribe = spec.unsubscribe.get(arm, DEFAULT_UNSUBSCRIBE) if isinstance(spec.unsubscribe, dict) \
            else spec.unsubscribe
        out["bounce"][i], out["unsubscribe"][i] = spec.bounce, unsubscribe
        out["complaint"][i], out["not_sent"][i] = spec.complaint, spec.not_sent.get(arm, 0.0)
    return out


def _covariate_shifts(sends: "pd.DataFrame", truth: Truth) -> "np.ndarray":
    """Per customer: Σ effect x (covariate - its segment mean); 0 where the truth names no covariate."""
    import numpy as np

    shifts = np.zeros(len(sends))
    named = {name for spec in [*truth.segments.values(), truth.default] if spec for name in spec.covariates}
    if not named:
        return shifts
    values = covariate_frame(sends)
    missing = sorted(named - set(values.columns))
    if missing:
        raise DataError(f"the truth names covariate(s) {', '.join(missing)} that the send log does not have",
                        where="truth", fix="record them in the send log (pre_* fields) or remove them from the truth")
    segments = sends["segment"].to_numpy()
    for segment in np.unique(segments):
        spec = truth.for_segment(segment)
        rows = segments == segment
        for name, effect in (spec.covariates if spec else {}).items():
            column = values.loc[rows, name].to_numpy(dtype=float)
            centred = column - np.nanmean(column) if np.isfinite(column).any() else np.zeros_like(column)
            shifts[rows] += effect * np.nan_to_num(centred)  # an unknown value counts as the mean
    return shifts


def simulate_events(send_log: "pd.DataFrame | Path", truth: "Truth | Mapping[str, Any] | Path",
                    seed: int = 0) -> "pd.DataFrame":
    """Draw outcome events for every row of ``send_log`` from ``truth``; columns :data:`EVENT_COLUMNS`.

    ``send_log`` is a path or the frame of :func:`genemail.experiments.read_send_log`; ``truth`` a
    path, a parsed mapping or a :class:`Truth`. The same inputs and seed give the same events.
    """
    import numpy as np
    import pandas as pd

    from genemail.experiments.sendlog import read_send_log

    sends = _as_sends(send_log) if isinstance(send_log, pd.DataFrame) else read_send_log(Path(send_log))
    truth = load_truth(Path(truth)) if isinstance(truth, (str, Path)) else parse_truth(truth)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"seed={seed!r} is invalid", where="simulate", fix="pass an integer seed")
    p = _probabilities(sends, truth)
    rng = np.random.default_rng(seed)
    n = len(sends)
    u, v, w = rng.random(n), rng.random(n), rng.random(n)
    sent = sends["arm"].to_numpy() != HOLDOUT
    bounced = sent & (u >= 1.0 - p["bounce"])
    delivered = sent & ~bounced
    opened, clicked = delivered & (u < p["open"]), delivered & (u < p["click"])
    unsubscribed = delivered & (v < p["unsubscribe"])
    converted = w < p["conversion"]
    delay = {k: rng.exponential(mean, n) for k, mean in DELAY_S.items()}
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    t0 = (pd.to_datetime(sends["sent_at"], format="ISO8601", utc=True) - epoch).dt.total_seconds().to_numpy()
    t_deliver = t0 + delay["deliver"]
    t_open = t_deliver + delay["open"]
    t_click = t_open + delay["click"]
    t_convert = np.where(clicked, t_click + delay["convert_after_click"], t0 + delay["convert_no_click"])
    t_unsub = np.where(opened, t_open, t_deliver) + delay["unsubscribe"]
    mu = np.log(p["revenue"]) - REVENUE_SIGMA ** 2 / 2  # so the log-normal's mean is the given order value
    revenue = np.round(rng.lognormal(mu, REVENUE_SIGMA), 2)
    # Draws added later come last, so truths without them keep their events (see the docstring).
    x, y = rng.random(n), rng.random(n)
    not_sent = sent & (y < p["not_sent"])
    converted = np.where(not_sent, w < p["organic"], converted)
    bounced, delivered, opened, clicked, unsubscribed = (m & ~not_sent for m in (bounced, delivered, opened, clicked,
                                                                                unsubscribed))
    complained = delivered & (x < p["complaint"])
    t_complaint = np.where(opened, t_open, t_deliver) + rng.exponential(DELAY_S["unsubscribe"], n)
    parts = [(DELIVERED, delivered, t_deliver), (BOUNCE, bounced, t_deliver), (OPEN, opened, t_open),
             (CLICK, clicked, t_click), (CONVERSION, converted, t_convert), (UNSUBSCRIBE, unsubscribed, t_unsub),
             (COMPLAINT, complained, t_complaint)]
    ids = sends["customer_id"].to_numpy()
    frames = [pd.DataFrame({"customer_id": ids[mask], "event_type": kind, "t": times[mask],
                            "revenue": revenue[mask] if kind == CONVERSION else np.nan}) for kind, mask, times in parts]
    events = pd.concat(frames, ignore_index=True).sort_values(["t", "customer_id", "event_type"], kind="stable")
    events["time"] = pd.to_datetime(events["t"] * 1e6, unit="us", utc=True).dt.strftime(ISO_FORMAT)
    events["event_id"] = [_event_id(seed, c, k) for c, k in zip(events["customer_id"], events["event_type"])]
    events["revenue"] = events["revenue"].astype(object).where(events["revenue"].notna(), None)
    return events[list(EVENT_COLUMNS)].reset_index(drop=True)


def _as_sends(frame: "pd.DataFrame") -> "pd.DataFrame":
    """A send log frame as ``read_send_log`` returns it, or a campaign-style one (segment in ``l2``)."""
    if "segment" not in frame.columns and "l2" in frame.columns:
        frame = frame.rename(columns={"l2": "segment"})
    missing = [c for c in ("customer_id", "segment", "arm", "sent_at") if c not in frame.columns]
    if missing:
        raise DataError(f"the send log frame has no column(s) {', '.join(missing)}", where="simulate_events",
                        fix="pass the frame of genemail.experiments.read_send_log, or the send log's path")
    return frame


def _event_id(seed: int, customer_id: str, event_type: str) -> str:
    digest = hashlib.blake2b(f"{seed}|{customer_id}|{event_type}".encode("utf-8"), digest_size=16).hexdigest()
    return f"sim-{digest}"


def write_events(events: "pd.DataFrame", path: Path) -> Path:
    """Write events as CSV, JSONL or Parquet by suffix (what ``ingest`` reads)."""
    from genemail.experiments.tables import write_table

    return write_table(events, path)
