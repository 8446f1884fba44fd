"""bench/bench_generation.py: its options are validated, and a tiny run of every method agrees and prints the goals."""

from __future__ import annotations

import pytest

from genemail.errors import ConfigError


def test_sizes_and_methods_are_validated() -> None:
    from bench.bench_generation import BenchConfig

    for kwargs, name in [({"n": 0}, "n"), ({"k": 9, "n": 4}, "k"), ({"max_new_tokens": 1}, "max_new_tokens"),
                         ({"methods": ("a", "x")}, "methods"), ({"repeats": 0}, "repeats"), ({"clock": "sun"}, "clock"),
                         ({"shape": "huge"}, "shape")]:
        with pytest.raises(ConfigError, match=name):
            BenchConfig(**kwargs)
    from genemail.training.adapter_training import ALL_LINEAR_MODULES

    # what training uses on the embedded model: every projection and the output head
    assert BenchConfig(shape="tiny").targets == ALL_LINEAR_MODULES and "lm_head" in ALL_LINEAR_MODULES
    assert BenchConfig(shape="qwen3-0.6b").targets == ("q_proj", "v_proj")


def test_a_tiny_run_of_every_method_agrees_and_reports_its_goals(capsys) -> None:
    from bench.bench_generation import BenchConfig, Goal, print_table, run

    cfg = BenchConfig(n=4, k=2, max_new_tokens=3, shape="tiny", prompt_len=12, clock="cpu")
    results = run(cfg)
    assert results["_agreement_c"]["same_tokens"] == 1.0 and results["_agreement_d"]["same_tokens"] == 1.0
    for key in ("d", "e"):  # prefill is timed apart and is part of the whole
        assert 0 < results[key]["prefill_s"] <= results[key]["seconds"]
    assert results["_flops"]["prefill"] > results["_flops"]["decode_step"] > 0
    measured = print_table(cfg, results, (Goal("d", "e", 0.85),), ceiling_gflops=50.0)
    out = capsys.readouterr().out
    assert measured[0][1] == pytest.approx(results["d"]["emails_per_s"] / results["e"]["emails_per_s"])
    assert "(goal >= 0.85x)" in out and "(d) mixed batch, gathered LoRA" in out and "of the matmul line" in out
