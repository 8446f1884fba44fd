"""bench/bench_vllm.py on a machine without a GPU: it says so plainly and exits 0, without building anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genemail.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_without_a_gpu_the_benchmark_says_so_and_exits_cleanly(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: run `make bench-vllm` to measure")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench.bench_vllm", "--n", "4", "--k", "2", "--out", str(tmp_path)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "bench_vllm: not run: no CUDA GPU on this machine" in done.stdout
    assert "Traceback" not in done.stderr and not any(tmp_path.iterdir())  # nothing was built


def test_sizes_are_validated() -> None:
    from bench.bench_vllm import VllmBenchConfig, parse_args

    assert parse_args(["--n", "16", "--k", "4"]) == VllmBenchConfig(n=16, k=4)
    with pytest.raises(ConfigError, match="k="):
        VllmBenchConfig(n=2, k=3)
    with pytest.raises(ConfigError, match="prompt_len"):
        VllmBenchConfig(prompt_len=4)
