"""Sequence features: a customer's event history as one row of numbers (Phase 2's behaviour data).

All columns start with ``seq_`` so the segmenter and the user encoder can tell them from the
customer table's own columns. With ``ref`` the reference date and ``age`` an event's age in days:

* recency, frequency, monetary per window (:data:`WINDOWS`): ``seq_recency_days`` (days since the
  last purchase; :data:`NO_PURCHASE_DAYS` when there is none), ``seq_orders_<w>d``, ``seq_spend_<w>d``;
* per-category spend over the whole history (``seq_total_<category>``: what the Kaggle ``Mnt*`` columns
  sum) and decayed: ``seq_decayed_<category>`` = sum of ``amount * 0.5 ** (age / half_life)``
  (recent purchases count more: the PRD's guard against "category lock-in"), and its shares
  ``seq_share_<category>`` (sum to 1 for a customer with purchases, else all 0);
* channel mix: ``seq_channel_<channel>``, the share of orders per channel;
* engagement: ``seq_visits_30d``, ``seq_click_rate`` (clicks / opens, 0 without opens);
* trend: ``seq_trend`` = (spend of the last 180 days - spend of the 180 before) / (their sum + 1),
  in (-1, 1): positive when the customer spends more lately.

Customers of ``customer_ids`` without any event get the no-history row (zeros, recency capped).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from genemail.behaviour.events import EVENT_CHANNELS
from genemail.data.schema import SPEND_CATEGORIES
from genemail.errors import ConfigError

WINDOWS: tuple[int, ...] = (30, 90, 365)
HALF_LIFE_DAYS = 90.0
NO_PURCHASE_DAYS = 730.0  # recency of a customer who never bought: the whole two-year window
TREND_DAYS = 180
DAY = pd.Timedelta(days=1)


def sequence_feature_names() -> tuple[str, ...]:
    """Every column :func:`sequence_features` returns, in order."""
    return ("seq_recency_days", *(f"seq_orders_{w}d" for w in WINDOWS), *(f"seq_spend_{w}d" for w in WINDOWS),
            *(f"seq_total_{c}" for c in SPEND_CATEGORIES), *(f"seq_decayed_{c}" for c in SPEND_CATEGORIES),
            *(f"seq_share_{c}" for c in SPEND_CATEGORIES),
            *(f"seq_channel_{ch}" for ch in EVENT_CHANNELS), "seq_visits_30d", "seq_click_rate", "seq_trend")


def _per_customer(series: pd.Series, ids: pd.Index) -> pd.Series:
    return series.reindex(ids).fillna(0.0).astype("float64")


def sequence_features(events: pd.DataFrame, reference_date: str | pd.Timestamp,
                      customer_ids: Iterable[str] | None = None,
                      half_life_days: float = HALF_LIFE_DAYS) -> pd.DataFrame:
    """One row per customer (index ``customer_id``), the columns of :func:`sequence_feature_names`.

    Events after the reference date are ignored (they had not happened at scoring time).
    """
    if half_life_days <= 0:
        raise ConfigError(f"half_life_days={half_life_days!r} is invalid", fix="pass a positive number of days")
    ref = pd.Timestamp(reference_date).normalize()
    events = events[events["time"] <= ref]
    ids = pd.Index(sorted({*map(str, customer_ids)}) if customer_ids is not None
                   else events["customer_id"].astype(str).unique(), name="customer_id")
    age = (ref - events["time"]) / DAY
    buys = events["type"] == "purchase"
    out = pd.DataFrame(index=ids)
    last = age[buys].groupby(events.loc[buys, "customer_id"]).min()
    out["seq_recency_days"] = last.reindex(ids).fillna(NO_PURCHASE_DAYS).clip(upper=NO_PURCHASE_DAYS)
    orders = events[buys].assign(age=age[buys]).drop_duplicates(["customer_id", "time", "channel"])
    for w in WINDOWS:
        recent = orders[orders["age"] <= w]
        out[f"seq_orders_{w}d"] = _per_customer(recent.groupby("customer_id").size(), ids)
    for w in WINDOWS:
        mask = buys & (age <= w)
        out[f"seq_spend_{w}d"] = _per_customer(events.loc[mask].groupby("customer_id")["amount"].sum(), ids)
    keys = [events.loc[buys, "customer_id"], events.loc[buys, "category"]]
    totals = events.loc[buys, "amount"].groupby(keys).sum().unstack()
    for c in SPEND_CATEGORIES:
        out[f"seq_total_{c}"] = _per_customer(totals[c], ids) if c in totals else 0.0
    decayed = events.loc[buys, "amount"] * np.power(0.5, age[buys] / half_life_days)
    table = decayed.groupby([events.loc[buys, "customer_id"], events.loc[buys, "category"]]).sum().unstack()
    for c in SPEND_CATEGORIES:
        out[f"seq_decayed_{c}"] = _per_customer(table[c], ids) if c in table else 0.0
    total = out[[f"seq_decayed_{c}" for c in SPEND_CATEGORIES]].sum(axis=1)
    for c in SPEND_CATEGORIES:
        out[f"seq_share_{c}"] = np.where(total > 0, out[f"seq_decayed_{c}"] / total.where(total > 0, 1.0), 0.0)
    mix = orders.groupby(["customer_id", "channel"]).size().unstack()
    n_orders = mix.sum(axis=1) if len(mix) else pd.Series(dtype="float64")
    for ch in EVENT_CHANNELS:
        out[f"seq_channel_{ch}"] = _per_customer(mix[ch] / n_orders, ids) if ch in mix else 0.0
    visits = events[(events["type"] == "visit") & (age <= 30)]
    out["seq_visits_30d"] = _per_customer(visits.groupby("customer_id").size(), ids)
    opens = _per_customer(events[events["type"] == "open"].groupby("customer_id").size(), ids)
    clicks = _per_customer(events[events["type"] == "click"].groupby("customer_id").size(), ids)
    out["seq_click_rate"] = np.where(opens > 0, clicks / opens.where(opens > 0, 1.0), 0.0).clip(0, 1)
    late = _per_customer(events.loc[buys & (age <= TREND_DAYS)].groupby("customer_id")["amount"].sum(), ids)
    early = _per_customer(events.loc[buys & (age > TREND_DAYS) & (age <= 2 * TREND_DAYS)]
                          .groupby("customer_id")["amount"].sum(), ids)
    out["seq_trend"] = (late - early) / (late + early + 1.0)
    return out[list(sequence_feature_names())].astype("float64")
