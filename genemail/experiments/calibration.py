"""Calibration of the report's statistics by simulation with a known truth (vectorized, seeded).

The tests assert these numbers fall in binomial bands; ``python -m genemail.experiments.calibration``
prints them (the figures in docs/EXPERIMENTS.md). Every simulated experiment goes through
:func:`genemail.experiments.stats.compare`, the function the report uses.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from genemail.experiments import daily_looks, sequential, stats

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


P_WIN_BINS: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


@dataclass(frozen=True)
class CalibrationRow:
    """Runs whose p_win fell in [low, high): how many, their mean p_win, how many had a positive lift;
    and the same for the flat prior it replaced (normal approximation of the Beta-Binomial)."""

    low: float
    high: float
    count: int
    mean_p_win: float
    positive: int
    flat_count: int
    flat_positive: int


def p_win_calibration(n_per_arm: int = 3000, runs: int = 200_000, base: float = 0.05, p_zero: float = 0.6,
                      lift_sd: float = 0.005, seed: int = 43) -> list[CalibrationRow]:
    """Small true lifts (``p_zero`` exactly 0, the rest N(0, ``lift_sd``)); bin p_win; count positive lifts."""
    import numpy as np
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    lift = np.where(rng.random(runs) < p_zero, 0.0, rng.normal(0.0, lift_sd, runs))
    x_ctl = rng.binomial(n_per_arm, base, runs)
    x_seg = rng.binomial(n_per_arm, np.clip(base + lift, 0.0, 1.0))
    result = stats.compare(x_seg, n_per_arm, x_ctl, n_per_arm, adjust=False)
    diff = stats.difference(x_seg, n_per_arm, x_ctl, n_per_arm)
    flat = norm.cdf(diff["estimate"] / np.sqrt(diff["variance"]))
    rows = []
    edges = list(P_WIN_BINS)
    for low, high in zip(edges[:-1], edges[1:]):
        top = high if high < 1 else 1.0 + 1e-12
        mask, flat_mask = (result["p_win"] >= low) & (result["p_win"] < top), (flat >= low) & (flat < top)
        rows.append(CalibrationRow(low, high, int(mask.sum()),
                                   float(result["p_win"][mask].mean()) if mask.any() else float("nan"),
                                   int((lift[mask] > 0).sum()), int(flat_mask.sum()), int((lift[flat_mask] > 0).sum())))
    return rows


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
    _print_daily_looks(n_sim)
    _print_p_win()
    return 0


def _print_daily_looks(n_sim: int) -> None:
    """The tables of docs/EXPERIMENTS.md about reading the report every day."""
    print(f"\nA/A read daily ({n_sim} runs; 14 looks, growing population, clicks over days; 5 segments + overall)")
    print("| analysis | false win per segment, any look | runs with a false win anywhere | runs with any "
          "significant result |")
    print("|---|---:|---:|---:|")
    for analysis in (stats.FIXED, stats.SEQUENTIAL):
        r = daily_looks.peeking(analysis, runs=n_sim)
        print(f"| {analysis} | {r.segment_wins / (r.runs * r.segments):.4f} | {r.report_wins / r.runs:.4f} | "
              f"{r.report_any / r.runs:.4f} |")
    for analysis in (stats.FIXED, stats.SEQUENTIAL):
        covered, trials = daily_looks.coverage_at_every_look(analysis, runs=n_sim)
        print(f"coverage at every look ({analysis}): {covered / trials:.4f} of {trials} (run, scope) pairs")
    print("\nSample-ratio check: share of runs blocked (assigned 50/50, 99% delivered, control dropped as shown)")
    print("| per arm | dropped | sequential, last look | sequential, any look | chi-square, last look |")
    print("|---:|---:|---:|---:|---:|")
    for n_per_arm in (5_000, 7_500, 10_000):
        for dropped in (0.0, 0.077):
            seq = daily_looks.srm_rates(dropped, n_per_arm, runs=n_sim)
            chi = daily_looks.srm_rates(dropped, n_per_arm, runs=n_sim, sequential=False)
            print(f"| {n_per_arm:,} | {dropped:.3f} | {seq.blocked_last_look / n_sim:.4f} | "
                  f"{seq.blocked_any_look / n_sim:.4f} | {chi.blocked_last_look / n_sim:.4f} |")
    c = daily_looks.cuped_check(runs=n_sim)
    print(f"\nCUPED, covariate correlated 0.5 ({n_sim} runs, 2,000 per arm): reported reduction "
          f"{c.mean_reduction:.3f}, measured {c.empirical_reduction:.3f}, bias {c.bias:+.5f} (MC SE {c.bias_se:.5f}), "
          f"fixed coverage {c.covered_fixed / n_sim:.4f}, sequential coverage at every look "
          f"{c.covered_sequential / n_sim:.4f}")
    n = stats.plan_sample_size(0.04, 0.01)
    n_seq = math.ceil(n * sequential.sample_size_factor(stats.DEFAULT_ALPHA, 0.8))
    print(f"sequential power: {n_seq} per arm (1.91 x {n}), 14 looks: significant_win in "
          f"{daily_looks.power_any_look(0.04, 0.01, n_seq) / 2000:.3f} of 2,000 runs (planned 0.80)")


def _print_p_win() -> None:
    print("\np_win calibration: true lifts 60% exactly 0, 40% N(0, 0.5 pt), control 5%, 200,000 runs per size")
    print("| per arm | p_win band | runs | mean p_win | share with a positive lift | flat prior: runs | "
          "flat prior: share positive |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n_per_arm in (1000, 3000, 10000):
        for row in p_win_calibration(n_per_arm):
            if row.low < 0.5:
                continue
            share = row.positive / row.count if row.count else float("nan")
            flat = row.flat_positive / row.flat_count if row.flat_count else float("nan")
            print(f"| {n_per_arm:,} | {row.low:.2f}-{row.high:.2f} | {row.count:,} | {row.mean_p_win:.3f} | "
                  f"{share:.3f} | {row.flat_count:,} | {flat:.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
