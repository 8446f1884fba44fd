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
  adjusted over segments with Holm's step-down method (``multipletests(method="holm")``);
* ``p_win``: P(rate_segmented > rate_control) under independent Beta(1 + events, 1 + n - events)
  posteriors (uniform priors), by adaptive numerical integration (``scipy.integrate.quad``) of
  ``f_segmented(t) * F_control(t)`` over the segmented posterior's support: exact up to the
  integrator's tolerance, no Monte Carlo noise, no seed;
* ``plan_sample_size``: ``NormalIndPower().solve_power`` on Cohen's h (``proportion_effectsize``).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from genemail.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_N = 500  # recipients per arm below which no decision is made
SIGNIFICANT_WIN, SIGNIFICANT_LOSS = "significant_win", "significant_loss"
INCONCLUSIVE, NOT_ENOUGH_DATA = "inconclusive", "not_enough_data"
DECISIONS: tuple[str, ...] = (SIGNIFICANT_WIN, SIGNIFICANT_LOSS, INCONCLUSIVE, NOT_ENOUGH_DATA)


def _arrays(*values: object) -> list["np.ndarray"]:
    import numpy as np

    return [np.atleast_1d(np.asarray(v, dtype=float)) for v in values]


def wilson_ci(events: object, n: object, alpha: float = DEFAULT_ALPHA) -> tuple["np.ndarray", "np.ndarray"]:
    """Wilson score interval of ``events / n`` (arrays); NaN where ``n == 0``."""
    import numpy as np
    from statsmodels.stats.proportion import proportion_confint

    x, n = _arrays(events, n)
    ok = n > 0
    low, high = np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    if ok.any():
        low[ok], high[ok] = proportion_confint(x[ok], n[ok], alpha=alpha, method="wilson")
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


def holm(pvalues: object, alpha: float = DEFAULT_ALPHA) -> "np.ndarray":
    """Holm-adjusted p-values over the non-NaN entries (NaN entries stay NaN and are not counted)."""
    import numpy as np
    from statsmodels.stats.multitest import multipletests

    (p,) = _arrays(pvalues)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=alpha, method="holm")[1]
    return out


def p_win(x1: int, n1: int, x2: int, n2: int) -> float:
    """P(rate 1 > rate 2) under Beta(1 + x, 1 + n - x) posteriors, by numerical integration; NaN if an arm is empty."""
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
           min_n: int = DEFAULT_MIN_N, alpha: float = DEFAULT_ALPHA) -> "np.ndarray":
    """The decision per entry: not enough data below ``min_n`` recipients in either arm, else a
    significant win or loss when the adjusted p-value is below ``alpha``, else inconclusive."""
    import numpy as np

    n1, n2, est, p = _arrays(n_segmented, n_control, estimate, p_adjusted)
    significant = ~np.isnan(p) & (p < alpha)
    out = np.where(significant & (est > 0), SIGNIFICANT_WIN,
                   np.where(significant & (est < 0), SIGNIFICANT_LOSS, INCONCLUSIVE)).astype(object)
    out[(n1 < min_n) | (n2 < min_n)] = NOT_ENOUGH_DATA
    return out


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
