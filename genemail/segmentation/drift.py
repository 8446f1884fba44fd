"""Drift and lock-in: compare two snapshots of the customer table and say whether to retrain.

:func:`drift_report` scores both snapshots with the same segmenter and reports

* the **segment migration matrix**: customers present in both snapshots, by segment before (rows)
  and after (columns), plus the customers who are new or gone;
* the **population stability index** per model feature, before vs after:
  ``PSI = sum_b (a_b - e_b) ln(a_b / e_b)`` over the before-snapshot's deciles (missing values are a
  bin of their own; empty bins get 1e-4, so a bin that empties or fills counts without dividing
  by zero). The usual reading: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 a real shift;
  the segment mix gets a PSI too;
* a **verdict**: retrain recommended or not, with its reasons: a feature or the segment mix above
  ``psi_threshold``, a share of customers who changed segment above ``migration_threshold``, or a
  model older than ``cadence_days`` (90: the PRD's quarterly retraining).

:func:`synthesize_drift` makes an "after" snapshot with a known migration (the test and the demo):
``days`` later, a seeded ``returning`` share of customers bought again (recency drawn in the last
``min(days, 30)`` days, spend and purchases up by ``spend_growth``), everyone else's recency grew by
``days``. Customers who did not return and crossed ``dormant_days`` must move to ``Dormant``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genemail import clock
from genemail.errors import ConfigError, DataError, config_error

if TYPE_CHECKING:
    from genemail.segmentation.model import HierarchicalSegmenter

EPSILON = 1e-4  # share given to an empty bin (PSI is undefined at 0)
MISSING_BIN = "missing"
NEW, GONE = "(new)", "(gone)"
SPEND_COLUMNS = ("MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds")
PURCHASE_COLUMNS = ("NumDealsPurchases", "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases")


@dataclass(frozen=True)
class DriftConfig:
    """Thresholds of the verdict (validated)."""

    psi_threshold: float = 0.25
    migration_threshold: float = 0.2
    cadence_days: float = 90.0
    bins: int = 10

    def __post_init__(self) -> None:
        for name in ("psi_threshold", "migration_threshold", "cadence_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise config_error(name, value, "a positive number")
        if self.migration_threshold > 1:
            raise config_error("migration_threshold", self.migration_threshold, "a share in (0, 1], e.g. 0.2")
        if isinstance(self.bins, bool) or not isinstance(self.bins, int) or not 2 <= self.bins <= 100:
            raise config_error("bins", self.bins, "an integer from 2 to 100, e.g. 10")


@dataclass
class DriftReport:
    """What changed between two snapshots, and whether to retrain."""

    migration: pd.DataFrame  # segment before (index) x segment after (columns), counts; NEW row, GONE column
    psi: dict[str, float]  # feature -> PSI
    segment_psi: float
    moved_share: float  # of the customers in both snapshots, the share whose segment changed
    n_before: int
    n_after: int
    n_both: int
    model_age_days: float | None
    trained_at: str | None
    trained_at_source: str
    retrain: bool
    reasons: list[str] = field(default_factory=list)
    config: DriftConfig = field(default_factory=DriftConfig)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``--json``)."""
        return {
            "retrain": self.retrain, "reasons": self.reasons, "moved_share": self.moved_share,
            "segment_psi": self.segment_psi, "psi": self.psi, "n_before": self.n_before, "n_after": self.n_after,
            "n_both": self.n_both, "model_age_days": self.model_age_days, "trained_at": self.trained_at,
            "trained_at_source": self.trained_at_source,
            "migration": {"rows": [str(i) for i in self.migration.index], "columns": [str(c) for c in self.migration.columns],
                          "counts": self.migration.to_numpy().astype(int).tolist()},
            "config": {"psi_threshold": self.config.psi_threshold, "migration_threshold": self.config.migration_threshold,
                       "cadence_days": self.config.cadence_days, "bins": self.config.bins},
        }


# --- population stability ------------------------------------------------------------------------
def psi(before: Any, after: Any, bins: int = 10) -> float:
    """PSI of ``after`` against ``before`` on ``before``'s quantile bins (missing values: their own bin)."""
    b = pd.to_numeric(pd.Series(before), errors="coerce").to_numpy(dtype="float64")
    a = pd.to_numeric(pd.Series(after), errors="coerce").to_numpy(dtype="float64")
    known = b[~np.isnan(b)]
    if len(known) == 0:
        edges = np.array([])
    else:
        # Inner quantile edges; duplicates collapse (a feature with few values gets fewer bins).
        edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(x: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, x[~np.isnan(x)], side="right"), minlength=len(edges) + 1)
        counts = np.append(counts, np.isnan(x).sum()).astype("float64")
        return np.maximum(counts / max(len(x), 1), EPSILON)

    e, o = shares(b), shares(a)
    return float(np.sum((o - e) * np.log(o / e)))


def categorical_psi(before: pd.Series, after: pd.Series) -> float:
    """PSI of two categorical distributions (e.g. the segment mix)."""
    cats = sorted(set(before.dropna()) | set(after.dropna()))
    e = np.maximum(before.value_counts(normalize=True).reindex(cats, fill_value=0).to_numpy(), EPSILON)
    o = np.maximum(after.value_counts(normalize=True).reindex(cats, fill_value=0).to_numpy(), EPSILON)
    return float(np.sum((o - e) * np.log(o / e)))


# --- migration -----------------------------------------------------------------------------------
def migration_matrix(before: pd.DataFrame, after: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Counts of customers by segment before (rows) and after (columns); ``(new)`` row, ``(gone)`` column."""
    b = before.set_index("customer_id")["l2"].astype(str)
    a = after.set_index("customer_id")["l2"].astype(str)
    joined = pd.DataFrame({"before": b, "after": a})  # outer join on customer id
    joined["before"] = joined["before"].fillna(NEW)
    joined["after"] = joined["after"].fillna(GONE)
    seen = [s for s in order if s in set(joined["before"]) | set(joined["after"])]
    extra = sorted((set(joined["before"]) | set(joined["after"])) - set(seen) - {NEW, GONE})
    names = [*seen, *extra]
    table = pd.crosstab(joined["before"], joined["after"])
    return table.reindex(index=[*names, NEW], columns=[*names, GONE], fill_value=0).astype(int)


def migration_shares(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each row of :func:`migration_matrix` as shares of that segment's customers before (the new row excluded)."""
    rows = matrix.drop(index=NEW, errors="ignore")
    return rows.div(rows.sum(axis=1).replace(0, np.nan), axis=0).round(4)


# --- model age -----------------------------------------------------------------------------------
def model_trained_at(model_dir: Path) -> tuple[datetime | None, str]:
    """When the segmenter was trained: ``metrics.json``'s ``trained_at``, else the file's modification time."""
    folder = Path(model_dir)
    folder = folder.parent if folder.is_file() else folder
    metrics = folder / "metrics.json"
    if metrics.is_file():
        stamp = json.loads(metrics.read_text(encoding="utf-8")).get("trained_at")
        if stamp:
            return parse_utc(stamp), "metrics.json trained_at"
    skops = folder / "segmenter.skops"
    if skops.is_file():
        return datetime.fromtimestamp(skops.stat().st_mtime, tz=timezone.utc), "segmenter.skops modification time"
    return None, "unknown"


def parse_utc(text: str) -> datetime:
    """A date or time as an aware UTC datetime (a naive one is read as UTC)."""
    try:
        stamp = pd.Timestamp(text)
    except ValueError as err:
        raise ConfigError(f"{text!r} is not a date", where="trained_at / --as-of",
                          fix="write a date such as 2025-03-01 or 2025-03-01T10:00:00Z") from err
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


# --- the report ----------------------------------------------------------------------------------
def drift_report(model: "HierarchicalSegmenter", before: pd.DataFrame, after: pd.DataFrame,
                 config: DriftConfig | None = None, *, trained_at: datetime | None = None,
                 trained_at_source: str = "given", as_of: datetime | None = None) -> DriftReport:
    """Migration matrix, PSI per feature and segment mix, model age and the retrain verdict."""
    from genemail import taxonomy
    from genemail.features import build_features

    config = config or DriftConfig()
    for name, frame in (("before", before), ("after", after)):
        if frame.empty or "customer_id" not in frame.columns:
            raise DataError(f"the {name} snapshot has no customers", where=f"--{name}",
                            fix="pass a customer file (CSV/Parquet) with at least one usable row")
    seg_before, seg_after = model.segment(before.reset_index(drop=True)), model.segment(after.reset_index(drop=True))
    matrix = migration_matrix(seg_before, seg_after, [*taxonomy.L2_SEGMENTS, taxonomy.COLD_START])
    both = matrix.drop(index=NEW).drop(columns=GONE)
    n_both = int(both.to_numpy().sum())
    moved = (n_both - int(np.trace(both.reindex(index=both.columns, fill_value=0).to_numpy()))) / n_both if n_both else 0.0
    f_before, f_after = build_features(before, model.feature_config), build_features(after, model.feature_config)
    features = [c for c in model.used_features if c in f_before.columns]
    psis = {c: round(psi(f_before[c], f_after[c], config.bins), 4) for c in features}
    segment_psi = round(categorical_psi(seg_before["l2"].astype(str), seg_after["l2"].astype(str)), 4)
    as_of = as_of or clock.now()
    age = None if trained_at is None else (as_of - trained_at).total_seconds() / 86400
    reasons = _reasons(psis, segment_psi, moved, age, config)
    return DriftReport(matrix, psis, segment_psi, round(moved, 4), len(before), len(after), n_both,
                       None if age is None else round(age, 1), None if trained_at is None else trained_at.isoformat(),
                       trained_at_source, bool(reasons), reasons, config)


def _reasons(psis: dict[str, float], segment_psi: float, moved: float, age: float | None,
             config: DriftConfig) -> list[str]:
    reasons = [f"feature {name} drifted: PSI {value:.2f} > {config.psi_threshold}"
               for name, value in sorted(psis.items(), key=lambda kv: -kv[1]) if value > config.psi_threshold]
    if segment_psi > config.psi_threshold:
        reasons.append(f"the segment mix shifted: PSI {segment_psi:.2f} > {config.psi_threshold}")
    if moved > config.migration_threshold:
        reasons.append(f"{moved:.0%} of the customers changed segment (> {config.migration_threshold:.0%})")
    if age is not None and age > config.cadence_days:
        reasons.append(f"the model is {age:.0f} days old, older than the {config.cadence_days:.0f}-day cadence")
    return reasons


def format_drift(report: DriftReport) -> str:
    """The report as text: verdict and reasons, the migration matrix, the PSI table."""
    verdict = "RETRAIN RECOMMENDED" if report.retrain else "no retraining needed"
    age = "unknown" if report.model_age_days is None else f"{report.model_age_days:.0f} days"
    lines = [f"Verdict: {verdict}" + (":" if report.reasons else f" (no feature PSI above {report.config.psi_threshold}, "
                                      f"{report.moved_share:.0%} moved, model age {age})")]
    lines += [f"  - {r}" for r in report.reasons]
    lines += ["", f"Segment migration ({report.n_both} customers in both snapshots, {report.moved_share:.1%} moved; "
                  f"{report.n_before} before, {report.n_after} after; rows = before, columns = after):",
              report.migration.to_string(), "",
              f"Model trained at {report.trained_at or 'unknown'} ({report.trained_at_source}); age {age}; "
              f"cadence {report.config.cadence_days:.0f} days.", "",
              f"Population stability index (segment mix {report.segment_psi:.3f}):"]
    lines += [f"  {name:<24} {value:7.3f}{'  <- drifted' if value > report.config.psi_threshold else ''}"
              for name, value in sorted(report.psi.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


# --- synthetic drift -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftSpec:
    """A synthetic "later" snapshot: ``days`` pass; a ``returning`` share buys again (validated)."""

    days: int = 60
    returning: float = 0.5
    spend_growth: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or not 1 <= self.days <= 3650:
            raise config_error("days", self.days, "a whole number of days from 1 to 3650")
        for name in ("returning", "spend_growth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise config_error(name, value, "a share from 0 to 1")


def synthesize_drift(raw: pd.DataFrame, spec: DriftSpec) -> tuple[pd.DataFrame, pd.Series]:
    """The raw (Kaggle-schema) table ``spec.days`` later, and per row whether the customer returned.

    Returning customers: recency ~ U(0, min(days, 30)), spend and purchases x (1 + spend_growth).
    The others: recency + days. Nothing else changes (same IDs, birth years, join dates).
    """
    missing = [c for c in ("ID", "Recency") if c not in raw.columns]
    if missing:
        raise DataError(f"the table has no {', '.join(missing)} column(s)", where="synthesize_drift",
                        fix="pass a Kaggle-schema customer table (genemail data synth writes one)")
    rng = np.random.default_rng(spec.seed)
    out = raw.copy()
    returned = rng.random(len(out)) < spec.returning
    recency = pd.to_numeric(out["Recency"], errors="coerce")
    fresh = rng.integers(0, min(spec.days, 30) + 1, len(out))
    out["Recency"] = np.where(returned, fresh, recency + spec.days)
    out["Recency"] = out["Recency"].where(recency.notna())  # unknown stays unknown
    for column in (*SPEND_COLUMNS, *PURCHASE_COLUMNS):
        if column in out.columns:
            values = pd.to_numeric(out[column], errors="coerce")
            out[column] = np.where(returned, np.round(values * (1 + spec.spend_growth)), values)
    return out, pd.Series(returned, index=out.index, name="returned")


def read_raw_table(path: Path) -> pd.DataFrame:
    """A customer file as its raw columns (CSV with sniffed encoding and separator, or Parquet)."""
    from genemail.data.files import inspect_file

    fmt = inspect_file(Path(path))
    if fmt.kind == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep=fmt.sep, encoding=fmt.encoding, dtype={"ID": str})
