"""Evaluation statistics: Wilson intervals and McNemar against textbook values, and by simulation.

Textbook values: Newcombe (1998), "Two-sided confidence intervals for the single proportion",
Statistics in Medicine 17, Table II (method 3, the score interval); Agresti (2002), Categorical Data
Analysis, Table 10.1 (presidential approval, McNemar's statistic 17.36 without continuity correction).
The simulations draw outcomes with a known truth and check coverage / false-positive rates against a
binomial tolerance band (fixed seeds, so they cannot flake).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from genemail.errors import ConfigError
from genemail.evaluation.stats import (
    as_outcomes,
    bootstrap_difference,
    compare,
    compare_by_segment,
    holm,
    mcnemar_test,
    rate_summary,
    verdict,
    wilson_interval,
)


@pytest.mark.parametrize("count, n, low, high", [
    (81, 263, 0.2553, 0.3662),  # Newcombe (1998), example (a)
    (15, 148, 0.0624, 0.1605),  # example (b)
    (0, 20, 0.0, 0.1611),  # example (c)
    (1, 29, 0.0061, 0.1718),  # example (d)
])
def test_wilson_interval_matches_newcombe(count: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(count, n) == pytest.approx([low, high], abs=1e-4)


def test_wilson_interval_edges_and_errors() -> None:
    assert wilson_interval(0, 0) == [0.0, 1.0]
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and low == pytest.approx(0.8389, abs=1e-4)  # the mirror of 0/20
    for count, n in ((3, 2), (-1, 5)):
        with pytest.raises(ConfigError):
            wilson_interval(count, n)


def test_wilson_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(0)
    trials = 2000
    for p, n in ((0.05, 100), (0.5, 60), (0.97, 200)):
        counts = rng.binomial(n, p, trials)
        covered = sum(lo <= p <= hi for lo, hi in (wilson_interval(int(c), n) for c in counts))
        # Wilson's coverage is close to nominal; allow the binomial band of `trials` draws at 0.95
        band = binom.ppf([0.0005, 0.9995], trials, 0.95) / trials
        assert band[0] - 0.02 <= covered / trials <= 1.0, (p, n, covered / trials)


def test_mcnemar_matches_agresti_and_the_exact_binomial() -> None:
    # Agresti (2002) Table 10.1: 794 approve/approve, 150 approve/disapprove, 86 disapprove/approve.
    a = [1] * 794 + [1] * 150 + [0] * 86 + [0] * 570
    b = [1] * 794 + [0] * 150 + [1] * 86 + [0] * 570
    result = mcnemar_test(a, b)
    assert (result["a_only"], result["b_only"], result["exact"]) == (150, 86, False)
    assert result["statistic"] == pytest.approx((abs(150 - 86) - 1) ** 2 / 236, abs=1e-4)  # 16.82, corrected
    assert (150 - 86) ** 2 / 236 == pytest.approx(17.36, abs=0.01)  # Agresti's uncorrected value
    # Few discordant pairs: the exact two-sided binomial test, 2 * P(X <= 1 | n=10, p=1/2).
    small = mcnemar_test([1] * 5 + [1] + [0] * 9, [1] * 5 + [0] + [1] * 9)
    assert small["exact"] and small["p_value"] == pytest.approx(2 * (1 + 10) / 1024)
    assert mcnemar_test([1, 0, 1], [1, 0, 1])["p_value"] == 1.0  # no discordant pair, no evidence


def test_mcnemar_keeps_its_level_under_the_null() -> None:
    # Both variants succeed with the same probability per customer (correlated through the customer).
    rng = np.random.default_rng(1)
    trials, n = 400, 300
    rejections = 0
    for _ in range(trials):
        p = rng.uniform(0.3, 0.9, n)
        a, b = rng.random(n) < p, rng.random(n) < p
        rejections += mcnemar_test(a.astype(int), b.astype(int))["p_value"] < 0.05
    assert rejections / trials <= binom.ppf(0.999, trials, 0.05) / trials


def test_bootstrap_interval_of_a_paired_difference_covers_the_truth() -> None:
    rng = np.random.default_rng(2)
    trials, n, covered = 200, 250, 0
    p_a, p_b = 0.8, 0.7
    for t in range(trials):
        base = rng.random(n)
        a, b = (base < p_a).astype(float), (base < p_b).astype(float)  # paired: same customer draw
        b = np.where(rng.random(n) < 0.2, rng.random(n) < p_b, b).astype(float)  # some independent noise
        result = bootstrap_difference(a, b, seed=t, n_resamples=999)
        covered += result["ci"][0] <= p_a - p_b <= result["ci"][1]
    band = binom.ppf([0.001, 0.999], trials, 0.95) / trials
    assert band[0] - 0.03 <= covered / trials <= band[1], covered / trials


def test_rate_summary_over_seeds_and_segments() -> None:
    outcomes = [[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]]  # 3 seeds x 4 customers
    summary = rate_summary(outcomes, ["A", "A", "B", "B"])
    per_seed = [0.75, 0.5, 1.0]
    assert summary["rate"] == pytest.approx(np.mean(per_seed), abs=1e-4)
    assert summary["sd"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-4)
    assert summary["per_seed"] == per_seed and summary["n"] == 4
    # the interval counts customers, not customer x seed draws: never narrower than one seed's
    assert summary["ci"] == wilson_interval(summary["rate"] * 4, 4)
    assert summary["per_segment"]["A"]["rate"] == pytest.approx(5 / 6, abs=1e-4)
    assert summary["per_segment"]["B"] == {"rate": round(4 / 6, 4), "ci": wilson_interval(4 / 6 * 2, 2), "n": 2}
    with pytest.raises(ConfigError):
        as_outcomes([[0.5, 1]])


def test_compare_and_verdicts() -> None:
    rng = np.random.default_rng(3)
    n = 400
    better = (rng.random((3, n)) < 0.9).astype(int)
    worse = (rng.random((3, n)) < 0.6).astype(int)
    result = compare(better, worse, seed=0)
    assert result["diff"] == pytest.approx(better.mean() - worse.mean(), abs=1e-4)
    assert result["ci"][0] > 0 and len(result["mcnemar"]) == 3
    assert result["p_value"] == max(t["p_value"] for t in result["mcnemar"])
    assert verdict(result["ci"], result["p_value"], "a", "b") == "a better"
    assert verdict([-0.2, -0.1], 0.001, "a", "b") == "b better"
    assert verdict([-0.01, 0.05], 0.001, "a", "b") == "within noise"
    assert verdict([0.01, 0.05], 0.2, "a", "b") == "within noise"
    same = compare(better, better)
    assert same["diff"] == 0.0 and same["ci"] == [0.0, 0.0] and same["p_value"] == 1.0


def test_compare_by_segment_adjusts_over_segments() -> None:
    rng = np.random.default_rng(4)
    segments = ["big"] * 300 + ["none"] * 300
    a = np.concatenate([rng.random(300) < 0.9, rng.random(300) < 0.5]).astype(int)
    b = np.concatenate([rng.random(300) < 0.5, rng.random(300) < 0.5]).astype(int)
    result = compare_by_segment(a, b, segments, ("a", "b"))
    assert result["per_segment"]["big"]["verdict"] == "a better"
    assert result["per_segment"]["none"]["verdict"] == "within noise"
    raw = [result["per_segment"][s]["p_value"] for s in ("big", "none")]
    assert [result["per_segment"][s]["p_value_holm"] for s in ("big", "none")] == pytest.approx(holm(raw))


def test_holm_by_hand() -> None:
    # sorted p: 0.01, 0.02, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.02), max(0.04, 1 x 0.04)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([]) == []
    assert math.isclose(holm([0.5])[0], 0.5)
