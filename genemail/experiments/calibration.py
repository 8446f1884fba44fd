"""Calibration of the report's statistics by simulation with a known truth (vectorized, seeded).

The tests assert these numbers fall in binomial bands; ``python -m genemail.experiments.calibration``
prints them (the figures in docs/EXPERIMENTS.md). Every simulated experiment goes through
:func:`genemail.experiments.stats.compare`, the function the report uses.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from genemail.experiments import stats

DEFAULT_SIMULATIONS = 4000
# (control rate, segmented rate, control n, segmented n): what the coverage table shows.
COVERAGE_SCENARIOS: tuple[tuple[float, float, int, int], ...] = (
    (0.04, 0.06, 2000, 2000),   # a typical click lift
    (0.01, 0.015, 3000, 6000),  # a rare event, unequal arms
    (0.20, 0.25, 500, 500),     # a common event, small arms
    (0.05, 0.05, 1000, 1000),   # no lift
)


@dataclass(frozen=True)
class Coverage:
    """How often the 95% intervals held the truth, as counts out of ``simulations``."""

    simulations: int
    lift: int
    segmented_rate: int
    control_rate: int


@dataclass(frozen=True)
class FalseWins:
    """A/A results as counts: ``cells`` = experiments x segments."""

    experiments: int
    cells: int
    rejected: int           # unadjusted two-sided p < alpha
    wins: int               # unadjusted significant_win
    experiments_with_win: int  # experiments with any significant_win after Holm over segments


def coverage(p_control: float, p_segmented: float, n_control: int, n_segmented: int,
             simulations: int = DEFAULT_SIMULATIONS, seed: int = 20250301) -> Coverage:
    """Simulate experiments with a known lift; count intervals (lift, both rates) that contain the truth."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x_seg = rng.binomial(n_segmented, p_segmented, simulations)
    x_ctl = rng.binomial(n_control, p_control, simulations)
    result = stats.compare(x_seg, n_segmented, x_ctl, n_control, analysis=stats.FIXED, adjust=False)
    truth = p_segmented - p_control
    lift = int(((result["ci_low"] <= truth) & (truth <= result["ci_high"])).sum())
    rates = []
    for x, n, p in ((x_seg, n_segmented, p_segmented), (x_ctl, n_control, p_control)):
        low, high = stats.wilson_ci(x, n)
        rates.append(int(((low <= p) & (p <= high)).sum()))
    return Coverage(simulations, lift, rates[0], rates[1])


def false_wins(rate: float = 0.05, n: int = 1000, segments: int = 5, experiments: int = DEFAULT_SIMULATIONS,
               seed: int = 7) -> FalseWins:
    """A/A: both arms share ``rate``; count rejections and (false) wins, before and after Holm."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (experiments, segments)
    x_seg, x_ctl = rng.binomial(n, rate, shape), rng.binomial(n, rate, shape)
    raw = stats.compare(x_seg, n, x_ctl, n, analysis=stats.FIXED, adjust=False)
    adjusted = stats.compare(x_seg, n, x_ctl, n, analysis=stats.FIXED, adjust=True)
    return FalseWins(
        experiments=experiments, cells=experiments * segments,
        rejected=int((raw["p_value"] < stats.DEFAULT_ALPHA).sum()),
        wins=int((raw["decision"] == stats.SIGNIFICANT_WIN).sum()),
        experiments_with_win=int((adjusted["decision"] == stats.SIGNIFICANT_WIN).any(axis=1).sum()),
    )


def power(rate: float, lift: float, n: int, simulations: int = 2000, seed: int = 11) -> int:
    """How many of ``simulations`` experiments with ``n`` per arm and a true ``lift`` end in significant_win."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x_seg, x_ctl = rng.binomial(n, rate + lift, simulations), rng.binomial(n, rate, simulations)
    decisions = stats.compare(x_seg, n, x_ctl, n, analysis=stats.FIXED, adjust=False)["decision"]
    return int((decisions == stats.SIGNIFICANT_WIN).sum())


def main(argv: list[str] | None = None) -> int:
    """Print the calibration tables."""
    parser = argparse.ArgumentParser(prog="python -m genemail.experiments.calibration", description=__doc__)
    parser.add_argument("--simulations", type=int, default=DEFAULT_SIMULATIONS)
    args = parser.parse_args(argv)
    n_sim = args.simulations
    print(f"Coverage of the 95% intervals ({n_sim} simulated experiments per row)")
    print("| control | segmented | n control | n segmented | lift (Newcomb) | segmented rate (Wilson) | control rate (Wilson) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for p_c, p_s, n_c, n_s in COVERAGE_SCENARIOS:
        c = coverage(p_c, p_s, n_c, n_s, n_sim)
        print(f"| {p_c:.3f} | {p_s:.3f} | {n_c} | {n_s} | {c.lift / n_sim:.3f} | {c.segmented_rate / n_sim:.3f} | "
              f"{c.control_rate / n_sim:.3f} |")
    a = false_wins(experiments=n_sim)
    print(f"\nA/A ({a.experiments} experiments x 5 segments, 1,000 per arm, 5% in both arms)")
    print(f"unadjusted p < 0.05: {a.rejected / a.cells:.4f} (nominal 0.05); unadjusted significant_win: "
          f"{a.wins / a.cells:.4f} (nominal 0.025); experiments with any significant_win after Holm: "
          f"{a.experiments_with_win / a.experiments:.4f} (Holm bounds the chance of any false win by about 0.025)")
    n = stats.plan_sample_size(0.04, 0.01)
    wins = power(0.04, 0.01, n)
    print(f"\nPower: plan_sample_size(0.04, 0.01) = {n} per arm; significant_win in {wins / 2000:.3f} "
          "of 2,000 simulated experiments (planned 0.80)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
