"""How many customers an experiment needs, for the analysis the report will run, and what that assumes.

``plan_experiment`` starts from the fixed-horizon size (:func:`genemail.experiments.stats.plan_sample_size`)
and applies, in order:

1. **the sequential design's cost**: an always-valid test read at any time needs
   :func:`genemail.experiments.sequential.sample_size_factor` times more (1.91 at α = 0.05 and 80%
   power) to keep the power at its last look (checked by simulation: 14 daily looks at 1.91 x 6,726
   per arm detect 4% -> 5% in 84% of runs);
2. **the covariates' variance reduction** ``R²`` (CUPED): the variance, hence the size, shrinks by
   ``1 - R²``; the report prints the reduction it achieved (``variance_reduction``), the number to
   plan the next experiment with;
3. **the report's minimum per arm** (``--min-n``, 500): below it no decision is made, so a smaller
   plan is raised to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genemail.errors import ConfigError
from genemail.experiments import sequential, stats
from genemail.experiments.assignment import CONTROL, SEGMENTED, ExperimentConfig


@dataclass(frozen=True)
class Plan:
    """Recipients per arm (segmented and control alike) in each segment that should get a decision."""

    rate: float
    lift: float
    power: float
    alpha: float
    analysis: str
    variance_reduction: float
    min_n: int
    fixed_n: int            # fixed horizon, no covariates
    sequential_n: int       # always-valid, no covariates
    adjusted_n: int         # the chosen analysis, after the variance reduction
    per_arm: int            # adjusted_n raised to min_n: what to plan for
    campaign: int | None = None   # customers in total, when the arm fractions are given
    smallest_fraction: float | None = None

    def lines(self) -> list[str]:
        """The plan as text, assumptions included."""
        seq = sequential.sample_size_factor(self.alpha, self.power)
        text = [f"To detect {self.rate:.2%} -> {self.rate + self.lift:.2%} ({100 * self.lift:+.2f} pts) with "
                f"{self.power:.0%} power at alpha {self.alpha}, per arm (segmented and control) in each segment "
                "you want a decision for:",
                f"  fixed horizon (read once at this size, --analysis fixed): {self.fixed_n:,}",
                f"  always-valid (read as often as you like, the default): {self.sequential_n:,} "
                f"({seq:.2f} x the fixed size: the price of looking at any time)"]
        if self.variance_reduction > 0:
            text.append(f"  with covariates removing {self.variance_reduction:.0%} of the variance "
                        f"(--variance-reduction): {self.adjusted_n:,} ({self.analysis})")
        if self.adjusted_n < self.min_n:
            text.append(f"  raised to the report's minimum of {self.min_n:,} per arm (--min-n): below it no decision "
                        "is made")
        text.append(f"Plan for {self.per_arm:,} recipients per arm ({self.analysis} analysis)"
                    + (f"; run the report with --planned-n {self.per_arm}" if self.analysis == stats.SEQUENTIAL
                       else "; read the report once, at that size") + ".")
        if self.campaign is not None:
            text.append(f"With those arm fractions: {self.campaign:,} customers per segment (the smaller of "
                        f"segmented and control gets {self.smallest_fraction:.0%}).")
        text.append("Assumes: a two-sided test; the control rate you gave; independent customers; equal "
                    "segmented and control arms (a smaller arm sets the size); "
                    + ("the variance reduction you gave (take it from an earlier report's variance_reduction); "
                       if self.variance_reduction > 0 else "no covariates (pass --variance-reduction R2 if the "
                                                           "send log carries pre-period covariates); ")
                    + "the sequential size counts only a win at the last look (it may come earlier).")
        return text


def _fraction(name: str, value: float, top: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < top or math.isnan(value):
        raise ConfigError(f"{name}={value!r} is invalid", where="plan", fix=f"pass a number in [0, {top}), e.g. 0.2")


def plan_experiment(rate: float, lift: float, power: float = 0.8, alpha: float = stats.DEFAULT_ALPHA, *,
                    analysis: str = stats.SEQUENTIAL, variance_reduction: float = 0.0,
                    min_n: int = stats.DEFAULT_MIN_N, control: float | None = None, holdout: float = 0.0) -> Plan:
    """The plan for detecting an absolute ``lift`` over ``rate`` (see the module docstring)."""
    if analysis not in stats.ANALYSES:
        raise ConfigError(f"analysis={analysis!r} is invalid", where="plan", fix="pass sequential or fixed")
    _fraction("variance_reduction", variance_reduction, 1.0)
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1:
        raise ConfigError(f"min_n={min_n!r} is invalid", where="plan", fix="pass a positive number of recipients")
    fixed = stats.plan_sample_size(rate, lift, power, alpha)
    seq = int(math.ceil(fixed * sequential.sample_size_factor(alpha, power)))
    chosen = seq if analysis == stats.SEQUENTIAL else fixed
    adjusted = int(math.ceil(chosen * (1.0 - variance_reduction)))
    per_arm = max(adjusted, min_n)
    campaign = smallest = None
    if control is not None:
        fractions = ExperimentConfig(name="plan", control=control, holdout=holdout).fractions
        smallest = min(fractions[SEGMENTED], fractions[CONTROL])
        campaign = int(math.ceil(per_arm / smallest))
    return Plan(rate=rate, lift=lift, power=power, alpha=alpha, analysis=analysis,
                variance_reduction=float(variance_reduction), min_n=min_n, fixed_n=fixed, sequential_n=seq,
                adjusted_n=adjusted, per_arm=per_arm, campaign=campaign, smallest_fraction=smallest)
