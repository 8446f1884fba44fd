"""Statistics over human ratings: pure functions of the ``RatingsStore.all()`` DataFrame.

* style-match rate (score >= 4) per segment and variant, with 95% Wilson score intervals;
* segmented win rate (ties and "both poor" excluded) with an exact two-sided sign test;
* inter-rater agreement: Krippendorff's alpha (ordinal, 1-5 scores) and, with exactly two
  raters, Cohen's kappa; ``None`` plus a reason when the overlap is too small;
* :func:`summary` (a JSON-ready dict) and :func:`summary_table` (a tidy DataFrame).

Formulas are in ``docs/RATINGS.md``. Heavy imports (scipy, sklearn, krippendorff) happen inside
the functions that need them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from genemail.errors import ConfigError, DataError
from genemail.ratings.store import SCORE_MAX, SCORE_MIN, VARIANTS

if TYPE_CHECKING:
    import pandas as pd

ALL = "ALL"  # the segment label of pooled rows
DEFAULT_CONFIDENCE = 0.95
MATCH_THRESHOLD = 4  # a 1-5 style score of 4 or 5 counts as "matches the target style"
# An email is identified by who it was for, which style it targets and which release wrote it:
# the same customer under another release is a different text, so a different unit to agree on.
UNIT_KEYS: tuple[str, ...] = ("customer_id", "segment", "release_sha")
_SCORE_COLUMN = {variant: f"score_{variant}" for variant in VARIANTS}


def _require(df: "pd.DataFrame", columns: tuple[str, ...], caller: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"ratings table lacks column(s) {missing}", where=caller,
                        fix="pass the DataFrame from RatingsStore.all()")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence={confidence!r} is invalid",
                          fix="pass confidence as a number in (0, 1), e.g. 0.95")


def wilson_interval(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for ``successes / n``; ``(nan, nan)`` when ``n == 0``.

    Uses scipy's implementation (``BinomTestResult.proportion_ci(method="wilson")``, no
    continuity correction); unlike the normal approximation it stays inside [0, 1] and behaves
    at 0/n and n/n.
    """
    _check_confidence(confidence)
    if n == 0:
        return (math.nan, math.nan)
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def sign_test_pvalue(wins: int, losses: int) -> float:
    """Exact two-sided sign test of ``wins`` vs ``losses`` under H0: p = 0.5; ``nan`` when both are 0."""
    if wins + losses == 0:
        return math.nan
    from scipy.stats import binomtest

    return float(binomtest(int(wins), int(wins + losses), p=0.5, alternative="two-sided").pvalue)


def outcomes(df: "pd.DataFrame") -> "pd.Series":
    """Per rating, what won: ``"segmented"``, ``"baseline"``, ``"tie"`` or ``"both_poor"``.

    ``choice`` names a screen side ("A" = left, "B" = right); the side's variant is recorded.
    """
    import numpy as np
    import pandas as pd

    _require(df, ("choice", "left_variant", "right_variant"), "outcomes")
    picked = np.select([df["choice"] == "A", df["choice"] == "B"], [df["left_variant"], df["right_variant"]],
                       default=df["choice"])
    return pd.Series(picked, index=df.index, name="outcome")


def style_match_rates(df: "pd.DataFrame", *, threshold: int = MATCH_THRESHOLD,
                      confidence: float = DEFAULT_CONFIDENCE) -> "pd.DataFrame":
    """Share of scores ``>= threshold`` per segment and variant, plus pooled ``segment="ALL"`` rows.

    Columns: segment, variant, n, matches, rate, ci_low, ci_high (Wilson interval).
    """
    import pandas as pd

    if not SCORE_MIN <= threshold <= SCORE_MAX:
        raise ConfigError(f"threshold={threshold!r} is invalid", fix=f"pass threshold from {SCORE_MIN} to {SCORE_MAX}")
    _require(df, ("segment", *_SCORE_COLUMN.values()), "style_match_rates")
    rows = []
    for segment, part in [*df.groupby("segment"), (ALL, df)]:  # groupby sorts segments
        for variant, column in _SCORE_COLUMN.items():
            n, matches = len(part), int((part[column] >= threshold).sum())
            low, high = wilson_interval(matches, n, confidence)
            rows.append({"segment": segment, "variant": variant, "n": n, "matches": matches,
                         "rate": matches / n if n else math.nan, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["segment", "variant", "n", "matches", "rate", "ci_low", "ci_high"])


def win_rates(df: "pd.DataFrame", *, confidence: float = DEFAULT_CONFIDENCE) -> "pd.DataFrame":
    """Segmented win rate per segment and pooled (``"ALL"``), with Wilson CI and sign-test p-value.

    ``win_rate = wins / (wins + losses)``: ties and both_poor carry no preference and are counted
    but excluded. Columns: segment, wins, losses, ties, both_poor, n_decisive, win_rate, ci_low,
    ci_high, p_value.
    """
    import pandas as pd

    _require(df, ("segment",), "win_rates")
    won = outcomes(df)
    rows = []
    for segment, part in [*won.groupby(df["segment"]), (ALL, won)]:
        counts = part.value_counts()
        wins, losses = int(counts.get("segmented", 0)), int(counts.get("baseline", 0))
        low, high = wilson_interval(wins, wins + losses, confidence)
        rows.append({"segment": segment, "wins": wins, "losses": losses, "ties": int(counts.get("tie", 0)),
                     "both_poor": int(counts.get("both_poor", 0)), "n_decisive": wins + losses,
                     "win_rate": wins / (wins + losses) if wins + losses else math.nan,
                     "ci_low": low, "ci_high": high, "p_value": sign_test_pvalue(wins, losses)})
    return pd.DataFrame(rows)


def score_matrix(df: "pd.DataFrame") -> "pd.DataFrame":
    """Reliability data: one row per rater, one column per rated email, NaN where not rated.

    A rated email (a "unit") is :data:`UNIT_KEYS` plus the variant, so each rating fills two
    cells. When a rater rated the same email twice, the later rating (by created_at) counts.
    """
    import pandas as pd

    _require(df, ("rater", "created_at", *UNIT_KEYS, *_SCORE_COLUMN.values()), "score_matrix")
    ordered = df.sort_values(["created_at", "rating_id"] if "rating_id" in df.columns else ["created_at"])
    long = ordered.melt(id_vars=["rater", *UNIT_KEYS], value_vars=list(_SCORE_COLUMN.values()),
                        var_name="variant", value_name="score")
    long["variant"] = long["variant"].str.removeprefix("score_")
    latest = long.drop_duplicates(["rater", *UNIT_KEYS, "variant"], keep="last")
    if latest.empty:
        return pd.DataFrame(dtype=float)
    matrix = latest.pivot(index="rater", columns=[*UNIT_KEYS, "variant"], values="score")
    return matrix.astype(float)


@dataclass(frozen=True)
class Agreement:
    """Inter-rater agreement on the 1-5 scores; a ``None`` value comes with its ``*_reason``."""

    n_raters: int
    n_units: int
    n_pairable_units: int  # units scored by at least two raters: the only ones alpha can use
    krippendorff_alpha: float | None
    alpha_reason: str | None
    cohen_kappa: float | None
    kappa_reason: str | None
    kappa_overlap: int  # units scored by both raters (0 unless exactly two raters)


def agreement(df: "pd.DataFrame", *, min_overlap: int = 2, kappa_weights: str | None = None) -> Agreement:
    """Krippendorff's alpha (ordinal) over all raters; Cohen's kappa when there are exactly two.

    ``min_overlap`` is the fewest units both raters must share before kappa is reported.
    ``kappa_weights`` is passed to sklearn (None = plain Cohen's kappa; "linear"/"quadratic").
    """
    if min_overlap < 1:
        raise ConfigError(f"min_overlap={min_overlap!r} is invalid", fix="pass min_overlap as an integer >= 1")
    if kappa_weights not in (None, "linear", "quadratic"):
        raise ConfigError(f"kappa_weights={kappa_weights!r} is invalid", fix="pass None, 'linear' or 'quadratic'")
    matrix = score_matrix(df)
    n_raters, n_units = matrix.shape if matrix.size else (0, 0)
    pairable = int((matrix.notna().sum(axis=0) >= 2).sum()) if matrix.size else 0
    alpha, alpha_reason = _alpha(matrix, n_raters, pairable)
    kappa, kappa_reason, overlap = _kappa(matrix, n_raters, min_overlap, kappa_weights)
    return Agreement(n_raters, n_units, pairable, alpha, alpha_reason, kappa, kappa_reason, overlap)


def _alpha(matrix: "pd.DataFrame", n_raters: int, pairable: int) -> tuple[float | None, str | None]:
    if n_raters < 2:
        return None, f"needs at least 2 raters, found {n_raters}"
    if pairable == 0:
        return None, "no email has been scored by two or more raters yet"
    import numpy as np

    shared = matrix.loc[:, matrix.notna().sum(axis=0) >= 2].to_numpy(dtype=float)
    if np.unique(shared[~np.isnan(shared)]).size < 2:
        # Expected disagreement is 0, so alpha = 1 - D_o / D_e is 0/0.
        return None, "every shared score is the same value, so alpha is undefined"
    import krippendorff

    value = krippendorff.alpha(reliability_data=matrix.to_numpy(dtype=float),
                               value_domain=list(range(SCORE_MIN, SCORE_MAX + 1)), level_of_measurement="ordinal")
    return float(value), None


def _kappa(matrix: "pd.DataFrame", n_raters: int, min_overlap: int,
           weights: str | None) -> tuple[float | None, str | None, int]:
    if n_raters != 2:
        return None, f"Cohen's kappa needs exactly 2 raters, found {n_raters}", 0
    both = matrix.dropna(axis=1, how="any")
    overlap = both.shape[1]
    if overlap < min_overlap:
        return None, f"the two raters share {overlap} scored email(s); need at least {min_overlap}", overlap
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined kappa is reported through the reason below
        value = cohen_kappa_score(both.iloc[0].astype(int), both.iloc[1].astype(int),
                                  labels=list(range(SCORE_MIN, SCORE_MAX + 1)), weights=weights)
    if math.isnan(value):
        return None, "both raters gave a single identical score throughout, so kappa is undefined", overlap
    return float(value), None, overlap


def _clean(value: object) -> object:
    """JSON-ready scalars: numpy -> Python, NaN -> None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(frame: "pd.DataFrame") -> list[dict[str, object]]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def summary(df: "pd.DataFrame", *, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, object]:
    """Everything the Rate tab shows, as a JSON-ready dict (NaN becomes None)."""
    _require(df, ("rater", "customer_id"), "summary")
    overall = win_rates(df, confidence=confidence)
    return {
        "n_ratings": int(len(df)),
        "n_raters": int(df["rater"].nunique()),
        "n_customers": int(df["customer_id"].nunique()),
        "confidence": confidence,
        "style_match": _records(style_match_rates(df, confidence=confidence)),
        "win_rate": _records(overall),
        "agreement": {k: _clean(v) for k, v in asdict(agreement(df)).items()},
    }


def summary_table(df: "pd.DataFrame", *, confidence: float = DEFAULT_CONFIDENCE) -> "pd.DataFrame":
    """A tidy table: one row per (segment, metric, variant) with n, value, CI and p-value.

    ``metric`` is ``style_match_rate`` (variant segmented / baseline; n = ratings) or
    ``segmented_win_rate`` (variant segmented; n = decisive ratings).
    """
    import pandas as pd

    match = style_match_rates(df, confidence=confidence).rename(columns={"rate": "value"})
    match = match.assign(metric="style_match_rate", p_value=math.nan)
    wins = win_rates(df, confidence=confidence).rename(columns={"win_rate": "value", "n_decisive": "n"})
    wins = wins.assign(metric="segmented_win_rate", variant="segmented")
    columns = ["segment", "metric", "variant", "n", "value", "ci_low", "ci_high", "p_value"]
    table = pd.concat([match[columns], wins[columns]], ignore_index=True)
    table["_pooled"] = table["segment"] == ALL  # pooled rows last, after the segments
    table = table.sort_values(["_pooled", "segment", "metric", "variant"], ignore_index=True)
    return table.drop(columns="_pooled")
