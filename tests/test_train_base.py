"""Base-model training: tokenizer + tiny Qwen3 from scratch, saved in the standard layout with a card."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from genemail.errors import ConfigError, DataError
from genemail.training.base_training import BaseTrainConfig, train_base
from genemail.training.corpus import CorpusConfig, build_corpus, save_corpus
from genemail.training.neutral import neutral_sentences
from genemail.generation.strategies import load_strategies
from genemail.training.trainer import load_corpus_splits
from tests.fixtures.data import make_customers
from training.train_base import main


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (small) corpus: styled and single-strategy emails, and neutral sentences."""
    corpus, info = build_corpus(make_customers(120, seed=2), load_strategies(), CorpusConfig(seed=0))
    return save_corpus(corpus, info, tmp_path_factory.mktemp("corpus"), neutral_sentences(40, "zh", 0))


def test_config_is_validated(tmp_path: Path) -> None:
    for kwargs, name in [({"preset": "huge"}, "preset"), ({"epochs": 0}, "epochs"), ({"max_steps": -1}, "max_steps"),
                         ({"batch_size": 0}, "batch_size"), ({"warmup_ratio": 1.0}, "warmup_ratio"),
                         ({"max_length": 8}, "max_length"), ({"vocab_size": 10}, "vocab_size")]:
        with pytest.raises(ConfigError, match=name):
            BaseTrainConfig(corpus=tmp_path, out=tmp_path, **kwargs)


def test_cli_defaults_are_the_tiny_preset(tmp_path: Path) -> None:
    cfg = BaseTrainConfig(corpus=tmp_path, out=tmp_path / "o")  # the command line's defaults are the config's
    assert cfg.preset == "tiny" and cfg.max_steps is None and cfg.seed == 0
    assert main(["--help"]) == 0 and main(["--corpus", str(tmp_path)]) == 2  # --out missing: a usage error


def test_corpus_errors_name_the_file(tmp_path: Path, tiny_corpus_dir: Path) -> None:
    with pytest.raises(DataError, match="train.jsonl"):
        load_corpus_splits(tmp_path)
    (tmp_path / "train.jsonl").write_text(json.dumps({"input": "a", "output": "b"}) + "\n")
    (tmp_path / "validation.jsonl").write_text(json.dumps({"input": "a", "output": "b"}) + "\n")
    with pytest.raises(DataError, match="baseline_input"):
        load_corpus_splits(tmp_path)
    splits = load_corpus_splits(tiny_corpus_dir)
    assert set(splits) == {"train", "validation", "test"}


def test_a_corpus_without_single_strategy_emails_is_refused(tmp_path: Path, tiny_corpus_dir: Path) -> None:
    cfg = BaseTrainConfig(corpus=tiny_corpus_dir, out=tmp_path / "b", preset="micro", max_steps=1, progress=False)
    with pytest.raises(DataError, match="train.jsonl.*generic_output"):
        train_base(cfg)
    assert not (tmp_path / "b").exists()


@pytest.mark.integration
def test_train_micro_base_model(tmp_path: Path, corpus_dir: Path) -> None:
    import torch
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "base"
    assert main(["--corpus", str(corpus_dir), "--out", str(out), "--preset", "micro", "--max-steps", "60",
                 "--no-progress"]) == 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "training_metrics.json"):
        assert (out / name).is_file(), name
    info = json.loads((out / "training_metrics.json").read_text())
    m = info["metrics"]
    train_records = len((corpus_dir / "train.jsonl").read_text("utf-8").splitlines())
    assert m["steps"] == 60 and m["train_records"] == train_records and m["neutral_records"] == 40
    # better than uniform guessing over the vocabulary: it learned something from the corpus
    assert m["validation_loss"] < math.log(m["vocab_size"]) - 1
    # it learned the single strategy, never the segments' styles: those are the adapters' job
    assert m["styled_validation_loss"] > m["validation_loss"]

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert tok.padding_side == "left" and tok.pad_token_id is not None
    assert model.config.model_type == "qwen3" and sum(p.numel() for p in model.parameters()) == m["parameters"]
    card = ModelCard.load(out / "README.md")
    assert card.data.library_name == "transformers" and "genemail" in card.data.tags
    assert str(m["validation_loss"]) in card.text and str(m["styled_validation_loss"]) in card.text
    assert "micro" in card.text and "single-strategy" in card.text

    # the base model never saw segment tags: its training prompts are the baseline prompts
    enc = tok(["客户：40岁，12天未光临\n邮件："], return_tensors="pt")
    with torch.inference_mode():
        assert model.generate(**enc, max_new_tokens=4, do_sample=False).shape[1] > enc["input_ids"].shape[1]


@pytest.mark.integration
def test_training_is_seeded(tmp_path: Path, corpus_dir: Path) -> None:
    def run(seed: int, name: str) -> float:
        cfg = BaseTrainConfig(corpus=corpus_dir, out=tmp_path / name, preset="micro", max_steps=5, seed=seed,
                              progress=False)
        return train_base(cfg)["metrics"]["validation_loss"]

    assert run(1, "a") == run(1, "b")


def test_email_token_loss_is_the_models_own_loss(tiny_base_model_dir: Path, tiny_corpus_dir: Path) -> None:
    """The trainers' loss computes logits only where an email token is predicted: the same number as the
    model's own loss over the whole sequence, and the same gradient."""
    import torch

    from genemail.generation.modeling import load_base_model, load_tokenizer
    from genemail.training.examples import CausalLMCollator
    from genemail.training.trainer import email_token_loss, tokenize_split

    tokenizer = load_tokenizer(str(tiny_base_model_dir))
    model = load_base_model(str(tiny_base_model_dir), tokenizer)
    rows = tokenize_split(load_corpus_splits(tiny_corpus_dir)["train"].select(range(8)), tokenizer, "input", 384)
    batch = CausalLMCollator(tokenizer.pad_token_id)([rows[i] for i in range(8)])
    assert (batch["labels"][:, :2] == -100).all()  # prompts: the saving is real, the positions skipped
    ours, n = email_token_loss(model, batch)
    assert n == int((batch["labels"][:, 1:] != -100).sum()) > 0
    ours.backward()
    grad = model.get_input_embeddings().weight.grad.clone()
    model.zero_grad()
    theirs = model(**batch).loss
    theirs.backward()
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.allclose(grad, model.get_input_embeddings().weight.grad, atol=1e-6)
