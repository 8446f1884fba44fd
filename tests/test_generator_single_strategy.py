"""The single-strategy variant of ``EmailGenerator.generate``: the base model alone, baseline prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from genemail.errors import ConfigError
from genemail.generation.generator import (
    BASE_ROW,
    SINGLE_STRATEGY_VARIANT,
    AdapterRef,
    EmailGenerator,
    GenerationConfig,
)
from genemail.generation.prompts import CustomerProfile, build_baseline_prompt
from genemail.generation.strategies import load_strategies
from genemail.taxonomy import BASELINE, DORMANT, PARENT_ACTIVE
from tests.fixtures.models import FIXTURE_ADAPTERS, accept_all_gate

GREEDY = GenerationConfig(max_new_tokens=8)


@pytest.fixture(scope="module")
def gen(tiny_base_model_dir: Path, tiny_adapters_dir: Path) -> EmailGenerator:
    return EmailGenerator.load(tiny_base_model_dir, [AdapterRef(n, tiny_adapters_dir / n) for n in FIXTURE_ADAPTERS])


def test_single_strategy_rows_run_on_the_base_model_alone(gen: EmailGenerator) -> None:
    book = load_strategies()
    customers = [CustomerProfile(customer_id=f"C{i}", age=30 + i, children=i % 2, recency=10 + 20 * i) for i in range(3)]
    strategies = [book.for_segment(s) for s in (DORMANT, PARENT_ACTIVE, DORMANT)]
    only = [SINGLE_STRATEGY_VARIANT, "segmented", "baseline"]
    out = gen.generate(customers, strategies, GREEDY, only=only, gate=accept_all_gate(book))
    # each customer gets just the variant asked for
    assert out[0].single_strategy_email is not None and out[0].email is None and out[0].baseline_email is None
    assert out[1].email is not None and out[1].single_strategy_email is None
    assert out[2].baseline_email is not None and out[2].single_strategy_email is None
    # the same text as a __base__ row of `complete` (no adapter) on the baseline prompt
    alone = gen.complete([build_baseline_prompt(customers[0])], [BASE_ROW], GREEDY)[0]
    assert out[0].single_strategy_email == alone.text and out[0].single_strategy_new_tokens == alone.new_tokens
    import torch  # the fixture's random adapters change the output: the logits differ

    enc = gen.tokenizer([build_baseline_prompt(customers[0])] * 2, return_tensors="pt")
    with torch.inference_mode():
        logits = gen.model(**enc, adapter_names=[BASE_ROW, BASELINE]).logits[:, -1]
    assert not torch.allclose(logits[0], logits[1])


def test_unknown_variant_names_the_choices(gen: EmailGenerator) -> None:
    book = load_strategies()
    with pytest.raises(ConfigError, match="single_strategy"):
        gen.generate([CustomerProfile(customer_id="1")], [book.for_segment(DORMANT)], GREEDY, only=["control"])
