"""run_campaign: segment a table, write one JSONL row per customer from mixed batches."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from genemail.errors import ConfigError, DataError
from genemail.pipeline.campaign import run_campaign
from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig
from genemail.taxonomy import BASELINE, COLD_START, DORMANT, HIGHVALUE_ACTIVE, PARENT_ACTIVE
from tests.fixtures.models import FIXTURE_ADAPTERS

CFG = GenerationConfig(max_new_tokens=8)
RELEASE = {"repo_id": "demo/genemail-release", "revision": "v3", "sha": "c" * 40}


class FakeSegmenter:
    """Assigns segments by row position; the third customer is a cold start."""

    cycle = (HIGHVALUE_ACTIVE, PARENT_ACTIVE, COLD_START, DORMANT)

    def __init__(self, drop_last: bool = False) -> None:
        self.drop_last = drop_last
        self.calls = 0

    def segment(self, X: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        l2 = [self.cycle[i % len(self.cycle)] for i in range(len(X))]
        out = pd.DataFrame({
            "customer_id": X["customer_id"].astype("string").to_numpy(),
            "l1": ["High" if s == HIGHVALUE_ACTIVE else COLD_START if s == COLD_START else "Mid" for s in l2],
            "l1_proba": 0.9,
            "l2": pd.array(l2, dtype="string"),
            "l2_proba": 0.8,
            "cold_start_reason": pd.array(["too few purchases" if s == COLD_START else None for s in l2],
                                          dtype="string"),
        })
        return out.iloc[:-1] if self.drop_last else out


def _customers(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": pd.array([f"K{i:03d}" for i in range(n)], dtype="string"),
        "age": [25.0 + 3 * i for i in range(n)],
        "children": pd.array([i % 3 for i in range(n)], dtype="Int64"),
        "kid_age": pd.array([["none", "young", "teen"][i % 3] for i in range(n)], dtype="string"),
        "income": [20_000.0 + 8_000 * i for i in range(n)],
        "recency": [float(3 + 11 * i) for i in range(n)],
        "favourite_category": pd.array([["wines", "meat", None, "gold"][i % 4] for i in range(n)], dtype="string"),
        "tenure_days": [300.0 + 90 * i for i in range(n)],
    })


@pytest.fixture(scope="module")
def strategies():
    from genemail.generation.strategies import load_strategies

    return load_strategies()


@pytest.fixture(scope="module")
def gen(tiny_base_model_dir: Path, tiny_adapters_dir: Path, strategies) -> EmailGenerator:
    refs = [AdapterRef(n, tiny_adapters_dir / n, repo_id=f"demo/{n}", revision=str(i) * 40)
            for i, n in enumerate(FIXTURE_ADAPTERS)]
    return EmailGenerator.load(tiny_base_model_dir, refs)


@pytest.mark.integration
def test_campaign_writes_one_row_per_customer(gen, strategies, tmp_path: Path) -> None:
    customers = _customers(7)
    progress: list[tuple[int, int]] = []
    out = tmp_path / "out" / "emails.jsonl"
    summary = run_campaign(customers, FakeSegmenter(), strategies, gen, out, CFG, batch_size=3, progress=False,
                           release_info=RELEASE, on_progress=lambda d, t: progress.append((d, t)))
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert [r["customer_id"] for r in rows] == list(customers["customer_id"])
    assert progress == [(3, 7), (6, 7), (7, 7)]
    assert not out.with_name("emails.jsonl.partial").exists()
    assert summary.n_customers == 7 and summary.cold_start == 2
    assert summary.by_segment == {COLD_START: 2, DORMANT: 1, HIGHVALUE_ACTIVE: 2, PARENT_ACTIVE: 2}
    for i, r in enumerate(rows):
        segment = FakeSegmenter.cycle[i % 4]
        strategy = strategies.for_segment(segment)
        assert r["l2"] == segment and r["strategy"] == strategy.text("zh").display_name
        assert r["adapter"] == strategy.adapter
        assert r["adapter_repo"] == f"demo/{r['adapter']}"
        assert r["adapter_sha"] == gen.adapter_ref(r["adapter"]).revision
        assert (r["release_repo"], r["release_revision"], r["release_sha"]) == ("demo/genemail-release", "v3", "c" * 40)
        assert isinstance(r["email"], str) and isinstance(r["baseline_email"], str)
        assert r["latency_s"] > 0 and 0 <= r["new_tokens"] <= CFG.max_new_tokens
    cold = rows[2]
    assert cold["adapter"] == BASELINE and cold["cold_start_reason"] == "too few purchases"
    assert rows[0]["cold_start_reason"] is None and rows[0]["l1"] == "High"


@pytest.mark.integration
def test_campaign_emails_match_the_generator(gen, strategies, tmp_path: Path) -> None:
    from genemail.generation.prompts import profile_from_row

    customers = _customers(4)
    out = tmp_path / "e.jsonl"
    run_campaign(customers, FakeSegmenter(), strategies, gen, out, CFG, batch_size=4, progress=False)
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    profiles = [profile_from_row(r) for r in customers.to_dict("records")]
    direct = gen.generate(profiles, [strategies.for_segment(s) for s in FakeSegmenter.cycle], CFG)
    assert [r["email"] for r in rows] == [e.email for e in direct]
    assert [r["baseline_email"] for r in rows] == [e.baseline_email for e in direct]
    assert rows[0]["release_revision"] is None


def test_campaign_rejects_a_segmenter_that_drops_rows(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="one row per customer"):
        run_campaign(_customers(3), FakeSegmenter(drop_last=True), None, None, tmp_path / "x.jsonl",
                     CFG, progress=False)
    assert not (tmp_path / "x.jsonl").exists()


def test_campaign_validates_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        run_campaign(_customers(2), FakeSegmenter(), None, None, tmp_path / "x.jsonl", CFG, batch_size=0)
    with pytest.raises(DataError, match="customer_id"):
        run_campaign(_customers(2).drop(columns="customer_id"), FakeSegmenter(), None, None,
                     tmp_path / "x.jsonl", CFG)


@pytest.mark.integration
def test_an_english_campaign_records_english_strategy_names(gen, strategies, tmp_path: Path) -> None:
    out = tmp_path / "en.jsonl"
    run_campaign(_customers(4), FakeSegmenter(), strategies, gen, out, GenerationConfig(max_new_tokens=4, lang="en"),
                 progress=False)
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    for i, r in enumerate(rows):
        strategy = strategies.for_segment(FakeSegmenter.cycle[i % 4])
        assert r["strategy"] == strategy.text("en").display_name != strategy.text("zh").display_name


@pytest.mark.integration
def test_an_experiment_campaign_writes_a_send_log_with_only_each_arms_email(gen, strategies, tmp_path: Path) -> None:
    from genemail.experiments import ExperimentConfig, read_send_log
    from genemail.generation.prompts import profile_from_row

    customers = _customers(12)
    plan = ExperimentConfig(name="exp-test", control=0.3, holdout=0.3, seed=4)
    out = tmp_path / "sendlog.jsonl"
    summary = run_campaign(customers, FakeSegmenter(), strategies, gen, out, CFG, batch_size=5, progress=False,
                           release_info=RELEASE, experiment=plan)
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    arms = [r["arm"] for r in rows]
    assert set(arms) == {"segmented", "control", "holdout"} and summary.by_arm == {a: arms.count(a) for a in set(arms)}
    profiles = [profile_from_row(r) for r in customers.to_dict("records")]
    direct = gen.generate(profiles, [strategies.for_segment(FakeSegmenter.cycle[i % 4]) for i in range(12)], CFG)
    for row, alone in zip(rows, direct):
        assert row["experiment"] == "exp-test" and row["sent_at"].endswith("Z")
        if row["arm"] == "holdout":
            assert row["email"] is None and row["adapter"] is None
        elif row["arm"] == "control":  # the one-size-fits-all email, written by the baseline adapter
            assert row["email"] == alone.baseline_email and row["adapter"] == BASELINE
            assert row["adapter_sha"] == gen.adapter_ref(BASELINE).revision
        else:
            assert row["email"] == alone.email and row["adapter"] == strategies.for_segment(row["l2"]).adapter
    log = read_send_log(out)
    assert len(log) == 12 and set(log["arm"]) == set(arms)
    # a re-run, in another row order, keeps every customer's arm
    again = tmp_path / "again.jsonl"
    run_campaign(customers.iloc[::-1].reset_index(drop=True), FakeSegmenter(), strategies, gen, again, CFG,
                 progress=False, experiment=plan)
    rerun = {r["customer_id"]: r["arm"] for r in map(json.loads, again.read_text("utf-8").splitlines())}
    assert rerun == {r["customer_id"]: r["arm"] for r in rows}
