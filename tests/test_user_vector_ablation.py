"""The ablation: what counts as stating the hidden fact, and the eval.json block's shape and intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig
from genemail.generation.prompts import CustomerProfile
from genemail.taxonomy import DORMANT, HIGHVALUE_ACTIVE
from genemail.user_vector.ablation import CONDITIONS, HeldOut, run_ablation, states_truth
from genemail.user_vector.encoder import UserVectorConfig, UserVectorModel
from genemail.user_vector.stage import ABLATION_KEY, merge_into_eval
from tests.fixtures.models import FIXTURE_ADAPTERS


def test_states_truth_needs_the_true_value_in_the_fact_form() -> None:
    wine = CustomerProfile(customer_id="A", favourite_category="wines")
    assert states_truth("您喜爱的葡萄酒正在特惠", wine, "favourite_category", "zh")
    assert not states_truth("您喜爱的肉类正在特惠", wine, "favourite_category", "zh")
    assert not states_truth("葡萄酒正在特惠", wine, "favourite_category", "zh")  # not the fact form
    assert states_truth("your favourite wine is back", wine, "favourite_category", "en")


class _Judge:
    """A style judge stand-in that always answers one segment."""

    def predict(self, emails):
        return [HIGHVALUE_ACTIVE] * len(emails)


def test_ablation_block_has_rates_intervals_and_the_paired_test(tiny_base_model_dir: Path,
                                                                tiny_adapters_dir: Path) -> None:
    from genemail.generation.strategies import load_strategies

    gen = EmailGenerator.load(tiny_base_model_dir, [AdapterRef(n, tiny_adapters_dir / n) for n in FIXTURE_ADAPTERS])
    hidden = gen.model.get_input_embeddings().weight.shape[1]
    torch.manual_seed(0)
    uv = UserVectorModel(UserVectorConfig(("a", "b"), lm_hidden_size=hidden), embedding_scale=3.0).eval()
    cats = ("wines", "meat")
    customers = [HeldOut(CustomerProfile(customer_id=f"H{i}", age=30 + i, favourite_category=cats[i % 2]),
                         (HIGHVALUE_ACTIVE, DORMANT)[i % 2], np.array([i % 2, 1.0], dtype=np.float32))
                 for i in range(6)]
    block = run_ablation(gen, load_strategies(), uv, customers, _Judge(), GenerationConfig(max_new_tokens=6),
                         batch_size=4)
    assert block["fact"] == "favourite_category" and block["n"] == 6
    for name in CONDITIONS:
        rate = block[name]
        assert 0 <= rate["ci"][0] <= rate["rate"] <= rate["ci"][1] <= 1 and rate["count"] == round(6 * rate["rate"])
        assert block["style_match"][name]["rate"] == pytest.approx(0.5)  # the stand-in is right for half
        assert set(block["fact_consistency"][name]) == {"rate", "ci", "count"}
    assert set(block["embedding_vs_without"]) >= {"diff", "ci", "p_value"}
    assert block["latency"]["forced_length"]["batch"] == 4
    assert len(block["examples"]) == 3 and json.dumps(block)  # JSON-safe


def test_merge_keeps_the_other_eval_keys(tmp_path: Path) -> None:
    path = tmp_path / "eval" / "eval.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"style_match": {"Dormant": 0.8}, "n": 10}))
    merge_into_eval(path, {"fact": "favourite_category", "n": 3})
    merged = json.loads(path.read_text())
    assert merged["style_match"] == {"Dormant": 0.8} and merged["n"] == 10
    assert merged[ABLATION_KEY]["n"] == 3
