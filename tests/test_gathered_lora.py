"""Gathered LoRA: token for token what set_adapter and PEFT's adapter_names produce, or a clear refusal."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from genemail.errors import ConfigError
from genemail.generation.gathered_lora import (
    BASE_ROW,
    gathered_lora,
    mixed_batch,
    unsupported_reason,
)
from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig
from genemail.taxonomy import BASELINE, DORMANT, HIGHVALUE_ACTIVE, PARENT_ACTIVE
from tests.fixtures.models import FIXTURE_ADAPTERS

NEW = 12
GREEDY = {"max_new_tokens": NEW, "min_new_tokens": NEW, "do_sample": False, "pad_token_id": 0, "eos_token_id": None}

# Adapters that differ in everything the stacking must get right: rank, alpha (so scaling), and layers.
MIXED_CONFIGS = {
    "r2": {"r": 2, "lora_alpha": 3, "target_modules": ["q_proj", "v_proj"]},
    "r6": {"r": 6, "lora_alpha": 5, "target_modules": ["q_proj", "v_proj", "o_proj", "down_proj"]},
    "mlp": {"r": 4, "lora_alpha": 16, "target_modules": ["gate_proj", "up_proj"]},  # no attention layer at all
}


def _peft_model(configs: dict[str, dict], seed: int = 0, **extra):
    """A random micro Qwen3 with one random LoRA adapter per entry of ``configs`` (eval mode)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from genemail.training.presets import build_model, get_preset

    model = build_model(get_preset("micro"), seed=seed).eval()
    torch.manual_seed(seed)
    peft_model = None
    for name, cfg in configs.items():
        lora = LoraConfig(task_type="CAUSAL_LM", init_lora_weights=False, **cfg, **extra)
        if peft_model is None:
            peft_model = get_peft_model(model, lora, adapter_name=name)
        else:
            peft_model.add_adapter(name, lora)
    with torch.no_grad():  # B is random but small with init_lora_weights=False; make adapters matter
        for p_name, param in peft_model.named_parameters():
            if "lora_B" in p_name:
                param.mul_(20)
    return peft_model.eval()


def _batch(n: int, seed: int = 0) -> dict:
    """Left-padded random prompts of different lengths (ids 10..399 of the micro vocabulary)."""
    import torch

    rng = random.Random(seed)
    rows = [[rng.randrange(10, 400) for _ in range(rng.randint(5, 14))] for _ in range(n)]
    width = max(map(len, rows))
    return {"input_ids": torch.tensor([[0] * (width - len(r)) + r for r in rows]),
            "attention_mask": torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])}


def _new_tokens(model, enc: dict, **kwargs) -> list[list[int]]:
    import torch

    with torch.inference_mode():
        return model.generate(**enc, **GREEDY, **kwargs)[:, enc["input_ids"].shape[1]:].tolist()


def _one_at_a_time(model, enc: dict, names: list[str]) -> list[list[int]]:
    """Reference: each row alone (no padding), through ``set_adapter`` or with adapters disabled."""
    rows = []
    for i, name in enumerate(names):
        keep = enc["attention_mask"][i].bool()
        one = {"input_ids": enc["input_ids"][i][keep][None], "attention_mask": enc["attention_mask"][i][keep][None]}
        if name == BASE_ROW:
            with model.disable_adapter():
                rows += _new_tokens(model, one)
        else:
            model.set_adapter(name)
            rows += _new_tokens(model, one)
    return rows


def _gathered(model, enc: dict, names: list[str], mode: str = "auto") -> list[list[int]]:
    with gathered_lora(model, names, mode):
        return _new_tokens(model, enc)


@pytest.fixture(scope="module")
def mixed_model():
    return _peft_model(MIXED_CONFIGS)


@pytest.mark.parametrize("mode", ["stacked", "rows", "auto"])
def test_mixed_ranks_alphas_and_layers_equal_set_adapter_and_peft(mixed_model, mode: str) -> None:
    names = ["r2", "mlp", BASE_ROW, "r6", "r2", "r6", BASE_ROW, "mlp", "r6"]
    enc = _batch(len(names))
    gathered = _gathered(mixed_model, enc, names, mode)
    assert gathered == _new_tokens(mixed_model, enc, adapter_names=names)
    assert gathered == _one_at_a_time(mixed_model, enc, names)
    # The adapters really steer the rows apart, so the equalities above can fail.
    same_prompt = {k: v[:1].repeat(4, 1) for k, v in enc.items()}
    outs = _gathered(mixed_model, same_prompt, ["r2", "r6", "mlp", BASE_ROW])
    assert len({tuple(o) for o in outs}) == 4


@pytest.mark.parametrize("mode", ["stacked", "rows"])
def test_logits_match_peft_and_base_rows_are_the_base_model_exactly(mixed_model, mode: str) -> None:
    import torch

    names = ["r6", BASE_ROW, "r2", "mlp", BASE_ROW]
    enc = _batch(len(names), seed=1)
    with torch.inference_mode():
        with gathered_lora(mixed_model, names, mode):
            ours = mixed_model(**enc).logits
        peft = mixed_model(**enc, adapter_names=names).logits
        with mixed_model.disable_adapter():
            base = mixed_model(**enc).logits
    torch.testing.assert_close(ours, peft, rtol=1e-5, atol=1e-5)
    assert torch.equal(ours[1], base[1]) and torch.equal(ours[4], base[4])  # zero mask row: not one bit changed
    assert not torch.allclose(ours[0], base[0], atol=1e-3)


def test_one_adapter_everywhere_and_no_adapter_anywhere(mixed_model) -> None:
    enc = _batch(4, seed=2)
    assert _gathered(mixed_model, enc, ["r6"] * 4) == _one_at_a_time(mixed_model, enc, ["r6"] * 4)
    assert _gathered(mixed_model, enc, [BASE_ROW] * 4) == _one_at_a_time(mixed_model, enc, [BASE_ROW] * 4)


def test_peft_forward_is_back_after_the_block_even_on_error(mixed_model) -> None:
    from peft.tuners.lora import LoraLayer

    layers = [m for m in mixed_model.modules() if isinstance(m, LoraLayer)]
    with pytest.raises(RuntimeError, match="boom"):
        with gathered_lora(mixed_model, ["r2"]):
            assert all("forward" in layer.__dict__ for layer in layers)
            raise RuntimeError("boom")
    assert not any("forward" in layer.__dict__ for layer in layers)


def test_plan_forms_and_the_auto_rule(mixed_model) -> None:
    from genemail.generation.gathered_lora import STACKED_MAX_EXTRA, plan_layer

    layer = mixed_model.base_model.model.model.layers[0].self_attn.q_proj  # r2 and r6 here, not mlp
    names = ["r6", "mlp", "r2", BASE_ROW]
    stacked, rows = plan_layer(layer, names, "stacked"), plan_layer(layer, names, "rows")
    assert stacked.a_cat.shape == (8, layer.in_features) and stacked.mask.shape == (4, 1, 8)
    assert rows.a_rows.shape == (4, layer.in_features, 6) and rows.b_rows.shape == (4, 6, layer.out_features)
    assert not rows.b_rows[1].any() and not rows.b_rows[3].any()  # mlp is absent here; __base__ has none
    assert not stacked.mask[1].any() and not stacked.mask[3].any()
    extra = 8 * (layer.in_features + layer.out_features) / (layer.in_features * layer.out_features)
    auto = plan_layer(layer, names)
    assert (auto.mask is not None) == (extra <= STACKED_MAX_EXTRA)
    assert plan_layer(layer, ["mlp", BASE_ROW]) is None
    with pytest.raises(ConfigError, match="mode"):
        with gathered_lora(mixed_model, names, "fastest"):
            pass


def test_unknown_adapter_and_repeated_rows_are_refused(mixed_model) -> None:
    with pytest.raises(ConfigError, match="no adapter named \\['nope'\\]"):
        with gathered_lora(mixed_model, ["r2", "nope"]):
            pass
    enc = _batch(2, seed=3)
    with pytest.raises(ConfigError, match="2 rows.*planned for 1|rows reached a LoRA layer"):
        with gathered_lora(mixed_model, ["r2"]):  # one name, two rows
            _new_tokens(mixed_model, enc)


@pytest.mark.filterwarnings("ignore:`lora_bias=True` was passed")
@pytest.mark.parametrize("extra, reason", [({"use_dora": True}, "variant"), ({"lora_bias": True}, "lora_bias")])
def test_unsupported_adapters_are_refused(extra: dict, reason: str) -> None:
    model = _peft_model({"one": {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]},
                         "two": {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}}, **extra)
    assert reason in unsupported_reason(model)
    with pytest.raises(ConfigError, match="cannot serve this model.*Fix: generate with PEFT"):
        with gathered_lora(model, ["one", "two"]):
            pass


@pytest.mark.filterwarnings("ignore:`lora_bias=True` was passed")
def test_mixed_batch_falls_back_to_peft_for_what_it_cannot_serve() -> None:
    model = _peft_model({"one": {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"]},
                         "two": {"r": 3, "lora_alpha": 9, "target_modules": ["q_proj", "v_proj"]}}, lora_bias=True)
    names = ["one", "two", BASE_ROW]
    enc = _batch(3, seed=4)
    kwargs = {"adapter_names": names}
    with mixed_batch(model, kwargs):
        assert kwargs == {"adapter_names": names}  # left for PEFT
        fallback = _new_tokens(model, enc, **kwargs)
    assert fallback == _one_at_a_time(model, enc, names)


@pytest.mark.filterwarnings("ignore:Model has `tie_word_embeddings=True`")
def test_training_mode_and_embedding_lora_are_refused() -> None:
    model = _peft_model({"one": {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "embed_tokens"]}})
    assert "Embedding" in unsupported_reason(model)
    model = _peft_model({"one": {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}})
    model.train()
    assert "training mode" in unsupported_reason(model)


def test_mixed_batch_takes_adapter_names_only_while_it_serves_them(mixed_model, monkeypatch) -> None:
    names = ["r2", BASE_ROW]
    kwargs = {"adapter_names": names, "max_new_tokens": 3}
    with mixed_batch(mixed_model, kwargs):
        assert kwargs == {"max_new_tokens": 3}
    assert kwargs["adapter_names"] == names
    with mixed_batch(mixed_model, kwargs, method="peft"):
        assert kwargs["adapter_names"] == names
    monkeypatch.setenv("GENEMAIL_MIXED_LORA", "peft")
    with mixed_batch(mixed_model, kwargs):
        assert kwargs["adapter_names"] == names
    monkeypatch.setenv("GENEMAIL_MIXED_LORA", "fast")
    with pytest.raises(ConfigError, match="GENEMAIL_MIXED_LORA"):
        with mixed_batch(mixed_model, kwargs):
            pass


@pytest.fixture(scope="module")
def gen(tiny_base_model_dir: Path, tiny_adapters_dir: Path) -> EmailGenerator:
    return EmailGenerator.load(tiny_base_model_dir, [AdapterRef(n, tiny_adapters_dir / n) for n in FIXTURE_ADAPTERS])


@pytest.mark.integration
def test_generator_uses_the_gathered_path_and_matches_peft(gen: EmailGenerator, tiny_corpus_dir: Path,
                                                           monkeypatch) -> None:
    import json

    from peft.tuners.lora import Linear

    records = [json.loads(x) for x in (tiny_corpus_dir / "validation.jsonl").read_text("utf-8").splitlines()]
    prompts = [r["input"] for r in records[::3]][:7] + [records[2]["baseline_input"]]
    names = [HIGHVALUE_ACTIVE, DORMANT, BASE_ROW, PARENT_ACTIVE, BASELINE, DORMANT, HIGHVALUE_ACTIVE, BASE_ROW]
    config = GenerationConfig(max_new_tokens=10)
    monkeypatch.setenv("GENEMAIL_MIXED_LORA", "peft")
    peft = gen.complete(prompts, names, config)

    def no_loop(*args, **kwargs):
        raise AssertionError("PEFT's per-adapter loop ran although the gathered path serves the batch")

    monkeypatch.delenv("GENEMAIL_MIXED_LORA")
    monkeypatch.setattr(Linear, "_mixed_batch_forward", no_loop)
    assert gen.complete(prompts, names, config) == peft
    assert len({c.text for c in peft}) >= 3  # the rows really differ by adapter
