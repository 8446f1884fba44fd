"""Benchmark: N customers across K LoRA adapters, five ways, side by side in one run.

    python -m bench.bench_generation --suite      # the goal configurations (what `make bench` runs)
    python -m bench.bench_generation [--n 32] [--k 4] [--max-new-tokens 64] [--shape tiny|qwen3-0.6b]
        [--methods a,b,c,d,e] [--repeats 1] [--target-modules auto|q_proj,v_proj,...] [--threads T]

(a) per customer: ``set_adapter`` then ``generate`` one customer at a time (the naive service);
(b) grouped by segment: ``set_adapter`` per group, the group batched;
(c) one mixed batch with PEFT's ``adapter_names`` (its per-adapter loop in every LoRA layer);
(d) one mixed batch through the gathered LoRA product (``genemail.generation.gathered_lora``; what
    :class:`EmailGenerator` does by default);
(e) the base model alone, batched: the ceiling (no LoRA at all).

For (d) and (e) the prompt prefill is timed apart (``generate`` with one new token): decode is the
rest. The matmul line times a large fp32 ``torch.mm`` on the same threads, and the base model's own
prefill and decode are given in GFLOP/s against it, so the distance to the machine's limit is known.

Weights are random (built from the shape's config; nothing is downloaded) and prompts are random
token ids of varied length (so left padding is exercised). ``min_new_tokens == max_new_tokens``, so
every method generates exactly the same number of tokens. fp32, CPU, greedy, inference mode.
LoRA r=8 on the modules training uses for that shape (``auto``: every linear projection on the
embedded tiny model, ``q_proj, v_proj`` on the 0.6B shape). With ``--repeats R`` the methods run in
R interleaved rounds and each keeps its fastest round (a shared machine's noise only ever slows).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

SHAPES = ("tiny", "qwen3-0.6b")
METHODS: dict[str, str] = {
    "a": "(a) per customer, set_adapter",
    "b": "(b) grouped by segment, batched",
    "c": "(c) mixed batch, PEFT adapter_names",
    "d": "(d) mixed batch, gathered LoRA",
    "e": "(e) base model alone, batched",
}
SPLIT_METHODS = ("d", "e")  # prefill timed apart for these
# Wall seconds, or this process's CPU seconds: when other jobs share the cores, a single-threaded run's
# CPU time still counts only its own work, while its wall time counts the waiting too.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class BenchConfig:
    """Benchmark size; validated so a typo fails before minutes of model building."""

    n: int = 32
    k: int = 4
    max_new_tokens: int = 64  # email-like length; at 16 the prompt prefill dominates (BENCHMARKS.md)
    shape: str = "qwen3-0.6b"
    prompt_len: int = 48
    batch_size: int | None = None  # (b)-(e) batch size; default: all N at once
    r: int = 8
    seed: int = 0
    methods: tuple[str, ...] = tuple(METHODS)
    repeats: int = 1
    target_modules: tuple[str, ...] | None = None  # None: what training uses for the shape
    clock: str = "wall"  # "cpu": this process's CPU seconds (steadier on a shared machine, with --threads 1)

    def __post_init__(self) -> None:
        from genemail.errors import config_error

        if self.n < 1:
            raise config_error("n", self.n, "a positive integer")
        if not 1 <= self.k <= self.n:
            raise config_error("k", self.k, f"an integer in [1, n={self.n}]")
        if self.max_new_tokens < 2:
            raise config_error("max_new_tokens", self.max_new_tokens, "an integer >= 2 (prefill is timed apart)")
        if self.shape not in SHAPES:
            raise config_error("shape", self.shape, f"one of {SHAPES}")
        if self.prompt_len < 10:
            raise config_error("prompt_len", self.prompt_len, "an integer >= 10")
        if self.batch_size is not None and self.batch_size < 1:
            raise config_error("batch_size", self.batch_size, "a positive integer")
        if not self.methods or any(m not in METHODS for m in self.methods):
            raise config_error("methods", ",".join(self.methods), f"letters from {','.join(METHODS)}")
        if self.repeats < 1:
            raise config_error("repeats", self.repeats, "a positive integer")
        if self.clock not in CLOCKS:
            raise config_error("clock", self.clock, f"one of {tuple(CLOCKS)}")

    @property
    def targets(self) -> tuple[str, ...]:
        """LoRA target modules: the given ones, or what adapter training picks for this shape."""
        from genemail.training.adapter_training import ALL_LINEAR_MODULES, DEFAULT_TARGET_MODULES

        if self.target_modules:
            return self.target_modules
        return ALL_LINEAR_MODULES if self.shape == "tiny" else DEFAULT_TARGET_MODULES


@dataclass(frozen=True)
class Goal:
    """A ratio of two methods' emails/s that has a speed target."""

    num: str
    den: str
    target: float

    def label(self) -> str:
        return f"{METHODS[self.num][:3]} / {METHODS[self.den][:3]}"


# The goal configurations: (configuration, its goals). Shared-machine noise: the fast one repeats.
SUITE: tuple[tuple[BenchConfig, tuple[Goal, ...]], ...] = (
    (BenchConfig(n=64, k=5, max_new_tokens=96, shape="tiny", methods=("b", "c", "d", "e"), repeats=3),
     (Goal("d", "e", 0.85),)),
    (BenchConfig(n=32, k=4, max_new_tokens=32, methods=("c", "d", "e")), (Goal("d", "e", 0.95),)),
    (BenchConfig(n=32, k=4, max_new_tokens=16, methods=("a", "c", "d", "e")), (Goal("d", "a", 5.0),)),
)


def build(cfg: BenchConfig) -> tuple[Any, list[list[int]], list[str]]:
    """A random model of ``cfg.shape`` with K random LoRA adapters, N prompts and their adapter names."""
    import torch
    from peft import LoraConfig, get_peft_model

    from genemail.generation.modeling import tied_head_lora
    from genemail.training.presets import build_model, get_preset

    preset = get_preset(cfg.shape)
    model = build_model(preset, seed=cfg.seed).eval()
    lora = LoraConfig(r=cfg.r, lora_alpha=2 * cfg.r, target_modules=list(cfg.targets), task_type="CAUSAL_LM",
                      init_lora_weights=False)  # random B so each adapter changes the output
    names = [f"seg{j}" for j in range(cfg.k)]
    torch.manual_seed(cfg.seed)
    with tied_head_lora():  # the adapters train lm_head too; GenEmail never merges them
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


def _methods(cfg: BenchConfig, model: Any, prompts: list[list[int]], names: list[str],
             current: dict[int, list[int]]) -> dict[str, Callable[[int], None]]:
    """Each method as a function of the new-token count (so prefill can be timed with 1)."""
    from genemail.generation.gathered_lora import gathered_lora

    batch = cfg.batch_size or cfg.n

    def generate(rows: list[int], new: int, **extra: Any) -> None:
        enc = left_pad([prompts[i] for i in rows])
        out = model.generate(**enc, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0,
                             eos_token_id=None, **extra)[:, enc["input_ids"].shape[1]:]
        assert out.shape[1] == new  # same token count for every method
        current.update({i: out[j].tolist() for j, i in enumerate(rows)})

    def per_customer(new: int) -> None:
        for i in range(cfg.n):
            model.set_adapter(names[i])
            generate([i], new)

    def grouped(new: int) -> None:
        for name in sorted(set(names)):
            model.set_adapter(name)
            for rows in _chunks([i for i in range(cfg.n) if names[i] == name], batch):
                generate(rows, new)

    def mixed_peft(new: int) -> None:
        for rows in _chunks(list(range(cfg.n)), batch):
            generate(rows, new, adapter_names=[names[i] for i in rows])

    def mixed_gathered(new: int) -> None:
        for rows in _chunks(list(range(cfg.n)), batch):
            with gathered_lora(model, [names[i] for i in rows]):
                generate(rows, new)

    def base_only(new: int) -> None:
        with model.disable_adapter():
            for rows in _chunks(list(range(cfg.n)), batch):
                generate(rows, new)

    return {"a": per_customer, "b": grouped, "c": mixed_peft, "d": mixed_gathered, "e": base_only}


def _warm_up(model: Any, prompts: list[list[int]], names: list[str]) -> None:
    """Two rows, two tokens, every path once: first calls allocate and pick kernels."""
    from genemail.generation.gathered_lora import gathered_lora

    enc = left_pad(prompts[:2])
    kwargs = {"max_new_tokens": 2, "do_sample": False, "pad_token_id": 0, "eos_token_id": None}
    model.generate(**enc, adapter_names=names[:2], **kwargs)
    with gathered_lora(model, names[:2]):
        model.generate(**enc, **kwargs)
    with model.disable_adapter():
        model.generate(**enc, **kwargs)


def run(cfg: BenchConfig, built: tuple[Any, list[list[int]], list[str]] | None = None) -> dict[str, dict[str, float]]:
    """Time the chosen methods; returns seconds, emails/s, tokens/s (and prefill, decode) per method key."""
    import torch

    model, prompts, names = built or build(cfg)
    current: dict[int, list[int]] = {}
    fns = _methods(cfg, model, prompts, names, current)
    outputs: dict[str, dict[int, list[int]]] = {}
    best: dict[str, float] = {}
    clock = CLOCKS[cfg.clock]
    with torch.inference_mode():
        _warm_up(model, prompts, names)
        for round_ in range(cfg.repeats):
            for key in cfg.methods:
                current.clear()
                start = clock()
                fns[key](cfg.max_new_tokens)
                best[key] = min(best.get(key, float("inf")), clock() - start)
                if round_ == 0:
                    outputs[key] = dict(current)
            for key in SPLIT_METHODS:
                if key in cfg.methods:
                    start = clock()
                    fns[key](1)
                    best[f"{key}_prefill"] = min(best.get(f"{key}_prefill", float("inf")), clock() - start)
    results: dict[str, dict[str, float]] = {}
    for key in cfg.methods:
        seconds = best[key]
        results[key] = {"seconds": seconds, "emails_per_s": cfg.n / seconds,
                        "tokens_per_s": cfg.n * cfg.max_new_tokens / seconds}
        if f"{key}_prefill" in best:
            prefill = min(best[f"{key}_prefill"], seconds)
            results[key] |= {"prefill_s": prefill,
                             "decode_ms_per_token": 1000 * (seconds - prefill) / (cfg.max_new_tokens - 1)}
    reference = "a" if "a" in outputs else "c" if "c" in outputs else None
    for key in ("c", "d"):
        if reference and key in outputs and key != reference:
            same = sum(outputs[reference][i] == outputs[key][i] for i in range(cfg.n)) / cfg.n
            results[f"_agreement_{key}"] = {"same_tokens": same, "reference": reference}
    results["_flops"] = model_flops(model, prompts, cfg)
    return results


def model_flops(model: Any, prompts: list[list[int]], cfg: BenchConfig) -> dict[str, float]:
    """Matmul FLOPs of the base model: prefill of the padded batch, and one decoding step for N rows.

    Counts the decoder layers' linear weights on every position and the LM head on the last one
    (``generate`` keeps only the last position's logits); attention scores are left out (small here).
    """
    import torch

    layers = sum(m.weight.numel() for name, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and ".layers." in name and "lora_" not in name)
    head = model.get_output_embeddings().weight.numel()
    batch = cfg.batch_size or cfg.n
    padded = sum(len(chunk) * max(len(prompts[i]) for i in chunk) for chunk in _chunks(list(range(cfg.n)), batch))
    return {"prefill": 2.0 * (layers * padded + head * cfg.n), "decode_step": 2.0 * (layers + head) * cfg.n}


def matmul_gflops(size: int = 2048, repeats: int = 5, clock: str = "wall") -> float:
    """The machine's fp32 matmul throughput on torch's threads: the best of a few ``size``-square ``torch.mm``."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    best, timer = float("inf"), CLOCKS[clock]
    for _ in range(repeats):
        start = timer()
        torch.mm(a, b)
        best = min(best, timer() - start)
    return 2.0 * size ** 3 / best / 1e9


def print_table(cfg: BenchConfig, results: dict[str, dict[str, float]], goals: tuple[Goal, ...] = (),
                ceiling_gflops: float | None = None) -> list[tuple[str, float, float]]:
    """A Markdown table of the methods, then the goal ratios; returns (label, measured, goal) per goal."""
    import torch

    print(f"\nshape={cfg.shape} N={cfg.n} K={cfg.k} max_new_tokens={cfg.max_new_tokens} prompt_len~{cfg.prompt_len} "
          f"batch={cfg.batch_size or cfg.n} LoRA r={cfg.r} on {','.join(cfg.targets)} best of {cfg.repeats}, "
          f"{cfg.clock} clock | torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"load avg {os.getloadavg()[0]:.1f}")
    print("| method | seconds | emails/s | tokens/s | prefill s | decode ms/token |\n|---|---:|---:|---:|---:|---:|")
    for key in cfg.methods:
        r = results[key]
        split = (f"{r['prefill_s']:.2f} | {r['decode_ms_per_token']:.1f}" if "prefill_s" in r else "| ").strip()
        print(f"| {METHODS[key]} | {r['seconds']:.2f} | {r['emails_per_s']:.2f} | {r['tokens_per_s']:.1f} | {split} |")
    measured = []
    for goal in goals:
        value = results[goal.num]["emails_per_s"] / results[goal.den]["emails_per_s"]
        measured.append((f"{goal.label()} ({cfg.shape}, N={cfg.n}, K={cfg.k}, {cfg.max_new_tokens} tokens)",
                         value, goal.target))
    ratios = [f"{METHODS[n][:3]}/{METHODS[d][:3]} = {results[n]['emails_per_s'] / results[d]['emails_per_s']:.2f}x"
              for n, d in (("d", "e"), ("c", "e"), ("d", "c"), ("d", "a"), ("c", "a")) if n in results and d in results]
    print("\n" + "   ".join(ratios))
    for label, value, target in measured:
        print(f"goal {label}: {value:.2f}x (goal >= {target:g}x) {'met' if value >= target else 'NOT met'}")
    for key in ("c", "d"):
        if f"_agreement_{key}" in results:
            agree = results[f"_agreement_{key}"]
            print(f"greedy tokens of {METHODS[key][:3]} identical to {METHODS[agree['reference']][:3]} "
                  f"for {agree['same_tokens']:.0%} of customers")
    if ceiling_gflops and "e" in results and "prefill_s" in results["e"]:
        f, e = results["_flops"], results["e"]
        prefill = f["prefill"] / e["prefill_s"] / 1e9
        decode = f["decode_step"] / (e["decode_ms_per_token"] / 1000) / 1e9
        print(f"base model (e): prefill {prefill:.1f} GFLOP/s ({prefill / ceiling_gflops:.0%} of the matmul line), "
              f"decode {decode:.1f} GFLOP/s ({decode / ceiling_gflops:.0%}); prefill is "
              f"{e['prefill_s'] / e['seconds']:.0%} of (e)'s time")
    return measured


def run_suite(clock: str = "wall") -> None:
    """The goal configurations one after another, then every goal beside its measured ratio."""
    import torch

    ceiling = matmul_gflops(clock=clock)
    print(f"matmul line: fp32 torch.mm 2048x2048 on {torch.get_num_threads()} threads = {ceiling:.1f} GFLOP/s")
    built: dict[tuple[Any, ...], Any] = {}
    rows = []
    for suite_cfg, goals in SUITE:
        cfg = replace(suite_cfg, clock=clock)
        key = (cfg.shape, cfg.n, cfg.k, cfg.r, cfg.seed, cfg.prompt_len, cfg.targets)
        if key not in built:
            built.clear()  # one large model in memory at a time
            built[key] = build(cfg)
        rows += print_table(cfg, run(cfg, built[key]), goals, ceiling)
    print("\n| goal | measured | goal | met |\n|---|---:|---:|---|")
    for label, value, target in rows:
        print(f"| {label} | {value:.2f}x | >= {target:g}x | {'yes' if value >= target else 'no'} |")


def parse_args(argv: list[str] | None = None) -> tuple[BenchConfig, bool]:
    """Command-line arguments -> (:class:`BenchConfig`, whether to run the goal suite instead)."""
    p = argparse.ArgumentParser(prog="python -m bench.bench_generation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", action="store_true", help="run the goal configurations (ignores the size options)")
    p.add_argument("--n", type=int, default=32, help="customers")
    p.add_argument("--k", type=int, default=4, help="adapters (segments)")
    p.add_argument("--max-new-tokens", type=int, default=BenchConfig.max_new_tokens, help="tokens per email (min = max)")
    p.add_argument("--shape", default="qwen3-0.6b", choices=SHAPES)
    p.add_argument("--prompt-len", type=int, default=48, help="mean prompt length in tokens (+-8)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size for (b)-(e) (default: N)")
    p.add_argument("--methods", default=",".join(METHODS), help="which methods, e.g. c,d,e")
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds; each method keeps its fastest")
    p.add_argument("--target-modules", default="auto", help="LoRA target modules, comma-separated, or auto")
    p.add_argument("--clock", default="wall", choices=tuple(CLOCKS), help="time by wall or by this process's CPU")
    p.add_argument("--threads", type=int, default=None,
                   help="torch compute threads (default: torch's own; 1 on a shared machine avoids OpenMP spinning)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads is not None:
        if a.threads < 1:
            p.error("--threads must be positive")
        import torch

        torch.set_num_threads(a.threads)
    targets = None if a.target_modules == "auto" else tuple(m for m in a.target_modules.split(",") if m)
    cfg = BenchConfig(n=a.n, k=a.k, max_new_tokens=a.max_new_tokens, shape=a.shape, prompt_len=a.prompt_len,
                      batch_size=a.batch_size, seed=a.seed, methods=tuple(m for m in a.methods.split(",") if m),
                      repeats=a.repeats, target_modules=targets, clock=a.clock)
    return cfg, a.suite


def main(argv: list[str] | None = None) -> None:
    """Build, time, print."""
    cfg, suite = parse_args(argv)
    if suite:
        run_suite(cfg.clock)
        return
    goals = tuple(g for c, gs in SUITE for g in gs if (c.shape, c.n, c.k, c.max_new_tokens) ==
                  (cfg.shape, cfg.n, cfg.k, cfg.max_new_tokens) and {g.num, g.den} <= set(cfg.methods))
    print_table(cfg, run(cfg), goals, matmul_gflops(clock=cfg.clock))


if __name__ == "__main__":
    main()
