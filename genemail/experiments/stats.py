"""The statistics of an experiment report, vectorized over arrays of counts (one entry per segment).

Every formula comes from statsmodels or scipy; this module only chooses methods and handles empty
arms. ``genemail.ratings.stats.wilson_interval`` (scipy's ``binomtest``) does the same interval
for one count at a time; here statsmodels' ``proportion_confint`` is used because it takes arrays,
which the simulation tests need (thousands of experiments at once).

* rate interval: Wilson score interval (``proportion_confint(method="wilson")``);
* lift (difference of two rates) interval: Newcomb's hybrid score interval
  (``confint_proportions_2indep(method="newcomb", compare="diff")``), built from the two Wilson
  intervals, good coverage at low rates;
* p-value: two-sided score test of equal rates (``test_proportions_2indep(method="score")``),
  adjusted over segments with Holm's step-down method (vectorized here, checked against
  statsmodels' ``multipletests(method="holm")``; see :func:`holm` for why);
* ``p_win``: P(rate_segmented > rate_control) under independent Beta(1 + events, 1 + n - events)
  posteriors (uniform priors), by adaptive numerical integration (``scipy.integrate.quad``) of
  ``f_segmented(t) * F_control(t)`` over the segmented posterior's support: exact up to the
  integrator's tolerance, no Monte Carlo noise, no seed;
* ``plan_sample_size``: ``NormalIndPower().solve_power`` on Cohen's h (``proportion_effectsize``).

That is the **fixed-horizon** analysis (``analysis="fixed"``), valid when the report is read once at
a sample size chosen in advance. The default, ``analysis="sequential"``, replaces the interval and
the p-value by the always-valid ones of :mod:`genemail.experiments.sequential` (the interval covers
and the test holds at every look). Either way, :func:`compare` can take a regression adjustment
(:mod:`genemail.experiments.cuped`): the adjusted difference with its smaller variance, tested by
the Wald statistic (fixed) or the mixture test (sequential). The multiplicity family is every
position of the last axis that has enough data and no sample-ratio block (the report puts the
segments and the overall line there): Holm by default, Benjamini-Hochberg as an option.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from genemail.errors import ConfigError
from genemail.experiments import prior as lift_prior
from genemail.experiments import sequential

if TYPE_CHECKING:
    import numpy as np

    from genemail.experiments.cuped import Adjustment

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_N = 500  # recipients per arm below which no decision is made
SIGNIFICANT_WIN, SIGNIFICANT_LOSS = "significant_win", "significant_loss"
INCONCLUSIVE, NOT_ENOUGH_DATA = "inconclusive", "not_enough_data"
SRM_BLOCKED, GUARDRAIL_BREACHED = "srm_blocked", "guardrail_breached"
DECISIONS: tuple[str, ...] = (SIGNIFICANT_WIN, SIGNIFICANT_LOSS, INCONCLUSIVE, NOT_ENOUGH_DATA, SRM_BLOCKED,
                              GUARDRAIL_BREACHED)
SEQUENTIAL, FIXED = "sequential", "fixed"
ANALYSES: tuple[str, ...] = (SEQUENTIAL, FIXED)
HOLM, BH = "holm", "bh"
MULTIPLICITY: tuple[str, ...] = (HOLM, BH)


def _arrays(*values: object) -> list["np.ndarray"]:
    """Float arrays of one common shape (scalars broadcast: ``n`` may be one number for all)."""
    import numpy as np

    return [np.array(a) for a in np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in values))]


def wilson_ci(events: object, n: object, alpha: float = DEFAULT_ALPHA) -> tuple["np.ndarray", "np.ndarray"]:
    """Wilson score interval of ``events / n`` (arrays); NaN where ``n == 0``."""
    import numpy as np
    from statsmodels.stats.proportion import proportion_confint

    x, n = _arrays(events, n)
    ok = n > 0
    low, high = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    if ok.any():
        low[ok], high[ok] = proportion_confint(x[ok], n[ok], alpha=alpha, method="wilson")
    # At 0/n and n/n the Wilson bound is exactly 0 (or 1); the formula leaves a rounding residue
    # such as 3e-17, which would put the interval beside its own estimate.
    low[ok & (x == 0)], high[ok & (x == n)] = 0.0, 1.0
    return low, high


def diff_ci(x1: object, n1: object, x2: object, n2: object,
            alpha: float = DEFAULT_ALPHA) -> tuple["np.ndarray", "np.ndarray"]:
    """Newcomb interval of ``x1/n1 - x2/n2`` (arrays); NaN where an arm is empty."""
    import numpy as np
    from statsmodels.stats.proportion import confint_proportions_2indep

    x1, n1, x2, n2 = _arrays(x1, n1, x2, n2)
    ok = (n1 > 0) & (n2 > 0)
    low, high = np.full(x1.shape, np.nan), np.full(x1.shape, np.nan)
    if ok.any():
        with warnings.catch_warnings():  # statsmodels also computes ratios, which divide by zero rates
            warnings.simplefilter("ignore", RuntimeWarning)
            low[ok], high[ok] = confint_proportions_2indep(x1[ok], n1[ok], x2[ok], n2[ok], method="newcomb",
                                                           compare="diff", alpha=alpha)
    return low, high


def diff_pvalue(x1: object, n1: object, x2: object, n2: object) -> "np.ndarray":
    """Two-sided score-test p-value of equal rates (arrays); 1 when both arms are all-0 or all-n,
    NaN where an arm is empty."""
    import numpy as np
    from statsmodels.stats.proportion import test_proportions_2indep

    x1, n1, x2, n2 = _arrays(x1, n1, x2, n2)
    ok = (n1 > 0) & (n2 > 0)
    p = np.full(x1.shape, np.nan)
    if ok.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = test_proportions_2indep(x1[ok], n1[ok], x2[ok], n2[ok], method="score", compare="diff")
        p[ok] = np.atleast_1d(result.pvalue)
    degenerate = ok & np.isnan(p)  # zero variance: both rates 0 (or both 1), no evidence of a difference
    p[degenerate] = 1.0
    return p


def holm(pvalues: object) -> "np.ndarray":
    """Holm-adjusted p-values over the non-NaN entries of the last axis (one family per row of a
    2-D array); NaN entries stay NaN and are not counted in the family.

    The step-down itself is written here, vectorized over families, because statsmodels'
    ``multipletests(method="holm")`` runs ``gc.collect()`` on every call (0.2 s in a test process),
    which makes the thousands of simulated families of the tests take many minutes. The tests check
    that it equals ``multipletests(..., method="holm")`` on random families with and without NaN.
    """
    import numpy as np

    (p,) = _arrays(pvalues)
    order = np.argsort(p, axis=-1, kind="stable")  # NaN sorts last
    ranked = np.take_along_axis(p, order, axis=-1)
    m = (~np.isnan(p)).sum(axis=-1, keepdims=True)
    factor = m - np.arange(p.shape[-1])  # m, m - 1, ..., for the smallest, next smallest, ...
    with np.errstate(invalid="ignore"):
        stepped = np.fmax.accumulate(ranked * factor, axis=-1)  # fmax: the NaN tail does not spread
    adjusted = np.where(np.isnan(ranked), np.nan, np.minimum(stepped, 1.0))
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def benjamini_hochberg(pvalues: object) -> "np.ndarray":
    """Benjamini-Hochberg adjusted p-values (false discovery rate) over the non-NaN entries of the last
    axis, one family per row; NaN entries stay NaN. Vectorized for the same reason as :func:`holm`;
    the tests check it against ``scipy.stats.false_discovery_control``."""
    import numpy as np

    (p,) = _arrays(pvalues)
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    m = (~np.isnan(p)).sum(axis=-1, keepdims=True)
    rank = np.arange(1, p.shape[-1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(np.isnan(ranked), np.inf, ranked * m / rank)
    # The step-up: each adjusted value is the minimum of the scaled values from its rank upwards.
    stepped = np.minimum.accumulate(scaled[..., ::-1], axis=-1)[..., ::-1]
    adjusted = np.where(np.isnan(ranked), np.nan, np.minimum(stepped, 1.0))
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def adjust_pvalues(pvalues: object, method: str = HOLM) -> "np.ndarray":
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) over the last axis."""
    if method not in MULTIPLICITY:
        raise ConfigError(f"multiplicity={method!r} is invalid", where="report", fix="pass holm or bh")
    return holm(pvalues) if method == HOLM else benjamini_hochberg(pvalues)


def p_win_flat(x1: int, n1: int, x2: int, n2: int) -> float:
    """P(rate 1 > rate 2) under flat Beta(1 + x, 1 + n - x) posteriors, by numerical integration; NaN if an
    arm is empty. The report's ``p_win`` is :func:`genemail.experiments.prior.p_win` (a prior built for
    small lifts); this one stays for the calibration table, which shows why it was replaced."""
    from scipy import integrate, stats

    if n1 <= 0 or n2 <= 0:
        return math.nan
    first, second = stats.beta(1 + x1, 1 + n1 - x1), stats.beta(1 + x2, 1 + n2 - x2)
    # Integrate where the first posterior has mass; outside it the integrand is below 1e-12.
    low, high = first.ppf(1e-12), first.isf(1e-12)
    value, _ = integrate.quad(lambda t: first.pdf(t) * second.cdf(t), low, high, limit=200,
                              points=[first.mean()], epsabs=1e-10, epsrel=1e-8)
    return float(min(max(value, 0.0), 1.0))


def decide(n_segmented: object, n_control: object, estimate: object, p_adjusted: object,
           min_n: int = DEFAULT_MIN_N, alpha: float = DEFAULT_ALPHA, blocked: object = False) -> "np.ndarray":
    """The decision per entry: ``srm_blocked`` where the sample-ratio check fired, else not enough data
    below ``min_n`` recipients in either arm, else a significant win or loss when the adjusted p-value
    is below ``alpha``, else inconclusive."""
    import numpy as np

    n1, n2, est, p = _arrays(n_segmented, n_control, estimate, p_adjusted)
    significant = ~np.isnan(p) & (p < alpha)
    out = np.where(significant & (est > 0), SIGNIFICANT_WIN,
                   np.where(significant & (est < 0), SIGNIFICANT_LOSS, INCONCLUSIVE)).astype(object)
    out[(n1 < min_n) | (n2 < min_n)] = NOT_ENOUGH_DATA
    out[np.broadcast_to(np.asarray(blocked, dtype=bool), out.shape)] = SRM_BLOCKED
    return out


def rate_variance(events: object, n: object) -> "np.ndarray":
    """Variance of a rate, ``p̃ (1 - p̃) / n`` with ``p̃ = (x + 1) / (n + 2)`` (so 0 of n still has a
    variance: the Agresti-Caffo adjustment, good coverage at low rates); NaN where ``n == 0``."""
    import numpy as np

    x, n = _arrays(events, n)
    shrunk = (x + 1.0) / (n + 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, shrunk * (1.0 - shrunk) / n, np.nan)


def rate_ci(events: object, n: object, *, analysis: str = SEQUENTIAL, alpha: float = DEFAULT_ALPHA,
            planned_n: float = sequential.DEFAULT_PLANNED_N) -> tuple["np.ndarray", "np.ndarray"]:
    """One arm's rate interval: Wilson (fixed) or the always-valid confidence sequence (sequential)."""
    import numpy as np

    if analysis == FIXED:
        return wilson_ci(events, n, alpha)
    x, n = _arrays(events, n)
    rate = np.divide(x, n, out=np.full(x.shape, np.nan), where=n > 0)
    width = sequential.halfwidth(rate_variance(x, n), sequential.mixing_ratio(n, planned_n, alpha), alpha)
    return np.clip(rate - width, 0.0, 1.0), np.clip(rate + width, 0.0, 1.0)


def difference(x1: object, n1: object, x2: object, n2: object, *, analysis: str = SEQUENTIAL,
               alpha: float = DEFAULT_ALPHA, planned_n: float = sequential.DEFAULT_PLANNED_N,
               adjustment: "Adjustment | None" = None) -> dict[str, "np.ndarray"]:
    """``rate 1 - rate 2`` with its interval and p-value (arrays).

    Fixed and unadjusted: Newcomb's interval and the score test (as always). With an
    ``adjustment``: the regression-adjusted estimate, and the variance shrunk by the adjustment's
    ratio. Sequential: the always-valid interval and p-value. Returns ``estimate``, ``variance``,
    ``ci_low``, ``ci_high``, ``p_value`` and ``reduction`` (the variance reduction, 0 unadjusted).
    """
    import numpy as np
    from scipy.stats import norm

    x1, n1, x2, n2 = _arrays(x1, n1, x2, n2)
    ok = (n1 > 0) & (n2 > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = np.where(ok, x1 / np.where(n1 > 0, n1, 1) - x2 / np.where(n2 > 0, n2, 1), np.nan)
    variance = rate_variance(x1, n1) + rate_variance(x2, n2)
    reduction = np.zeros(x1.shape)
    if adjustment is not None:
        usable = np.isfinite(adjustment.estimate) & (adjustment.raw_variance > 0)
        estimate = np.where(usable, adjustment.estimate, estimate)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.where(usable, variance * adjustment.variance / adjustment.raw_variance, variance)
        reduction = np.where(usable, adjustment.reduction, 0.0)
    if analysis == FIXED and adjustment is None:
        low, high = diff_ci(x1, n1, x2, n2, alpha)
        p = diff_pvalue(x1, n1, x2, n2)
    elif analysis == FIXED:
        width = norm.isf(alpha / 2) * np.sqrt(variance)
        low, high = estimate - width, estimate + width
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(variance > 0, 2 * norm.sf(np.abs(estimate) / np.sqrt(variance)), np.nan)
    else:
        r = sequential.mixing_ratio(sequential.harmonic_n(n1, n2), planned_n, alpha)
        width = sequential.halfwidth(variance, r, alpha)
        low, high = estimate - width, estimate + width
        p = sequential.p_value(estimate, variance, r)
    return {"estimate": estimate, "variance": variance, "ci_low": low, "ci_high": high, "p_value": p,
            "reduction": reduction}


def compare(seg_events: object, seg_n: object, ctl_events: object, ctl_n: object, *, analysis: str = SEQUENTIAL,
            min_n: int = DEFAULT_MIN_N, alpha: float = DEFAULT_ALPHA, adjust: bool = True,
            multiplicity: str = HOLM, planned_n: float = sequential.DEFAULT_PLANNED_N,
            adjustment: "Adjustment | None" = None, blocked: object = False,
            prior: lift_prior.LiftPrior = lift_prior.DEFAULT_PRIOR) -> dict[str, "np.ndarray"]:
    """Segmented vs control for arrays of scopes (last axis; leading axes are independent experiments).

    Returns arrays ``lift`` (absolute; regression-adjusted with an ``adjustment``), ``ci_low`` /
    ``ci_high``, ``p_value``, ``p_value_adj`` (Holm or Benjamini-Hochberg over the scopes with at
    least ``min_n`` recipients in both arms and not ``blocked`` by the sample-ratio check, NaN for the
    others; unadjusted when ``adjust`` is False), ``p_win`` (under ``prior``),
    ``variance_reduction`` and ``decision``. The report and the simulation tests both go through
    here, so the tests prove what the report does.
    """
    import numpy as np

    if analysis not in ANALYSES:
        raise ConfigError(f"analysis={analysis!r} is invalid", where="report", fix="pass sequential or fixed")
    x1, n1, x2, n2 = _arrays(seg_events, seg_n, ctl_events, ctl_n)
    diff = difference(x1, n1, x2, n2, analysis=analysis, alpha=alpha, planned_n=planned_n, adjustment=adjustment)
    blocked = np.broadcast_to(np.asarray(blocked, dtype=bool), x1.shape)
    tested = np.where((n1 >= min_n) & (n2 >= min_n) & ~blocked, diff["p_value"], np.nan)
    p_adj = adjust_pvalues(tested, multiplicity) if adjust else tested
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
    win = lift_prior.p_win(diff["estimate"], np.sqrt(diff["variance"]), pooled, prior)
    return {"lift": diff["estimate"], "ci_low": diff["ci_low"], "ci_high": diff["ci_high"],
            "p_value": diff["p_value"], "p_value_adj": p_adj, "p_win": win,
            "variance_reduction": diff["reduction"],
            "decision": decide(n1, n2, diff["estimate"], p_adj, min_n, alpha, blocked)}


def plan_sample_size(rate: float, lift: float, power: float = 0.8, alpha: float = DEFAULT_ALPHA) -> int:
    """Recipients per arm (segmented and control alike) to detect an absolute ``lift`` over ``rate``.

    Two-sided test at ``alpha`` with probability ``power`` of detecting the lift, by statsmodels'
    ``NormalIndPower`` on Cohen's effect size h for two proportions.
    """
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    for name, value, low in (("rate", rate, 0.0), ("power", power, 0.0), ("alpha", alpha, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < 1:
            raise ConfigError(f"{name}={value!r} is invalid", where="plan",
                              fix=f"pass {name} as a number strictly between 0 and 1")
    if isinstance(lift, bool) or not isinstance(lift, (int, float)) or lift == 0 or not 0 < rate + lift < 1:
        raise ConfigError(f"lift={lift!r} is invalid for rate={rate!r}", where="plan",
                          fix="pass lift as a non-zero absolute change with 0 < rate + lift < 1, "
                              "e.g. --rate 0.04 --lift 0.01 for 4% -> 5%")
    effect = proportion_effectsize(rate + lift, rate)
    n = NormalIndPower().solve_power(effect_size=abs(effect), alpha=alpha, power=power, ratio=1.0,
                                     alternative="two-sided")
    return int(math.ceil(n))
