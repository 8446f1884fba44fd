"""Benchmark (GPU only): vLLM's multi-LoRA serving against the PEFT mixed-batch path, same prompts, greedy.

    python -m bench.bench_vllm [--n 256] [--k 4] [--max-new-tokens 64] [--prompt-len 48]
                               [--release REPO --revision REV] [--out DIR]

A random-weight Qwen3-0.6B shape (built from its config; nothing is downloaded) is saved once, with K LoRA
adapters of random weights. With ``--release`` the adapters copy the release's own adapters (names, rank,
alpha, target modules; those are trained on the release's base, so only their configuration carries over),
and are checked with ``genemail.hub.vllm_compat`` first; without it, K adapters of rank ``--r`` on
q_proj and v_proj. N prompts of random token ids are spread over the adapters, interleaved as customers
arrive. Both paths generate exactly ``--max-new-tokens`` tokens per prompt (EOS ignored), greedy, bf16:

(a) PEFT: one ``PeftModel`` with every adapter, mixed batches with ``adapter_names`` (what
    ``EmailGenerator`` does, and ``genemail serve`` on a GPU);
(b) vLLM: ``LLM(enable_lora=True, max_loras=K, max_lora_rank=R)``, one ``generate`` call with a
    ``LoRARequest`` per prompt (what ``vllm serve`` with ``genemail release serve-args`` runs).

Without a CUDA GPU, or without vLLM installed, it says so and exits 0: this project's machines have no GPU.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGETS = ("q_proj", "v_proj")


@dataclass(frozen=True)
class VllmBenchConfig:
    """Sizes; validated so a typo fails before minutes of model building."""

    n: int = 256
    k: int = 4
    max_new_tokens: int = 64
    prompt_len: int = 48
    batch_size: int = 64  # PEFT rows per generate call (vLLM schedules on its own)
    r: int = 8
    seed: int = 0
    release: str | None = None
    revision: str = "main"
    out: Path | None = None  # where the random model and adapters go (default: a temporary folder)

    def __post_init__(self) -> None:
        from genemail.errors import config_error

        for name in ("n", "max_new_tokens", "batch_size", "r"):
            if getattr(self, name) < 1:
                raise config_error(name, getattr(self, name), "a positive integer")
        if not 1 <= self.k <= self.n:
            raise config_error("k", self.k, f"an integer in [1, n={self.n}]")
        if self.prompt_len < 10:
            raise config_error("prompt_len", self.prompt_len, "an integer >= 10")


def gpu_unavailable() -> str | None:
    """Why this machine cannot run the benchmark (no CUDA GPU, no vLLM), or None when it can."""
    import torch

    if not torch.cuda.is_available():
        return (f"no CUDA GPU on this machine (torch {torch.__version__}, torch.cuda.is_available() is False); "
                "run it on a machine with an NVIDIA GPU, a CUDA build of torch and `pip install vllm`")
    try:
        import vllm  # noqa: F401
    except ImportError:
        return f"vLLM is not installed (GPU found: {torch.cuda.get_device_name(0)}); `pip install vllm` first"
    return None


# ------------------------------------------------------------------------------------- building

def adapter_specs(cfg: VllmBenchConfig) -> list[dict[str, Any]]:
    """Name, rank, alpha and targets of each adapter: the release's (checked for vLLM) or K synthetic ones."""
    if cfg.release is None:
        return [{"name": f"seg{j}", "r": cfg.r, "lora_alpha": 2 * cfg.r, "target_modules": list(TARGETS)}
                for j in range(cfg.k)]
    from genemail.hub.release import pull_release

    pulled = pull_release(cfg.release, cfg.revision)  # refuses adapters vLLM would refuse
    specs = []
    for name, adapter in sorted(pulled.adapters.items())[:cfg.k]:
        config = json.loads((adapter.path / "adapter_config.json").read_text(encoding="utf-8"))
        specs.append({"name": name, "r": config["r"], "lora_alpha": config["lora_alpha"],
                      "target_modules": sorted(config["target_modules"])})
    return specs


def build(cfg: VllmBenchConfig, root: Path) -> tuple[Path, dict[str, Path], list[list[int]], list[str]]:
    """Save the random model and adapters under ``root``; N prompts and the adapter of each."""
    import torch
    from peft import LoraConfig, get_peft_model

    from genemail.training.presets import build_model, get_preset

    preset = get_preset("qwen3-0.6b")
    base_dir = root / "base"
    model = build_model(preset, seed=cfg.seed).to(torch.bfloat16)
    model.save_pretrained(base_dir)
    paths: dict[str, Path] = {}
    for j, spec in enumerate(adapter_specs(cfg)):
        torch.manual_seed(cfg.seed + 1 + j)
        lora = LoraConfig(r=spec["r"], lora_alpha=spec["lora_alpha"], target_modules=spec["target_modules"],
                          task_type="CAUSAL_LM", init_lora_weights=False)  # random B: each adapter matters
        peft_model = get_peft_model(model, lora)
        paths[spec["name"]] = root / "adapters" / spec["name"]
        peft_model.save_pretrained(paths[spec["name"]])
        model = peft_model.unload()  # the plain base again, for the next adapter
    rng = random.Random(cfg.seed)
    prompts = [[rng.randrange(10, preset.vocab_size) for _ in range(cfg.prompt_len + rng.randint(-8, 8))]
               for _ in range(cfg.n)]
    names = [sorted(paths)[i % len(paths)] for i in range(cfg.n)]
    rng.shuffle(names)
    return base_dir, paths, prompts, names


def check_adapters(base_dir: Path, paths: dict[str, Path]) -> int:
    """The vLLM checks on the built adapters; returns the ``--max-lora-rank`` they need."""
    from genemail.hub.vllm_compat import base_model_info, check_folder, refuse, serving_rank

    base = base_model_info(base_dir / "config.json", model_id=None, revision=None)
    reports = [check_folder(name, path, base) for name, path in sorted(paths.items())]
    refuse(reports, where=str(base_dir.parent / "adapters"), fix="use adapters vLLM accepts")
    return serving_rank(reports)


# ---------------------------------------------------------------------------------------- timing

def run_peft(cfg: VllmBenchConfig, base_dir: Path, paths: dict[str, Path], prompts: list[list[int]],
             names: list[str]) -> tuple[float, dict[int, list[int]]]:
    """Seconds and generated ids of the PEFT mixed-batch path on the GPU."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from bench.bench_generation import left_pad

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16).to("cuda")
    first, *rest = sorted(paths)
    model = PeftModel.from_pretrained(model, str(paths[first]), adapter_name=first)
    for name in rest:
        model.load_adapter(str(paths[name]), adapter_name=name)
    model.eval()
    kwargs = {"max_new_tokens": cfg.max_new_tokens, "min_new_tokens": cfg.max_new_tokens, "do_sample": False,
              "pad_token_id": 0, "eos_token_id": None}
    out: dict[int, list[int]] = {}

    def batches() -> None:
        for start in range(0, cfg.n, cfg.batch_size):
            rows = list(range(start, min(start + cfg.batch_size, cfg.n)))
            enc = {k: v.to("cuda") for k, v in left_pad([prompts[i] for i in rows]).items()}
            ids = model.generate(**enc, adapter_names=[names[i] for i in rows], **kwargs)
            out.update({i: ids[j, enc["input_ids"].shape[1]:].tolist() for j, i in enumerate(rows)})

    with torch.inference_mode():
        batches()  # warm-up (kernels, allocator)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        batches()
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    del model
    torch.cuda.empty_cache()
    return seconds, out


def run_vllm(cfg: VllmBenchConfig, base_dir: Path, paths: dict[str, Path], prompts: list[list[int]],
             names: list[str], max_rank: int) -> tuple[float, dict[int, list[int]]]:
    """Seconds and generated ids of vLLM's offline engine with one LoRARequest per prompt."""
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    llm = LLM(model=str(base_dir), enable_lora=True, max_loras=len(paths), max_lora_rank=max_rank,
              skip_tokenizer_init=True, dtype="bfloat16", seed=cfg.seed, gpu_memory_utilization=0.5,
              max_model_len=cfg.prompt_len + 16 + cfg.max_new_tokens)
    params = SamplingParams(temperature=0.0, max_tokens=cfg.max_new_tokens, min_tokens=cfg.max_new_tokens,
                            ignore_eos=True, detokenize=False)
    ids = {name: i + 1 for i, name in enumerate(sorted(paths))}
    requests = [LoRARequest(name, ids[name], str(paths[name])) for name in names]
    inputs = [{"prompt_token_ids": p} for p in prompts]
    llm.generate(inputs, params, lora_request=requests, use_tqdm=False)  # warm-up: loads the adapters
    t0 = time.perf_counter()
    outputs = llm.generate(inputs, params, lora_request=requests, use_tqdm=False)
    seconds = time.perf_counter() - t0
    return seconds, {i: list(o.outputs[0].token_ids) for i, o in enumerate(outputs)}


def print_table(cfg: VllmBenchConfig, results: dict[str, float], agreement: float, max_rank: int) -> None:
    """A Markdown table with the vLLM / PEFT ratio."""
    import torch

    print(f"\nqwen3-0.6b shape (random, bf16) N={cfg.n} K={cfg.k} max_new_tokens={cfg.max_new_tokens} "
          f"prompt_len~{cfg.prompt_len} PEFT batch={cfg.batch_size} max_lora_rank={max_rank} | "
          f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print("| path | seconds | emails/s | tokens/s |\n|---|---:|---:|---:|")
    for label, seconds in results.items():
        print(f"| {label} | {seconds:.2f} | {cfg.n / seconds:.1f} | {cfg.n * cfg.max_new_tokens / seconds:.0f} |")
    peft, vllm = results.values()
    print(f"\nvLLM / PEFT = {peft / vllm:.1f}x throughput; greedy tokens identical for {agreement:.0%} of prompts "
          "(bf16 kernels differ, so a few may diverge)")


def parse_args(argv: list[str] | None = None) -> VllmBenchConfig:
    """Command-line arguments -> :class:`VllmBenchConfig`."""
    p = argparse.ArgumentParser(prog="python -m bench.bench_vllm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=256, help="prompts (customers)")
    p.add_argument("--k", type=int, default=4, help="adapters")
    p.add_argument("--max-new-tokens", type=int, default=64, help="tokens per email (EOS ignored)")
    p.add_argument("--prompt-len", type=int, default=48, help="mean prompt length in tokens (+-8)")
    p.add_argument("--batch-size", type=int, default=64, help="PEFT rows per generate call")
    p.add_argument("--r", type=int, default=8, help="LoRA rank without --release")
    p.add_argument("--release", default=None, help="copy this release's adapter configurations")
    p.add_argument("--revision", default="main")
    p.add_argument("--out", type=Path, default=None, help="keep the built model and adapters here")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    return VllmBenchConfig(n=a.n, k=a.k, max_new_tokens=a.max_new_tokens, prompt_len=a.prompt_len,
                           batch_size=a.batch_size, r=a.r, seed=a.seed, release=a.release, revision=a.revision,
                           out=a.out)


def main(argv: list[str] | None = None) -> int:
    """Build, time both paths, print; or say plainly why it cannot run here. Returns the exit code."""
    cfg = parse_args(argv)
    reason = gpu_unavailable()
    if reason is not None:
        print(f"bench_vllm: not run: {reason}.")
        return 0
    with tempfile.TemporaryDirectory(prefix="genemail-vllm-") as tmp:
        root = cfg.out or Path(tmp)
        base_dir, paths, prompts, names = build(cfg, root)
        max_rank = check_adapters(base_dir, paths)
        peft_s, peft_ids = run_peft(cfg, base_dir, paths, prompts, names)
        vllm_s, vllm_ids = run_vllm(cfg, base_dir, paths, prompts, names, max_rank)
    agreement = sum(peft_ids[i] == vllm_ids[i] for i in range(cfg.n)) / cfg.n
    print_table(cfg, {"(a) PEFT mixed batch, adapter_names": peft_s, "(b) vLLM, LoRARequest per prompt": vllm_s},
                agreement, max_rank)
    return 0


if __name__ == "__main__":
    sys.exit(main())
