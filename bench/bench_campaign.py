"""Benchmark: `genemail campaign` end to end on N synthetic customers, beside the mixed-batch rate.

    python -m bench.bench_campaign [--artifacts artifacts] [--n 10000] [--batch-size 16] [--max-new-tokens 64]

On the embedded default: ``./artifacts`` (from ``make train``) when it exists, else a tiny random
release built like the test fixture (its timings then describe the plumbing, not a useful model).

1. **End to end, as a user runs it**: ``genemail campaign --artifacts DIR --data N.csv --out
   emails.jsonl`` timed as a whole process (start-up, loading the system, the cleaning report included).
2. **Where the time goes**, in process, with the same system: :func:`run_campaign` on the same customers,
   its time split into segmenting (the segmenter's ``segment``), prompting (customer profiles, prompt
   building and bookkeeping inside ``EmailGenerator.generate``), generating (``EmailGenerator.complete``:
   tokenizing, ``model.generate``, decoding) and writing with the rest (JSONL rows, progress).
3. **The mixed-batch rate** of the same generator on the same prompts in the same run: ``complete``
   alone, batch after batch (each customer's segmented and baseline rows in one mixed batch, as the
   campaign sends them). The campaign rate over this rate is the overhead goal (>= 0.8x).
4. **The quality gate's cost**: :func:`run_campaign` on the first ``--gate-n`` customers with the
   campaign's default decoding (seeded sampling, T=0.7), with the gate and with a pass-through gate that
   only fills the merge tags, alternating runs; the ratio of the rates is the goal (>= 0.9x), at the
   pass rate the run measured (resampled drafts are part of the gate's cost).

Greedy decoding (1-3), fp32, CPU. The load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 0.8
GATE_GOAL = 0.9


class Stopwatch:
    """Seconds spent inside wrapped callables, by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return timed


class _TimedSegmenter:
    """The system's segmenter with its ``segment`` timed (run_campaign only calls ``segment``)."""

    def __init__(self, segmenter: Any, watch: Stopwatch) -> None:
        self.segment = watch.wrap("segmenting", segmenter.segment)


def _artifacts(requested: Path, tmp: Path) -> tuple[Path, str]:
    if (requested / "segmenter" / "segmenter.skops").is_file():
        return requested, f"{requested} (trained)"
    from bench.bench_app import tiny_artifacts

    return tiny_artifacts(tmp / "tiny"), "tiny random release (no ./artifacts; run make train)"


def end_to_end(artifacts: Path, data: Path, out: Path, batch_size: int, max_new_tokens: int) -> float:
    """Wall seconds of the `genemail campaign` process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "genemail", "campaign", "--artifacts", str(artifacts),
                             "--data", str(data), "--out", str(out), "--batch-size", str(batch_size),
                             "--max-new-tokens", str(max_new_tokens), "--greedy"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"[bench_campaign] genemail campaign failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def in_process(artifacts: Path, data: Path, out: Path, batch_size: int, max_new_tokens: int) -> dict[str, Any]:
    """The campaign in process with its time split, then the mixed-batch rate on the same prompts."""
    from genemail.data import load_customers
    from genemail.pipeline.campaign import run_campaign
    from genemail.generation.generator import GenerationConfig
    from genemail.generation.prompts import build_baseline_prompt, build_prompt, profile_from_row
    from genemail.loading import load_system
    from genemail.taxonomy import BASELINE, COLD_START

    system = load_system(artifacts=artifacts, release=None, revision="main")
    customers = load_customers(data).frame
    config = GenerationConfig(max_new_tokens=max_new_tokens)
    generator, watch = system.generator, Stopwatch()
    complete, generate = generator.complete, generator.generate
    generator.complete = watch.wrap("complete", complete)  # instance attributes: the class is untouched
    generator.generate = watch.wrap("generate", generate)
    start = time.perf_counter()
    summary = run_campaign(customers, _TimedSegmenter(system.segmenter, watch), system.strategies, generator, out,
                           config, batch_size=batch_size, progress=False)
    total = time.perf_counter() - start
    generator.complete, generator.generate = complete, generate
    start = time.perf_counter()
    profiles = [profile_from_row(row) for row in customers.to_dict("records")]  # what run_campaign does first
    profiling = time.perf_counter() - start

    # The same prompts, in the same mixed batches, through complete() alone.
    segments = system.segmenter.segment(customers)["l2"].astype(object).where(lambda s: s.notna(), COLD_START)
    chosen = [system.strategies.for_segment(name) for name in segments]
    start = time.perf_counter()
    for i in range(0, len(profiles), batch_size):
        rows = range(i, min(i + batch_size, len(profiles)))
        prompts = [build_prompt(profiles[j], chosen[j], lang=config.lang) for j in rows]
        prompts += [build_baseline_prompt(profiles[j], lang=config.lang) for j in rows]
        complete(prompts, [chosen[j].adapter for j in rows] + [BASELINE] * len(rows), config)
    mixed = time.perf_counter() - start
    seconds = watch.seconds
    prompting = seconds["generate"] - seconds["complete"] + profiling
    return {"customers": summary.n_customers, "total": total, "segmenting": seconds["segmenting"],
            "prompting": prompting, "generating": seconds["complete"],
            "writing and rest": total - seconds["segmenting"] - seconds["generate"] - profiling,
            "mixed": mixed}


def gate_cost(artifacts: Path, data: Path, tmp: Path, n: int, batch_size: int, max_new_tokens: int,
              rounds: int = 2) -> dict[str, Any]:
    """Campaign rate with the gate and with a pass-through gate (merge tags filled, nothing checked)."""
    import genemail.pipeline.campaign as campaign_module
    from genemail.data import load_customers
    from genemail.generation.gate import QualityGate, Verdict
    from genemail.generation.generator import GenerationConfig
    from genemail.generation.slots import render
    from genemail.loading import load_system

    class PassThrough(QualityGate):
        def check(self, text, profile, strategy, variant, **_):  # noqa: ANN001, ANN003, ANN201 - the gate's signature
            return Verdict(), render(text, profile, self.lang, self.book.wording(self.lang)).text

    system = load_system(artifacts=artifacts, release=None, revision="main")
    customers = load_customers(data).frame.head(n)
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=True, temperature=0.7, seed=0)
    seconds: dict[str, list[float]] = {"gate": [], "none": []}
    qa: dict[str, Any] = {}
    real = campaign_module.QualityGate
    try:
        for _ in range(rounds):
            for name, gate in (("gate", real), ("none", PassThrough)):
                campaign_module.QualityGate = gate
                system.generator._gates.clear()
                start = time.perf_counter()
                summary = campaign_module.run_campaign(customers, system.segmenter, system.strategies, system.generator,
                                                       tmp / f"gate-{name}.jsonl", config, batch_size=batch_size,
                                                       progress=False)
                seconds[name].append(time.perf_counter() - start)
                qa = summary.qa if name == "gate" else qa
    finally:
        campaign_module.QualityGate = real
    return {"gate_n": len(customers), "gate_seconds": seconds, "gate_qa": qa}


def format_report(f: dict[str, Any]) -> str:
    """Markdown tables: the rates with the goal, then the split."""
    n = f["customers"]
    rate, mixed_rate = n / f["total"], n / f["mixed"]
    lines = [
        f"release: {f['release']}; {n:,} customers, batch {f['batch_size']} customers "
        f"({2 * f['batch_size']} rows: segmented + baseline), {f['max_new_tokens']} new tokens max, greedy",
        "",
        "| measure | measured | goal |",
        "|---|---:|---:|",
        f"| `genemail campaign` process, end to end: customers/s (wall s; load avg {f['load_cli']:.1f}) | "
        f"{n / f['cli']:.2f} ({f['cli']:.1f}) | |",
        f"| run_campaign in process: customers/s (wall s; load avg {f['load']:.1f}) | {rate:.2f} ({f['total']:.1f}) | |",
        f"| mixed-batch rate, same generator and prompts: customers/s (wall s) | {mixed_rate:.2f} ({f['mixed']:.1f}) | |",
        f"| run_campaign / mixed-batch rate | **{rate / mixed_rate:.2f}x** | >= {GOAL_RATIO:g}x |",
        f"| `genemail campaign` process / mixed-batch rate | {n / f['cli'] / mixed_rate:.2f}x | |",
        "",
        "| part of run_campaign | seconds | share |",
        "|---|---:|---:|",
    ]
    for part in ("segmenting", "prompting", "generating", "writing and rest"):
        lines.append(f"| {part} | {f[part]:.2f} | {f[part] / f['total']:.1%} |")
    if "gate_seconds" in f:
        gate, none = sorted(f["gate_seconds"]["gate"]), sorted(f["gate_seconds"]["none"])
        ratios = [b / a for a, b in zip(f["gate_seconds"]["gate"], f["gate_seconds"]["none"])]
        qa = f["gate_qa"].get("segmented", {})
        m = f["gate_n"]
        lines += ["", f"The quality gate, {m:,} customers, seeded sampling T=0.7 (alternating runs, "
                  f"{len(gate)} each): first-attempt pass {qa.get('first_attempt', 0)}/{qa.get('emails', 0)}, "
                  f"template fallbacks {qa.get('fallback', 0)} (segmented emails)", "",
                  "| measure | measured | goal |", "|---|---:|---:|",
                  f"| with the gate: customers/s (median wall s) | {m / gate[len(gate) // 2]:.2f} ({gate[len(gate) // 2]:.1f}) | |",
                  f"| pass-through gate: customers/s (median wall s) | {m / none[len(none) // 2]:.2f} ({none[len(none) // 2]:.1f}) | |",
                  f"| with / without the gate, per round | **{', '.join(f'{r:.2f}x' for r in ratios)}** | >= {GATE_GOAL:g}x |"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_campaign", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifacts", type=Path, default=ROOT / "artifacts", help="artifacts folder (default ./artifacts)")
    p.add_argument("--n", type=int, default=10_000, help="synthetic customers (default 10,000)")
    p.add_argument("--batch-size", type=int, default=16, help="customers per mixed batch (the CLI's default)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gate-n", type=int, default=2_000, help="customers of the gate-cost runs (0: skip them)")
    a = p.parse_args(argv)
    if a.n < 1 or a.batch_size < 1 or a.max_new_tokens < 1:
        p.error("--n, --batch-size and --max-new-tokens must be positive")
    from genemail.data import write_synthetic

    tmp = Path(tempfile.mkdtemp(prefix="genemail-bench-campaign-"))
    artifacts, release = _artifacts(a.artifacts, tmp)
    data = write_synthetic(a.n, a.seed, tmp / "customers.csv")
    figures: dict[str, Any] = {"release": release, "batch_size": a.batch_size, "max_new_tokens": a.max_new_tokens}
    before = os.getloadavg()[0]
    figures["cli"] = end_to_end(artifacts, data, tmp / "cli.jsonl", a.batch_size, a.max_new_tokens)
    figures["load_cli"] = (before + os.getloadavg()[0]) / 2
    before = os.getloadavg()[0]
    figures |= in_process(artifacts, data, tmp / "emails.jsonl", a.batch_size, a.max_new_tokens)
    figures["load"] = (before + os.getloadavg()[0]) / 2
    if a.gate_n > 0:
        figures |= gate_cost(artifacts, data, tmp, a.gate_n, a.batch_size, a.max_new_tokens)
    print(format_report(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
