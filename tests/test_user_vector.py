"""The user encoder + projector: config validation, training on the tiny fixtures, the artifact's Hub round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genemail.errors import ArtifactError, ConfigError
from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig
from genemail.taxonomy import DORMANT, HIGHVALUE_ACTIVE, PARENT_ACTIVE
from genemail.user_vector.artifact import ARTIFACT_FILES, load_user_vector, save_user_vector
from genemail.user_vector.encoder import UserVectorConfig, UserVectorModel
from tests.fixtures.models import FIXTURE_ADAPTERS

NAMES = ("a", "b", "c")


def test_config_is_validated() -> None:
    for kwargs, name in [({"feature_names": ()}, "feature_names"), ({"feature_names": ("a", "a")}, "feature_names"),
                         ({"n_tokens": 0}, "n_tokens"), ({"embed_dim": 1.5}, "embed_dim"),
                         ({"lm_hidden_size": True}, "lm_hidden_size"), ({"format_version": 99}, "format_version")]:
        with pytest.raises(ConfigError, match=name):
            UserVectorConfig(**{"feature_names": NAMES, "lm_hidden_size": 8, **kwargs})
    with pytest.raises(ConfigError, match="unknown user-vector config keys"):
        UserVectorConfig.from_dict({"feature_names": NAMES, "lm_hidden_size": 8, "extra": 1})


def test_shapes_standardization_and_unknown_values() -> None:
    model = UserVectorModel(UserVectorConfig(NAMES, lm_hidden_size=8, embed_dim=4, n_tokens=3))
    model.set_standardization(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 0.0, 2.0]))
    assert model.feature_scale.tolist() == [1.0, 1.0, 2.0]  # a zero scale is replaced, never divided by
    x = torch.tensor([[1.0, 2.0, 3.0], [5.0, float("nan"), -1.0]])
    assert model.embed(x).shape == (2, 4) and model(x).shape == (2, 3, 8)
    assert torch.isfinite(model(x)).all()
    # NaN reads as the mean: the same vector as passing the mean itself.
    assert torch.allclose(model.embed(x[1:].nan_to_num(2.0)), model.embed(x[1:]))
    with pytest.raises(ConfigError, match="do not fit"):
        model(torch.zeros(2, 4))


@pytest.fixture(scope="module")
def gen(tiny_base_model_dir: Path, tiny_adapters_dir: Path) -> EmailGenerator:
    return EmailGenerator.load(tiny_base_model_dir, [AdapterRef(n, tiny_adapters_dir / n) for n in FIXTURE_ADAPTERS])


@pytest.fixture(scope="module")
def trained(gen: EmailGenerator):
    """A user vector trained for a few steps: the email names the category that only the features hold."""
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import load_strategies
    from genemail.user_vector.training import Example, TrainConfig, train_user_vector

    book = load_strategies()
    cats = ("wines", "meat", "sweets")
    segments = (HIGHVALUE_ACTIVE, PARENT_ACTIVE, DORMANT)
    rng = np.random.default_rng(0)
    examples = []
    for i in range(48):
        c = i % 3
        features = np.eye(3, dtype=np.float32)[c] + rng.normal(0, 0.05, 3).astype(np.float32)
        examples.append(Example(CustomerProfile(customer_id=f"T{i}", age=40, favourite_category=cats[c]),
                                segments[i % 3], f"您喜爱的{['葡萄酒', '肉类', '甜品'][c]}", features))
    model, metrics = train_user_vector(gen, book, examples, NAMES, TrainConfig(steps=60, batch_size=12, warmup_steps=5,
                                                                               learning_rate=1e-2), log_every=0)
    return model, metrics, examples


def test_training_learns_and_keeps_the_language_model_frozen(gen: EmailGenerator, trained, tiny_base_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model, metrics, _ = trained
    # The random micro model is nearly uniform (loss ~ ln 400 = 5.99) and a prefix moves it only a little;
    # a module that got no gradient would stay at its first loss (seeded, so this is reproducible).
    assert metrics["final_loss"] < metrics["first_loss"] - 0.03, metrics
    assert not any(p.requires_grad for p in gen.model.parameters())
    fresh = AutoModelForCausalLM.from_pretrained(tiny_base_model_dir, dtype=torch.float32)
    emb = gen.model.get_input_embeddings().weight
    assert torch.equal(emb, fresh.get_input_embeddings().weight)  # embeddings untouched by training


def test_artifact_round_trip_through_the_local_hub(trained, hub_api, repo_name, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard, snapshot_download

    model, metrics, examples = trained
    folder = save_user_vector(model, tmp_path / "user_vector", {**metrics, "ablation": None}, "alice/base")
    assert sorted(p.name for p in folder.iterdir()) == sorted(ARTIFACT_FILES)
    repo = repo_name("user-vector")
    hub_api.create_repo(repo)
    commit = hub_api.upload_folder(folder_path=str(folder), repo_id=repo, commit_message="user vector")
    pulled = Path(snapshot_download(repo, revision=commit.oid, token=hub_api.token, cache_dir=str(tmp_path / "cache")))
    loaded = load_user_vector(pulled, lm_hidden_size=model.config.lm_hidden_size)
    x = torch.from_numpy(np.stack([e.features for e in examples[:5]]))
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    assert loaded.config == model.config
    card = ModelCard.load(pulled / "README.md")
    assert card.data.base_model == "alice/base" and "user-embedding" in card.data.tags
    assert json.loads((pulled / "metrics.json").read_text())["n_train_customers"] == len(examples)


def test_loading_refuses_broken_artifacts(trained, tmp_path: Path) -> None:
    model, metrics, _ = trained
    folder = save_user_vector(model, tmp_path / "uv", metrics, "base")
    with pytest.raises(ArtifactError, match="embeds in 999"):
        load_user_vector(folder, lm_hidden_size=999)
    (folder / "config.json").write_text(json.dumps({**model.config.to_dict(), "n_tokens": 7}))
    with pytest.raises(ArtifactError, match="does not fit"):
        load_user_vector(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="invalid config.json"):
        load_user_vector(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ArtifactError, match="no model.safetensors"):
        load_user_vector(folder)


def test_trained_soft_prompts_reach_generation(gen: EmailGenerator, trained) -> None:
    from genemail.generation.strategies import load_strategies
    from genemail.user_vector.training import hide_fact, soft_prompts_for

    model, _, examples = trained
    book = load_strategies()
    profiles = [hide_fact(e.profile, "favourite_category") for e in examples[:3]]
    strategies = [book.for_segment(e.segment) for e in examples[:3]]
    soft = soft_prompts_for(model, np.stack([e.features for e in examples[:3]]))
    assert [s.shape for s in soft] == [(4, gen.model.get_input_embeddings().weight.shape[1])] * 3
    out = gen.generate(profiles, strategies, GenerationConfig(max_new_tokens=6), only=["segmented"] * 3,
                       soft_prompts=soft)
    assert all(e.user_embedding for e in out)
