"""The vLLM adapter checks: one adapter that breaks each rule, built with PEFT itself where PEFT can make it.

Then the checks in place: ``genemail publish`` refuses (nothing written) unless ``--force``, which the
release records; ``release pull`` refuses an unchecked release with such an adapter and warns for a forced
one; ``release serve-args`` prints the ``vllm serve`` command with the pinned snapshot paths.
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from genemail.errors import ArtifactError, ConfigError
from genemail.hub.vllm_compat import (
    VLLM_MAX_LORA_RANKS,
    BaseModelInfo,
    ServingLimits,
    base_model_info,
    check_folder,
    parse_key,
    serving_rank,
)
from genemail.taxonomy import DORMANT


@pytest.fixture(scope="module")
def base(tiny_base_model_dir: Path) -> BaseModelInfo:
    return base_model_info(tiny_base_model_dir / "config.json", model_id=str(tiny_base_model_dir), revision=None)


def peft_adapter(base_dir: Path, out: Path, **lora: object) -> Path:
    """A random adapter saved by PEFT from ``LoraConfig(**lora)`` (q_proj, v_proj, r=4 unless overridden)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    settings = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM",
                "init_lora_weights": False, **lora}
    get_peft_model(model, LoraConfig(**settings)).save_pretrained(out)
    return out


def edit_config(folder: Path, **changes: object) -> Path:
    path = folder / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return folder


def copy_of(tiny_adapters_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_adapters_dir / DORMANT, tmp_path / DORMANT))


def rewrite_tensors(folder: Path, change: Callable[[dict], dict]) -> Path:
    from safetensors.torch import load_file, save_file

    path = folder / "adapter_model.safetensors"
    save_file(change(load_file(path)), path)
    return folder


# ---------------------------------------------------------------------------------- each rule alone

def test_a_plain_lora_adapter_passes(tiny_adapters_dir: Path, base: BaseModelInfo) -> None:
    report = check_folder(DORMANT, tiny_adapters_dir / DORMANT, base)
    assert report.ok, [p.render() for p in report.problems]
    assert report.rank == 4 and serving_rank([report]) == 8  # the smallest rank vLLM allows above 4
    # lm_head is a LoRA target vLLM serves (LogitsProcessorWithLoRA); the input embedding is not.
    assert set(base.projections) >= {"q_proj", "v_proj", "o_proj", "down_proj", "lm_head"}
    assert "embed_tokens" not in base.projections


BY_CONFIG: list[tuple[dict, str, str]] = [
    ({"peft_type": "LOHA"}, "peft_type", "LoRA adapters only"),
    ({"r": 128}, "r", "--max-lora-rank 64"),
    ({"r": 0}, "r", "positive integer"),
    ({"rank_pattern": {"q_proj": 96}}, "r", "exceeds the serving limit"),
    ({"lora_alpha": None}, "lora_alpha", "must be a number"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save", "fully trained modules"),
    ({"init_lora_weights": "pissa"}, "init_lora_weights", "changes the base weights"),
    ({"layer_replication": [[0, 1]]}, "layer_replication", "does not support layer_replication"),
    ({"alora_invocation_tokens": [5, 6]}, "alora_invocation_tokens", "Activated LoRA"),
    ({"use_qalora": True}, "use_qalora", "QALoRA"),
    ({"trainable_token_indices": [3, 4]}, "trainable_token_indices", "trained token embeddings"),
    ({"target_modules": ["q_proj", "fc_in"]}, "target_modules", "not linear projections"),
    ({"target_modules": []}, "target_modules", "targets no module"),
]


@pytest.mark.parametrize(("changes", "field", "rule"), BY_CONFIG,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(BY_CONFIG)])
def test_each_config_rule_refuses_with_the_field_and_a_fix(tiny_adapters_dir: Path, base: BaseModelInfo,
                                                         tmp_path: Path, changes: dict, field: str, rule: str) -> None:
    folder = edit_config(copy_of(tiny_adapters_dir, tmp_path), **changes)
    report = check_folder(DORMANT, folder, base)
    assert not report.ok
    hits = [p for p in report.problems if p.field == field]
    assert hits, [p.render() for p in report.problems]
    assert rule in hits[0].rule and hits[0].fix and hits[0].file == "adapter_config.json"
    assert f"field {field}=" in hits[0].render()


@pytest.mark.integration
def test_dora_bias_and_saved_modules_made_by_peft_are_refused(tiny_base_model_dir: Path, base: BaseModelInfo,
                                                              tmp_path: Path) -> None:
    dora = check_folder("d", peft_adapter(tiny_base_model_dir, tmp_path / "dora", use_dora=True), base)
    assert {p.field for p in dora.problems} >= {"use_dora"}
    assert any("magnitude" in p.rule for p in dora.problems)  # its tensors say so too

    bias = check_folder("b", peft_adapter(tiny_base_model_dir, tmp_path / "bias", bias="lora_only"), base)
    assert "bias" in {p.field for p in bias.problems}

    lora_bias = check_folder("lb", peft_adapter(tiny_base_model_dir, tmp_path / "lb", lora_bias=True), base)
    assert {"lora_bias"} <= {p.field for p in lora_bias.problems}
    assert any("bias on a LoRA weight" in p.rule for p in lora_bias.problems)

    saved = check_folder("m", peft_adapter(tiny_base_model_dir, tmp_path / "mts", modules_to_save=["norm"]), base)
    assert "modules_to_save" in {p.field for p in saved.problems}
    assert any("not a LoRA tensor" in p.rule and "norm" in p.field for p in saved.problems)  # its saved tensor


@pytest.mark.integration
def test_resized_embeddings_and_added_tokens_are_refused(tiny_adapters_dir: Path, base: BaseModelInfo,
                                                         tmp_path: Path) -> None:
    import torch

    folder = copy_of(tiny_adapters_dir, tmp_path)
    rewrite_tensors(folder, lambda t: {**t, "base_model.model.model.embed_tokens.weight":
                                       torch.zeros(base.vocab_size + 2, 32)})  # what save_embedding_layers writes
    (folder / "added_tokens.json").write_text(json.dumps({"<|vip|>": base.vocab_size}))
    problems = check_folder(DORMANT, folder, base).problems
    assert any(p.field == "base_model.model.model.embed_tokens.weight" and "resized" in p.rule for p in problems)
    assert any(p.file == "added_tokens.json" for p in problems)


@pytest.mark.integration
def test_tensors_must_fit_the_base_models_projections(tiny_adapters_dir: Path, base: BaseModelInfo,
                                                      tmp_path: Path) -> None:
    import torch

    def widen(tensors: dict) -> dict:
        key = next(k for k in tensors if k.endswith("q_proj.lora_A.weight"))
        return {**tensors, key: torch.zeros(4, 64)}  # an adapter for a wider model

    problems = check_folder(DORMANT, rewrite_tensors(copy_of(tiny_adapters_dir, tmp_path), widen), base).problems
    assert any("does not fit the base projection" in p.rule for p in problems)
    assert check_folder(DORMANT, rewrite_tensors(copy_of(tiny_adapters_dir, tmp_path / "x"), widen), None).ok


def test_base_model_id_and_revision_must_be_the_releases(tiny_adapters_dir: Path, base: BaseModelInfo,
                                                         tmp_path: Path) -> None:
    from dataclasses import replace

    folder = copy_of(tiny_adapters_dir, tmp_path)
    pinned = replace(base, id="demo/genemail-base", revision="a" * 40)
    fields = {p.field for p in check_folder(DORMANT, folder, pinned).problems}
    assert fields == {"base_model_name_or_path"}
    edit_config(folder, base_model_name_or_path="demo/genemail-base", revision="b" * 40)
    assert {p.field for p in check_folder(DORMANT, folder, pinned).problems} == {"revision"}
    edit_config(folder, revision="a" * 40)
    assert check_folder(DORMANT, folder, pinned).ok


def test_missing_weights_and_unreadable_config(tiny_adapters_dir: Path, base: BaseModelInfo, tmp_path: Path) -> None:
    folder = copy_of(tiny_adapters_dir, tmp_path)
    (folder / "adapter_model.safetensors").unlink()
    assert any("no adapter_model.safetensors" in p.rule for p in check_folder(DORMANT, folder, base).problems)
    (folder / "adapter_config.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="adapter_config.json"):
        check_folder(DORMANT, folder, base)


def test_limits_and_key_parsing() -> None:
    assert ServingLimits().max_lora_rank in VLLM_MAX_LORA_RANKS
    with pytest.raises(ConfigError, match="max_lora_rank"):
        ServingLimits(max_lora_rank=48)  # vLLM allows 32 or 64, not 48
    assert parse_key("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight") == \
        ("model.layers.0.self_attn.q_proj", "lora_A", "weight")
    assert parse_key("base_model.model.model.embed_tokens.lora_embedding_A") == \
        ("model.embed_tokens", "lora_embedding_A", None)
    assert parse_key("base_model.model.lm_head.weight") == ("lm_head", None, None)


# ------------------------------------------------------------------------- at publish and at pull

@pytest.fixture(scope="module")
def bad_artifacts(tmp_path_factory, tiny_base_model_dir, tiny_adapters_dir, tiny_corpus_dir):
    """An artifacts folder whose Dormant adapter is a DoRA adapter (made by PEFT)."""
    from tests.fixtures.artifacts import build_artifacts

    art, _, _ = build_artifacts(tmp_path_factory.mktemp("vllm"), tiny_base_model_dir, tiny_adapters_dir,
                                tiny_corpus_dir)
    shutil.rmtree(art / "adapters" / DORMANT)
    peft_adapter(tiny_base_model_dir, art / "adapters" / DORMANT, use_dora=True)
    return art


@pytest.mark.integration
def test_publish_refuses_then_force_is_recorded_and_pull_warns(bad_artifacts: Path, hub_server, hub_api,
                                                               monkeypatch, capsys) -> None:
    from genemail.cli import run
    from genemail.hub.release import pull_release
    from tests.fixtures.artifacts import NS, RELEASE, new_tag

    monkeypatch.setenv("HF_TOKEN", hub_server.alice_token)
    tag = new_tag()
    publish = ["publish", "--artifacts", str(bad_artifacts), "--namespace", NS, "--tag", tag]
    assert run(publish) == 2
    message = capsys.readouterr().err
    assert "use_dora" in message and "Dormant" in message and "--force" in message and "Traceback" not in message
    if hub_api.repo_exists(RELEASE):  # nothing was tagged (and in a fresh Hub, nothing created)
        assert tag not in {t.name for t in hub_api.list_repo_refs(RELEASE).tags}

    assert run([*publish, "--force"]) == 0
    assert "forced past the vLLM check" in capsys.readouterr().err
    released = json.loads(Path(hub_api.hf_hub_download(RELEASE, "release.json", revision=tag)).read_text())
    assert released["serving_check"]["forced"] is True and released["serving_check"]["passed"] is False
    assert any("use_dora" in p for p in released["serving_check"]["problems"])

    pulled = pull_release(RELEASE, tag)  # a forced release still pulls (PEFT serves it), with a warning
    assert any("--force" in w and "vLLM will refuse" in w for w in pulled.warnings)
    assert pulled.manifest.serving.forced
    assert run(["release", "pull", RELEASE, "--revision", tag]) == 0
    assert "vLLM will refuse" in capsys.readouterr().err


@pytest.mark.integration
def test_pull_refuses_an_unchecked_release_with_such_an_adapter(bad_artifacts: Path, hub_server,
                                                               monkeypatch) -> None:
    import importlib

    from genemail.hub.publish import PublishConfig, publish
    from genemail.hub.release import pull_release
    from tests.fixtures.artifacts import NS, RELEASE, new_tag

    # A release published before the check existed (an older GenEmail): the manifest records no check.
    publish_module = importlib.import_module("genemail.hub.publish")  # genemail.hub re-exports a function `publish`
    monkeypatch.setattr(publish_module, "check_for_publish", lambda *a, **k: None)
    tag = new_tag()
    publish(PublishConfig(bad_artifacts, NS, tag, token=hub_server.alice_token))
    with pytest.raises(ArtifactError, match="use_dora") as refused:
        pull_release(RELEASE, tag)
    assert "re-publish" in str(refused.value)


@pytest.mark.integration
def test_serve_args_prints_the_vllm_command_with_pinned_paths(app_release, capsys) -> None:
    from genemail.cli import run

    assert run(["release", "serve-args", app_release.repo_id, "--revision", "v1"]) == 0
    from genemail.hub.release import pull_release

    argv = shlex.split(capsys.readouterr().out.strip())
    assert argv[:2] == ["vllm", "serve"]
    base = Path(argv[2])
    assert (base / "config.json").is_file()
    assert base.name == pull_release(app_release.repo_id, "v1").manifest.base.sha  # the pinned base snapshot
    flags = {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--")}
    assert "--enable-lora" in argv
    shas = app_release.adapter_shas["v1"]
    assert flags["--max-loras"] == str(len(shas)) and flags["--max-lora-rank"] == "8"  # r=4 -> vLLM's 8
    modules = dict(item.split("=", 1) for item in argv[argv.index("--lora-modules") + 1:])
    assert set(modules) == set(shas)
    for name, path in modules.items():
        assert Path(path).name == shas[name]  # the snapshot folder of the pinned commit
        assert (Path(path) / "adapter_config.json").is_file()
