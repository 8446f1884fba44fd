"""The strategy studio's back end without the app: the saved file, the release bits, the retraining plan."""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path

import pytest

from genemail.errors import ConfigError, DataError
from genemail.generation.strategies import default_strategies_path, load_strategies, parse_strategies
from genemail.taxonomy import DORMANT, PARENT_ACTIVE


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_an_edit_changes_only_its_own_lines_of_the_strategies_file() -> None:
    import yaml

    from genemail.studio.edit import apply_edits, edited_yaml, next_version

    source = default_strategies_path().read_text(encoding="utf-8")
    text = load_strategies().for_segment(DORMANT).text("zh")
    edited = apply_edits(text, {"tone": "轻松: 友好", "must_not_say": "最后机会，清仓\n最后机会"})
    assert edited.must_not_say == ("最后机会", "清仓")  # Chinese commas, lines and repeats
    saved = edited_yaml(source, DORMANT, "zh", edited, version=next_version("2.0+v3", "v4"), active_days=45)
    changed = _changed_lines(source, saved)
    assert len(changed) == 8, changed  # version, active window, tone, phrases: one line out, one in, each
    book = parse_strategies(yaml.safe_load(saved))
    assert book.version == "2.0+v4" and book.guards.active_days == 45
    assert '\nversion: "2.0+v4"\n' in saved  # the file's own quoting is kept
    assert book.for_segment(DORMANT).text("zh") == edited
    assert book.for_segment(PARENT_ACTIVE) == load_strategies().for_segment(PARENT_ACTIVE)
    with pytest.raises(DataError, match="^call to action: is empty"):
        apply_edits(text, {"call_to_action": "  "})


def test_a_file_laid_out_otherwise_is_written_whole_and_still_reads_back_as_the_edit() -> None:
    import yaml

    from genemail.studio.edit import edited_yaml

    data = yaml.safe_load(default_strategies_path().read_text(encoding="utf-8"))
    source = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, indent=4)
    text = load_strategies().for_segment(DORMANT).text("zh")
    edited = dataclasses.replace(text, tone="新语气", must_not_say=())
    book = parse_strategies(yaml.safe_load(edited_yaml(source, DORMANT, "zh", edited, version="9")))
    assert book.for_segment(DORMANT).text("zh") == edited and book.version == "9"


def test_voice_changes_need_retraining_and_wording_changes_do_not() -> None:
    from genemail.studio.edit import voice_changed

    text = load_strategies().for_segment(DORMANT).text("zh")
    assert voice_changed(text, dataclasses.replace(text, greeting="你好"))
    assert not voice_changed(text, dataclasses.replace(text, must_not_say=("清仓",)))


def test_next_tag_follows_the_highest_vn() -> None:
    from genemail.hub.derive import next_tag

    assert next_tag([]) == "v1" and next_tag(["v1", "v10", "v9", "beta"]) == "v11"


def test_rules_file_round_trip_and_its_pin_in_the_manifest() -> None:
    from genemail.hub.manifest import ArtifactPin, FileRef, ReleaseManifest
    from genemail.segmentation.rules import RuleConfig, rules_from_json, rules_to_json

    rules = RuleConfig(dormant_days=75, reengage_days=45)
    assert rules_from_json(rules_to_json(rules)) == rules
    with pytest.raises(DataError, match="segment_rules.json"):
        rules_from_json(b"{")
    pin = ArtifactPin("a/genemail-segmenter", "model", "0" * 40)
    plain = ReleaseManifest(namespace="a", segmenter=pin)
    assert "rules" not in json.loads(plain.to_json())  # older releases keep their bytes
    pinned = dataclasses.replace(plain, rules=FileRef("segment_rules.json", "1" * 64))
    assert ReleaseManifest.from_json(pinned.to_json()).rules == pinned.rules


def test_segmenter_training_takes_the_thresholds_and_refuses_a_bad_pair(tmp_path: Path) -> None:
    from genemail.segmentation.training import TrainConfig

    assert TrainConfig(out=tmp_path, dormant_days=90, reengage_days=45).dormant_days == 90
    with pytest.raises(ConfigError, match="reengage_days"):
        TrainConfig(out=tmp_path, dormant_days=30, reengage_days=45)


def test_the_retraining_plan_runs_only_what_went_stale(tmp_path: Path) -> None:
    from genemail.studio.retrain import PRESETS, RetrainInputs, plan_steps, preset

    inputs = RetrainInputs(tag="v2", folder=tmp_path, strategies=tmp_path / "s.yaml", segmenter_dir=tmp_path / "seg",
                           base_model="base", base_model_id="ns/genemail-base", lang="zh", adapters=(DORMANT,),
                           segmenter=False, dormant_days=75, reengage_days=45, customers=None)
    names = [name for name, _ in plan_steps(inputs, PRESETS["micro"])]
    assert names == ["customers", "corpus", "adapters"]
    adapters = plan_steps(inputs, PRESETS["micro"])[-1][1]
    assert adapters[adapters.index("--segments") + 1] == DORMANT and "--max-steps" in adapters
    both = plan_steps(dataclasses.replace(inputs, segmenter=True, adapters=()), PRESETS["full"])
    assert [name for name, _ in both] == ["customers", "segmenter"]
    assert "75" in both[1][1] and "45" in both[1][1]
    with pytest.raises(ConfigError, match="retrain_preset"):
        preset("huge")


def test_a_retraining_job_runs_its_steps_in_order_and_can_be_cancelled(tmp_path: Path) -> None:
    import sys
    import time

    from genemail.studio.retrain import CANCELLED, FAILED, FINISHED, RetrainInputs, RetrainJob

    inputs = RetrainInputs(tag="v2", folder=tmp_path / "job", strategies=tmp_path, segmenter_dir=tmp_path,
                           base_model="base", base_model_id=None, lang="zh", adapters=(), segmenter=True,
                           dormant_days=75, reengage_days=45, customers=None)
    make = [sys.executable, "-c", f"import os; os.makedirs({str(inputs.folder / 'segmenter')!r})"]
    done = RetrainJob("a", inputs, [("segmenter", make)], editor="Mei")
    done.run()
    assert done.state == FINISHED and done.step == 1 and (inputs.folder / "logs" / "1-segmenter.log").is_file()
    fail = [sys.executable, "-c", "raise SystemExit(3)"]
    failing = RetrainJob("b", inputs, [("customers", fail), ("segmenter", make)], editor="Mei")
    failing.run()
    assert failing.state == FAILED and failing.step_name == "customers" and "exit code 3" in failing.problem
    slow = RetrainJob("c", inputs, [("customers", [sys.executable, "-c", "import time; time.sleep(60)"])],
                      editor="Mei").start()
    time.sleep(1)
    started = time.monotonic()
    slow.cancel()
    while not slow.done and time.monotonic() - started < 20:
        time.sleep(0.1)
    assert slow.state == CANCELLED and time.monotonic() - started < 20
