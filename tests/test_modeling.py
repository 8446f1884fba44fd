"""Base-model building blocks: presets, tokenizer, example encoding, loading any causal LM by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from genemail.errors import ArtifactError, ConfigError
from genemail.generation.modeling import count_parameters, load_base_model, load_tokenizer
from genemail.training.presets import EOS_TOKEN, ModelPreset, PAD_TOKEN, build_model, get_preset, train_tokenizer
from genemail.training.examples import CausalLMCollator, IGNORE_INDEX, encode_example

TEXTS = ["尊敬的会员您好，距离您上次光临已有45天。", "Dear customer, 2 kids and 3 cats.", "亲爱的家长，孩子们的新品到了！"] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, vocab_size=320)


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="preset='huge'.*tiny"):
        get_preset("huge")


def test_preset_rejects_heads_not_divisible_by_kv_heads() -> None:
    with pytest.raises(ConfigError, match="num_key_value_heads"):
        ModelPreset("bad", 64, 2, 3, 2, 16, 128, 400, 256)


def test_preset_rejects_non_positive_sizes() -> None:
    with pytest.raises(ConfigError, match="hidden_size"):
        ModelPreset("bad", 0, 2, 2, 1, 16, 128, 400, 256)


def test_tiny_preset_is_about_one_million_parameters() -> None:
    model = build_model(get_preset("tiny"))
    assert model.config.model_type == "qwen3"
    assert model.config.tie_word_embeddings
    assert 0.8e6 <= count_parameters(model) <= 1.6e6


def test_build_model_is_seeded() -> None:
    a = build_model(get_preset("micro"), seed=3).state_dict()
    b = build_model(get_preset("micro"), seed=3).state_dict()
    c = build_model(get_preset("micro"), seed=4).state_dict()
    key = "model.layers.0.self_attn.q_proj.weight"
    assert (a[key] == b[key]).all() and not (a[key] == c[key]).all()


def test_tokenizer_splits_digits_one_per_token(tokenizer) -> None:
    ids = tokenizer("12345", add_special_tokens=False)["input_ids"]
    assert [tokenizer.decode([i]) for i in ids] == list("12345")


def test_tokenizer_round_trips_chinese_and_has_special_tokens(tokenizer) -> None:
    text = "尊敬的会员您好，距离您上次光临已有45天。"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert tokenizer.pad_token == PAD_TOKEN and tokenizer.eos_token == EOS_TOKEN
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.padding_side == "left"
    assert len(tokenizer) <= 320


def test_tokenizer_rejects_a_vocab_smaller_than_the_byte_alphabet() -> None:
    with pytest.raises(ConfigError, match="vocab_size"):
        train_tokenizer(TEXTS, vocab_size=100)


def test_encode_example_masks_the_prompt_and_ends_with_eos(tokenizer) -> None:
    prompt, output = "客户：45岁\n邮件：", "您好！"
    row = encode_example(tokenizer, prompt, output, max_length=128)
    n_prompt = len(tokenizer(prompt)["input_ids"])
    assert row["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert row["labels"][n_prompt:] == row["input_ids"][n_prompt:]
    assert row["input_ids"][-1] == tokenizer.eos_token_id
    assert tokenizer.decode(row["input_ids"][n_prompt:-1]) == output


def test_encode_example_cuts_the_start_of_a_long_prompt(tokenizer) -> None:
    prompt = "开头" + "很长" * 100 + "结尾：12"
    row = encode_example(tokenizer, prompt, "好", max_length=40)
    assert len(row["input_ids"]) == 40
    assert tokenizer.decode(row["input_ids"]).startswith("开头") is False
    assert "结尾：12" in tokenizer.decode(row["input_ids"])


def test_collator_pads_right_with_ignored_labels(tokenizer) -> None:
    rows = [encode_example(tokenizer, "a", "bc", 32), encode_example(tokenizer, "abc 123", "d", 32)]
    batch = CausalLMCollator(tokenizer.pad_token_id)(rows)
    short = min(range(2), key=lambda i: len(rows[i]["input_ids"]))
    n = len(rows[short]["input_ids"])
    assert batch["input_ids"].shape[0] == 2
    assert (batch["labels"][short, n:] == IGNORE_INDEX).all()
    assert (batch["attention_mask"][short, n:] == 0).all()
    assert (batch["input_ids"][short, n:] == tokenizer.pad_token_id).all()


def test_saved_model_loads_by_path_like_any_causal_lm(tiny_base_model_dir: Path) -> None:
    import torch
    from transformers import Qwen3ForCausalLM

    tok = load_tokenizer(tiny_base_model_dir)
    model = load_base_model(tiny_base_model_dir, tok)
    assert isinstance(model, Qwen3ForCausalLM) and not model.training
    assert next(model.parameters()).dtype == torch.float32
    assert model.generation_config.pad_token_id == tok.pad_token_id
    assert (tiny_base_model_dir / "model.safetensors").is_file()


def test_tokenizer_without_pad_token_falls_back_to_eos(tmp_path: Path, tokenizer) -> None:
    from transformers import PreTrainedTokenizerFast

    # A real causal LM's tokenizer often has no pad token: save one like that and load it by path.
    bare = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer, eos_token=EOS_TOKEN)
    bare.save_pretrained(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert loaded.pad_token_id == loaded.eos_token_id
    assert loaded.padding_side == "left"


def test_missing_model_folder_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="base-model"):
        load_base_model(tmp_path / "nothing-here")
    with pytest.raises(ArtifactError, match="base-model"):
        load_tokenizer(tmp_path / "nothing-here")
