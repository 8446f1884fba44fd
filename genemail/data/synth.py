"""Seeded synthetic customers in the raw Kaggle schema, so everything runs with no real data.

Distributions follow the real file (docs/DATA.md shows the comparison table): birth years around
1969; education and marital frequencies as in the real file; children depend on the birth year;
income is lognormal by education and lower with young kids; total spend is log-linear in income
and falls with kids (coefficients fitted on the real file), split over categories by a Dirichlet
around the real shares; purchase counts are Poisson around a fit on spend and children; campaign
acceptance rises with spend; ``Recency`` is uniform 0-99; ``Dt_Customer`` is uniform over
2012-07-30..2014-06-29 written like ``4-Sep-12``.

With ``dirty=True`` (the default) the same kinds of dirt as the real file are injected at the real
file's rates (at least one of each when ``n >= 100``), so the cleaner is always exercised.
Everything is vectorized: a million rows take about a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from genemail.data.schema import PRD_REQUIRED
from genemail.errors import ConfigError

# Column order of the real file.
KAGGLE_COLUMNS: tuple[str, ...] = (
    "ID", "Year_Birth", "Education", "Marital_Status", "Income", "Kidhome", "Teenhome", "Dt_Customer",
    "Recency", "MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts",
    "MntGoldProds", "NumDealsPurchases", "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases",
    "NumWebVisitsMonth", "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5", "AcceptedCmp1", "AcceptedCmp2",
    "Complain", "Z_CostContact", "Z_Revenue", "Response",
)
EDUCATION_P = {"Graduation": 0.503, "PhD": 0.217, "Master": 0.165, "2n Cycle": 0.091, "Basic": 0.024}
# log-income mean for a customer without young kids, by education (fitted on the real file).
EDUCATION_LOG_INCOME = {"Graduation": 11.05, "PhD": 11.12, "Master": 11.08, "2n Cycle": 10.93, "Basic": 10.05}
MARITAL_P = {"Married": 0.387, "Together": 0.260, "Single": 0.215, "Divorced": 0.104, "Widow": 0.034}
SPEND_COLUMNS = ("MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts", "MntGoldProds")
SPEND_SHARES = np.array([0.503, 0.043, 0.275, 0.062, 0.045, 0.072])
SPEND_MAX = np.array([1493, 199, 1725, 259, 263, 362])
# Poisson mean = b0 + b1*log1p(total spend) + b2*kids + b3*teens (least squares on the real file), max.
COUNT_MODELS: dict[str, tuple[tuple[float, float, float, float], int]] = {
    "NumDealsPurchases": ((-2.084, 0.521, 1.700, 1.434), 15),
    "NumWebPurchases": ((-4.211, 1.368, 0.410, 0.832), 27),
    "NumCatalogPurchases": ((-4.519, 1.374, -0.491, -0.626), 28),
    "NumStorePurchases": ((-3.105, 1.589, -0.381, 0.281), 13),
    "NumWebVisitsMonth": ((7.184, -0.486, 1.239, 0.634), 20),
}
PRD_COLUMNS: tuple[str, ...] = PRD_REQUIRED  # the PRD's sample format, in its order
SCHEMAS: tuple[str, ...] = ("kaggle", "prd")
CAMPAIGN_RATES = {"AcceptedCmp3": 0.073, "AcceptedCmp4": 0.075, "AcceptedCmp5": 0.073,
                  "AcceptedCmp1": 0.064, "AcceptedCmp2": 0.013, "Response": 0.149}
FIRST_DAY, N_DAYS = np.datetime64("2012-07-30"), 700  # 2012-07-30 .. 2014-06-29
MONTHS = np.array(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])
# Dirt at the real file's rates (per 2,240 rows): 24 missing incomes, 3 absurd birth years, one
# 666,666 income, Alone x3, Absurd x2, YOLO x2, 182 rows identical but for ID.
DIRT_RATES = {"missing_income": 24, "absurd_birth_year": 3, "income_666666": 1, "Alone": 3, "Absurd": 2,
              "YOLO": 2, "duplicates": 182}


def synthesize(n: int, seed: int, *, dirty: bool = True, id_offset: int = 0) -> pd.DataFrame:
    """``n`` synthetic customers in the raw Kaggle schema (the real file's columns and order).

    Same ``(n, seed)`` -> same table. ``dirty`` injects the real file's kinds of dirt;
    ``id_offset`` shifts the IDs (to build several files with disjoint IDs).
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n={n!r} is invalid", fix="pass a positive number of customers")
    if not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed={seed!r} is invalid", fix="pass an integer seed")
    rng = np.random.default_rng(seed)
    year = np.clip(np.round(rng.normal(1969, 11.7, n)), 1940, 1996).astype(np.int64)
    education = rng.choice(list(EDUCATION_P), n, p=_norm(EDUCATION_P.values()))
    marital = rng.choice(list(MARITAL_P), n, p=_norm(MARITAL_P.values()))
    kids, teens = _children(rng, year)
    income = _income(rng, education, kids)
    # Log-linear in income, lower with kids (least squares on the real file; slope raised and noise
    # narrowed so that the middle of the distribution spreads like the real one).
    total = np.expm1(6.3 + 2.1 * np.log(income / 50_000) - 0.889 * kids - 0.24 * teens + rng.normal(0, 0.7, n))
    total = np.clip(total, 5, 2525)
    shares = rng.dirichlet(SPEND_SHARES * 8.0, n)  # concentration 8: between the real shares' spreads
    spend = np.minimum(np.round(shares * total[:, None]), SPEND_MAX).astype(np.int64)
    days = rng.integers(0, N_DAYS, n)
    frame = pd.DataFrame({
        "ID": _ids(rng, n) + id_offset,
        "Year_Birth": year,
        "Education": education,
        "Marital_Status": marital,
        "Income": np.round(income),
        "Kidhome": kids,
        "Teenhome": teens,
        "Dt_Customer": _date_strings()[days],
        "Recency": rng.integers(0, 100, n),
        **dict(zip(SPEND_COLUMNS, spend.T)),
    })
    x = np.column_stack([np.ones(n), np.log1p(spend.sum(axis=1)), kids, teens])
    for col, (coef, top) in COUNT_MODELS.items():
        frame[col] = np.minimum(rng.poisson(np.maximum(x @ np.array(coef), 0.05)), top)
    # Campaign acceptance rises with spend: weight 0.25..1.75 by spend rank (mean 1 keeps the rate).
    weight = 0.25 + 1.5 * (pd.Series(total).rank(pct=True).to_numpy())
    for col in ("AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5", "AcceptedCmp1", "AcceptedCmp2"):
        frame[col] = (rng.random(n) < CAMPAIGN_RATES[col] * weight).astype(np.int64)
    frame["Complain"] = (rng.random(n) < 0.0094).astype(np.int64)
    frame["Z_CostContact"], frame["Z_Revenue"] = 3, 11
    frame["Response"] = (rng.random(n) < CAMPAIGN_RATES["Response"] * weight).astype(np.int64)
    if dirty:
        _inject_dirt(rng, frame)
    frame["Income"] = frame["Income"].astype("Int64")  # written as 58138, blank when missing
    return frame[list(KAGGLE_COLUMNS)]


def to_prd_schema(raw: pd.DataFrame) -> pd.DataFrame:
    """A raw Kaggle table in the PRD's sample format (``PRD_COLUMNS``: no spend, purchases or join date).

    Age is taken at the year of the latest join date (as the loader does); ``KidAge`` and
    ``Familysize`` come from Kidhome/Teenhome and the marital status. The Kaggle table has no gender,
    so ``Gender`` is drawn from a hash of the rest of the row: rows identical but for the ID stay
    identical, and the same row always gets the same gender.
    """
    dates = pd.to_datetime(raw["Dt_Customer"], format="%d-%b-%y", errors="coerce")
    year = int(dates.max().year) if dates.notna().any() else 2014
    kids, teens = raw["Kidhome"].fillna(0), raw["Teenhome"].fillna(0)
    band = np.select([(kids > 0) & (teens > 0), kids > 0, teens > 0], ["young_and_teen", "young", "teen"], "none")
    adults = 1 + raw["Marital_Status"].isin(["Married", "Together"]).astype("int64")
    parity = pd.util.hash_pandas_object(raw.drop(columns="ID"), index=False).to_numpy() % 2
    return pd.DataFrame({
        "ID": raw["ID"],
        "Gender": np.where(parity == 0, "Female", "Male"),
        "Age": year - raw["Year_Birth"],
        "Education": raw["Education"],
        "Marital_Status": raw["Marital_Status"],
        "Income": raw["Income"],
        "KidAge": band,
        "Familysize": adults + kids + teens,
        "Recency": raw["Recency"],
    })[list(PRD_COLUMNS)]


def synthesize_prd(n: int, seed: int, *, dirty: bool = True, id_offset: int = 0) -> pd.DataFrame:
    """``n`` synthetic customers in the PRD's sample format (:func:`to_prd_schema` of :func:`synthesize`)."""
    return to_prd_schema(synthesize(n, seed, dirty=dirty, id_offset=id_offset))


def write_synthetic(n: int, seed: int, path: str | Path, *, schema: str = "kaggle") -> Path:
    """Write ``n`` seeded synthetic customers to ``path``: Parquet for .parquet/.pq, CSV for .csv/.tsv.

    ``schema`` is ``kaggle`` (the raw Kaggle columns, :func:`synthesize`) or ``prd`` (the PRD's
    sample format, :func:`synthesize_prd`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
        raise ConfigError(f"path={str(path)!r} has an unsupported suffix",
                          fix="end it with .csv, .tsv, .parquet or .pq")
    if schema not in SCHEMAS:
        raise ConfigError(f"schema={schema!r} is invalid", fix=f"pass schema as one of {SCHEMAS}")
    frame = synthesize(n, seed) if schema == "kaggle" else synthesize_prd(n, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    return path


def _norm(values: object) -> np.ndarray:
    p = np.fromiter(values, dtype=float)
    return p / p.sum()


def _ids(rng: np.random.Generator, n: int) -> np.ndarray:
    # Real IDs are unique integers scattered over 0..11191; keep that look, widening for big n.
    return rng.choice(max(11_192, 5 * n), size=n, replace=False).astype(np.int64)


def _children(rng: np.random.Generator, year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Young kids peak for parents born ~1980, teenagers for parents born ~1960 (real-file means)."""
    knots = [1945, 1960, 1970, 1980, 1990]
    kid_mean = np.interp(year, knots, [0.23, 0.27, 0.55, 0.62, 0.45])
    teen_mean = np.interp(year, knots, [0.65, 0.74, 0.57, 0.28, 0.0])
    n = len(year)
    kids = (rng.random(n) < kid_mean * 0.96).astype(np.int64)
    kids += kids * (rng.random(n) < 0.05)  # about 2% have two young kids
    teens = (rng.random(n) < teen_mean * 0.96).astype(np.int64)
    teens += teens * (rng.random(n) < 0.05)
    return kids, teens


def _income(rng: np.random.Generator, education: np.ndarray, kids: np.ndarray) -> np.ndarray:
    mu = pd.Series(education).map(EDUCATION_LOG_INCOME).to_numpy() - 0.5 * np.minimum(kids, 1)
    n = len(kids)
    # The real log-income has a long low tail: 8% of customers draw from a lower component.
    noise = rng.normal(0, 0.26, n) - 0.7 * (rng.random(n) < 0.08)
    return np.clip(np.exp(mu + 0.04 + noise), 1_730, 162_397)


def _date_strings() -> np.ndarray:
    """``4-Sep-12`` style strings for each of the ``N_DAYS`` possible join dates."""
    days = pd.DatetimeIndex(FIRST_DAY + np.arange(N_DAYS))
    return np.array([f"{d.day}-{MONTHS[d.month - 1]}-{d.year % 100:02d}" for d in days], dtype=object)


def _inject_dirt(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    n = len(frame)
    count = {k: int(round(v * n / 2240)) or int(n >= 100) for k, v in DIRT_RATES.items()}
    free = rng.permutation(n)  # each dirty row gets one kind of dirt: counts stay exact

    def take(k: int) -> np.ndarray:
        nonlocal free
        picked, free = free[:k], free[k:]
        return picked

    frame.loc[take(count["missing_income"]), "Income"] = np.nan
    frame.loc[take(count["income_666666"]), "Income"] = 666_666
    bad_years = take(count["absurd_birth_year"])
    frame.loc[bad_years, "Year_Birth"] = rng.choice([1893, 1899, 1900], len(bad_years))
    for status in ("Alone", "Absurd", "YOLO"):
        frame.loc[take(count[status]), "Marital_Status"] = status
    # Duplicates: copies of clean rows with a new ID; sources are never targets, so exactly
    # ``count["duplicates"]`` rows are dropped by the cleaner.
    targets = take(count["duplicates"])
    if len(targets) and len(free):
        sources = rng.choice(free, len(targets))
        for col in frame.columns.drop("ID"):  # column by column keeps each column's dtype
            values = frame[col].to_numpy(copy=True)
            values[targets] = values[sources]
            frame[col] = values
