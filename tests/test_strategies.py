"""Strategies file: the packaged book, validation errors, immutability and switching without restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from genemail.errors import StrategyError
from genemail.generation.strategies import (
    MIN_VARIANTS,
    REQUIRED_RECORDS,
    default_strategies_path,
    load_strategies,
)
from genemail.taxonomy import BASELINE, COLD_START, L2_SEGMENTS


def _raw() -> dict[str, Any]:
    return yaml.safe_load(default_strategies_path().read_text(encoding="utf-8"))


def _load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "strategies.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_strategies(path)


def test_packaged_book_has_every_segment_and_enough_variants() -> None:
    book = load_strategies()
    assert book.version
    assert set(book.segments) == set(REQUIRED_RECORDS)
    for segment in L2_SEGMENTS:
        strategy = book.for_segment(segment)
        assert strategy.adapter == segment
        for lang in ("zh", "en"):
            variants = strategy.text(lang).variants
            assert variants is not None
            for part in (variants.greeting, variants.body, variants.call_to_action):
                assert len(set(part)) >= MIN_VARIANTS
    assert book.default.segment == COLD_START and book.default.adapter == BASELINE
    assert book.baseline.adapter == BASELINE


def test_display_names_are_distinct_and_read_in_the_language_asked_for() -> None:
    book = load_strategies()
    for lang in ("zh", "en"):
        names = [book.for_segment(s).text(lang).display_name for s in L2_SEGMENTS]
        assert len(set(names)) == len(names)
    assert book.for_segment("HighValue_Active").text("zh").display_name == "高价值-活跃型"
    assert book.for_segment("HighValue_Active").text("en").display_name != "高价值-活跃型"


def test_unknown_segment_lookup_names_the_choices() -> None:
    with pytest.raises(StrategyError, match="no strategy for segment 'VIP'.*HighValue_Active"):
        load_strategies().for_segment("VIP")


def test_book_is_immutable_and_new_on_every_load() -> None:
    first, second = load_strategies(), load_strategies()
    assert first is not second
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.version = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        first.strategies["Dormant"] = first.strategies["Parent_Active"]  # type: ignore[index]


def test_switching_files_without_restart(tmp_path: Path) -> None:
    old = load_strategies()
    data = _raw()
    data["version"] = "2.0"
    data["strategies"]["Dormant"]["zh"]["display_name"] = "沉睡-唤醒型"
    new = _load(tmp_path, data)
    assert (new.version, new.for_segment("Dormant").text("zh").display_name) == ("2.0", "沉睡-唤醒型")
    assert old.for_segment("Dormant").text("zh").display_name == "沉睡-挽回型"  # the running book is untouched


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda d: d["strategies"].update(VIP=d["strategies"]["Dormant"]), r"strategies\.VIP: unknown segment 'VIP'"),
        (lambda d: d["strategies"].pop("Dormant"), r"missing records \['Dormant'\]"),
        (lambda d: d["strategies"]["Dormant"]["zh"].pop("tone"), r"strategies\.Dormant\.zh\.tone: missing or empty field 'tone'"),
        (lambda d: d["strategies"]["Parent_Active"]["en"].update(prompt_template="{profile} {shoe_size}"),
         r"Parent_Active\.en\.prompt_template: placeholders \['shoe_size'\] cannot be filled"),
        (lambda d: d["strategies"]["baseline"]["zh"].update(prompt_template="<{segment}>{profile}"),
         r"baseline\.zh\.prompt_template: placeholders \['segment'\]"),
        (lambda d: d["strategies"]["Dormant"]["zh"].update(prompt_template="{tone}"), "uses no profile placeholder"),
        (lambda d: d["strategies"]["Dormant"]["zh"].update(prompt_template="{profile"), "malformed template"),
        (lambda d: d["strategies"]["Dormant"]["zh"]["variants"]["body"].append("{age_fact}好久不见"),
         r"Dormant\.zh\.variants\.body\[9\]: placeholders \['age_fact'\]"),
        (lambda d: d["strategies"]["Dormant"]["zh"]["variants"]["greeting"].pop(), r"greeting: 7 variants, need at least 8"),
        (lambda d: d["strategies"]["Dormant"].update(adapter="Gold"), r"Dormant\.adapter: field 'adapter' is 'Gold'"),
        (lambda d: d.pop("version"), "missing or invalid top-level 'version'"),
    ],
)
def test_invalid_files_name_record_field_and_fix(tmp_path: Path, mutate: Any, pattern: str) -> None:
    data = _raw()
    mutate(data)
    with pytest.raises(StrategyError, match=pattern) as info:
        _load(tmp_path, data)
    assert "Fix:" in str(info.value)


def test_every_body_needing_facts_is_refused(tmp_path: Path) -> None:
    data = _raw()
    bodies = data["strategies"]["Regular_Active"]["zh"]["variants"]["body"]
    bodies[:] = [b if "{" in b else "{recency_fact}，" + b for b in bodies]
    with pytest.raises(StrategyError, match="keep at least one body without"):
        _load(tmp_path, data)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match="strategies file not found"):
        load_strategies(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [1\n", encoding="utf-8")
    with pytest.raises(StrategyError, match="not valid YAML"):
        load_strategies(bad)


def test_missing_language_is_reported_on_use(tmp_path: Path) -> None:
    data = _raw()
    data["strategies"]["Dormant"].pop("en")
    book = _load(tmp_path, data)
    with pytest.raises(StrategyError, match="no texts for language 'en'"):
        book.for_segment("Dormant").text("en")
