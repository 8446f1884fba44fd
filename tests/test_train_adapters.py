"""Adapter training: one LoRA adapter per segment + baseline, standard PEFT layout, cards, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from genemail.errors import ConfigError, DataError
from genemail.taxonomy import BASELINE, DORMANT, L2_SEGMENTS, PARENT_ACTIVE
from genemail.training.adapter_training import (
    ALL_LINEAR_MODULES,
    SEGMENT_PROMPT,
    SUMMARY_FILE,
    AdapterTrainConfig,
    lora_config,
    parse_target_modules,
    plan_adapters,
    resolve_lora,
    too_small,
    train_adapters,
)
from training.train_adapters import main


def _cfg(tmp_path: Path, **kwargs) -> AdapterTrainConfig:
    return AdapterTrainConfig(base_model=str(tmp_path), corpus=tmp_path, out=tmp_path / "o", **kwargs)


def test_defaults_are_the_prd_recipe(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)  # the command line's defaults are the config's
    assert (cfg.r, cfg.alpha, cfg.dropout, cfg.target_modules) == (8, 16, None, None)
    # default recipe: the PRD's q_proj+v_proj and dropout 0.1 on a real model; every projection and no
    # dropout on the tiny one
    real, tiny = resolve_lora(cfg, 600_000_000), resolve_lora(cfg, 1_000_000)
    assert (real.target_modules, real.dropout) == (("q_proj", "v_proj"), 0.1)
    assert (tiny.target_modules, tiny.dropout) == (ALL_LINEAR_MODULES, 0.0)
    custom = _cfg(tmp_path, r=4, target_modules=parse_target_modules("q_proj, o_proj ,down_proj"),
                  segments=(DORMANT, BASELINE))
    assert custom.target_modules == ("q_proj", "o_proj", "down_proj") and custom.segments == (DORMANT, BASELINE)
    assert resolve_lora(custom, 1_000_000).target_modules == ("q_proj", "o_proj", "down_proj")
    assert resolve_lora(_cfg(tmp_path, dropout=0.2), 1_000_000).dropout == 0.2  # an explicit dropout stays
    with pytest.raises(ConfigError, match="not resolved"):
        lora_config(cfg)
    assert parse_target_modules(" ") is None and main(["--help"]) == 0
    assert main(["--base-model", "b", "--corpus", str(tmp_path), "--out", "o", "--r", "x"]) == 2  # usage error


def test_config_is_validated(tmp_path: Path) -> None:
    for kwargs, name in [({"r": 0}, "r"), ({"alpha": 0}, "alpha"), ({"dropout": 1.0}, "dropout"),
                         ({"target_modules": ()}, "target_modules"), ({"segments": ("Nope",)}, "segments"),
                         ({"epochs": 0}, "epochs"), ({"learning_rate": -1}, "learning_rate"),
                         ({"min_train_records": 0}, "min_train_records"), ({"min_gain": 1.0}, "min_gain")]:
        with pytest.raises(ConfigError, match=name):
            _cfg(tmp_path, **kwargs)


def test_plan_trains_baseline_first_and_refuses_empty_segments(tmp_path: Path) -> None:
    assert plan_adapters(_cfg(tmp_path), set(L2_SEGMENTS)) == [BASELINE, *L2_SEGMENTS]
    assert plan_adapters(_cfg(tmp_path, segments=(DORMANT, BASELINE)), {DORMANT}) == [BASELINE, DORMANT]
    with pytest.raises(DataError, match=PARENT_ACTIVE):
        plan_adapters(_cfg(tmp_path, segments=(PARENT_ACTIVE,)), {DORMANT})


def test_plan_adds_the_comparator_and_leaves_out_segments_too_small_to_train(tmp_path: Path) -> None:
    counts = {s: 100 for s in L2_SEGMENTS} | {PARENT_ACTIVE: 7}
    cfg = _cfg(tmp_path, comparators_out=tmp_path / "c", min_train_records=20)
    assert plan_adapters(cfg, counts) == [BASELINE, SEGMENT_PROMPT, *(s for s in L2_SEGMENTS if s != PARENT_ACTIVE)]
    assert too_small(cfg, counts) == {PARENT_ACTIVE: 7}
    assert SEGMENT_PROMPT not in plan_adapters(_cfg(tmp_path), counts)  # no folder for it: not trained
    with pytest.raises(ConfigError, match="comparators-out"):
        plan_adapters(_cfg(tmp_path, segments=(SEGMENT_PROMPT,)), counts)


@pytest.mark.integration
def test_unknown_target_module_is_a_config_error(tmp_path: Path, tiny_base_model_dir: Path,
                                                 tiny_corpus_dir: Path) -> None:
    cfg = AdapterTrainConfig(base_model=str(tiny_base_model_dir), corpus=tiny_corpus_dir, out=tmp_path,
                             target_modules=("c_attn",))
    with pytest.raises(ConfigError, match="c_attn"):
        train_adapters(cfg)


@pytest.mark.integration
def test_train_segment_and_baseline_adapters(tmp_path: Path, tiny_base_model_dir: Path,
                                             tiny_corpus_dir: Path) -> None:
    from huggingface_hub import ModelCard
    from peft import PeftConfig

    from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig
    from genemail.generation.strategies import load_strategies

    out, comparators = tmp_path / "adapters", tmp_path / "comparators"
    cfg = AdapterTrainConfig(base_model=str(tiny_base_model_dir), corpus=tiny_corpus_dir, out=out,
                             segments=(DORMANT, BASELINE, SEGMENT_PROMPT), max_steps=25, progress=False, r=4,
                             target_modules=("q_proj", "v_proj"), comparators_out=comparators, min_train_records=10)
    lora = lora_config(resolve_lora(cfg, 1_000_000))
    assert (lora.r, lora.lora_alpha, lora.lora_dropout, set(lora.target_modules)) == (4, 16, 0.0, {"q_proj", "v_proj"})
    results = train_adapters(cfg)
    assert list(results) == [BASELINE, SEGMENT_PROMPT, DORMANT]
    # the comparator is never saved with the adapters a release publishes
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [DORMANT, BASELINE]
    assert [p.name for p in comparators.iterdir()] == [SEGMENT_PROMPT]
    for name, folder in ((DORMANT, out / DORMANT), (BASELINE, out / BASELINE),
                         (SEGMENT_PROMPT, comparators / SEGMENT_PROMPT)):
        assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "training_metrics.json"} <= {
            p.name for p in folder.iterdir()}  # flat PEFT layout, no sub-folder
        assert PeftConfig.from_pretrained(folder).r == 4
        m = json.loads((folder / "training_metrics.json").read_text())
        assert m["steps"] == 25 and m["seconds"] > 0 and m["lora"]["r"] == 4
        # trained on its data: better than the (random) base model on the same validation customers
        assert m["validation_loss"] < m["base_validation_loss"]
        card = ModelCard.load(folder / "README.md")
        assert card.data.library_name == "peft" and card.data.base_model == str(tiny_base_model_dir)
        assert name in card.data.tags and str(m["validation_loss"]) in card.text
    dormant = results[DORMANT]
    assert dormant["train_records"] == 16 and dormant["validation_records"] == 4
    assert dormant["prompt_field"] == "input" and results[BASELINE]["prompt_field"] == "baseline_input"
    assert results[BASELINE]["train_records"] == 80
    assert dormant["baseline_validation_loss"] == results[BASELINE]["validation_loss_by_segment"][DORMANT]
    assert dormant["segment_prompt_validation_loss"] == results[SEGMENT_PROMPT]["validation_loss_by_segment"][DORMANT]
    assert results[SEGMENT_PROMPT]["prompt_field"] == "input" and results[SEGMENT_PROMPT]["train_records"] == 80
    gain = 1 - dormant["validation_loss"] / dormant["base_validation_loss"]
    assert dormant["gain_over_base"] == pytest.approx(gain, abs=1e-4) and dormant["beats_base"] == (gain >= 0.1)
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["adapters"][DORMANT]["gain_over_base"] == dormant["gain_over_base"]
    assert summary["all_segments_beat_base"] == dormant["beats_base"] and summary["too_small"] == {}
    card = (out / DORMANT / "README.md").read_text("utf-8")
    assert f"{100 * dormant['gain_over_base']:.1f}% lower" in card and str(dormant["segment_prompt_validation_loss"]) in card
    assert "segment-as-prompt" in (comparators / SEGMENT_PROMPT / "README.md").read_text("utf-8")
    assert dormant["strategy"] == load_strategies().for_segment(DORMANT).text("zh").display_name
    assert dormant["strategy"] in (out / DORMANT / "README.md").read_text("utf-8")

    # the saved adapters load into the generator under their names
    gen = EmailGenerator.load(tiny_base_model_dir, [AdapterRef(n, out / n) for n in (DORMANT, BASELINE)])
    assert len(gen.complete(["年龄:40\n邮件:"] * 2, [DORMANT, BASELINE], GenerationConfig(max_new_tokens=4))) == 2


@pytest.mark.integration
def test_adapters_trained_side_by_side_equal_those_trained_one_after_the_other(
        tmp_path: Path, tiny_base_model_dir: Path, tiny_corpus_dir: Path) -> None:
    from safetensors.torch import load_file

    def train(workers: int) -> tuple[Path, dict[str, Any]]:
        out = tmp_path / f"w{workers}"
        cfg = AdapterTrainConfig(base_model=str(tiny_base_model_dir), corpus=tiny_corpus_dir, out=out,
                                 segments=(DORMANT, BASELINE), max_steps=6, progress=False, r=4,
                                 target_modules=("q_proj", "v_proj"), min_train_records=10, workers=workers)
        return out, train_adapters(cfg)

    (one, serial), (two, parallel) = train(1), train(2)
    assert list(serial) == list(parallel) == [BASELINE, DORMANT]
    for name in serial:
        a, b = load_file(one / name / "adapter_model.safetensors"), load_file(two / name / "adapter_model.safetensors")
        assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
        assert serial[name]["validation_loss"] == parallel[name]["validation_loss"]
    assert parallel[DORMANT]["baseline_validation_loss"] == parallel[BASELINE]["validation_loss_by_segment"][DORMANT]
    with pytest.raises(ConfigError, match="workers"):
        AdapterTrainConfig(base_model="m", corpus=tmp_path, out=tmp_path, workers=0)


def test_small_model_adapters_train_the_output_projection_and_save_only_lora_tensors(
        tmp_path: Path, tiny_base_model_dir: Path, tiny_corpus_dir: Path) -> None:
    """The embedded default's targets include lm_head; the saved adapter holds its LoRA A/B, never the
    (tied, frozen) full embedding PEFT would add, so vLLM's checks pass and the file stays small."""
    from safetensors import safe_open

    from genemail.hub.vllm_compat import base_model_info, check_folder

    assert "lm_head" in ALL_LINEAR_MODULES
    cfg = AdapterTrainConfig(base_model=str(tiny_base_model_dir), corpus=tiny_corpus_dir, out=tmp_path / "a",
                             segments=(DORMANT,), max_steps=2, progress=False, r=4, min_train_records=10)
    train_adapters(cfg)
    with safe_open(str(tmp_path / "a" / DORMANT / "adapter_model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert any("lm_head.lora_A" in k for k in keys) and any("lm_head.lora_B" in k for k in keys)
    assert all(".lora_" in k for k in keys), [k for k in keys if ".lora_" not in k]
    base = base_model_info(tiny_base_model_dir / "config.json", model_id=None, revision=None)
    report = check_folder(DORMANT, tmp_path / "a" / DORMANT, base)
    assert report.ok, [p.render() for p in report.problems]


def test_small_segments_get_at_least_min_steps(tmp_path: Path, tiny_base_model_dir: Path,
                                              tiny_corpus_dir: Path) -> None:
    cfg = AdapterTrainConfig(base_model=str(tiny_base_model_dir), corpus=tiny_corpus_dir, out=tmp_path / "a",
                             segments=(DORMANT,), epochs=1.0, min_steps=7, batch_size=16, progress=False, r=4,
                             target_modules=("q_proj", "v_proj"), min_train_records=10)
    assert train_adapters(cfg)[DORMANT]["steps"] == 7  # 16 records: one step per epoch, raised to 7
    with pytest.raises(ConfigError, match="min_steps"):
        _cfg(tmp_path, min_steps=-1)
