"""Sample-ratio mismatch: did the platform deliver the arms in the proportions they were assigned?

Each customer of the ``segmented`` and ``control`` arms was assigned by the send log; the platform
reports a ``delivered`` or a ``bounce`` event for every email it actually sent. If it silently dropped
part of one arm (a suppression list, a send limit, a failed upload), the two arms' delivered shares
drift from their assigned shares, and every lift computed on them is biased: with 7.7% of control
sends dropped, clicks per assigned control customer fall by 7.7% and the segmented arm "wins". The
check compares, per scope, the customers with a delivery or bounce event in each arm against the
split the assignment predicts (the assigned counts, not the planned fractions: the hash's own
binomial noise is no mismatch).

* ``sequential`` (the default analysis): the always-valid test of Lindon and Malek ("Anytime-valid
  inference for multinomial count data", NeurIPS 2022; Optimizely's and GrowthBook's sequential SRM):
  the Bayes factor of a Dirichlet(k θ0) mixture against the assigned shares θ0,
  ``BF = B(k θ0 + o) / B(k θ0) / Π θ0^o``, a martingale under no mismatch, so ``p = min(1, 1/BF)``
  stays valid however often the report is read.
* ``fixed``: Pearson's χ² test of the delivered counts against the assigned shares (1 degree of
  freedom), for a report read once.

A scope is blocked when ``p < 0.001`` (Eppo's and GrowthBook's threshold: a real mismatch is usually
glaring, and a false block costs a decision). Simulated power and false-block rates are in
docs/EXPERIMENTS.md (``genemail.experiments.calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SRM_ALPHA = 0.001
# Dirichlet concentration k: the prior on the delivered share has sd ~ 0.5 / sqrt(k) ≈ 0.016 around
# the assigned share, which puts the test's power where mismatches of one to a few points live.
SRM_CONCENTRATION = 1000.0
CHECKS = ("check the platform's suppression lists and send limits, that every segmented and control row of the "
          "send log was uploaded, and that delivery and bounce events carry the customer id")


@dataclass(frozen=True)
class SrmResult:
    """Per scope (arrays over the leading axes): the p-value, whether it blocks, and the counts.

    ``expected`` are the delivered counts the assignment predicts (arrays of shape ``(..., 2)``:
    segmented, control), ``observed`` the customers with a delivery or bounce event, ``lost`` the
    sends the arm with the lower delivery ratio is missing relative to the other arm.
    """

    p_value: "np.ndarray"
    blocked: "np.ndarray"
    expected: "np.ndarray"
    observed: "np.ndarray"
    lost: "np.ndarray"


def _log_beta(a: "np.ndarray") -> "np.ndarray":
    from scipy.special import gammaln

    return gammaln(a).sum(axis=-1) - gammaln(a.sum(axis=-1))


def sequential_p(assigned: object, observed: object, concentration: float = SRM_CONCENTRATION) -> "np.ndarray":
    """Always-valid p-value of the Dirichlet-multinomial test (last axis = arms); NaN with nothing observed."""
    import numpy as np
    from scipy.special import xlogy

    a, o = np.asarray(assigned, dtype=float), np.asarray(observed, dtype=float)
    total = a.sum(axis=-1, keepdims=True)
    theta = np.divide(a, total, out=np.zeros_like(a), where=total > 0)
    prior = concentration * theta
    ok = (o.sum(axis=-1) > 0) & (theta > 0).all(axis=-1)
    safe_prior = np.where(prior > 0, prior, 1.0)
    log_bf = _log_beta(safe_prior + o) - _log_beta(safe_prior) - xlogy(o, np.where(theta > 0, theta, 1.0)).sum(axis=-1)
    return np.where(ok, np.minimum(1.0, np.exp(-log_bf)), np.nan)


def chi_square_p(assigned: object, observed: object) -> "np.ndarray":
    """Pearson χ² p-value of the observed counts against the assigned shares (last axis = arms)."""
    import numpy as np
    from scipy.stats import chi2

    a, o = np.asarray(assigned, dtype=float), np.asarray(observed, dtype=float)
    total_a, total_o = a.sum(axis=-1, keepdims=True), o.sum(axis=-1, keepdims=True)
    expected = np.divide(a * total_o, total_a, out=np.zeros_like(a), where=total_a > 0)
    ok = (o.sum(axis=-1) > 0) & (expected > 0).all(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (np.where(expected > 0, (o - expected) ** 2 / expected, 0.0)).sum(axis=-1)
    return np.where(ok, chi2.sf(stat, a.shape[-1] - 1), np.nan)


def check(assigned: object, observed: object, *, sequential: bool = True,
          alpha: float = SRM_ALPHA) -> SrmResult:
    """The sample-ratio check per scope; ``assigned`` and ``observed`` have the arms on the last axis.

    A scope with no delivery or bounce event at all (an export without them) has a NaN p-value and
    is not blocked: there is nothing to check.
    """
    import numpy as np

    a, o = np.asarray(assigned, dtype=float), np.asarray(observed, dtype=float)
    p = sequential_p(a, o) if sequential else chi_square_p(a, o)
    total_a, total_o = a.sum(axis=-1, keepdims=True), o.sum(axis=-1, keepdims=True)
    expected = np.divide(a * total_o, total_a, out=np.zeros_like(a), where=total_a > 0)
    ratio = np.divide(o, a, out=np.zeros_like(a), where=a > 0)
    lost = np.maximum(0.0, a * ratio.max(axis=-1, keepdims=True) - o)
    return SrmResult(p_value=p, blocked=~np.isnan(p) & (p < alpha), expected=expected, observed=o, lost=lost)
