"""Always-valid inference: the normal-mixture sequential probability ratio test and its confidence sequence.

A report that is re-run every day and acted on at the first significant result needs intervals and
tests that hold at *every* look, not only at a sample size fixed in advance. This module gives them
for any asymptotically normal estimate ``d`` of an effect ``Δ`` with variance ``V`` (a difference of
rates, a regression-adjusted difference, one arm's rate), vectorized over arrays.

**The test** (the mixture SPRT of Johari, Koomen, Pekelis and Walsh, "Always valid inference",
Operations Research 2022, as run by Optimizely; the normal-mixture boundary of Howard, Ramdas,
McAuliffe and Sekhon, Annals of Statistics 2021, as run by GrowthBook). Mixing the likelihood ratio of
``Δ`` against ``Δ0`` over ``Δ ~ N(Δ0, τ²)`` gives

    Λ = sqrt(V / (V + τ²)) · exp(τ² (d - Δ0)² / (2 V (V + τ²)))
      = (1 + r)^(-1/2) · exp(r z² / (2 (1 + r))),      r = τ² / V,  z = (d - Δ0) / sqrt(V),

a nonnegative martingale under ``Δ = Δ0`` (exactly for Gaussian data, asymptotically for rates), so by
Ville's inequality ``P(Λ ever reaches 1/α) <= α``. Hence:

* the always-valid p-value ``min(1, 1/Λ)`` at ``Δ0 = 0`` is below ``α`` with probability at most
  ``α`` whenever the team stops, on any rule, after any number of looks;
* the confidence sequence ``{Δ0 : Λ < 1/α}`` is ``d ± sqrt(V (1 + r) / r · (2 log(1/α) + log(1 + r)))``
  and covers ``Δ`` at every look at once with probability at least ``1 - α``.

**Tuning.** ``τ²`` is a fixed multiple of the per-customer variance (so it does not change with the
data's size): ``r = c · n / n_planned`` with ``c = 2 log(1/α) + log(1 + 2 log(1/α))``, the choice of
Howard et al. that makes the boundary tightest at ``n_planned`` recipients per arm (``n`` is the
harmonic mean of the two arms' sizes). Any fixed choice is valid; a poor one only widens the
intervals, slowly (the half-width at 1/4 or 16 times the planned size is within about 10% of its best).

**The price.** At the planned size the boundary is ``|z| > 3.03`` instead of 1.96 at α = 0.05: to keep
80% power at the last look a sequential experiment needs about 1.9 times the fixed-horizon sample
(:func:`sample_size_factor`); in exchange it may stop as soon as the evidence is there.

The guarantees were checked by simulation (daily looks, a growing population, clicks that arrive over
days): ``genemail.experiments.calibration``, figures in docs/EXPERIMENTS.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DEFAULT_PLANNED_N = 2000  # recipients per arm where the boundary is tightest (see the module docstring)


def tuning_constant(alpha: float) -> float:
    """``c`` of the module docstring: ``r = c`` at the planned size."""
    two_log = 2.0 * math.log(1.0 / alpha)
    return two_log + math.log(1.0 + two_log)


def mixing_ratio(n: object, planned_n: float, alpha: float) -> "np.ndarray":
    """``r = τ² / V`` for ``n`` recipients per arm (arrays): grows in proportion to ``n``."""
    import numpy as np

    return tuning_constant(alpha) * np.asarray(n, dtype=float) / float(planned_n)


def harmonic_n(n1: object, n2: object) -> "np.ndarray":
    """Recipients per arm of a balanced design with the same variance: ``2 / (1/n1 + 1/n2)`` (0 if an arm is empty)."""
    import numpy as np

    n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 2.0 / (1.0 / n1 + 1.0 / n2)
    return np.where((n1 > 0) & (n2 > 0), out, 0.0)


def critical_z(r: object, alpha: float) -> "np.ndarray":
    """The |z| the always-valid test must exceed at mixing ratio ``r`` (infinite where ``r == 0``)."""
    import numpy as np

    r = np.asarray(r, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = (1.0 + r) / r * (2.0 * math.log(1.0 / alpha) + np.log1p(r))
    return np.where(r > 0, np.sqrt(z2), np.inf)


def halfwidth(variance: object, r: object, alpha: float) -> "np.ndarray":
    """Half-width of the always-valid confidence sequence for an estimate with this variance."""
    import numpy as np

    return np.sqrt(np.asarray(variance, dtype=float)) * critical_z(r, alpha)


def p_value(estimate: object, variance: object, r: object) -> "np.ndarray":
    """The always-valid p-value of ``Δ = 0``: ``min(1, 1/Λ)``; NaN where the variance is 0 or NaN."""
    import numpy as np

    d, v, r = (np.asarray(a, dtype=float) for a in (estimate, variance, r))
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = d * d / v
        log_p = 0.5 * np.log1p(r) - r * z2 / (2.0 * (1.0 + r))
    out = np.minimum(1.0, np.exp(log_p))
    return np.where((v > 0) & (r > 0), out, np.nan)


def sample_size_factor(alpha: float, power: float) -> float:
    """How many times the fixed-horizon sample an always-valid test needs for ``power`` at its planned size.

    Conservative: it counts only a rejection at the last (planned) look, although the sequential test
    may reject earlier.
    """
    from scipy.stats import norm

    z_beta = norm.ppf(power)
    fixed = norm.isf(alpha / 2) + z_beta
    sequential = float(critical_z(tuning_constant(alpha), alpha)) + z_beta
    return (sequential / fixed) ** 2
