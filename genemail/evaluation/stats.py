"""Statistics of the offline evaluation: Wilson intervals, paired tests, paired bootstrap, Holm.

Every variant is scored on the *same* customers, so two variants are compared pair by pair:

* a rate (style match, fact consistency, relevance) carries a 95% Wilson score interval
  (statsmodels' ``proportion_confint(method="wilson")``): unlike the normal approximation it stays
  inside [0, 1] and keeps its coverage near 0 and 1, where these rates live;
* two variants' match rates are compared with McNemar's test on the discordant customers
  (statsmodels' ``mcnemar``: the exact binomial test below 25 discordant pairs, else chi-square with
  continuity correction);
* the difference of two rates gets a paired bootstrap interval: customers are resampled, each with
  both of its outcomes (scipy's ``bootstrap`` on the per-customer differences, percentile method,
  seeded);
* a family of p-values is adjusted with Holm's step-down method (statsmodels' ``multipletests``).

**Several decoding seeds.** Sampled decoding is repeated with S seeds on the same customers, so an
outcome is an ``(S, n)`` array of 0/1. The rate is the mean over seeds and customers; ``sd`` is the
standard deviation of the S per-seed rates (decoding noise). Its interval is the Wilson interval with
the *customers* as the unit (count = rate x n, nobs = n): a customer's seed-mean is a number in [0, 1]
whose variance is at most that of one Bernoulli draw, so this interval is conservative, never too
narrow, however correlated a customer's seeds are. McNemar needs one 0/1 outcome per customer, so it
is run once per seed and the largest p-value is kept (the difference must hold in every seed); the
bootstrap resamples customers with their seed-mean outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError

if TYPE_CHECKING:  # numpy is imported inside the functions: importing this module stays cheap
    import numpy as np

CONFIDENCE = 0.95
EXACT_BELOW = 25  # discordant pairs under which McNemar's exact binomial test is used
N_BOOTSTRAP = 2000
ALPHA = 0.05


def wilson_interval(count: float, n: int, confidence: float = CONFIDENCE) -> list[float]:
    """The Wilson score interval of ``count`` successes in ``n`` trials, as ``[low, high]``.

    ``count`` may be fractional (a mean over decoding seeds times ``n``; see the module docstring).
    ``n == 0`` gives the uninformative ``[0.0, 1.0]``.
    """
    from statsmodels.stats.proportion import proportion_confint

    if n < 0 or count < 0 or count > n:
        raise ConfigError(f"count={count!r} of n={n!r} is not a proportion", fix="pass 0 <= count <= n")
    if n == 0:
        return [0.0, 1.0]
    low, high = proportion_confint(count, n, alpha=1 - confidence, method="wilson")
    return [round(float(low), 4), round(float(high), 4)]


def as_outcomes(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """``values`` as a float ``(seeds, customers)`` array of 0/1 outcomes (1-D input is one seed)."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or not np.isin(array, (0.0, 1.0)).all():
        raise ConfigError("outcomes must be a (seeds, customers) array of 0/1", fix="pass one 0/1 row per seed")
    return array


def rate_summary(outcomes: Sequence[Any] | np.ndarray, segments: Sequence[str] | None = None) -> dict[str, Any]:
    """``{"rate", "ci", "sd", "per_seed", "n", "per_segment": {segment: {"rate", "ci", "n"}}}``."""
    import numpy as np

    array = as_outcomes(outcomes)
    n = array.shape[1]
    per_seed = array.mean(axis=1) if n else np.zeros(array.shape[0])
    rate = float(per_seed.mean())
    summary: dict[str, Any] = {
        "rate": round(rate, 4), "ci": wilson_interval(rate * n, n),
        "sd": round(float(per_seed.std(ddof=1)), 4) if len(per_seed) > 1 else 0.0,
        "per_seed": [round(float(r), 4) for r in per_seed], "n": n,
    }
    if segments is not None:
        summary["per_segment"] = {
            segment: {"rate": round(float(array[:, mask].mean()), 4),
                      "ci": wilson_interval(float(array[:, mask].mean()) * int(mask.sum()), int(mask.sum())),
                      "n": int(mask.sum())}
            for segment, mask in _masks(segments, n).items()
        }
    return summary


def mcnemar_test(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray) -> dict[str, Any]:
    """McNemar's test of paired 0/1 outcomes of one seed: ``{"statistic", "p_value", "a_only", "b_only", "exact"}``.

    ``a_only`` counts customers where only ``a`` succeeded, ``b_only`` the reverse. With no
    discordant customer there is no evidence either way: p = 1.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    x, y = as_outcomes(a)[0], as_outcomes(b)[0]
    if x.shape != y.shape:
        raise ConfigError(f"{x.size} outcomes against {y.size}", fix="pass both variants' outcomes for the same customers")
    a_only, b_only = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    both, neither = int(((x == 1) & (y == 1)).sum()), int(((x == 0) & (y == 0)).sum())
    exact = a_only + b_only < EXACT_BELOW
    if a_only + b_only == 0:
        return {"statistic": 0.0, "p_value": 1.0, "a_only": 0, "b_only": 0, "exact": True}
    result = mcnemar([[both, a_only], [b_only, neither]], exact=exact, correction=True)
    return {"statistic": round(float(result.statistic), 4), "p_value": float(result.pvalue),
            "a_only": a_only, "b_only": b_only, "exact": exact}


def bootstrap_difference(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray, seed: int = 0,
                         n_resamples: int = N_BOOTSTRAP, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Rate of ``a`` minus rate of ``b`` with a paired bootstrap interval over customers.

    ``a`` and ``b`` are ``(seeds, customers)`` outcomes (or per-customer scores in [0, 1]); each
    customer's seed-mean difference is resampled, so the pairing is kept.
    """
    import numpy as np

    from scipy.stats import bootstrap

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ConfigError(f"outcome shapes {x.shape} and {y.shape} differ", fix="score both variants on the same customers")
    d = (x.mean(axis=0) - y.mean(axis=0)) if x.ndim == 2 else x - y
    if d.size < 2 or np.all(d == d[0]):  # nothing to resample: the difference is what it is
        value = float(d.mean()) if d.size else 0.0
        return {"diff": round(value, 4), "ci": [round(value, 4), round(value, 4)]}
    result = bootstrap((d,), np.mean, n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                       rng=np.random.default_rng(seed), vectorized=True)
    ci = result.confidence_interval
    return {"diff": round(float(d.mean()), 4), "ci": [round(float(ci.low), 4), round(float(ci.high), 4)]}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (statsmodels' ``multipletests(method="holm")``), in the same order."""
    from statsmodels.stats.multitest import multipletests

    if not p_values:
        return []
    return [float(p) for p in multipletests(list(p_values), alpha=ALPHA, method="holm")[1]]


def compare(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of two variants' 0/1 outcomes: difference, bootstrap interval, McNemar per seed."""
    x, y = as_outcomes(a), as_outcomes(b)
    if x.shape != y.shape:
        raise ConfigError(f"outcome shapes {x.shape} and {y.shape} differ", fix="score both variants on the same customers")
    tests = [mcnemar_test(x[s], y[s]) for s in range(x.shape[0])]
    return {**bootstrap_difference(x, y, seed), "p_value": max(t["p_value"] for t in tests), "mcnemar": tests}


def verdict(diff_ci: Sequence[float], p_value: float, a: str, b: str, alpha: float = ALPHA) -> str:
    """``"<a> better"``, ``"<b> better"`` or ``"within noise"``: the interval must exclude 0 and p < alpha."""
    if p_value < alpha and diff_ci[0] > 0:
        return f"{a} better"
    if p_value < alpha and diff_ci[1] < 0:
        return f"{b} better"
    return "within noise"


def compare_by_segment(a: np.ndarray, b: np.ndarray, segments: Sequence[str], names: tuple[str, str],
                       seed: int = 0) -> dict[str, Any]:
    """:func:`compare` overall and within each segment, p-values Holm-adjusted over the segments."""
    x, y = as_outcomes(a), as_outcomes(b)
    overall = compare(x, y, seed)
    per_segment = {segment: compare(x[:, mask], y[:, mask], seed) for segment, mask in _masks(segments, x.shape[1]).items()}
    adjusted = holm([r["p_value"] for r in per_segment.values()])
    for result, p_adj in zip(per_segment.values(), adjusted):
        result["p_value_holm"] = p_adj
        result["verdict"] = verdict(result["ci"], p_adj, *names)
    overall["per_segment"] = per_segment
    return overall


def _masks(segments: Sequence[str], n: int) -> Mapping[str, np.ndarray]:
    import numpy as np

    labels = np.asarray(list(segments), dtype=object)
    if labels.size != n:
        raise ConfigError(f"{labels.size} segments for {n} customers", fix="pass one segment per customer")
    return {segment: labels == segment for segment in sorted(set(labels.tolist()))}
