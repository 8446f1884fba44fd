"""Seeded synthetic behaviour events whose per-customer sums *are* the customer table.

The Kaggle table is a set of sums over a customer's history (``MntWines`` = wine spend over two
years, ``NumWebPurchases`` = web orders, ``Recency`` = days since the last purchase, ...). Given a
cleaned customer table (internal schema), :func:`synthesize_events` writes one history per customer
that adds back up to its row:

* **orders**: ``purchases_web + purchases_catalog + purchases_store + purchases_deals`` orders, each
  with its channel, at distinct times in ``[max(join date, ref - 730 days), last purchase]``; the
  last one is ``recency`` days before the reference date. (Kaggle counts deal purchases separately
  from the three channels; here a deal order is channel ``deals``, so all four counts are exact.)
* **line items**: one ``purchase`` row per (order, category); every category with spend has at
  least one row, and its spend is split over its rows to the cent, so per-category sums are exact.
  When there are fewer orders than categories, an order carries several categories (same time and
  channel), so the order count stays exact.
* **visits**: ``web_visits_month`` web visits in the 30 days before the reference date.
* **opens / clicks**: one click per accepted campaign (``accepted_campaigns``) and a few more opens.

:func:`aggregate_events` computes the table's columns back from events, and :func:`agreement`
says how close they are (docs/USER_VECTOR.md reports it; tests assert it). Known deviations, counted
by :func:`agreement` rather than hidden: a customer with spend but no orders gets one store order
per category, and a customer with orders but zero spend gets no purchase rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from genemail.behaviour.events import EVENT_COLUMNS
from genemail.data.schema import SPEND_CATEGORIES
from genemail.errors import DataError

ORDER_CHANNELS: tuple[str, ...] = ("web", "catalog", "store", "deals")  # purchases_<channel> columns
SPEND_WINDOW_DAYS = 730  # the Kaggle Mnt* columns cover the last two years
VISIT_WINDOW_DAYS = 30  # NumWebVisitsMonth: the last month
AGGREGATE_COLUMNS: tuple[str, ...] = (*(f"spend_{c}" for c in SPEND_CATEGORIES),
                                      *(f"purchases_{c}" for c in ORDER_CHANNELS),
                                      "web_visits_month", "recency", "accepted_campaigns")
DAY = pd.Timedelta(days=1)


def _count(value: Any) -> int:
    return 0 if value is None or pd.isna(value) else max(0, int(round(float(value))))


def _money(value: Any) -> float:
    return 0.0 if value is None or pd.isna(value) else max(0.0, round(float(value), 2))


def _split_cents(total: float, parts: int, rng: np.random.Generator) -> list[float]:
    """``total`` split into ``parts`` positive amounts that sum to it exactly (in cents)."""
    cents = int(round(total * 100))
    if parts <= 1 or cents < parts:
        return [cents / 100] + [0.0] * (parts - 1) if parts > 1 else [cents / 100]
    # parts - 1 distinct cut points in 1..cents-1: every piece at least one cent.
    cuts = np.sort(rng.choice(np.arange(1, cents), size=parts - 1, replace=False))
    pieces = np.diff(np.concatenate([[0], cuts, [cents]]))
    return [int(p) / 100 for p in pieces]


def _order_times(n: int, start: pd.Timestamp, last: pd.Timestamp, rng: np.random.Generator) -> list[pd.Timestamp]:
    """``n`` distinct times, the latest being ``last``, the others in ``[start, last)``."""
    if int((last - start).total_seconds()) < n:  # a join date just before the last order: widen, keep distinct
        start = last - pd.Timedelta(seconds=n)
    span = int((last - start).total_seconds())
    offsets = rng.choice(span, size=n - 1, replace=False) if n > 1 else np.array([], dtype=int)
    return [last] + [start + pd.Timedelta(seconds=int(s)) for s in np.sort(offsets)]


def _customer_events(row: dict[str, Any], ref: pd.Timestamp, rng: np.random.Generator) -> list[tuple]:
    cid = str(row["customer_id"])
    recency = _count(row.get("recency")) if not pd.isna(row.get("recency", np.nan)) else int(rng.integers(0, 100))
    # Seconds into the day before: (ref - last) // 1 day == recency exactly.
    last = ref - recency * DAY - pd.Timedelta(seconds=int(rng.integers(1, 86_400)))
    tenure = row.get("tenure_days")
    joined = ref - (SPEND_WINDOW_DAYS if tenure is None or pd.isna(tenure) else float(tenure)) * DAY
    start = min(max(joined, ref - SPEND_WINDOW_DAYS * DAY), last)
    spend = {c: _money(row.get(f"spend_{c}")) for c in SPEND_CATEGORIES}
    channels = [ch for ch in ORDER_CHANNELS for _ in range(_count(row.get(f"purchases_{ch}")))]
    bought = [c for c in SPEND_CATEGORIES if spend[c] > 0]
    if bought and not channels:  # spend but no orders: one store order per category (a counted deviation)
        channels = ["store"] * len(bought)
    rows: list[tuple] = []
    if bought:
        rng.shuffle(channels)
        times = _order_times(len(channels), start, last, rng)
        order_of: dict[str, list[int]] = {c: [] for c in bought}
        first = rng.permutation(len(bought))
        for i in range(len(channels)):  # first orders cover every category once, then spend-weighted
            if i < len(bought):
                order_of[bought[first[i]]].append(i)
            else:
                weights = np.array([spend[c] for c in bought])
                order_of[bought[rng.choice(len(bought), p=weights / weights.sum())]].append(i)
        for j in range(len(channels), len(bought)):  # more categories than orders: extra line items
            order_of[bought[first[j]]].append(int(rng.integers(0, len(channels))))
        for cat, orders in order_of.items():
            for order, amount in zip(orders, _split_cents(spend[cat], len(orders), rng)):
                rows.append((cid, times[order], "purchase", cat, channels[order], amount))
    for _ in range(_count(row.get("web_visits_month"))):
        rows.append((cid, ref - pd.Timedelta(seconds=int(rng.integers(1, VISIT_WINDOW_DAYS * 86_400))),
                     "visit", "", "web", 0.0))
    clicks = _count(row.get("accepted_campaigns"))
    for kind, n in (("click", clicks), ("open", clicks + int(rng.poisson(3)))):
        for _ in range(n):
            span = max(int((ref - start).total_seconds()), 1)
            rows.append((cid, start + pd.Timedelta(seconds=int(rng.integers(0, span))), kind, "", "web", 0.0))
    return rows


def synthesize_events(customers: pd.DataFrame, reference_date: str | pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """One seeded event history per row of a cleaned customer table (internal schema).

    Each customer draws from its own generator (seed, customer_id), so a customer's history does not
    change when other customers are added to or removed from the table.
    """
    if "customer_id" not in customers.columns:
        raise DataError("no customer_id column", where="customer table",
                        fix="pass the cleaned table from genemail.data.load_customers")
    ref = pd.Timestamp(reference_date).normalize()
    rows: list[tuple] = []
    for row in customers.to_dict(orient="records"):
        key = [seed, *str(row["customer_id"]).encode()]
        rows += _customer_events(row, ref, np.random.default_rng(key))
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    frame = frame.astype({"customer_id": "string", "type": "string", "category": "string", "channel": "string",
                          "amount": "float64"})
    frame["time"] = pd.to_datetime(frame["time"])
    return frame.sort_values(["customer_id", "time"], kind="stable").reset_index(drop=True)


def aggregate_events(events: pd.DataFrame, reference_date: str | pd.Timestamp) -> pd.DataFrame:
    """The customer table's behaviour columns (:data:`AGGREGATE_COLUMNS`) recomputed from events.

    An order is a distinct (customer, time, channel) among purchase rows; ``recency`` is whole days
    from the last purchase to the reference date (NaN without purchases).
    """
    ref = pd.Timestamp(reference_date).normalize()
    ids = pd.Index(events["customer_id"].unique(), name="customer_id")
    out = pd.DataFrame(index=ids)
    buys = events[events["type"] == "purchase"]
    spend = buys.pivot_table(index="customer_id", columns="category", values="amount", aggfunc="sum")
    for c in SPEND_CATEGORIES:
        out[f"spend_{c}"] = spend[c].reindex(ids).fillna(0.0).round(2) if c in spend else 0.0
    orders = buys.drop_duplicates(["customer_id", "time", "channel"])
    counts = orders.groupby(["customer_id", "channel"]).size().unstack(fill_value=0)
    for ch in ORDER_CHANNELS:
        out[f"purchases_{ch}"] = counts[ch].reindex(ids).fillna(0).astype(int) if ch in counts else 0
    visits = events[(events["type"] == "visit") & (events["time"] >= ref - VISIT_WINDOW_DAYS * DAY)]
    out["web_visits_month"] = visits.groupby("customer_id").size().reindex(ids).fillna(0).astype(int)
    last = buys.groupby("customer_id")["time"].max().reindex(ids)
    out["recency"] = ((ref - last) // DAY).astype("float64")
    out["accepted_campaigns"] = events[events["type"] == "click"].groupby("customer_id").size().reindex(ids)
    out["accepted_campaigns"] = out["accepted_campaigns"].fillna(0).astype(int)
    return out


def agreement(customers: pd.DataFrame, aggregates: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per column: share of customers whose recomputed value equals the table's (within a cent), and
    the largest absolute difference. Missing table values count as 0 (recency: as unknown, skipped)."""
    table = customers.set_index(customers["customer_id"].astype(str))
    agg = aggregates.reindex(table.index)
    result: dict[str, dict[str, float]] = {}
    for column in AGGREGATE_COLUMNS:
        want = pd.to_numeric(table[column], errors="coerce")
        got = pd.to_numeric(agg[column], errors="coerce")
        if column == "recency":
            keep = want.notna() & got.notna()
            want, got = want[keep], got[keep]
        else:
            want, got = want.fillna(0).round(2), got.fillna(0)
        diff = (want - got).abs()
        result[column] = {"exact_share": float((diff <= 0.005).mean()) if len(diff) else 1.0,
                          "max_abs_diff": float(diff.max()) if len(diff) else 0.0, "n": int(len(diff))}
    return result
