"""Outcomes -> preference pairs: segments never mix, no customer on both sides, facts fit the prompt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.errors import ConfigError, DataError
from genemail.evaluation.metrics import extract_claims, fact_consistency
from genemail.experiments.preferences import (
    PreferenceConfig,
    build_preferences,
    read_preferences,
    rewrite_facts,
    write_preferences,
)
from genemail.generation.prompts import build_prompt, fact_phrases, profile_from_row
from genemail.generation.strategies import load_strategies
from genemail.taxonomy import DORMANT, HIGHVALUE_ACTIVE, NEED_REENGAGEMENT

SEGMENTS = (HIGHVALUE_ACTIVE, NEED_REENGAGEMENT, DORMANT)
SHA = {HIGHVALUE_ACTIVE: "a" * 40, NEED_REENGAGEMENT: "b" * 40, DORMANT: "d" * 40}
SENT_AT = "2025-03-01T10:00:00Z"


def _customers(path: Path, n: int, seed: int = 0) -> pd.DataFrame:
    """Clean synthetic customers written to ``path`` (Kaggle schema) and loaded back (internal schema)."""
    from genemail.data import load_customers, synthesize

    synthesize(n, seed, dirty=False).to_csv(path, index=False)
    return load_customers(path).frame.reset_index(drop=True)


def _email(profile, segment: str, book, rng) -> str:
    """A reference-style email (greeting + body + CTA) stating this customer's facts."""
    from genemail.training.corpus import variant_combinations, write_email

    strategy = book.for_segment(segment)
    combos = variant_combinations(strategy.text("zh").variants, fact_phrases(profile, "zh"))
    return write_email(profile, strategy, "zh", combos[int(rng.integers(len(combos)))])


@pytest.fixture(scope="module")
def book():
    return load_strategies()


@pytest.fixture(scope="module")
def experiment_db(tmp_path_factory: pytest.TempPathFactory, book) -> tuple[Path, pd.DataFrame, dict]:
    """A results database: 3 segments x 200 segmented-arm customers (plus control rows), with clicks.

    Every 7th customer clicks; every 13th bounces; customers 5 (no click) and 7 (a click) have emails that misstate their own recency.
    """
    from genemail.experiments.ingest import ingest_events

    root = tmp_path_factory.mktemp("prefs")
    customers = _customers(root / "customers.csv", 660)
    rng = np.random.default_rng(1)
    rows, events = [], []
    truth: dict = {"clicked": set(), "segment": {}, "control": set(), "bounced": set(), "bad": set()}
    for i, record in enumerate(customers.to_dict("records")):
        profile = profile_from_row(record)
        segment = SEGMENTS[i % 3]
        arm = "control" if i >= 600 else "segmented"
        email = _email(profile, segment, book, rng)
        if i in (5, 7):
            truth["bad"].add(record["customer_id"])
            own = fact_phrases(profile, "zh").get("recency_fact")
            email = email.replace(own, "距离您上次光临已有999天") if own and own in email else "距离您上次光临已有999天。" + email
        rows.append({"experiment": "exp", "customer_id": record["customer_id"], "l2": segment, "arm": arm,
                     "sent_at": SENT_AT, "email": email, "adapter": segment if arm == "segmented" else "baseline",
                     "adapter_repo": f"demo/genemail-adapter-{segment.lower()}", "adapter_sha": SHA[segment],
                     "release_repo": "demo/genemail-release", "release_revision": "v1", "release_sha": "e" * 40})
        truth["segment"][record["customer_id"]] = segment
        if arm == "control":
            truth["control"].add(record["customer_id"])
        kind = "bounce" if i % 13 == 0 else "delivered"
        if kind == "bounce":
            truth["bounced"].add(record["customer_id"])
        events.append({"customer_id": record["customer_id"], "event_type": kind, "time": "2025-03-01T10:01:00Z"})
        if i % 7 == 0 and kind == "delivered":
            events.append({"customer_id": record["customer_id"], "event_type": "click",
                           "time": "2025-03-01T12:00:00Z"})
            truth["clicked"].add(record["customer_id"])
    send_log, events_file = root / "sendlog.jsonl", root / "events.csv"
    send_log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    pd.DataFrame(events).to_csv(events_file, index=False)
    ingest_events(root / "results.sqlite", send_log, events_file)
    return root / "results.sqlite", customers, truth, root / "customers.csv"


def test_pairs_never_cross_segments_and_no_customer_is_on_both_sides(experiment_db, book) -> None:
    db, customers, truth, _ = experiment_db
    prefs = build_preferences(db, "exp", customers, book, PreferenceConfig(rejected_per_chosen=2, min_pairs=5))
    assert set(prefs.usable) == set(SEGMENTS)
    for segment, seg in prefs.usable.items():
        chosen = {r["chosen_customer_id"] for r in seg.records}
        rejected = [r["rejected_customer_id"] for r in seg.records]
        assert chosen and rejected
        assert not chosen & set(rejected), "a customer is chosen and rejected"
        assert len(rejected) == len(set(rejected)), "a rejected customer is used twice"
        assert {truth["segment"][c] for c in chosen | set(rejected)} == {segment}, "a pair crosses segments"
        assert chosen <= truth["clicked"] and not set(rejected) & truth["clicked"]
        assert not (chosen | set(rejected)) & truth["control"], "a control-arm email was used"
        assert not set(rejected) & truth["bounced"], "a bounced email was used as rejected"
        per_chosen = pd.Series([r["chosen_customer_id"] for r in seg.records]).value_counts()
        assert per_chosen.max() <= 2
        assert {r["adapter_sha"] for r in seg.records} == {SHA[segment]}


def test_rejected_email_states_the_chosen_customers_facts_under_their_prompt(experiment_db, book) -> None:
    db, customers, truth, _ = experiment_db
    profiles = {r["customer_id"]: profile_from_row(r) for r in customers.to_dict("records")}
    prefs = build_preferences(db, "exp", customers, book, PreferenceConfig(min_pairs=5))
    records = [r for seg in prefs.usable.values() for r in seg.records]
    rewritten = 0
    for r in records:
        chosen = profiles[r["chosen_customer_id"]]
        assert r["prompt"] == build_prompt(chosen, book.for_segment(r["segment"]), "zh")
        assert fact_consistency(r["chosen"], chosen, "zh").consistent
        assert fact_consistency(r["rejected"], chosen, "zh").consistent
        assert r["rejected"] != r["chosen"]
        rewritten += r["rejected"] != r["rejected_as_sent"]
    assert rewritten > len(records) / 2  # most rejected emails stated facts that had to be rewritten
    used = {r["chosen_customer_id"] for r in records} | {r["rejected_customer_id"] for r in records}
    assert not truth["bad"] & used, "an email that misstates its customer's facts was used"
    assert truth["bad"] & truth["clicked"]  # one of them was a clicker ...
    assert sum(seg.chosen_unusable for seg in prefs.segments.values()) >= 1  # ... counted as unusable


def test_rewrite_facts_replaces_every_fact_and_refuses_unknown_ones(experiment_db) -> None:
    customers = experiment_db[1]
    full = [p for p in map(profile_from_row, customers.to_dict("records"))
            if {"recency_fact", "category_fact", "tenure_fact"} <= set(fact_phrases(p, "zh"))]
    a, b = next((x, y) for x, y in zip(full, full[1:]) if x.recency != y.recency)
    email = (f"尊敬的贵宾：{fact_phrases(a, 'zh')['recency_fact']}，{fact_phrases(a, 'zh')['category_fact']}"
             f"，{fact_phrases(a, 'zh')['tenure_fact']}。")
    out = rewrite_facts(email, fact_phrases(b, "zh"), "zh")
    assert fact_consistency(out, b, "zh").consistent and len(extract_claims(out, "zh")) == 3
    no_category = {k: v for k, v in fact_phrases(b, "zh").items() if k != "category_fact"}
    assert rewrite_facts(email, no_category, "zh") is None


def test_segments_with_too_few_pairs_are_skipped_with_the_reason(experiment_db, book) -> None:
    db, customers, _, _ = experiment_db
    prefs = build_preferences(db, "exp", customers, book, PreferenceConfig(rejected_per_chosen=1, min_pairs=10_000))
    assert not prefs.usable
    for seg in prefs.segments.values():
        assert seg.pairs > 0 and "fewer than min_pairs=10000" in seg.skipped


def test_written_folder_is_deterministic_and_reads_back(experiment_db, book, tmp_path: Path) -> None:
    db, customers, _, _ = experiment_db
    config = PreferenceConfig(min_pairs=5, seed=4)
    a = write_preferences(build_preferences(db, "exp", customers, book, config), tmp_path / "a")
    b = write_preferences(build_preferences(db, "exp", customers, book, config), tmp_path / "b")
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert {f"data/{s}.jsonl" for s in SEGMENTS} <= set(files) and "README.md" in files
    info, records = read_preferences(a)
    assert info["experiment"] == "exp" and info["release"][0]["revision"] == "v1"
    assert {k: len(v) for k, v in records.items()} == {k: v["pairs"] for k, v in info["segments"].items()}
    card = (a / "README.md").read_text(encoding="utf-8")
    assert "How the pairs were formed" in card and "`exp`" in card and "config_name: Dormant" in card


def test_bad_inputs_are_refused_with_the_place(experiment_db, book, tmp_path: Path) -> None:
    db, customers, _, _ = experiment_db
    with pytest.raises(DataError, match="not in the results database"):
        build_preferences(db, "nope", customers, book)
    with pytest.raises(DataError, match="none of the experiment's customers"):
        build_preferences(db, "exp", customers.assign(customer_id=[f"X{i}" for i in range(len(customers))]), book)
    with pytest.raises(DataError, match="no results database"):
        build_preferences(tmp_path / "missing.sqlite", "exp", customers, book)
    with pytest.raises(ConfigError, match="rejected_per_chosen"):
        PreferenceConfig(rejected_per_chosen=0)
    with pytest.raises(DataError, match="not a preference dataset"):
        read_preferences(tmp_path)


@pytest.mark.integration
def test_cli_builds_and_prints_pairs_per_segment(experiment_db, tmp_path: Path, capsys) -> None:
    from genemail.cli import run

    db, _, _, table = experiment_db
    code = run(["results", "preferences", "--experiment", "exp", "--db", str(db), "--customers", str(table),
                "--min-pairs", "5", "--out", str(tmp_path / "prefs")])
    out = capsys.readouterr().out
    assert code == 0, out
    for segment in SEGMENTS:
        assert f"{segment} " in out
    assert out.count("-> used") == 3
    assert (tmp_path / "prefs" / "preferences_info.json").is_file()
    assert run(["results", "preferences", "--experiment", "exp", "--db", str(db), "--customers", str(table),
                "--rejected-per-chosen", "0", "--out", str(tmp_path / "x")]) == 2
