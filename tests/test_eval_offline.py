"""The offline evaluation on a micro configuration: four variants, several seeds, one mixed batch each.

The base model and adapters are the shared micro fixtures (random LoRA adapters for every segment,
``baseline`` and the ``segment_prompt`` comparator), so the emails are noise; what is tested is the
plumbing: every variant is written for every customer and seed through the right adapter, and the
report has every key, interval and comparison.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genemail.evaluation.offline import covering_max_new_tokens, format_table, run_evaluation, write_outputs
from genemail.evaluation.variants import VARIANT_NAMES, available, check_variants, row_for, variants
from genemail.training.adapter_training import SEGMENT_PROMPT
from genemail.training.corpus import CorpusConfig, build_corpus, save_corpus
from genemail.generation.generator import BASE_ROW
from genemail.generation.strategies import load_strategies
from genemail.taxonomy import BASELINE, DORMANT, L2_SEGMENTS
from tests.fixtures.data import make_customers
from tests.fixtures.models import save_random_adapters


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory, tiny_base_model_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("eval")
    corpus, info = build_corpus(make_customers(150, seed=4), load_strategies(), CorpusConfig(seed=0))
    save_corpus(corpus, info, root / "corpus")
    shutil.copytree(tiny_base_model_dir, root / "base")
    save_random_adapters(tiny_base_model_dir, root / "adapters", (*L2_SEGMENTS, BASELINE))
    save_random_adapters(tiny_base_model_dir, root / "comparators", (SEGMENT_PROMPT,))
    return root


def test_each_variant_has_its_adapter_and_prompt_form() -> None:
    from genemail.generation.prompts import CustomerProfile, build_baseline_prompt, build_prompt

    book, profile = load_strategies(), CustomerProfile(customer_id="1", recency=70, children=0)
    table = variants()
    assert list(table) == list(VARIANT_NAMES)
    segmented = build_prompt(profile, book.for_segment(DORMANT))
    plain = build_baseline_prompt(profile)
    assert row_for(table["segmented"], profile, DORMANT, book, "zh") == (segmented, DORMANT)
    assert row_for(table["unsegmented"], profile, DORMANT, book, "zh") == (plain, BASELINE)
    assert row_for(table["single_strategy"], profile, DORMANT, book, "zh") == (plain, BASE_ROW)
    assert row_for(table["segment_prompt"], profile, DORMANT, book, "zh") == (segmented, SEGMENT_PROMPT)
    assert check_variants(["single_strategy", "segmented"]) == ["segmented", "single_strategy"]


@pytest.mark.integration
def test_model_evaluation_writes_every_variant_for_every_seed(artifacts: Path) -> None:
    report, rows = run_evaluation(artifacts, n_customers=15, batch_size=4, temperature=0.7, seeds=[0, 1],
                                  max_new_tokens=6, progress=False)
    assert set(report["variants"]) == set(VARIANT_NAMES) and report["n"] == 15
    assert len(rows) == 30 and {r["seed"] for r in rows} == {0, 1}
    assert all(isinstance(r[v], str) for r in rows for v in VARIANT_NAMES)
    assert all(r["baseline"] == r["unsegmented"] for r in rows)
    for name, v in report["variants"].items():
        assert v["n"] == 15 and sum(v["per_segment_n"].values()) == 15
        for rate in ("style_match", "fact_consistency", "relevance"):
            r = v[rate]
            assert 0 <= r["ci"][0] <= r["rate"] <= r["ci"][1] <= 1 and len(r["per_seed"]) == 2
            assert set(r["per_segment"]) == set(v["per_segment_n"])
        assert {"distinct2", "self_bleu", "distinct2_sd"} <= set(v)
    assert set(report["comparisons"]) == {"segmented_vs_single_strategy", "segmented_vs_unsegmented",
                                          "segmented_vs_segment_prompt", "unsegmented_vs_single_strategy"}
    relevance = report["comparisons"]["segmented_vs_single_strategy"]["relevance"]
    assert {"diff", "ci", "p_value", "p_value_holm", "verdict", "mcnemar", "per_segment"} <= set(relevance)
    assert len(relevance["mcnemar"]) == 2  # one McNemar test per seed
    gen = report["generation"]
    assert gen["seeds"] == [0, 1] and gen["rows"] == 15 * 4 * 2 and gen["max_new_tokens"] == 6
    assert SEGMENT_PROMPT in gen["adapters"] and gen["skipped_variants"] == {}
    # today's keys are still there ("baseline" is the unsegmented variant)
    assert report["style_match_baseline"] == report["variants"]["unsegmented"]["style_match"]["rate"]
    assert "confusion_matrix" in report["judge"]
    table = format_table(report)
    assert "segment_prompt" in table and "±" in table and "segmented vs single_strategy" in table


@pytest.mark.integration
def test_emails_written_by_two_processes_equal_those_written_by_one(artifacts: Path) -> None:
    def rows(workers: int) -> tuple[dict, list[dict]]:
        return run_evaluation(artifacts, n_customers=10, batch_size=3, temperature=0.7, seeds=[0, 1],
                              max_new_tokens=5, progress=False, workers=workers)

    (one, serial), (two, parallel) = rows(1), rows(2)
    assert one["generation"]["workers"] == 1 and two["generation"]["workers"] == 2
    assert serial == parallel  # each batch seeds itself: the worker count changes nothing
    assert len({r["segmented"] for r in serial}) > 1  # sampled, so the equality is not trivial
    assert one["variants"] == two["variants"]


@pytest.mark.integration
def test_greedy_runs_once_and_a_missing_comparator_is_skipped(artifacts: Path, tmp_path: Path) -> None:
    partial = tmp_path / "art"
    shutil.copytree(artifacts, partial, ignore=shutil.ignore_patterns("comparators"))
    report, rows = run_evaluation(partial, n_customers=5, batch_size=8, seeds=[0, 1, 2], max_new_tokens=4,
                                  progress=False, workers=1)
    assert report["generation"]["seeds"] == [0] and len(rows) == 5  # greedy is deterministic: one run
    assert set(report["variants"]) == {"segmented", "unsegmented", "single_strategy"}
    assert "segment_prompt" in report["generation"]["skipped_variants"]
    assert "segmented_vs_segment_prompt" not in report["comparisons"]
    written = write_outputs(report, rows, tmp_path / "eval")
    assert json.loads(written[0].read_text(encoding="utf-8"))["n"] == 5
    assert all(p.stat().st_size > 0 for p in written)
    markdown = (tmp_path / "eval" / "results.md").read_text(encoding="utf-8")
    assert "| style match |" in markdown and "single strategy" in markdown and "segment as prompt" not in markdown
    assert markdown.count("| Dormant") == 3 or "Dormant" not in report["per_segment_n"]  # one row per rate


def test_max_new_tokens_covers_the_longest_reference(tiny_base_model_dir: Path) -> None:
    from genemail.generation.modeling import load_tokenizer

    tokenizer = load_tokenizer(tiny_base_model_dir)
    texts = ["您好！本周好物推荐。", "我们想念您！回归礼包限时领取，欢迎回来看看。"]
    limit, lengths = covering_max_new_tokens(tokenizer, texts)
    longest = max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    assert lengths["max"] == longest and limit >= max(16, 1.5 * longest)


def test_unavailable_variants_say_which_adapter_is_missing(tiny_base_model_dir: Path, tiny_adapters_dir: Path) -> None:
    from genemail.generation.generator import AdapterRef, EmailGenerator

    gen = EmailGenerator.load(tiny_base_model_dir, [AdapterRef(BASELINE, tiny_adapters_dir / BASELINE)])
    keep, skipped = available(gen, list(VARIANT_NAMES), [DORMANT], load_strategies())
    assert keep == ["unsegmented", "single_strategy"]
    assert "Dormant" in skipped["segmented"] and SEGMENT_PROMPT in skipped["segment_prompt"]
