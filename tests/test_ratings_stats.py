"""Rating statistics, each checked against values worked out by hand (arithmetic in the comments)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from genemail.errors import ConfigError, DataError
from genemail.ratings import (
    COLUMNS,
    Rating,
    agreement,
    new_submission_id,
    outcomes,
    sign_test_pvalue,
    style_match_rates,
    summary,
    summary_table,
    wilson_interval,
    win_rates,
)
from genemail.taxonomy import DORMANT, HIGHVALUE_ACTIVE

REL_A, REL_B = "a" * 40, "d" * 40
TOL = 1e-6


def rating(segment: str = HIGHVALUE_ACTIVE, *, winner: str = "segmented", left: str = "segmented",
           seg: int = 3, base: int = 3, rater: str = "alice", customer: str = "1", release_sha: str = REL_A,
           created_at: str = "2025-01-01T00:00:00+00:00") -> Rating:
    """A rating whose *outcome* is ``winner``; the A/B side is derived from ``left`` so both mappings occur."""
    right = "baseline" if left == "segmented" else "segmented"
    choice = {left: "A", right: "B"}.get(winner, winner)
    return Rating(submission_id=new_submission_id(), rater=rater, customer_id=customer, segment=segment,
                  left_variant=left, right_variant=right, choice=choice, score_segmented=seg, score_baseline=base,
                  release_repo="demo/genemail-release", release_revision="v1", release_sha=release_sha,
                  adapter_sha="b" * 40, baseline_adapter_sha="c" * 40, created_at=created_at)


def frame(ratings: list[Rating]) -> pd.DataFrame:
    """The DataFrame RatingsStore.all() would return for ``ratings``."""
    rows = [{"rating_id": i + 1, **r.to_row()} for i, r in enumerate(ratings)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


@pytest.fixture
def campaign() -> pd.DataFrame:
    """16 ratings with hand-countable totals.

    HighValue_Active (12): outcomes 8 segmented / 2 baseline / 1 tie / 1 both_poor; segmented
    scores 5 on the 8 wins and 3 elsewhere (8/12 >= 4); baseline scores all 2 (0/12).
    Dormant (4): outcomes 1 segmented / 3 baseline; segmented scores 5,4,2,1 (2/4); baseline 3,3,3,4 (1/4).
    """
    sides = ["segmented", "baseline"]
    hv = [rating(winner="segmented", left=sides[i % 2], seg=5, base=2) for i in range(8)]
    hv += [rating(winner=w, left=sides[i % 2], seg=3, base=2) for i, w in enumerate(
        ["baseline", "baseline", "tie", "both_poor"])]
    dormant = [rating(DORMANT, winner=w, left=sides[i % 2], seg=s, base=b) for i, (w, s, b) in enumerate(
        [("segmented", 5, 3), ("baseline", 4, 3), ("baseline", 2, 3), ("baseline", 1, 4)])]
    return frame(hv + dormant)


# --- Wilson and sign test -------------------------------------------------------------------------
# Wilson: centre = (k + z²/2) / (n + z²), half-width = z·sqrt(k(n-k)/n + z²/4) / (n + z²), z = 1.959964.
# 8/10: centre = 9.920729/13.841459 = 0.716740; half = 1.959964·sqrt(1.6 + 0.960365)/13.841459 = 0.226578.
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(8, 10, 0.490162, 0.943318), (0, 5, 0.0, 0.434482), (3, 3, 0.438503, 1.0), (1, 4, 0.045587, 0.699358)],
)
def test_wilson_interval_matches_the_formula(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=TOL)


def test_wilson_interval_edge_cases() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    narrow, wide = wilson_interval(8, 10, confidence=0.5), wilson_interval(8, 10, confidence=0.99)
    assert wide[0] < narrow[0] < 0.8 < narrow[1] < wide[1]
    with pytest.raises(ConfigError, match="confidence"):
        wilson_interval(1, 2, confidence=95)


def test_sign_test_is_exact_and_two_sided() -> None:
    # P(X >= 8 | n=10, p=.5) = (45 + 10 + 1)/1024 = 56/1024; two-sided doubles it.
    assert sign_test_pvalue(8, 2) == pytest.approx(112 / 1024)
    assert sign_test_pvalue(2, 8) == pytest.approx(112 / 1024)
    # 1 of 4: 2·(1 + 4)/16.
    assert sign_test_pvalue(1, 3) == pytest.approx(10 / 16)
    assert sign_test_pvalue(5, 5) == pytest.approx(1.0)
    assert math.isnan(sign_test_pvalue(0, 0))


# --- style match and win rate ---------------------------------------------------------------------
def test_outcomes_map_sides_to_variants(campaign: pd.DataFrame) -> None:
    counts = outcomes(campaign).value_counts().to_dict()
    assert counts == {"segmented": 9, "baseline": 5, "tie": 1, "both_poor": 1}


def test_style_match_rates_per_segment_and_pooled(campaign: pd.DataFrame) -> None:
    table = style_match_rates(campaign).set_index(["segment", "variant"])
    expected = {  # (n, matches, low, high) with the Wilson formula above
        (HIGHVALUE_ACTIVE, "segmented"): (12, 8, 0.390622, 0.861880),
        (HIGHVALUE_ACTIVE, "baseline"): (12, 0, 0.0, 0.242494),
        (DORMANT, "segmented"): (4, 2, 0.150039, 0.849961),
        (DORMANT, "baseline"): (4, 1, 0.045587, 0.699358),
        ("ALL", "segmented"): (16, 10, 0.386410, 0.815188),
        ("ALL", "baseline"): (16, 1, 0.011119, 0.283287),
    }
    assert set(table.index) == set(expected)
    for key, (n, matches, low, high) in expected.items():
        row = table.loc[key]
        assert (row["n"], row["matches"]) == (n, matches)
        assert row["rate"] == pytest.approx(matches / n)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=TOL)


def test_style_match_threshold_is_configurable(campaign: pd.DataFrame) -> None:
    table = style_match_rates(campaign, threshold=3).set_index(["segment", "variant"])
    assert table.loc[(HIGHVALUE_ACTIVE, "segmented"), "matches"] == 12  # 5s and 3s
    assert table.loc[(DORMANT, "baseline"), "matches"] == 4
    with pytest.raises(ConfigError, match="threshold"):
        style_match_rates(campaign, threshold=6)


def test_win_rates_exclude_ties_and_both_poor(campaign: pd.DataFrame) -> None:
    table = win_rates(campaign).set_index("segment")
    hv, dormant, pooled = table.loc[HIGHVALUE_ACTIVE], table.loc[DORMANT], table.loc["ALL"]
    assert (hv["wins"], hv["losses"], hv["ties"], hv["both_poor"], hv["n_decisive"]) == (8, 2, 1, 1, 10)
    assert hv["win_rate"] == pytest.approx(0.8)
    assert (hv["ci_low"], hv["ci_high"]) == pytest.approx((0.490162, 0.943318), abs=TOL)
    assert hv["p_value"] == pytest.approx(112 / 1024)
    assert (dormant["wins"], dormant["losses"]) == (1, 3)
    assert dormant["p_value"] == pytest.approx(10 / 16)
    # Pooled 9 of 14: P(X >= 9 | 14) = (2002 + 1001 + 364 + 91 + 14 + 1)/16384 = 3473/16384, doubled.
    assert (pooled["wins"], pooled["losses"], pooled["n_decisive"]) == (9, 5, 14)
    assert pooled["p_value"] == pytest.approx(2 * 3473 / 16384)
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx((0.387644, 0.836553), abs=TOL)


def test_win_rate_without_decisive_ratings_is_nan() -> None:
    table = win_rates(frame([rating(winner="tie"), rating(winner="both_poor")])).set_index("segment")
    assert table.loc["ALL", "n_decisive"] == 0
    assert math.isnan(table.loc["ALL", "win_rate"]) and math.isnan(table.loc["ALL", "p_value"])


# --- agreement ------------------------------------------------------------------------------------
def _pair_of_raters() -> list[Rating]:
    """Units (customer, variant): c1-seg 1/1, c1-base 3/3, c2-seg 1/2, c2-base 3/3 (alice/bob)."""
    return [rating(rater="alice", customer="c1", seg=1, base=3), rating(rater="alice", customer="c2", seg=1, base=3),
            rating(rater="bob", customer="c1", seg=1, base=3), rating(rater="bob", customer="c2", seg=2, base=3)]


def test_alpha_and_kappa_for_two_raters() -> None:
    result = agreement(frame(_pair_of_raters()))
    # Ordinal alpha = 1 - (n-1)·Σ_{c≠k} o_ck δ²_ck / Σ_{c≠k} n_c n_k δ²_ck, with n1=3, n2=1, n3=4, n=8,
    # o_12 = o_21 = 1, δ²_12 = (3+1 - (3+1)/2)² = 4, δ²_13 = (3+1+4 - 3.5)² = 20.25, δ²_23 = (1+4 - 2.5)² = 6.25:
    # 1 - 7·(2·4) / (2·(3·1·4 + 3·4·20.25 + 1·4·6.25)) = 1 - 56/560 = 0.9.
    assert result.krippendorff_alpha == pytest.approx(0.9)
    # Kappa over [1,3,1,3] vs [1,3,2,3]: p_o = 3/4, p_e = (2·1 + 2·2)/16 = 0.375, (0.75-0.375)/0.625 = 0.6.
    assert result.cohen_kappa == pytest.approx(0.6)
    assert (result.n_raters, result.n_units, result.n_pairable_units, result.kappa_overlap) == (2, 4, 4, 4)
    assert result.alpha_reason is None and result.kappa_reason is None


def test_three_raters_give_alpha_but_no_kappa() -> None:
    ratings = _pair_of_raters() + [rating(rater="carol", customer="c1", seg=1, base=3)]
    result = agreement(frame(ratings))
    # n1=4, n2=1, n3=5, n=10; o_11 = 3 (c1-seg, 3 raters: 3·2/2), o_12 = o_21 = 1;
    # δ²_12 = (5 - 2.5)² = 6.25, δ²_13 = (10 - 4.5)² = 30.25, δ²_23 = (6 - 3)² = 9;
    # 1 - 9·(2·6.25) / (2·(4·1·6.25 + 4·5·30.25 + 1·5·9)) = 1 - 112.5/1350 = 11/12.
    assert result.krippendorff_alpha == pytest.approx(11 / 12)
    assert result.cohen_kappa is None and "exactly 2 raters, found 3" in result.kappa_reason


def test_latest_rating_of_a_unit_counts() -> None:
    early = rating(rater="bob", customer="c2", seg=5, base=1, created_at="2024-12-31T00:00:00+00:00")
    result = agreement(frame([early, *_pair_of_raters()]))
    assert result.krippendorff_alpha == pytest.approx(0.9)  # bob's later c2 rating replaced the early one


def test_other_release_is_another_unit() -> None:
    ratings = _pair_of_raters()
    ratings[3] = rating(rater="bob", customer="c2", seg=2, base=3, release_sha=REL_B)
    result = agreement(frame(ratings))
    assert (result.n_units, result.n_pairable_units, result.kappa_overlap) == (6, 2, 2)
    # Shared units c1-seg (1,1) and c1-base (3,3) agree perfectly: D_o = 0 so alpha = 1; kappa p_o = 1.
    assert result.krippendorff_alpha == pytest.approx(1.0)
    assert result.cohen_kappa == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("ratings", "alpha_reason", "kappa_reason"),
    [
        ([], "at least 2 raters, found 0", "found 0"),
        ([rating(rater="alice")], "at least 2 raters, found 1", "found 1"),
        ([rating(rater="alice", customer="1"), rating(rater="bob", customer="2")], "no email", "share 0"),
        ([rating(rater="alice", seg=4, base=4), rating(rater="bob", seg=4, base=4)], "same value", "single identical"),
    ],
)
def test_agreement_says_why_it_is_missing(ratings: list[Rating], alpha_reason: str, kappa_reason: str) -> None:
    result = agreement(frame(ratings))
    assert result.krippendorff_alpha is None and alpha_reason in result.alpha_reason
    assert result.cohen_kappa is None and kappa_reason in result.kappa_reason


def test_kappa_needs_min_overlap() -> None:
    ratings = [rating(rater="alice", seg=4, base=2), rating(rater="bob", seg=4, base=3)]
    assert agreement(frame(ratings)).cohen_kappa is not None  # 2 shared units (seg, base)
    result = agreement(frame(ratings), min_overlap=3)
    assert result.cohen_kappa is None and "share 2" in result.kappa_reason
    with pytest.raises(ConfigError, match="kappa_weights"):
        agreement(frame(ratings), kappa_weights="cubic")


# --- summary ----------------------------------------------------------------------------------------
def test_summary_is_json_ready_and_consistent(campaign: pd.DataFrame) -> None:
    result = summary(campaign)
    json.dumps(result, allow_nan=False)  # no NaN, no numpy scalars
    assert (result["n_ratings"], result["n_raters"], result["n_customers"]) == (16, 1, 1)
    pooled = next(r for r in result["win_rate"] if r["segment"] == "ALL")
    assert (pooled["wins"], pooled["losses"]) == (9, 5)
    assert result["agreement"]["krippendorff_alpha"] is None and "found 1" in result["agreement"]["alpha_reason"]


def test_summary_of_no_ratings() -> None:
    result = summary(frame([]))
    json.dumps(result, allow_nan=False)
    assert result["n_ratings"] == 0 and result["style_match"][0]["rate"] is None
    assert result["win_rate"] == [{"segment": "ALL", "wins": 0, "losses": 0, "ties": 0, "both_poor": 0,
                                   "n_decisive": 0, "win_rate": None, "ci_low": None, "ci_high": None,
                                   "p_value": None}]


def test_summary_table_is_tidy(campaign: pd.DataFrame) -> None:
    table = summary_table(campaign)
    assert list(table.columns) == ["segment", "metric", "variant", "n", "value", "ci_low", "ci_high", "p_value"]
    assert len(table) == 3 * 3  # (2 segments + ALL) × (2 style-match variants + 1 win rate)
    assert table["segment"].tolist()[-3:] == ["ALL"] * 3
    row = table[(table["segment"] == DORMANT) & (table["metric"] == "segmented_win_rate")].iloc[0]
    assert (row["n"], row["value"], row["p_value"]) == (4, pytest.approx(0.25), pytest.approx(10 / 16))
    assert not table.duplicated(["segment", "metric", "variant"]).any()


def test_missing_columns_are_named() -> None:
    with pytest.raises(DataError, match="score_baseline"):
        style_match_rates(pd.DataFrame({"segment": ["x"], "score_segmented": [4]}))
