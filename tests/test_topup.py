"""Synthesized top-up customers: every segment reaches its minimums, never crossing splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from genemail.errors import ConfigError
from genemail.training.corpus import SPLITS, CorpusConfig, build_corpus, load_neutral, write_corpus_folder
from genemail.generation.strategies import load_strategies
from genemail.training.topup import TopUpConfig, shortfalls, top_up
from genemail.taxonomy import L2_SEGMENTS
from tests.fixtures.artifacts import fit_segmenter

MINIMUMS = {"min_train": 30, "min_validation": 10, "min_test": 20}


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory):
    """A small real segmenter and its own 300 training customers, segmented by it."""
    folder = tmp_path_factory.mktemp("seg")
    model, customers = fit_segmenter(folder)
    labels = model.segment(customers)
    frame = customers.copy()
    frame["segment"] = frame["customer_id"].astype(str).map(dict(zip(labels["customer_id"].astype(str), labels["l2"])))
    return folder, model, frame


def test_top_up_fills_every_segment_and_split(segmented) -> None:
    _, model, frame = segmented
    config = CorpusConfig(seed=0, **MINIMUMS)
    needed = shortfalls(frame, config)
    assert set(needed) == set(L2_SEGMENTS) and any(sum(s.values()) for s in needed.values())
    extra, report = top_up(frame, model, config, TopUpConfig(chunk_rows=2000, max_rows=40_000))
    assert report.short == {} and report.needed == needed
    assert set(extra["source"]) == {"synthetic"} and set(extra["split"]) <= set(SPLITS)
    assert not set(extra["customer_id"].astype(str)) & set(frame["customer_id"].astype(str))  # disjoint IDs
    assert Counter(zip(extra["segment"], extra["split"])) == Counter(
        {(seg, split): n for seg, splits in needed.items() for split, n in splits.items() if n})
    # the table's own customers plus the synthesized ones reach every minimum, one split per customer
    corpus, info = build_corpus(pd.concat([frame.assign(source="customers"), extra], ignore_index=True),
                                load_strategies(), config)
    for split, minimum in (("train", 30), ("validation", 10), ("test", 20)):
        customers = Counter(dict(zip(corpus[split]["customer_id"], corpus[split]["segment"])).values())
        assert all(customers[seg] >= minimum for seg in L2_SEGMENTS), (split, customers)
    ids = {split: set(corpus[split]["customer_id"]) for split in SPLITS}
    assert not ids["test"] & ids["train"] and not ids["validation"] & ids["train"]
    synthetic = sum(sum(info["splits"][s]["synthetic_customers"].values()) for s in SPLITS)
    assert synthetic == len(extra)


def test_a_segment_still_short_after_max_rows_is_reported(segmented) -> None:
    _, model, frame = segmented
    config = CorpusConfig(seed=0, min_test=5000)
    _, report = top_up(frame, model, config, TopUpConfig(chunk_rows=500, max_rows=1000))
    assert report.rows_synthesized == 1000 and set(report.short) == set(L2_SEGMENTS)
    assert all(report.short[s]["test"] + report.added[s]["test"] == report.needed[s]["test"] for s in L2_SEGMENTS)


def test_corpus_folder_with_top_up_and_neutral_sentences(segmented, tmp_path: Path) -> None:
    folder, _, frame = segmented
    config = CorpusConfig(seed=0, min_test=15, neutral_sentences=50, phrase_mixes=30)
    info = write_corpus_folder(frame, tmp_path / "corpus", config, segmenter=folder / "segmenter.skops")
    assert info["top_up"]["short"] == {} and info["minimums"]["test"] == 15
    assert all(info["splits"]["test"]["segments"][s] >= 15 for s in L2_SEGMENTS)  # records >= customers
    neutral = load_neutral(tmp_path / "corpus")
    assert (info["neutral_sentences"], info["phrase_mixes"]) == (50, 30)
    assert len(neutral) == 80 and len(set(neutral)) == 80


@pytest.mark.parametrize("kwargs", [{"chunk_rows": 10}, {"chunk_rows": 1000, "max_rows": 500}])
def test_top_up_config_validation(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=list(kwargs)[-1]):
        TopUpConfig(**kwargs)
