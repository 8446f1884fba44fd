"""EmailGenerator: mixed batches equal per-adapter generation; adapters swap at run time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genemail.errors import ArtifactError, ConfigError
from genemail.generation.generator import (
    BASE_ROW,
    AdapterRef,
    EmailGenerator,
    GenerationConfig,
)
from genemail.taxonomy import BASELINE, COLD_START, DORMANT, HIGHVALUE_ACTIVE, PARENT_ACTIVE
from tests.fixtures.models import FIXTURE_ADAPTERS, accept_all_gate

GREEDY = GenerationConfig(max_new_tokens=10)


@pytest.fixture(scope="module")
def strategies():
    from genemail.generation.strategies import load_strategies

    return load_strategies()


@pytest.fixture(scope="module")
def gen(tiny_base_model_dir: Path, tiny_adapters_dir: Path, strategies) -> EmailGenerator:
    refs = {n: AdapterRef(n, tiny_adapters_dir / n, repo_id=f"demo/{n}", revision="a" * 40) for n in FIXTURE_ADAPTERS}
    return EmailGenerator.load(tiny_base_model_dir, refs)


@pytest.fixture(scope="module")
def prompts(tiny_corpus_dir: Path) -> list[str]:
    records = [json.loads(x) for x in (tiny_corpus_dir / "validation.jsonl").read_text("utf-8").splitlines()]
    return [r["input"] for r in records[::4]] + [records[1]["baseline_input"]]  # different lengths


def _profiles(n: int):
    from genemail.generation.prompts import CustomerProfile

    cats = ("wines", "meat", "sweets", "gold")
    return [CustomerProfile(customer_id=f"C{i}", age=30 + i, children=i % 3, recency=5 + 17 * i,
                            favourite_category=cats[i % 4], income=30_000.0 + 9_000 * i, tenure_days=400 + 50 * i)
            for i in range(n)]


def _one_at_a_time(gen: EmailGenerator, prompt: str, adapter: str, config: GenerationConfig):
    """Reference: the classic way, ``set_adapter`` and one customer per generate call."""
    import torch

    enc = gen.tokenizer([prompt], return_tensors="pt")
    with torch.inference_mode():
        if adapter == BASE_ROW:
            with gen.model.disable_adapter():
                out = gen.model.generate(**enc, **config.generate_kwargs())
        else:
            gen.model.set_adapter(adapter)
            out = gen.model.generate(**enc, **config.generate_kwargs())
    return gen._decode(out[0, enc["input_ids"].shape[1]:].tolist())


def test_generation_config_is_validated() -> None:
    for kwargs, name in [({"max_new_tokens": 0}, "max_new_tokens"), ({"temperature": 0}, "temperature"),
                         ({"top_p": 1.5}, "top_p"), ({"seed": -1}, "seed"), ({"lang": "fr"}, "lang"),
                         ({"min_new_tokens": 20, "max_new_tokens": 10}, "min_new_tokens")]:
        with pytest.raises(ConfigError, match=name):
            GenerationConfig(**kwargs)


def test_adapter_ref_is_validated() -> None:
    with pytest.raises(ConfigError, match="name"):
        AdapterRef("", Path("x"))
    with pytest.raises(ConfigError, match="name"):
        AdapterRef(BASE_ROW, Path("x"))
    assert isinstance(AdapterRef("a", "some/dir").path, Path)


@pytest.mark.integration
def test_all_adapters_load_under_their_names(gen: EmailGenerator) -> None:
    assert gen.adapter_names == tuple(sorted(FIXTURE_ADAPTERS))
    assert gen.adapter_ref(DORMANT).repo_id == f"demo/{DORMANT}"
    assert not gen.model.training


@pytest.mark.integration
def test_mixed_batch_equals_one_adapter_at_a_time(gen: EmailGenerator, prompts: list[str]) -> None:
    names = [HIGHVALUE_ACTIVE, PARENT_ACTIVE, DORMANT, BASELINE, BASE_ROW, HIGHVALUE_ACTIVE][:len(prompts)]
    mixed = gen.complete(prompts[:len(names)], names, GREEDY)
    single = [_one_at_a_time(gen, p, n, GREEDY) for p, n in zip(prompts, names)]
    assert mixed == single
    assert all(0 < c.new_tokens <= GREEDY.max_new_tokens for c in mixed)


@pytest.mark.integration
def test_adapters_really_differ(gen: EmailGenerator, prompts: list[str]) -> None:
    # Otherwise the mixed-batch test above could pass with every row on the same adapter.
    names = [HIGHVALUE_ACTIVE, PARENT_ACTIVE, DORMANT, BASELINE, BASE_ROW]
    outs = gen.complete([prompts[0]] * len(names), names, GREEDY)
    assert len({o.text for o in outs}) >= 3  # random micro models repeat tokens; logits always differ:
    import torch

    enc = gen.tokenizer([prompts[0]] * len(names), return_tensors="pt")
    with torch.inference_mode():
        logits = gen.model(**enc, adapter_names=names).logits[:, -1]
    for i in range(len(names)):
        for j in range(i):
            assert not torch.allclose(logits[i], logits[j]), (names[i], names[j])


@pytest.mark.integration
def test_seeded_sampling_is_reproducible(gen: EmailGenerator, prompts: list[str]) -> None:
    names = [DORMANT] * 3
    cfg = GenerationConfig(max_new_tokens=16, do_sample=True, seed=7)
    first = gen.complete(prompts[:3], names, cfg)
    assert gen.complete(prompts[:3], names, cfg) == first
    other = gen.complete(prompts[:3], names, GenerationConfig(max_new_tokens=16, do_sample=True, seed=8))
    assert other != first


@pytest.mark.integration
def test_generate_routes_each_customer_to_its_strategy_adapter(gen: EmailGenerator, strategies) -> None:
    from genemail.generation.prompts import build_baseline_prompt, build_prompt

    customers = _profiles(5)
    segments = [HIGHVALUE_ACTIVE, DORMANT, COLD_START, PARENT_ACTIVE, DORMANT]
    emails = gen.generate(customers, [strategies.for_segment(s) for s in segments], GREEDY, batch_size=3,
                          gate=accept_all_gate(strategies))
    assert [e.customer_id for e in emails] == [c.customer_id for c in customers]
    assert [e.segment for e in emails] == segments
    assert emails[2].adapter == strategies.for_segment(COLD_START).adapter == BASELINE
    for e, c, s in zip(emails, customers, segments):
        strategy = strategies.for_segment(s)
        assert e.strategy == strategy.text("zh").display_name
        assert e.adapter_repo == f"demo/{e.adapter}" and e.adapter_revision == "a" * 40
        assert e.latency_s > 0
        # the same text as that customer alone through its own adapter (and the baseline adapter)
        assert e.email == _one_at_a_time(gen, build_prompt(c, strategy), e.adapter, GREEDY).text
        assert e.baseline_email == _one_at_a_time(gen, build_baseline_prompt(c), BASELINE, GREEDY).text


@pytest.mark.integration
def test_generate_without_baseline(gen: EmailGenerator, strategies) -> None:
    emails = gen.generate(_profiles(2), [strategies.for_segment(DORMANT)] * 2, GREEDY, with_baseline=False)
    assert [e.baseline_email for e in emails] == [None, None]


@pytest.mark.integration
def test_generate_checks_lengths_and_missing_adapters(gen: EmailGenerator, strategies) -> None:
    with pytest.raises(ConfigError, match="strategies"):
        gen.generate(_profiles(2), [strategies.for_segment(DORMANT)], GREEDY)
    with pytest.raises(ArtifactError, match="Regular_Active"):  # the fixture has no such adapter
        gen.generate(_profiles(1), [strategies.for_segment("Regular_Active")], GREEDY)
    with pytest.raises(ArtifactError, match="nope"):
        gen.complete(["x"], ["nope"], GREEDY)


@pytest.mark.integration
def test_add_replace_remove_adapters_without_restart(tiny_base_model_dir: Path, tiny_adapters_dir: Path,
                                                    strategies, prompts: list[str]) -> None:
    gen = EmailGenerator.load(tiny_base_model_dir, [AdapterRef(DORMANT, tiny_adapters_dir / DORMANT)])
    before = gen.complete(prompts[:2], [DORMANT] * 2, GREEDY)
    gen.add_adapter(AdapterRef(HIGHVALUE_ACTIVE, tiny_adapters_dir / HIGHVALUE_ACTIVE))
    hv = gen.complete(prompts[:2], [HIGHVALUE_ACTIVE] * 2, GREEDY)
    assert hv != before
    # replace: "Dormant" now points at the HighValue weights, as a new release would
    gen.add_adapter(AdapterRef(DORMANT, tiny_adapters_dir / HIGHVALUE_ACTIVE, revision="b" * 40))
    assert gen.complete(prompts[:2], [DORMANT] * 2, GREEDY) == hv
    assert gen.adapter_ref(DORMANT).revision == "b" * 40
    gen.remove_adapter(HIGHVALUE_ACTIVE)
    assert gen.adapter_names == (DORMANT,)
    with pytest.raises(ArtifactError, match=HIGHVALUE_ACTIVE):
        gen.complete(prompts[:1], [HIGHVALUE_ACTIVE], GREEDY)
    gen.remove_adapter(DORMANT)  # the last one: back to the plain base model
    assert gen.adapter_names == ()
    base = gen.complete(prompts[:1], [BASE_ROW], GREEDY)
    gen.add_adapter(AdapterRef(DORMANT, tiny_adapters_dir / DORMANT))
    assert gen.complete(prompts[:2], [DORMANT] * 2, GREEDY) == before
    assert gen.complete(prompts[:1], [BASE_ROW], GREEDY) == base


@pytest.mark.integration
def test_bad_adapter_folders_are_artifact_errors(gen: EmailGenerator, tmp_path: Path, tiny_corpus_dir: Path) -> None:
    with pytest.raises(ArtifactError, match="adapter_config.json"):
        gen.add_adapter(AdapterRef("x", tmp_path))
    # an adapter trained on a different base model (other hidden size) must not load silently
    from tests.fixtures.models import save_random_adapters, save_random_base

    other = save_random_base(tmp_path / "other", ["abc 123 邮件"] * 30, preset="tiny")
    save_random_adapters(other, tmp_path / "ad", ("foreign",))
    with pytest.raises(ArtifactError, match="does not fit"):
        gen.add_adapter(AdapterRef("foreign", tmp_path / "ad" / "foreign"))


@pytest.mark.integration
def test_decode_cuts_at_eos(gen: EmailGenerator) -> None:
    tok = gen.tokenizer
    ids = tok("好的", add_special_tokens=False)["input_ids"]
    out = gen._decode(ids + [tok.eos_token_id] + ids + [tok.pad_token_id])
    assert out.text == "好的" and out.new_tokens == len(ids)


@pytest.mark.integration
def test_real_model_layout_without_pad_token(tmp_path: Path, tiny_base_model_dir: Path, tiny_adapters_dir: Path,
                                             strategies, prompts: list[str]) -> None:
    """A real causal LM may have no pad token and a list of EOS ids; nothing may depend on the tiny model."""
    import shutil

    from transformers import AutoTokenizer, GenerationConfig as HFGenerationConfig

    shutil.copytree(tiny_base_model_dir, tmp_path / "m")
    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    tok.pad_token = None
    tok.save_pretrained(tmp_path / "m")
    gc = HFGenerationConfig.from_pretrained(tmp_path / "m")
    gc.eos_token_id, gc.pad_token_id = [tok.eos_token_id, tok.eos_token_id], None
    gc.save_pretrained(tmp_path / "m")
    gen = EmailGenerator.load(tmp_path / "m", [AdapterRef(DORMANT, tiny_adapters_dir / DORMANT),
                                                AdapterRef(BASELINE, tiny_adapters_dir / BASELINE)])
    assert gen.tokenizer.pad_token_id == gen.tokenizer.eos_token_id
    emails = gen.generate(_profiles(3), [strategies.for_segment(s) for s in (DORMANT, COLD_START, DORMANT)], GREEDY)
    assert len(emails) == 3 and all(e.baseline_email is not None for e in emails)


def test_a_sampled_email_is_never_empty(gen: EmailGenerator, prompts: list[str]) -> None:
    """Make the most likely first token the EOS: near-greedy sampling would then stop at once."""
    import torch

    enc = gen.tokenizer([prompts[0]], return_tensors="pt")
    with torch.inference_mode(), gen.model.disable_adapter():
        first = int(gen.model.generate(**enc, max_new_tokens=1, do_sample=False)[0, -1])
    saved = gen.model.generation_config.eos_token_id
    gen.model.generation_config.eos_token_id = first
    try:
        config = GenerationConfig(do_sample=True, temperature=0.05, max_new_tokens=8, seed=3)
        rows = gen.complete([prompts[0]] * 4, [BASE_ROW] * 4, config)
        assert all(row.new_tokens >= 1 for row in rows)
        stopped = GenerationConfig(do_sample=False, max_new_tokens=8)  # greedy is left as it is: EOS at once
        assert gen.complete([prompts[0]], [BASE_ROW], stopped)[0].new_tokens == 0
    finally:
        gen.model.generation_config.eos_token_id = saved
