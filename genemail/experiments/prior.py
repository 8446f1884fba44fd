"""``p_win``: the probability that the segmented email truly lifts the rate, under a prior built for small lifts.

A flat prior on each arm's rate (the old ``p_win``) believes any lift is as likely as any other, so
noise reads as evidence: in A/A experiments ``p_win >= 0.95`` showed up in one of five segments in
a fifth of the reports, and where true lifts are small, runs with ``p_win`` 0.90-0.95 had a positive
lift only 38% of the time. Most email changes move clicks by little or nothing, so the prior says so.

**The prior on the lift** ``Δ`` (relative to the scope's pooled rate ``p̄``; a skeptical scale mixture
of normals):

=========================  ========  =================================================
component                  weight    meaning
=========================  ========  =================================================
``Δ = 0``                  0.55      no effect at all (most changes)
``Δ ~ N(0, (0.1 p̄)²)``     0.40      a small effect, about 10% relative
``Δ ~ N(0, (1.0 p̄)²)``     0.05      a large effect (the tail: real wins are not shrunk away)
=========================  ========  =================================================

With the estimate ``d`` and its standard error ``s`` (regression-adjusted when the send log has
covariates), each component's posterior is normal, so ``p_win = Σ_k w_k' Φ(m_k / s_k)`` exactly:
``w_k'`` the component's posterior weight (its weight times the density of ``d`` under
``N(0, s² + τ_k²)``), ``m_k = d τ_k² / (τ_k² + s²)``, ``s_k² = τ_k² s² / (τ_k² + s²)``; the point mass
contributes 0 (no effect is not a win). Its calibration under a realistic distribution of true lifts
is a table in docs/EXPERIMENTS.md (``python -m genemail.experiments.calibration``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genemail.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class LiftPrior:
    """A scale mixture of normals on the lift: ``(weight, relative sd)`` per component (sd 0 = no effect)."""

    components: tuple[tuple[float, float], ...] = ((0.55, 0.0), (0.40, 0.10), (0.05, 1.0))

    def __post_init__(self) -> None:
        ok = bool(self.components) and all(
            isinstance(w, (int, float)) and isinstance(sd, (int, float)) and w > 0 and sd >= 0
            for w, sd in self.components)
        if not ok or not math.isclose(sum(w for w, _ in self.components), 1.0, abs_tol=1e-9):
            raise ConfigError(f"components={self.components!r} is invalid", where="LiftPrior",
                              fix="pass (weight, relative sd) pairs with positive weights summing to 1, sd >= 0")

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form, for the report."""
        return {"components": [{"weight": w, "relative_sd": sd} for w, sd in self.components]}


DEFAULT_PRIOR = LiftPrior()


def p_win(estimate: object, se: object, base_rate: object, prior: LiftPrior = DEFAULT_PRIOR) -> "np.ndarray":
    """P(true lift > 0 | estimate) under ``prior`` (arrays); NaN where the standard error is 0 or NaN."""
    import numpy as np
    from scipy.special import logsumexp
    from scipy.stats import norm

    d, s, rate = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (estimate, se, base_rate)))
    scale = np.maximum(np.nan_to_num(rate, nan=0.0), 1e-4)  # a rate of 0 still allows a lift off 0
    log_w, win = [], []
    for weight, sd in prior.components:
        tau2 = (sd * scale) ** 2
        total = s * s + tau2
        with np.errstate(divide="ignore", invalid="ignore"):
            log_w.append(math.log(weight) + norm.logpdf(d, 0.0, np.sqrt(total)))
            if sd == 0:
                win.append(np.zeros_like(d))
            else:
                mean, post_sd = d * tau2 / total, np.sqrt(tau2 * s * s / total)
                win.append(norm.cdf(mean / post_sd))
    log_w = np.stack(log_w)
    post = np.exp(log_w - logsumexp(log_w, axis=0))
    out = (post * np.stack(win)).sum(axis=0)
    return np.where((s > 0) & np.isfinite(d), out, np.nan)
