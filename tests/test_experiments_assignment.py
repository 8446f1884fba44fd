"""Arm assignment: validated config, deterministic, row-order independent, stable, fractions per segment."""

from __future__ import annotations

import random

import pytest
from scipy.stats import binom

from genemail.errors import ConfigError
from genemail.experiments import ARMS, ExperimentConfig, assign_arms, send_log_row
from genemail.experiments.assignment import arm_of
from genemail.taxonomy import L2_SEGMENTS


def _customers(n: int, prefix: str = "C") -> tuple[list[str], list[str]]:
    ids = [f"{prefix}{i:06d}" for i in range(n)]
    return ids, [L2_SEGMENTS[i % len(L2_SEGMENTS)] for i in range(n)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"), ({"name": "a b"}, "name"), ({"name": "a/b"}, "name"), ({"name": "-x"}, "name"),
        ({"name": 3}, "name"), ({"control": 1.0}, "control"), ({"control": -0.1}, "control"),
        ({"control": True}, "control"), ({"holdout": float("nan")}, "holdout"), ({"holdout": "0.1"}, "holdout"),
        ({"control": 0.6, "holdout": 0.4}, "control"), ({"seed": 1.5}, "seed"), ({"seed": False}, "seed"),
    ],
)
def test_invalid_config_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        ExperimentConfig(**{"name": "spring", **kwargs})
    assert "Fix:" in str(info.value)


def test_fractions_sum_to_one_and_zero_fractions_are_allowed() -> None:
    config = ExperimentConfig("spring", control=0.0, holdout=0.0)
    assert config.fractions == {"segmented": 1.0, "control": 0.0, "holdout": 0.0}
    assert set(assign_arms(*_customers(500), config)) == {"segmented"}
    assert sum(ExperimentConfig("s", control=0.25, holdout=0.15).fractions.values()) == pytest.approx(1.0)


def test_assignment_is_deterministic_and_depends_on_name_and_seed() -> None:
    ids, segments = _customers(3000)
    config = ExperimentConfig("spring", control=0.3, holdout=0.1, seed=1)
    first = assign_arms(ids, segments, config)
    assert assign_arms(ids, segments, ExperimentConfig("spring", control=0.3, holdout=0.1, seed=1)) == first
    for other in (ExperimentConfig("spring", 0.3, 0.1, seed=2), ExperimentConfig("summer", 0.3, 0.1, seed=1)):
        changed = sum(a != b for a, b in zip(first, assign_arms(ids, segments, other)))
        assert changed > 1000  # an independent draw: about 1 - (0.6² + 0.3² + 0.1²) = 54% differ


def test_assignment_is_independent_of_row_order() -> None:
    ids, segments = _customers(2000)
    config = ExperimentConfig("spring", control=0.2, holdout=0.1)
    by_id = dict(zip(ids, assign_arms(ids, segments, config)))
    order = list(range(len(ids)))
    random.Random(0).shuffle(order)
    shuffled = assign_arms([ids[i] for i in order], [segments[i] for i in order], config)
    assert {ids[i]: arm for i, arm in zip(order, shuffled)} == by_id


def test_customers_keep_their_arm_when_customers_are_added_or_change_segment() -> None:
    ids, segments = _customers(2000)
    config = ExperimentConfig("spring", control=0.2, holdout=0.1)
    before = dict(zip(ids, assign_arms(ids, segments, config)))
    new_ids, new_segments = _customers(500, prefix="N")
    moved = [L2_SEGMENTS[(L2_SEGMENTS.index(s) + 1) % len(L2_SEGMENTS)] for s in segments]  # re-segmented
    after = dict(zip(ids + new_ids, assign_arms(ids + new_ids, moved + new_segments, config)))
    assert {c: after[c] for c in ids} == before
    assert all(arm_of(config, c) == before[c] for c in ids[:50])


def test_arm_fractions_hold_within_every_segment() -> None:
    # Sizes from small to large; each arm's count must lie in its binomial 99.99% band (15 checks,
    # so a correct assignment fails this test with probability below 0.2%; the seed makes it fixed).
    sizes = dict(zip(L2_SEGMENTS, (800, 2000, 5000, 12000, 30000)))
    ids = [f"{s}-{i}" for s, n in sizes.items() for i in range(n)]
    segments = [s for s, n in sizes.items() for _ in range(n)]
    config = ExperimentConfig("balance", control=0.25, holdout=0.1, seed=3)
    arms = assign_arms(ids, segments, config)
    for segment, n in sizes.items():
        got = [a for a, s in zip(arms, segments) if s == segment]
        for arm, fraction in config.fractions.items():
            low, high = binom.ppf(0.00005, n, fraction), binom.isf(0.00005, n, fraction)
            assert low <= got.count(arm) <= high, (segment, arm, got.count(arm), n * fraction)


@pytest.mark.parametrize(
    ("ids", "segments", "message"),
    [(["a", "b"], ["Dormant"], "2 customer ids but 1 segments"), (["a", "a"], ["Dormant"] * 2, "appears twice"),
     (["a", " "], ["Dormant"] * 2, "empty"), (["a"], [None], "segment")],
)
def test_bad_inputs_are_refused(ids: list, segments: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        assign_arms(ids, segments, ExperimentConfig("spring"))


def test_send_log_row_sends_the_arms_email_and_names_its_adapter() -> None:
    row = {"customer_id": "7", "l2": "Dormant", "email": "segmented text", "baseline_email": "baseline text",
           "adapter": "Dormant", "adapter_repo": "demo/genemail-adapter-dormant", "adapter_sha": "a" * 40}
    baseline = {"adapter": "baseline", "adapter_repo": "demo/genemail-adapter-baseline", "adapter_sha": "b" * 40}
    rows = {arm: send_log_row(row, experiment="x", arm=arm, sent_at="2025-03-01T09:00:00Z", baseline_adapter=baseline)
            for arm in ARMS}
    assert rows["segmented"]["email"] == "segmented text" and rows["segmented"]["adapter_sha"] == "a" * 40
    assert rows["control"]["email"] == "baseline text" and rows["control"]["adapter_repo"].endswith("baseline")
    assert rows["holdout"]["email"] is None and rows["holdout"]["adapter"] is None
    assert all(r["experiment"] == "x" and r["arm"] == arm for arm, r in rows.items())
    with pytest.raises(ConfigError, match="baseline adapter"):
        send_log_row(row, experiment="x", arm="control", sent_at="2025-03-01T09:00:00Z")
    with pytest.raises(ConfigError, match="sent_at"):
        send_log_row(row, experiment="x", arm="holdout", sent_at="2025-03-01 09:00")
