"""Reasons a marketer can read: why a customer got their segment.

Each reason is a business-rule clause filled with the customer's own numbers, e.g.
``"Last purchase 72 days ago (> 60): lapsed"`` or ``"High value tier: spends ¥1,240 a year, top 20%
of customers"``. Percentiles come from the training customers (kept in the fitted segmenter), so
"top 20%" means the same thing in the app, the CLI and the model card.

Reasons are ranked: the activity clause (it decides the L2 branch) first, then the value facts
that set the tier, most distinctive first, then the family clause, then notes on time decay and
low confidence.

The whole table is explained at once, without a Python loop over customers (a million customers
take about a second, not a minute): each clause is formatted once per *distinct* value (customers
share a few hundred recencies, percentiles and tiers), gathered per row with Arrow ``take``, and
placed into a fixed sequence of slots of which each row keeps its first ``top_k``.
:mod:`.explain_reference` is the same logic one customer at a time; the tests hold both to the
same strings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genemail import taxonomy

if TYPE_CHECKING:
    import pyarrow as pa

    from genemail.segmentation.model import HierarchicalSegmenter
    from genemail.segmentation.rules import RuleConfig

CURRENCY = "¥"
# Below this marginal probability a "borderline" note is added.
LOW_CONFIDENCE = 0.6
# Below this activity weight the time-decay note is worth showing.
DECAY_NOTE_BELOW = 0.6
SEPARATOR = " | "  # between the reasons of one customer in a table cell

_FAMILY_L2 = (taxonomy.PARENT_ACTIVE, taxonomy.REGULAR_ACTIVE)
# The value facts in their tie-breaking order: feature, then the words around its number.
_FACTS: tuple[tuple[str, str, Callable[[float], str], str], ...] = (
    ("annual_spend", f"spends {CURRENCY}", lambda v: f"{v:,.0f}", " a year"),
    ("income", f"household income {CURRENCY}", lambda v: f"{v:,.0f}", ""),
    ("total_purchases", "", lambda v: f"{v:.0f}", " purchases"),
)
_VALUE_NOTES: tuple[str, ...] = (
    "Income unknown: tier estimated from spending",
    "No spending history: tier estimated from income and family",
    "Income and spending unknown: tier is a rough estimate (the segment follows recency)",
)


def percentile(model: "HierarchicalSegmenter", name: str, values: np.ndarray) -> np.ndarray:
    """Percentile (0-100) of ``values`` among training customers; NaN where unknown or no reference."""
    grid = model.value_quantiles_.get(name)
    values = np.asarray(values, dtype="float64")
    if grid is None:
        return np.full(len(values), np.nan)
    # The grid holds the 0th..100th percentiles, so the insertion point is the percentile rank.
    ranks = np.searchsorted(grid, values, side="right").astype("float64") - 1
    ranks = np.clip(ranks, 0, 100)
    ranks[np.isnan(values)] = np.nan
    return ranks


def _rank_words(pct: float) -> str:
    """``top 20% of customers`` / ``bottom 30% of customers`` / ``about average``."""
    if 40 <= pct <= 60:
        return "about average"
    if pct > 60:
        return f"top {max(1, round(100 - pct))}% of customers"
    return f"bottom {max(1, round(pct))}% of customers"


def _capitalized(text: str) -> str:
    return text[0].upper() + text[1:]


# --------------------------------------------------------- texts per distinct value, as Arrow arrays


def _strings(values: Sequence[str]) -> "pa.Array":
    import pyarrow as pa

    # large_string: a table of millions of rows may hold more than 2 GiB of reason text.
    return pa.array(values, type=pa.large_string())


def _take(table: "Sequence[str] | pa.Array", codes: np.ndarray) -> "pa.Array":
    """``table[code]`` per row; null where ``code < 0``."""
    import pyarrow as pa

    texts = table if isinstance(table, pa.Array) else _strings(table)
    return texts.take(pa.array(codes, mask=codes < 0))


def _distinct(values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct floats on ``rows`` and each row's code among them (-1 off ``rows``).

    Floats are told apart by their bits, so ``-0.0`` keeps its own text (``f"{-0.0:.0f}"`` is "-0").
    """
    codes = np.full(len(values), -1, dtype=np.int64)
    bits = np.ascontiguousarray(values[rows], dtype="float64").view(np.int64)
    found, uniques = pd.factorize(bits)
    codes[rows] = found
    return np.asarray(uniques, dtype=np.int64).view(np.float64), codes


def _numbers(values: np.ndarray, fn: Callable[[float], str], rows: np.ndarray) -> "pa.Array":
    """``fn(value)`` on the ``rows`` of a float array (null elsewhere), formatted once per distinct value."""
    uniques, codes = _distinct(values, rows)
    return _take([fn(v) for v in uniques.tolist()], codes)


def _labels(values: np.ndarray, fn: Callable[[Any], str], rows: np.ndarray) -> "pa.Array":
    """``fn(value)`` on the ``rows`` of an object array (text or <NA>), once per distinct value."""
    found, uniques = pd.factorize(pd.Series(values[rows], dtype=object).fillna("<NA>"))
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[rows] = found
    return _take([fn(v) for v in uniques], codes)


def _join(*parts: "pa.Array | str") -> "pa.Array":
    """Element-wise concatenation (null where any part is null); plain strings are broadcast."""
    import pyarrow as pa
    import pyarrow.compute as pc

    args = [pa.scalar(p, type=pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar("", type=pa.large_string()))


def _is(values: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """``values`` is one of ``names`` (False for <NA>), as a bool array."""
    return pd.Series(values, dtype=object).isin(names).to_numpy()


# ---------------------------------------------------------------------------------- clauses


def _activity(l2: np.ndarray, recency: np.ndarray, rules: "RuleConfig", rows: np.ndarray) -> "pa.Array":
    days = _numbers(recency, lambda r: f"Last purchase {r:.0f} days ago", rows)
    suffixes = (f" (≤ {rules.reengage_days:.0f}): active",
                f" (> {rules.reengage_days:.0f}, ≤ {rules.dormant_days:.0f}): cooling off, worth re-engaging",
                f" (> {rules.dormant_days:.0f}): lapsed")
    state = np.where(_is(l2, (taxonomy.DORMANT,)), 2, np.where(_is(l2, (taxonomy.NEED_REENGAGEMENT,)), 1, 0))
    return _join(days, _take(suffixes, np.where(rows, state, -1)))


def _value_slots(model: "HierarchicalSegmenter", t: dict[str, np.ndarray], rows: np.ndarray) -> list["pa.Array"]:
    """Each row's value list, one array per position: its known facts, the most distinctive
    percentile first, then the note on unknown value (at most three entries, see below)."""
    import pyarrow.compute as pc

    # A fact's whole sentence is a function of its value (the percentile is too), so it is formatted once
    # per distinct value, in both cases: as the first entry (after the tier lead) and capitalized, later.
    first, later, codes, pcts = [], [], [], []
    for feature, prefix, number, suffix in _FACTS:
        pct = percentile(model, feature, t[feature])
        has = rows & ~np.isnan(pct)  # a fact needs a percentile (a known value and a training reference)
        uniques, code = _distinct(t[feature], has)
        words = [f"{suffix}, {_rank_words(p)}" for p in range(101)]  # percentiles are whole numbers 0-100
        ranks = [words[int(p)] for p in percentile(model, feature, uniques).tolist()]
        numbers = [number(v) for v in uniques.tolist()]
        first.append([f"{prefix}{n}{r}" for n, r in zip(numbers, ranks)])
        if prefix:  # capitalizing the sentence capitalizes the fixed words before the number
            capital = _capitalized(prefix)
            later.append([f"{capital}{n}{r}" for n, r in zip(numbers, ranks)])
        else:
            later.append([f"{_capitalized(n)}{r}" for n, r in zip(numbers, ranks)])
        codes.append(code)
        pcts.append(np.where(has, pct, np.nan))
    present = ~np.isnan(np.column_stack(pcts))
    # Distinctiveness |pct - 50|, largest first; the stable sort keeps the _FACTS order on ties.
    score = np.where(present, -np.abs(np.column_stack(pcts) - 50.0), np.inf)
    order = np.argsort(score, axis=1, kind="stable")
    n_facts = present.sum(axis=1)
    note = _value_note(t["income"], t["annual_spend"], rows)
    lead = _labels(t["l1"], lambda tier: _capitalized(f"{tier} value tier: "), rows)
    # Every fact's texts in one table, fact after fact: a row's entry is its fact's offset plus its code.
    offsets = np.cumsum([0, *(len(texts) for texts in first[:-1])])
    coded = np.column_stack(codes)
    tables = [_strings([text for texts in case for text in texts]) for case in (first, later)]
    slots = []
    for j in range(len(_FACTS)):
        fact_of_row = order[:, j]  # for j < n_facts a present fact, so its code is >= 0
        code = coded[np.arange(len(fact_of_row)), fact_of_row] + offsets[fact_of_row]
        fact = _take(tables[min(j, 1)], np.where(j < n_facts, code, -1))
        slots.append(pc.coalesce(_join(lead, fact) if j == 0 else fact, _note_at(note, n_facts, j)))
    # A note needs income or spend unknown, which removes that fact: a row has at most three entries.
    return slots


def _value_note(income: np.ndarray, spend: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index into ``_VALUE_NOTES`` of what is said when income or spending is unknown (-1: nothing)."""
    no_income, no_spend = np.isnan(income), np.isnan(spend)
    note = np.select([no_income & ~no_spend, no_spend & ~no_income, no_spend & no_income], [0, 1, 2], default=-1)
    return np.where(rows, note, -1)


def _note_at(note: np.ndarray, n_facts: np.ndarray, position: int) -> "pa.Array":
    """The value note where it lands at ``position`` (right after the row's facts)."""
    return _take(_VALUE_NOTES, np.where(n_facts == position, note, -1))


def _family(children: np.ndarray, rows: np.ndarray) -> "pa.Array":
    def words(c: float) -> str:
        if np.isnan(c):
            return "Children at home unknown: treated as none"
        if c > 0:
            return f"{c:.0f} {'child' if c == 1 else 'children'} at home: parent"
        return "No children at home"

    return _numbers(children, words, rows)


def _decay(weight: np.ndarray, recency: np.ndarray, half_life: float, rows: np.ndarray) -> "pa.Array":
    return _join(_numbers(weight, lambda w: f"Past spending counts {w:.0%}", rows),
                 _numbers(recency, lambda r: f" after {r:.0f} quiet days", rows),
                 f" (half-life {half_life:.0f} days)")


def _borderline(proba: np.ndarray, l2: np.ndarray, rows: np.ndarray) -> "pa.Array":
    # f"{p:.0%}" rounds p * 100 half to even, as np.rint does: a hundred distinct texts, not a million.
    percent = np.rint(np.where(rows, proba, 0.0) * 100.0)
    return _join(_numbers(percent, lambda p: f"Borderline: {p:.0f}% confident in ", rows), _labels(l2, str, rows))


# --------------------------------------------------------------------------------- public API


def _table(features: pd.DataFrame, segments: pd.DataFrame) -> dict[str, np.ndarray]:
    floats = ("recency", "children", "activity_weight", "annual_spend", "income", "total_purchases")
    table = {name: features[name].to_numpy(dtype="float64") for name in floats}
    table |= {name: segments[name].to_numpy(dtype=object) for name in ("l1", "l2", "cold_start_reason")}
    table["l2_proba"] = segments["l2_proba"].to_numpy(dtype="float64")
    return table


def reason_lists(model: "HierarchicalSegmenter", features: pd.DataFrame, segments: pd.DataFrame,
                 top_k: int = 3) -> "pa.Array":
    """Every row's top ``top_k`` reasons as an Arrow list array (row ``i`` is ``segments`` row ``i``)."""
    import pyarrow as pa

    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        from genemail.errors import config_error

        raise config_error("top_k", top_k, "a whole number >= 1, e.g. 3")
    t = _table(features, segments)
    cold = ~pd.isna(t["cold_start_reason"])
    warm = ~cold
    values = _value_slots(model, t, warm)
    family = warm & _is(t["l2"], _FAMILY_L2)
    decayed = warm & (t["activity_weight"] < DECAY_NOTE_BELOW) & ~np.isnan(t["annual_spend"])
    borderline = warm & (t["l2_proba"] < LOW_CONFIDENCE)
    slots = [
        _labels(t["cold_start_reason"], lambda r: f"Cold start ({r}): default strategy until we know more", cold),
        _activity(t["l2"], t["recency"], model.rule_config, warm),
        *values[:2],
        _family(t["children"], family),
        *values[2:],
        _decay(t["activity_weight"], t["recency"], float(model.half_life_days), decayed),
        _borderline(t["l2_proba"], t["l2"], borderline),
    ]
    # Each row keeps its first top_k present slots, in slot order: gather them row by row into a list array.
    has = np.column_stack([s.is_valid().to_numpy(zero_copy_only=False) for s in slots])
    keep = has & (np.cumsum(has, axis=1) <= top_k)
    rows, columns = np.nonzero(keep)  # row-major: each row's kept slots in order
    n = len(cold)
    flat = pa.concat_arrays(slots).take(pa.array(columns * n + rows))
    offsets = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    return pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), flat)


def explain_rows(
    model: "HierarchicalSegmenter", features: pd.DataFrame, segments: pd.DataFrame, top_k: int = 3
) -> list[list[str]]:
    """Top ``top_k`` reasons per row, given the row's features and its ``segment()`` output."""
    return reason_lists(model, features, segments, top_k).to_pylist()


def reason_text(model: "HierarchicalSegmenter", features: pd.DataFrame, segments: pd.DataFrame,
                top_k: int = 3, separator: str = SEPARATOR) -> pd.Series:
    """Each row's top ``top_k`` reasons joined by ``separator``, as a text Series (default index)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    joined = pc.binary_join(reason_lists(model, features, segments, top_k), pa.scalar(separator, pa.large_string()))
    return pd.Series(pd.array(joined, dtype="str"))
