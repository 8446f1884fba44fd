"""`make loop`'s own pieces: the content-only truth of experiment 2 and the v2-against-v1 table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genemail.errors import HubError
from genemail.experiments.simulate import load_truth
from genemail.resources import RESOURCES_DIR
from training import loop


def test_content_only_truth_gives_both_arms_the_segmented_rate(tmp_path: Path) -> None:
    demo = load_truth(RESOURCES_DIR / "demo_truth.yaml")
    same = load_truth(loop.content_only_truth(RESOURCES_DIR / "demo_truth.yaml", tmp_path / "t.yaml"))
    assert set(same.segments) == set(demo.segments)
    for name, spec in same.segments.items():
        assert spec.click["control"] == spec.click["segmented"] == demo.segments[name].click["segmented"]
        assert spec.content == demo.segments[name].content and spec.content  # every segment: content matters
        if spec.conversion:
            assert spec.conversion["control"] == spec.conversion["segmented"]
    assert same.default.click["control"] == same.default.click["segmented"]


def test_every_truth_phrase_occurs_in_its_segments_variants() -> None:
    """The ground truth is learnable: each phrase is in one or two of the segment's CTA or body variants."""
    from genemail.generation.strategies import load_strategies

    book, truth = load_strategies(), load_truth(RESOURCES_DIR / "demo_truth.yaml")
    for name, spec in truth.segments.items():
        variants = book.for_segment(name).text("zh").variants
        parts = [*variants.body, *variants.call_to_action]
        for phrase in spec.content:
            hits = sum(phrase in part for part in parts)
            assert 1 <= hits <= 3, f"{name}: {phrase!r} occurs in {hits} variants"
            assert not any(phrase in g for g in variants.greeting)


def test_pushed_ref_reads_the_push_line() -> None:
    assert loop.pushed_ref("wrote x\npushed demo/genemail-preferences@" + "a" * 40 + " (new commit)\n") == \
        "demo/genemail-preferences@" + "a" * 40
    with pytest.raises(HubError, match="not pushed"):
        loop.pushed_ref("wrote x\n")


def test_summary_table_prints_lift_truth_and_phrase_shares(tmp_path: Path) -> None:
    truth = loop.content_only_truth(RESOURCES_DIR / "demo_truth.yaml", tmp_path / "t.yaml")
    rows = [{"experiment": "e", "customer_id": f"c{i}", "l2": "Dormant", "arm": arm, "sent_at": "2025-03-01T10:00:00Z",
             "email": email} for i, (arm, email) in enumerate([("segmented", "积分将过期"), ("segmented", "积分"),
                                                               ("control", "最后机会"), ("control", "你好")])]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    arm = {"n": 2, "events": 1, "rate": 0.5, "ci": [0.1, 0.9], "revenue": 0.0}
    entry = {"arms": {"segmented": arm, "control": {**arm, "events": 0, "rate": 0.0}, "holdout": {**arm, "n": 0}},
             "lift": {"estimate": 0.5, "ci": [-0.1, 0.9]}, "p_win": 0.8, "decision": "not_enough_data"}
    text = loop.summary_table({"segments": {"Dormant": entry}, "overall": entry}, log, truth, ("v2", "v1"))
    line = next(x for x in text.splitlines() if x.startswith("Dormant "))
    assert "0/2 0.0%" in line and "1/2 50.0%" in line and "+50.0 [-10.0, +90.0]" in line
    assert "+6.5" in line  # true lift: v2 (0.08 + 0.08) / 2 minus v1 (0.01 + 0.02) / 2 = 0.065
    assert "Dormant            积分     effect +6 pts: v1   0.0% -> v2 100.0%" in text
