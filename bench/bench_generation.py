"""Benchmark: N customers across K LoRA adapters, four ways, side by side in one run.

    python -m bench.bench_generation [--n 32] [--k 4] [--max-new-tokens 64] [--shape tiny|qwen3-0.6b]

(a) per customer: ``set_adapter`` then ``generate`` one customer at a time (the naive service);
(b) grouped by segment: ``set_adapter`` per group, the group batched;
(c) one mixed batch with PEFT's ``adapter_names`` (what :class:`EmailGenerator` does);
(d) the base model alone, batched: the ceiling (no LoRA at all).

Weights are random (built from the shape's config; nothing is downloaded) and prompts are random
token ids of varied length (so left padding is exercised). ``min_new_tokens == max_new_tokens``,
so every method generates exactly the same number of tokens. fp32, CPU, greedy, inference mode.
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SHAPES = ("tiny", "qwen3-0.6b")


@dataclass(frozen=True)
class BenchConfig:
    """Benchmark size; validated so a typo fails before minutes of model building."""

    n: int = 32
    k: int = 4
    max_new_tokens: int = 64  # email-like length; at 16 the prompt prefill dominates (BENCHMARKS.md)
    shape: str = "qwen3-0.6b"
    prompt_len: int = 48
    batch_size: int | None = None  # (b)-(d) batch size; default: all N at once
    r: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        from genemail.errors import config_error

        if self.n < 1:
            raise config_error("n", self.n, "a positive integer")
        if not 1 <= self.k <= self.n:
            raise config_error("k", self.k, f"an integer in [1, n={self.n}]")
        if self.max_new_tokens < 1:
            raise config_error("max_new_tokens", self.max_new_tokens, "a positive integer")
        if self.shape not in SHAPES:
            raise config_error("shape", self.shape, f"one of {SHAPES}")
        if self.prompt_len < 10:
            raise config_error("prompt_len", self.prompt_len, "an integer >= 10")
        if self.batch_size is not None and self.batch_size < 1:
            raise config_error("batch_size", self.batch_size, "a positive integer")


def build(cfg: BenchConfig) -> tuple[Any, list[list[int]], list[str]]:
    """A random model of ``cfg.shape`` with K random LoRA adapters, N prompts and their adapter names."""
    import torch
    from peft import LoraConfig, get_peft_model

    from genemail.generation.modeling import build_model, get_preset

    preset = get_preset(cfg.shape)
    model = build_model(preset, seed=cfg.seed).eval()
    lora = LoraConfig(r=cfg.r, lora_alpha=2 * cfg.r, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                      init_lora_weights=False)  # random B so each adapter changes the output
    names = [f"seg{j}" for j in range(cfg.k)]
    torch.manual_seed(cfg.seed)
    peft_model = get_peft_model(model, lora, adapter_name=names[0])
    for name in names[1:]:
        peft_model.add_adapter(name, lora)
    peft_model.eval()
    rng = random.Random(cfg.seed)
    prompts = [[rng.randrange(10, preset.vocab_size) for _ in range(cfg.prompt_len + rng.randint(-8, 8))]
               for _ in range(cfg.n)]
    assigned = [names[i % cfg.k] for i in range(cfg.n)]
    rng.shuffle(assigned)  # segments arrive interleaved, as in a real customer table
    return peft_model, prompts, assigned


def left_pad(rows: list[list[int]], pad_id: int = 0) -> dict[str, Any]:
    """Left-padded ``input_ids`` and ``attention_mask`` tensors."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return {"input_ids": ids, "attention_mask": mask}


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run(cfg: BenchConfig) -> dict[str, dict[str, float]]:
    """Time the four methods; returns seconds, emails/s and tokens/s per method."""
    import torch

    model, prompts, names = build(cfg)
    gen_kwargs = {"max_new_tokens": cfg.max_new_tokens, "min_new_tokens": cfg.max_new_tokens,
                  "do_sample": False, "pad_token_id": 0, "eos_token_id": None}
    batch = cfg.batch_size or cfg.n
    outputs: dict[str, dict[int, list[int]]] = {}

    def generate(rows: list[int], **extra: Any) -> None:
        enc = left_pad([prompts[i] for i in rows])
        out = model.generate(**enc, **gen_kwargs, **extra)[:, enc["input_ids"].shape[1]:]
        assert out.shape[1] == cfg.max_new_tokens  # same token count for every method
        current.update({i: out[j].tolist() for j, i in enumerate(rows)})

    def per_customer() -> None:
        for i in range(cfg.n):
            model.set_adapter(names[i])
            generate([i])

    def grouped() -> None:
        for name in sorted(set(names)):
            model.set_adapter(name)
            for rows in _chunks([i for i in range(cfg.n) if names[i] == name], batch):
                generate(rows)

    def mixed() -> None:
        for rows in _chunks(list(range(cfg.n)), batch):
            generate(rows, adapter_names=[names[i] for i in rows])

    def base_only() -> None:
        with model.disable_adapter():
            for rows in _chunks(list(range(cfg.n)), batch):
                generate(rows)

    methods: dict[str, Callable[[], None]] = {
        "(a) per customer, set_adapter": per_customer,
        "(b) grouped by segment, batched": grouped,
        "(c) mixed batch, adapter_names": mixed,
        "(d) base model alone, batched": base_only,
    }
    results: dict[str, dict[str, float]] = {}
    with torch.inference_mode():
        current: dict[int, list[int]] = {}
        generate([0, 1] if cfg.n > 1 else [0], adapter_names=names[:2] if cfg.n > 1 else names[:1])  # warm-up
        for label, fn in methods.items():
            current = {}
            t0 = time.perf_counter()
            fn()
            seconds = time.perf_counter() - t0
            outputs[label] = current
            results[label] = {"seconds": seconds, "emails_per_s": cfg.n / seconds,
                              "tokens_per_s": cfg.n * cfg.max_new_tokens / seconds}
    a, c = outputs["(a) per customer, set_adapter"], outputs["(c) mixed batch, adapter_names"]
    results["_agreement"] = {"same_tokens": sum(a[i] == c[i] for i in range(cfg.n)) / cfg.n}
    return results


def print_table(cfg: BenchConfig, results: dict[str, dict[str, float]]) -> None:
    """A Markdown table with the (c)/(a) and (c)/(d) ratios."""
    import torch

    labels = [k for k in results if not k.startswith("_")]
    a, c, d = (results[labels[i]]["emails_per_s"] for i in (0, 2, 3))
    print(f"\nshape={cfg.shape} N={cfg.n} K={cfg.k} max_new_tokens={cfg.max_new_tokens} "
          f"prompt_len~{cfg.prompt_len} batch={cfg.batch_size or cfg.n} | torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print("| method | seconds | emails/s | tokens/s |\n|---|---:|---:|---:|")
    for label in labels:
        r = results[label]
        print(f"| {label} | {r['seconds']:.2f} | {r['emails_per_s']:.2f} | {r['tokens_per_s']:.1f} |")
    print(f"\n(c)/(a) = {c / a:.2f}x   (c)/(d) = {c / d:.2f}x   "
          f"(goal: >= 5x and >= 0.8x on qwen3-0.6b, N=32, K=4)")
    print(f"greedy tokens of (c) identical to (a) for {results['_agreement']['same_tokens']:.0%} of customers")


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    """Command-line arguments -> :class:`BenchConfig`."""
    p = argparse.ArgumentParser(prog="python -m bench.bench_generation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=32, help="customers")
    p.add_argument("--k", type=int, default=4, help="adapters (segments)")
    p.add_argument("--max-new-tokens", type=int, default=BenchConfig.max_new_tokens, help="tokens per email (min = max)")
    p.add_argument("--shape", default="qwen3-0.6b", choices=SHAPES)
    p.add_argument("--prompt-len", type=int, default=48, help="mean prompt length in tokens (+-8)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size for (b)-(d) (default: N)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    return BenchConfig(n=a.n, k=a.k, max_new_tokens=a.max_new_tokens, shape=a.shape, prompt_len=a.prompt_len,
                       batch_size=a.batch_size, seed=a.seed)


def main(argv: list[str] | None = None) -> None:
    """Build, time, print."""
    cfg = parse_args(argv)
    print_table(cfg, run(cfg))


if __name__ == "__main__":
    main()
