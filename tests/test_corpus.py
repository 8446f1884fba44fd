"""The reference-email corpus: split by customer, unique texts per segment, facts, save and load."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genemail.errors import ArtifactError, ConfigError, DataError
from genemail.evaluation.metrics import fact_consistency
from genemail.training.corpus import (
    SPLITS,
    CorpusConfig,
    build_corpus,
    held_out_customers,
    load_corpus,
    load_corpus_info,
    render_corpus_card,
    save_corpus,
)
from genemail.generation.prompts import CustomerProfile
from genemail.generation.strategies import load_strategies
from genemail.taxonomy import COLD_START, L2_SEGMENTS
from tests.fixtures.data import make_customers

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def book():
    return load_strategies()


@pytest.fixture(scope="module")
def built(book):
    return build_corpus(make_customers(), book, CorpusConfig(seed=3, emails_per_customer=2))


def test_splits_are_disjoint_by_customer_and_cover_every_segment(built) -> None:
    corpus, info = built
    ids = {split: set(corpus[split]["customer_id"]) for split in SPLITS}
    assert not ids["train"] & ids["validation"] and not ids["train"] & ids["test"] and not ids["validation"] & ids["test"]
    assert len(set().union(*ids.values())) == 150 - 5  # every non-cold-start customer, once
    for split in ("validation", "test"):
        assert set(corpus[split]["segment"]) == set(L2_SEGMENTS)
    assert info["skipped"] == {COLD_START: 5}
    for split in SPLITS:
        assert info["splits"][split]["records"] == corpus[split].num_rows == 2 * info["splits"][split]["customers"]
        assert info["splits"][split]["segments"] == dict(Counter(corpus[split]["segment"]))
    assert info["strategies_version"] == "2.0" and info["lang"] == "zh" and info["seed"] == 3


def test_no_two_emails_in_a_segment_and_split_are_the_same(built) -> None:
    corpus, _ = built
    emails = [(split, r["segment"], r["rendered"]) for split in SPLITS for r in corpus[split]]
    assert len(set(emails)) == len(emails)


def test_the_model_learns_merge_tags_and_the_reader_gets_the_facts(built) -> None:
    from genemail.generation.slots import TAG, render
    from genemail.generation.strategies import default_wording

    records = [r for split in SPLITS for r in built[0][split]]
    assert all(not any(ch.isdigit() for ch in r["output"]) for r in records)  # no fact written as a literal
    assert sum(bool(TAG.search(r["output"])) for r in records) / len(records) > 0.8
    for r in records[:200]:
        rendered = render(r["output"], CustomerProfile(**r["profile"]), "zh", default_wording("zh"))
        assert rendered.ok and rendered.text == r["rendered"] and "{" not in r["rendered"]


def test_identical_profiles_still_get_distinct_emails(book) -> None:
    # 20 customers with exactly the same facts in one segment: uniqueness must come from construction.
    frame = make_customers(1, cold_start=0).loc[[0] * 20].reset_index(drop=True)
    frame["customer_id"] = [f"T{i}" for i in range(20)]
    frame["segment"] = "Dormant"
    corpus, _ = build_corpus(frame, book, CorpusConfig(emails_per_customer=3))
    outputs = {split: corpus[split]["rendered"] for split in SPLITS}
    assert sum(map(len, outputs.values())) == 60
    assert all(len(set(texts)) == len(texts) for texts in outputs.values())
    assert len(outputs["train"]) == 48  # 16 customers in one split, still 48 distinct emails


def test_emails_state_the_customers_own_facts(built) -> None:
    corpus, _ = built
    records = [r for split in SPLITS for r in corpus[split]]
    checks = [fact_consistency(r["rendered"], CustomerProfile(**r["profile"]), "zh") for r in records]
    assert all(c.consistent for c in checks)
    assert sum(bool(c.claims) for c in checks) / len(checks) > 0.8
    recency_stated = [r for r, c in zip(records, checks) if any(cl.kind == "recency" for cl in c.claims)]
    assert recency_stated and all(f"已有{r['profile']['recency']}天" in r["rendered"] for r in recency_stated)


def test_chinese_emails_are_short(built) -> None:
    lengths = [len(r["rendered"]) for r in built[0]["train"]]
    assert min(lengths) >= 35 and max(lengths) <= 150
    assert 45 <= float(np.mean(lengths)) <= 110


def test_records_carry_prompts_and_profile(built) -> None:
    record = built[0]["test"][0]
    assert record["input"].startswith(f"<{record['segment']}>")
    assert record["segment"] not in record["baseline_input"]
    assert record["profile"]["customer_id"] == record["customer_id"] and record["lang"] == "zh"
    assert re.fullmatch(r"g\d-b\d-c\d", record["variant"])


def test_english_corpus(book) -> None:
    corpus, info = build_corpus(make_customers(60), book, CorpusConfig(lang="en"))
    outputs = [r["output"] for r in corpus["train"]]
    assert info["lang"] == "en" and not any(CJK.search(text) for text in outputs)
    assert all(r["input"].endswith("Email:") for r in corpus["train"])


def test_seed_controls_split_and_variants(book) -> None:
    frame = make_customers(80)
    a, _ = build_corpus(frame, book, CorpusConfig(seed=1))
    b, _ = build_corpus(frame, book, CorpusConfig(seed=1))
    c, _ = build_corpus(frame, book, CorpusConfig(seed=2))
    assert a["train"]["output"] == b["train"]["output"]
    assert a["test"]["customer_id"] != c["test"]["customer_id"] or a["train"]["output"] != c["train"]["output"]


def test_save_load_round_trip_and_card(built, tmp_path: Path) -> None:
    corpus, info = built
    save_corpus(corpus, info, tmp_path)
    loaded = load_corpus(tmp_path)
    for split in SPLITS:
        assert loaded[split].to_list() == corpus[split].to_list()
    assert load_corpus_info(tmp_path) == json.loads(json.dumps(info))
    assert "距离您上次光临" in (tmp_path / "train.jsonl").read_text(encoding="utf-8")  # not \u-escaped
    customers = held_out_customers(loaded)
    assert len(customers) == info["splits"]["test"]["customers"]
    card = render_corpus_card(info, repo_id="demo/genemail-corpus")
    assert card.data.language == ["zh"] and "demo/genemail-corpus" in card.content
    test_counts = info["splits"]["test"]
    assert f"| test | {test_counts['customers']} | {test_counts['records']} |" in card.content
    assert f"{COLD_START}: 5" in card.content


def test_bad_inputs_raise_user_errors(book, tmp_path: Path) -> None:
    frame = make_customers(10)
    frame.loc[7, "segment"] = "VIP"
    with pytest.raises(DataError, match="row 8, column segment"):
        build_corpus(frame, book)
    with pytest.raises(DataError, match="no 'segment' column"):
        build_corpus(frame.drop(columns="segment"), book)
    unsegmented = make_customers(10, cold_start=0)
    unsegmented.loc[[2, 3], "segment"] = None
    assert build_corpus(unsegmented, book)[1]["skipped"] == {"unsegmented": 2}
    with pytest.raises(DataError, match="no customer with an L2 segment"):
        build_corpus(make_customers(5, cold_start=5), book)
    with pytest.raises(ArtifactError, match="corpus split 'train' is missing"):
        load_corpus(tmp_path)
    # Customers with no known facts have one usable body: 8 greetings x 1 x 8 CTAs less the pairs that
    # would repeat a phrase = 56 emails in all.
    factless = pd.DataFrame({"customer_id": ["A", "B"], "segment": ["Dormant", "Dormant"]})
    with pytest.raises(DataError, match="customer 'B'.*lower --emails-per-customer"):
        build_corpus(factless, book, CorpusConfig(emails_per_customer=32))


@pytest.mark.parametrize(
    "kwargs", [{"lang": "fr"}, {"seed": -1}, {"emails_per_customer": 0}, {"test_fraction": 0.6}, {"validation_fraction": 0.0}]
)
def test_corpus_config_validation(kwargs: dict) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ConfigError, match=name):
        CorpusConfig(**kwargs)


@pytest.mark.integration
def test_build_script_writes_corpus_card_and_strategies(tmp_path: Path) -> None:
    from genemail.training.corpus import write_corpus_folder
    from training.build_corpus import main as run

    info = write_corpus_folder(make_customers(40), tmp_path / "corpus", CorpusConfig(lang="zh", seed=0))
    files = {p.name for p in (tmp_path / "corpus").iterdir()}
    assert {"train.jsonl", "validation.jsonl", "test.jsonl", "corpus_info.json", "README.md", "strategies.yaml"} <= files
    assert sum(s["customers"] for s in info["splits"].values()) == 35
    assert run(["--help"]) == 0
    missing = tmp_path / "missing.csv"
    assert run(["--customers", str(missing), "--segmenter", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
