"""Soft-prompt injection: shapes and masks, equality with today's output, mixed adapters + soft prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genemail.errors import ConfigError
from genemail.generation.generator import BASE_ROW, AdapterRef, EmailGenerator, GenerationConfig
from genemail.taxonomy import BASELINE, DORMANT, HIGHVALUE_ACTIVE, PARENT_ACTIVE
from genemail.generation.soft_prompts import build_inputs_embeds, build_training_inputs
from tests.fixtures.models import FIXTURE_ADAPTERS

GREEDY = GenerationConfig(max_new_tokens=8)


@pytest.fixture(scope="module")
def gen(tiny_base_model_dir: Path, tiny_adapters_dir: Path) -> EmailGenerator:
    refs = [AdapterRef(n, tiny_adapters_dir / n) for n in FIXTURE_ADAPTERS]
    return EmailGenerator.load(tiny_base_model_dir, refs)


@pytest.fixture(scope="module")
def prompts(tiny_corpus_dir: Path) -> list[str]:
    records = [json.loads(x) for x in (tiny_corpus_dir / "validation.jsonl").read_text("utf-8").splitlines()]
    return [r["input"] for r in records[::5]][:4] + [records[1]["baseline_input"]]


def _soft(gen: EmailGenerator, k: int, seed: int) -> torch.Tensor:
    hidden = gen.model.get_input_embeddings().weight.shape[1]
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, hidden, generator=g) * 3.0  # large enough to change the output


def test_inputs_embeds_layout_and_mask(gen: EmailGenerator, prompts: list[str]) -> None:
    enc = gen.tokenizer(prompts[:3], return_tensors="pt", padding=True)
    emb = gen.model.get_input_embeddings()
    softs = [_soft(gen, 3, 0), None, _soft(gen, 2, 1)]
    embeds, mask = build_inputs_embeds(emb, enc["input_ids"], enc["attention_mask"], softs, gen.tokenizer.pad_token_id)
    n, t = enc["input_ids"].shape
    assert embeds.shape == (n, t + 3, emb.weight.shape[1]) and mask.shape == (n, t + 3)
    real = enc["attention_mask"].sum(1).tolist()
    for i, soft in enumerate(softs):
        k = 0 if soft is None else soft.shape[0]
        assert mask[i].sum().item() == real[i] + k
        assert mask[i, : t + 3 - real[i] - k].sum().item() == 0  # all padding on the left
        tokens = enc["input_ids"][i, t - real[i]:]
        assert torch.equal(embeds[i, t + 3 - real[i]:], emb(tokens))  # the prompt ends the row
        if soft is not None:
            assert torch.equal(embeds[i, t + 3 - real[i] - k: t + 3 - real[i]], soft)


def test_inputs_embeds_refuses_wrong_shapes(gen: EmailGenerator, prompts: list[str]) -> None:
    enc = gen.tokenizer(prompts[:2], return_tensors="pt", padding=True)
    emb = gen.model.get_input_embeddings()
    with pytest.raises(ConfigError, match="soft prompts for 2 rows"):
        build_inputs_embeds(emb, enc["input_ids"], enc["attention_mask"], [None], 0)
    with pytest.raises(ConfigError, match="shape"):
        build_inputs_embeds(emb, enc["input_ids"], enc["attention_mask"], [torch.zeros(2, 5), None], 0)


def test_training_inputs_prepend_and_ignore_soft_tokens(gen: EmailGenerator) -> None:
    emb = gen.model.get_input_embeddings()
    ids = torch.tensor([[5, 6, 7], [8, 9, 0]])
    out = build_training_inputs(emb, ids, torch.tensor([[1, 1, 1], [1, 1, 0]]), torch.tensor([[-100, 6, 7], [-100, 9, -100]]),
                                torch.stack([_soft(gen, 2, 3), _soft(gen, 2, 4)]))
    assert out["inputs_embeds"].shape == (2, 5, emb.weight.shape[1])
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert out["labels"][:, :2].eq(-100).all() and out["labels"][0, 3:].tolist() == [6, 7]


def test_rows_without_vector_give_todays_greedy_output(gen: EmailGenerator, prompts: list[str]) -> None:
    names = [HIGHVALUE_ACTIVE, PARENT_ACTIVE, DORMANT, BASE_ROW, BASELINE]
    today = gen.complete(prompts, names, GREEDY)
    assert gen.complete(prompts, names, GREEDY, [None] * len(prompts)) == today
    softs = [_soft(gen, 4, 7), None, _soft(gen, 4, 8), None, None]
    mixed = gen.complete(prompts, names, GREEDY, softs)
    for i, soft in enumerate(softs):
        if soft is None:
            assert mixed[i] == today[i], f"row {i} without a vector changed"
    assert any(mixed[i] != today[i] for i in (0, 2)), "a soft prompt should change some output"


def test_mixed_batch_of_adapters_and_soft_prompts_equals_rows_alone(gen: EmailGenerator, prompts: list[str]) -> None:
    names = [HIGHVALUE_ACTIVE, DORMANT, PARENT_ACTIVE, BASE_ROW]
    softs = [_soft(gen, 4, 11), _soft(gen, 2, 12), None, _soft(gen, 4, 13)]
    batch = gen.complete(prompts[:4], names, GREEDY, softs)
    alone = [gen.complete([p], [a], GREEDY, [s])[0] for p, a, s in zip(prompts[:4], names, softs)]
    assert batch == alone
    # The adapter still matters beside the soft prompt: the same row through another adapter differs somewhere.
    other = gen.complete(prompts[:4], [DORMANT, HIGHVALUE_ACTIVE, BASELINE, PARENT_ACTIVE], GREEDY, softs)
    assert other != batch


def test_generate_uses_soft_prompt_on_segmented_rows_only(gen: EmailGenerator) -> None:
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import load_strategies

    book = load_strategies()
    customers = [CustomerProfile(customer_id=f"C{i}", age=30 + i, recency=3 + i, favourite_category="wines")
                 for i in range(2)]
    strategies = [book.for_segment(HIGHVALUE_ACTIVE), book.for_segment(DORMANT)]
    plain = gen.generate(customers, strategies, GREEDY)
    with_vec = gen.generate(customers, strategies, GREEDY, soft_prompts=[_soft(gen, 4, 21), None])
    assert [e.user_embedding for e in with_vec] == [True, False]
    assert with_vec[1].email == plain[1].email
    assert [e.baseline_email for e in with_vec] == [e.baseline_email for e in plain]
    with pytest.raises(ConfigError, match="soft prompts for 2 customers"):
        gen.generate(customers, strategies, GREEDY, soft_prompts=[None])
