"""The report's statistics, proven by simulation with a known truth (fixed seeds, vectorized).

The simulations are ``genemail.experiments.calibration`` (which prints the same figures for the docs);
every simulated experiment goes through ``stats.compare``, as the report does.

Each check compares a count over many simulated experiments with the binomial band it must fall in
if the method does what it claims: a 99.9% band, so a correct method fails a check with probability
about 0.1%, and the fixed seed makes every run give the same answer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from genemail.errors import ConfigError
from genemail.experiments import plan_sample_size
from genemail.experiments import calibration, stats

SIMULATIONS = 4000


def _band(n: int, p: float, tail: float = 0.0005) -> tuple[float, float]:
    """The central 99.9% range of a Binomial(n, p) count."""
    return binom.ppf(tail, n, p), binom.isf(tail, n, p)


@pytest.mark.parametrize(("p_control", "p_segmented", "n_control", "n_segmented"), calibration.COVERAGE_SCENARIOS)
def test_intervals_cover_the_true_rate_and_lift_95_percent_of_the_time(p_control: float, p_segmented: float,
                                                                       n_control: int, n_segmented: int) -> None:
    result = calibration.coverage(p_control, p_segmented, n_control, n_segmented, SIMULATIONS)
    lo, hi = _band(SIMULATIONS, 0.95)
    for name, covered in (("lift", result.lift), ("segmented rate", result.segmented_rate),
                          ("control rate", result.control_rate)):
        assert lo <= covered <= hi, f"{name} interval covered {covered / SIMULATIONS:.3f} of {SIMULATIONS}"


def test_with_no_true_lift_significant_win_comes_at_the_nominal_rate_not_more() -> None:
    # A/A: 4,000 experiments of 5 segments, 1,000 recipients per arm, the same 5% click rate in both arms.
    result = calibration.false_wins(rate=0.05, n=1000, segments=5, experiments=SIMULATIONS)
    cells = result.cells
    # The unadjusted two-sided test rejects 5% of the time, and half of those are "wins".
    assert _band(cells, 0.05)[0] <= result.rejected <= _band(cells, 0.05)[1], result.rejected / cells
    assert _band(cells, 0.025)[0] <= result.wins <= _band(cells, 0.025)[1], result.wins / cells
    # Holm over the 5 segments: the chance of *any* false win in an experiment stays at or below 2.5%.
    assert result.experiments_with_win <= _band(SIMULATIONS, 0.025)[1], result.experiments_with_win / SIMULATIONS


def test_holm_only_raises_p_values_and_decisions_stay_in_the_vocabulary() -> None:
    rng = np.random.default_rng(1)
    x_seg, x_ctl = rng.binomial(1000, 0.05, (500, 5)), rng.binomial(1000, 0.06, (500, 5))
    adjusted = stats.compare(x_seg, 1000, x_ctl, 1000, adjust=True)
    assert (adjusted["p_value_adj"] >= adjusted["p_value"] - 1e-12).all()
    assert set(np.unique(adjusted["decision"])) <= {stats.SIGNIFICANT_WIN, stats.SIGNIFICANT_LOSS, stats.INCONCLUSIVE}


def test_the_planned_sample_size_gives_the_planned_power() -> None:
    n = plan_sample_size(0.04, 0.01, power=0.8, alpha=0.05)
    assert 6000 < n < 7500  # the textbook size for 4% -> 5% is about 6,700 per arm
    wins = calibration.power(0.04, 0.01, n, simulations=2000)
    assert _band(2000, 0.8)[0] <= wins <= _band(2000, 0.8)[1], wins / 2000
    # Power grows with the lift and shrinks with alpha.
    assert plan_sample_size(0.04, 0.02) < n < plan_sample_size(0.04, 0.01, alpha=0.01)
    assert plan_sample_size(0.04, -0.01) > 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"rate": 0}, "rate"), ({"rate": 1.2}, "rate"), ({"lift": 0}, "lift"), ({"lift": 0.99}, "lift"),
     ({"power": 1}, "power"), ({"alpha": 0}, "alpha"), ({"rate": True}, "rate")],
)
def test_plan_refuses_impossible_inputs(kwargs: dict, name: str) -> None:
    args = {"rate": 0.04, "lift": 0.01, "power": 0.8, "alpha": 0.05, **kwargs}
    with pytest.raises(ConfigError, match=name):
        plan_sample_size(**args)


def test_p_win_matches_monte_carlo_and_is_symmetric() -> None:
    rng = np.random.default_rng(3)
    for x1, n1, x2, n2 in [(70, 1000, 40, 1000), (2500, 50000, 2450, 50000), (0, 500, 3, 500), (5, 20, 5, 20)]:
        exact = stats.p_win_flat(x1, n1, x2, n2)
        draws = 400_000
        mc = float((rng.beta(1 + x1, 1 + n1 - x1, draws) > rng.beta(1 + x2, 1 + n2 - x2, draws)).mean())
        assert abs(exact - mc) < 4 * math.sqrt(0.25 / draws) + 1e-9, (x1, n1, x2, n2, exact, mc)
        assert exact + stats.p_win_flat(x2, n2, x1, n1) == pytest.approx(1.0, abs=1e-7)
    assert stats.p_win_flat(50, 1000, 50, 1000) == pytest.approx(0.5, abs=1e-7)
    assert math.isnan(stats.p_win_flat(0, 0, 3, 10))


def test_decisions_follow_sample_size_sign_and_adjusted_p() -> None:
    decisions = stats.decide([600, 600, 600, 100, 600], [600, 600, 600, 600, 499],
                             [0.02, -0.02, 0.02, 0.5, 0.5], [0.01, 0.01, 0.2, 0.0, 0.0])
    assert decisions.tolist() == [stats.SIGNIFICANT_WIN, stats.SIGNIFICANT_LOSS, stats.INCONCLUSIVE,
                                  stats.NOT_ENOUGH_DATA, stats.NOT_ENOUGH_DATA]


def test_empty_and_degenerate_arms() -> None:
    low, high = stats.wilson_ci([0, 0], [0, 50])
    assert math.isnan(low[0]) and low[1] == 0.0 and 0 < high[1] < 0.1
    assert stats.diff_pvalue([0], [500], [0], [500])[0] == 1.0  # no events anywhere: no evidence
    assert math.isnan(stats.diff_pvalue([3], [0], [1], [10])[0])
    result = stats.compare([0, 30], [0, 600], [0, 10], [0, 600])
    assert math.isnan(result["lift"][0]) and result["decision"][0] == stats.NOT_ENOUGH_DATA
    assert result["p_value_adj"][1] == result["p_value"][1]  # a family of one tested segment


def test_holm_equals_statsmodels_multipletests(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from statsmodels.stats.multitest import multipletests

    monkeypatch.setattr(gc, "collect", lambda *args: 0)  # what makes multipletests slow; not its result

    rng = np.random.default_rng(5)
    families = rng.uniform(0, 0.2, (300, 6)) ** rng.uniform(0.5, 3, (300, 1))
    families[rng.random(families.shape) < 0.2] = np.nan  # segments without enough data
    families[0] = np.nan
    families[1, :2] = [0.01, 0.01]  # ties
    adjusted = stats.holm(families)
    for row, got in zip(families, adjusted):
        ok = ~np.isnan(row)
        assert np.isnan(got[~ok]).all()
        if ok.any():
            np.testing.assert_allclose(got[ok], multipletests(row[ok], method="holm")[1], rtol=1e-12)
    assert np.isnan(stats.holm([np.nan, np.nan])).all()
    np.testing.assert_allclose(stats.holm([0.04]), [0.04])


def test_the_calibration_tables_print(capsys) -> None:
    assert calibration.main(["--simulations", "300"]) == 0
    out = capsys.readouterr().out
    assert "Coverage of the 95% intervals" in out and "A/A" in out and "Power: plan_sample_size" in out
