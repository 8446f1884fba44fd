"""Phrase shares and expected click rates of sent emails under a known truth (the loop's mechanism check)."""

from __future__ import annotations

import pandas as pd
import pytest

from genemail.experiments.content import expected_lift, expected_rates, phrase_shares, shares_by_arm
from genemail.experiments.simulate import parse_truth

TRUTH = parse_truth({"default": {"control": 0.02, "segmented": 0.02},
                     "Dormant": {"control": 0.05, "segmented": 0.05, "content": {"积分": 0.06, "最后": -0.01}}})


def _log() -> pd.DataFrame:
    emails = {"segmented": ["积分即将过期", "积分，最后机会", "你好", "你好"],
              "control": ["最后提醒", "你好", "你好", "你好"], "holdout": [None] * 4}
    rows = [{"customer_id": f"{arm}{i}", "segment": "Dormant", "arm": arm, "email": e}
            for arm, texts in emails.items() for i, e in enumerate(texts)]
    rows.append({"customer_id": "x", "segment": "Parent_Active", "arm": "segmented", "email": "积分"})
    return pd.DataFrame(rows)


def test_phrase_shares_count_substrings_per_segment_and_arm() -> None:
    shares = phrase_shares(_log(), TRUTH)
    dormant = shares[shares["segment"] == "Dormant"].set_index(["arm", "phrase"])
    assert dormant.loc[("segmented", "积分"), "share"] == 0.5 and dormant.loc[("segmented", "最后"), "share"] == 0.25
    assert dormant.loc[("control", "最后"), "with_phrase"] == 1 and "holdout" not in set(shares["arm"])
    assert shares[shares["segment"] == "Parent_Active"].empty  # the default truth has no content effects
    assert shares_by_arm(shares)["Dormant"]["积分"] == {"effect": 0.06, "segmented": 0.5, "control": 0.0}


def test_expected_rates_are_the_mean_true_click_probability() -> None:
    rates = expected_rates(_log(), TRUTH).set_index(["segment", "arm"])["expected_rate"]
    assert rates[("Dormant", "segmented")] == pytest.approx((0.11 + 0.10 + 0.05 + 0.05) / 4)
    assert rates[("Dormant", "control")] == pytest.approx((0.04 + 0.05 * 3) / 4)
    assert rates[("Parent_Active", "segmented")] == pytest.approx(0.02)
    lift = expected_lift(expected_rates(_log(), TRUTH), "segmented", "control")
    assert lift == {"Dormant": pytest.approx(0.0775 - 0.0475)}
