"""DPO from an adapter's current revision: the adapter changes, stays a flat PEFT folder, and records lineage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genemail.errors import ConfigError
from genemail.training.preference_training import (
    LINEAGE_FILE,
    PreferenceSource,
    PreferenceTrainConfig,
    tune_adapter,
    tune_segments,
)
from genemail.taxonomy import DORMANT, HIGHVALUE_ACTIVE

PARENT_SHA = "1" * 40
DATASET_SHA = "2" * 40


def _pairs(corpus: Path, segment: str, n: int = 12) -> list[dict[str, str]]:
    """Pairs of the fixture corpus: chosen = the segment's own email, rejected = another segment's."""
    records = [json.loads(x) for x in (corpus / "train.jsonl").read_text("utf-8").splitlines()]
    own = [r for r in records if r["segment"] == segment]
    other = [r for r in records if r["segment"] != segment]
    return [{"prompt": a["input"], "chosen": a["output"], "rejected": b["output"]} for a, b in zip(own, other)][:n]


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


@pytest.mark.integration
def test_a_dpo_step_changes_the_adapter_and_keeps_the_peft_layout(tiny_base_model_dir: Path, tiny_adapters_dir: Path,
                                                                   tiny_corpus_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import load_strategies

    parent = tiny_adapters_dir / DORMANT
    out = tmp_path / "tuned"
    metrics = tune_adapter(tiny_base_model_dir, parent, _pairs(tiny_corpus_dir, DORMANT), out,
                           PreferenceTrainConfig(max_steps=3, batch_size=4, learning_rate=5e-3, progress=False))
    assert metrics["steps"] == 3 and metrics["pairs"] == 12
    # The reference policy is the parent: at the first step chosen and rejected rewards are exactly 0.
    assert metrics["rewards_accuracies_first_log"] == 0.0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    before, after = _weights(parent), _weights(out)
    assert before.keys() == after.keys(), "the saved adapter gained or lost tensors (e.g. the 'ref' copy)"
    assert not any(".ref." in k for k in after)
    assert any(not torch.equal(before[k], after[k]) for k in before), "DPO did not change the adapter"
    config = json.loads((out / "adapter_config.json").read_text())
    assert config == json.loads((parent / "adapter_config.json").read_text()) | {
        k: config[k] for k in config if k in ("base_model_name_or_path", "revision")}
    # Loadable as PEFT and by the generator the app uses, under a segment name.
    base = AutoModelForCausalLM.from_pretrained(tiny_base_model_dir)
    assert isinstance(PeftModel.from_pretrained(base, str(out), adapter_name=DORMANT), PeftModel)
    gen = EmailGenerator.load(tiny_base_model_dir, [AdapterRef(DORMANT, out)])
    strategy = load_strategies().for_segment(DORMANT)
    email = gen.generate([CustomerProfile("C1", age=40, recency=80)], [strategy], GenerationConfig(max_new_tokens=6),
                         with_baseline=False)[0]
    assert email.adapter == DORMANT and email.email is not None


@pytest.mark.integration
def test_dpo_keeps_the_parents_head_lora_and_tunes_the_rest(tiny_base_model_dir: Path, tiny_corpus_dir: Path,
                                                           tmp_path: Path) -> None:
    """The embedded model's adapters carry a LoRA on lm_head, which TRL's DPO refuses: it is folded in
    frozen, the other projections are tuned, and the tuned adapter gets the parent's head tensors back."""
    import torch

    from genemail.training.adapter_training import AdapterTrainConfig, train_adapters
    from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig

    cfg = AdapterTrainConfig(base_model=str(tiny_base_model_dir), corpus=tiny_corpus_dir, out=tmp_path / "a",
                             segments=(DORMANT,), max_steps=2, progress=False, r=4, min_train_records=10)
    train_adapters(cfg)
    parent, out = tmp_path / "a" / DORMANT, tmp_path / "tuned"
    assert "lm_head" in json.loads((parent / "adapter_config.json").read_text())["target_modules"]
    metrics = tune_adapter(tiny_base_model_dir, parent, _pairs(tiny_corpus_dir, DORMANT), out,
                           PreferenceTrainConfig(max_steps=3, batch_size=4, learning_rate=5e-3, progress=False))
    assert metrics["steps"] == 3 and metrics["rewards_accuracies_first_log"] == 0.0  # reference = parent
    before, after = _weights(parent), _weights(out)
    assert before.keys() == after.keys()
    head = [k for k in before if ".lm_head." in k]
    assert head and all(torch.equal(before[k], after[k]) for k in head)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in head), "DPO changed nothing"
    config = json.loads((out / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == sorted(json.loads((parent / "adapter_config.json").read_text())[
        "target_modules"])
    gen = EmailGenerator.load(tiny_base_model_dir, [AdapterRef(DORMANT, out)])
    assert len(gen.complete(["年龄:40\n邮件:"], [DORMANT], GenerationConfig(max_new_tokens=4))) == 1


@pytest.mark.integration
def test_tune_segments_writes_the_next_artifacts_folder_with_lineage(tiny_base_model_dir: Path,
                                                                     tiny_adapters_dir: Path, tiny_corpus_dir: Path,
                                                                     tmp_path: Path) -> None:
    parent = tmp_path / "artifacts"
    shutil.copytree(tiny_base_model_dir, parent / "base")
    shutil.copytree(tiny_adapters_dir, parent / "adapters")
    (parent / "segmenter").mkdir()
    (parent / "segmenter" / "metrics.json").write_text("{}")
    (parent / "eval").mkdir()
    (parent / "eval" / "eval.json").write_text("{}")
    (parent / "experiment").mkdir()  # the demo's experiment files: not part of a release
    (parent / "experiment" / "results.sqlite").write_text("x")
    source = PreferenceSource(path=tmp_path / "prefs", repo_id="demo/genemail-preferences", sha=DATASET_SHA)
    info = {"experiment": "loop-v1", "release": [{"repo_id": "demo/genemail-release", "revision": "v1",
                                                   "sha": "3" * 40, "rows": 10}],
            "segments": {DORMANT: {"sent": 40, "clicked": 6, "not_clicked": 30, "pairs": 12}}}
    parents = {DORMANT: {"repo_id": "demo/genemail-adapter-dormant", "sha": PARENT_SHA, "verified": True}}
    out = parent / "loop" / "next"  # inside the parent folder, as make loop writes it
    tuned = tune_segments(parent, out, source, info, {DORMANT: _pairs(tiny_corpus_dir, DORMANT)}, parents,
                          PreferenceTrainConfig(max_steps=2, batch_size=4, progress=False), "demo/genemail-base")
    assert [t.segment for t in tuned] == [DORMANT]
    assert not (out / "eval").exists(), "the parent's evaluation was copied into the next release"
    assert sorted(p.name for p in out.iterdir()) == ["adapters", "base", LINEAGE_FILE, "segmenter"]
    assert (out / "segmenter" / "metrics.json").is_file() and (out / "base" / "config.json").is_file()
    untouched = out / "adapters" / HIGHVALUE_ACTIVE / "adapter_model.safetensors"
    assert untouched.read_bytes() == (parent / "adapters" / HIGHVALUE_ACTIVE / "adapter_model.safetensors").read_bytes()
    lineage = json.loads((out / LINEAGE_FILE).read_text())
    assert lineage["parent_release"] == {"repo_id": "demo/genemail-release", "revision": "v1", "sha": "3" * 40}
    assert lineage["preferences"] == {"repo_id": "demo/genemail-preferences", "repo_type": "dataset",
                                      "sha": DATASET_SHA}
    assert lineage["adapters"] == {DORMANT: {"parent_repo": "demo/genemail-adapter-dormant",
                                             "parent_sha": PARENT_SHA, "method": "dpo", "pairs": 12}}
    card = (out / "adapters" / DORMANT / "README.md").read_text()
    assert PARENT_SHA in card and DATASET_SHA in card and "loop-v1" in card and "base_model: demo/genemail-base" in card
    metrics = json.loads((out / "adapters" / DORMANT / "training_metrics.json").read_text())
    assert metrics["lineage"]["parent"]["sha"] == PARENT_SHA
    with pytest.raises(ConfigError, match="not empty"):
        tune_segments(parent, out, source, info, {DORMANT: _pairs(tiny_corpus_dir, DORMANT)}, parents,
                      PreferenceTrainConfig(max_steps=1, progress=False))


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="beta"):
        PreferenceTrainConfig(beta=0)
    with pytest.raises(ConfigError, match="segments"):
        PreferenceTrainConfig(segments=("Nope",))
    with pytest.raises(ConfigError, match="warmup_ratio"):
        PreferenceTrainConfig(warmup_ratio=1.0)
