"""Benchmark: `genemail segment predict` on N synthetic customers, beside the bare pandas rules, in one run.

    python -m bench.bench_segment [--n 1000000] [--seed 0] [--model DIR] [--threads N] [--repeats 3]

Three parts, all on the same CSV (generating it and training the model are not timed):

1. **End to end, as a user runs it**: ``genemail segment predict --model DIR --data N.csv --out
   out.parquet`` (and ``out.csv``), reasons included, timed as a whole process (wall clock, CPU, peak
   memory of the process and its read-ahead process together), interpreter start, imports and model
   loading included, in ``--repeats`` interleaved rounds (median and range; the ratio is taken within
   each round). Beside it the
   **bare rules**, also a whole process: ``pandas.read_csv`` with no cleaning, the raw columns the rules
   need, ``build_features``, ``business_labels`` with the model's tiers, ``to_parquet``. The goal is
   about the ratio of the two.
2. **Stages in process** (what the command does, chunk by chunk, timed separately): load (read, clean,
   normalize), features, predict (segments and probabilities), predict with reasons, write (Parquet,
   CSV). The rules' own stages beside them.
3. The **fixed cost**: the same command on 1,000 customers (start-up, imports, model loading).

Other processes share the machine: the load average is printed with every figure. Ratios from one run
are what the goals are about. Without ``--model`` a segmenter is trained on 3,000 synthetic customers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

MB = 2**20
ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 10.0  # end-to-end command on 1,000,000 customers
GOAL_RATIO = 3.0  # command / bare rules, same file, same run
GOAL_MEMORY_MB = 1024.0

# The bare rules as a user would write them: read, take the columns, features, rules, write. No cleaning.
RULES_SCRIPT = """
import sys, pandas as pd
from genemail.features import build_features
from genemail.segmentation import load_segmenter
from genemail.segmentation.rules import business_labels
model = load_segmenter(sys.argv[1])
raw = pd.read_csv(sys.argv[2])
spend = {"wines": "MntWines", "fruits": "MntFruits", "meat": "MntMeatProducts", "fish": "MntFishProducts",
         "sweets": "MntSweetProducts", "gold": "MntGoldProds"}
frame = pd.DataFrame({"customer_id": raw["ID"].astype(str), "income": raw["Income"], "recency": raw["Recency"],
                      **{f"spend_{k}": raw[v] for k, v in spend.items()},
                      "total_purchases": raw["NumWebPurchases"] + raw["NumCatalogPurchases"] + raw["NumStorePurchases"],
                      "children": raw["Kidhome"] + raw["Teenhome"]})
labels = business_labels(build_features(frame), model.tiers_, model.rule_config)
labels.assign(customer_id=frame["customer_id"].to_numpy()).to_parquet(sys.argv[3], index=False)
"""


def load() -> float:
    return os.getloadavg()[0]


def _process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux ``/proc``)."""
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                for child in handle.read().split():
                    found += _process_tree(int(child))
    except OSError:  # gone meanwhile
        pass
    return found


def _pss_kib(pid: int) -> int:
    """Proportional set size of ``pid`` in KiB: its private pages plus its share of pages it shares."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _watch_memory(pid: int, done: threading.Event, peak: list[float]) -> None:
    """Until ``done``: the largest sum of PSS over ``pid``'s process tree seen, in MiB, into ``peak[0]``."""
    while not done.wait(0.1):
        peak[0] = max(peak[0], sum(_pss_kib(p) for p in _process_tree(pid)) / 1024)


def run_process(args: list[str]) -> dict[str, float]:
    """Run ``args`` (cwd = repository root); wall seconds, CPU seconds, peak memory MiB, load average.

    CPU counts the process and the processes it waited for (its read-ahead process). Peak memory is
    the largest sum of PSS over the whole process tree, sampled every 0.1 s (where ``/proc`` allows;
    elsewhere the largest single process's resident set, from ``wait4``).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = load()
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done, peak = threading.Event(), [0.0]
    watcher = threading.Thread(target=_watch_memory, args=(proc.pid, done, peak), daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"[bench_segment] {' '.join(args[:6])} ... failed:\n{err[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": peak[0] or usage.ru_maxrss / 1024,
            "load": (before + load()) / 2}


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()`` with its wall and CPU seconds (CPU of the whole process: every thread)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _model_dir(model: Path | None, seed: int, tmp: Path) -> Path:
    if model is not None:
        return model
    from genemail.data import synthesize
    from genemail.data.loader import clean_frame
    from genemail.segmentation import HierarchicalSegmenter, save_segmenter

    frame = clean_frame(synthesize(3000, seed), source="bench customers").frame
    save_segmenter(HierarchicalSegmenter(random_state=seed).fit(frame), tmp / "model")
    return tmp / "model"


def stages(model_dir: Path, data: Path, tmp: Path, threads: int) -> dict[str, tuple[float, float]]:
    """In-process seconds (wall, CPU) of each stage of the command and of the rules, summed over chunks."""
    import pandas as pd

    from threadpoolctl import threadpool_limits

    from genemail.cli.segment_cmd import CHUNK_ROWS, _Writer
    from genemail.data.loader import iter_customer_chunks
    from genemail.features import build_features
    from genemail.segmentation import load_segmenter
    from genemail.segmentation.rules import business_labels

    model = load_segmenter(model_dir)
    model.set_params(n_threads=threads)
    trees = model._trees()
    forest = model._forest()
    model.warm_up()
    totals: dict[str, list[float]] = {}

    def add(name: str, wall: float, cpu: float) -> None:
        totals.setdefault(name, [0.0, 0.0])
        totals[name][0] += wall
        totals[name][1] += cpu

    chunks = iter_customer_chunks(data, chunksize=CHUNK_ROWS)
    parquet, csv = _Writer(tmp / "stages.parquet"), _Writer(tmp / "stages.csv")
    while True:
        result, wall, cpu = timed(lambda: next(chunks, None))
        add("load (CSV -> internal schema)", wall, cpu)
        if result is None:
            break
        frame = result.frame
        add("rows", len(frame), 0.0)
        features, *t = timed(lambda: build_features(frame, model.feature_config))
        add("features", *t)
        add("predict (segments, probabilities)", *timed(lambda: model.segment(frame, probabilities=True))[1:])
        scored, *t = timed(lambda: model.segment_and_explain(frame, probabilities=True))
        add("predict with reasons", *t)
        add("write Parquet", *timed(lambda: parquet.write(scored))[1:])
        add("write CSV", *timed(lambda: csv.write(scored))[1:])
        add("rules: business_labels", *timed(lambda: business_labels(features, model.tiers_, model.rule_config))[1:])
        # The trees alone, one thread each, side by side: scikit-learn's own scoring and the compiled forest.
        F = model._matrix(features)
        with threadpool_limits(limits=1):
            add("trees: scikit-learn predict_proba (1 thread)", *timed(lambda: [m.predict_proba(F) for m in trees])[1:])
        add("trees: compiled forest (1 thread)", *timed(lambda: forest.predict_proba(F))[1:])
    parquet.close()
    csv.close()
    # The rules' own read: plain pandas on the whole file.
    add("rules: pandas.read_csv", *timed(lambda: pd.read_csv(data))[1:])
    return {name: (wall, cpu) for name, (wall, cpu) in totals.items()}


def _summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median wall and CPU over the runs, the fastest and slowest wall, the largest peak, the mean load."""
    walls = sorted(r["wall"] for r in runs)
    return {"wall": statistics.median(walls), "wall_min": walls[0], "wall_max": walls[-1],
            "cpu": statistics.median(r["cpu"] for r in runs), "peak_mb": max(r["peak_mb"] for r in runs),
            "load": statistics.fmean(r["load"] for r in runs)}


def _spread(run: dict[str, float]) -> str:
    return f"{run['wall']:.1f} [{run['wall_min']:.1f}-{run['wall_max']:.1f}] ({run['cpu']:.1f})"


def run_bench(n: int, seed: int, model: Path | None, threads: int, repeats: int = 3) -> dict[str, Any]:
    """Generate the file, run the three parts; return every figure."""
    from genemail.data import write_synthetic

    tmp = Path(tempfile.mkdtemp(prefix="genemail-bench-segment-"))
    model_dir = _model_dir(model, seed, tmp)
    data = write_synthetic(n, seed + 1, tmp / "customers.csv")
    small = write_synthetic(1000, seed + 2, tmp / "small.csv")
    command = [sys.executable, "-m", "genemail", "segment", "predict", "--model", str(model_dir), "--quiet",
               "--threads", str(threads)]
    figures: dict[str, Any] = {"n": n, "threads": threads, "cores": os.cpu_count(), "repeats": repeats}
    runs: dict[str, list[dict[str, float]]] = {"cli_parquet": [], "cli_csv": [], "rules": []}
    for _ in range(repeats):  # interleaved rounds: each round's ratio compares runs made side by side
        runs["cli_parquet"].append(run_process([*command, "--data", str(data), "--out", str(tmp / "out.parquet")]))
        runs["cli_csv"].append(run_process([*command, "--data", str(data), "--out", str(tmp / "out.csv")]))
        runs["rules"].append(run_process([sys.executable, "-c", RULES_SCRIPT, str(model_dir), str(data),
                                          str(tmp / "rules.parquet")]))
    figures |= {name: _summary(done) for name, done in runs.items()}
    figures["ratios"] = {name: sorted(a["wall"] / b["wall"] for a, b in zip(runs[name], runs["rules"]))
                         for name in ("cli_parquet", "cli_csv")}
    figures["cli_small"] = run_process([*command, "--data", str(small), "--out", str(tmp / "small.parquet")])
    figures["rules_small"] = run_process([sys.executable, "-c", RULES_SCRIPT, str(model_dir), str(small),
                                          str(tmp / "rules_small.parquet")])
    load_before = load()
    figures["stages"] = stages(model_dir, data, tmp, threads)
    from genemail.cli.segment_cmd import CHUNK_ROWS

    figures["chunk_rows"] = CHUNK_ROWS
    figures["stages_load"] = (load_before + load()) / 2
    return figures


def _row(label: str, value: str, goal: str = "") -> str:
    return f"| {label} | {value} | {goal} |"


def format_report(f: dict[str, Any]) -> str:
    """Markdown tables: end to end with the goals, then the stages."""
    cli, csv, rules = f["cli_parquet"], f["cli_csv"], f["rules"]
    rows = f["stages"]["rows"][0]
    ratio, ratio_csv = (statistics.median(f["ratios"][k]) for k in ("cli_parquet", "cli_csv"))
    fixed = f["cli_small"]["wall"]
    lines = [
        f"{f['n']:,} synthetic customers ({rows:,.0f} after the cleaner drops duplicates), "
        f"{f['cores']} cores, --threads {f['threads']}; end to end: median [fastest-slowest] of "
        f"{f['repeats']} interleaved rounds",
        "",
        "| measure | measured | goal |",
        "|---|---:|---:|",
        _row(f"`segment predict` -> .parquet, with reasons: wall s (CPU s; load avg {cli['load']:.1f})",
             _spread(cli), f"< {GOAL_SECONDS:g} s" if f["n"] >= 1_000_000 else ""),
        _row(f"`segment predict` -> .csv, with reasons: wall s (CPU s; load avg {csv['load']:.1f})", _spread(csv), ""),
        _row(f"bare rules process (read_csv, features, rules, to_parquet): wall s (CPU s; load avg {rules['load']:.1f})",
             _spread(rules), ""),
        _row("command / bare rules, wall, median of the rounds' ratios (.parquet / .csv)",
             f"**{ratio:.1f}x** / {ratio_csv:.1f}x (rounds: "
             f"{', '.join(f'{r:.2f}' for r in f['ratios']['cli_parquet'])})", f"<= {GOAL_RATIO:g}x"),
        _row("command / bare rules, CPU", f"{cli['cpu'] / rules['cpu']:.1f}x", ""),
        _row("peak memory of the command (both its processes), MiB (.parquet / .csv)", f"{cli['peak_mb']:.0f} / {csv['peak_mb']:.0f}",
             f"< {GOAL_MEMORY_MB:g}"),
        _row("peak memory of the bare rules, MiB", f"{rules['peak_mb']:.0f}", ""),
        _row("fixed cost: the command on 1,000 customers, wall s (CPU s)",
             f"{fixed:.1f} ({f['cli_small']['cpu']:.1f})", ""),
        _row("fixed cost: the bare rules on 1,000 customers, wall s (CPU s)",
             f"{f['rules_small']['wall']:.1f} ({f['rules_small']['cpu']:.1f})", ""),
        "",
        f"Stages in process, one after the other, summed over {f['chunk_rows']:,}-row chunks "
        f"(load avg {f['stages_load']:.1f}):",
        "",
        "| stage | wall s | CPU s | customers/s (wall) |",
        "|---|---:|---:|---:|",
    ]
    for name, (wall, cpu) in f["stages"].items():
        if name != "rows":
            lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {rows / wall:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print the tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_segment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic customers (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None, help="trained segmenter dir (default: train a small one)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads scoring each chunk (default: one per core)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the end-to-end runs (default 3)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.threads < 1 or args.repeats < 1:
        parser.error("--n, --threads and --repeats must be positive")
    print(format_report(run_bench(args.n, args.seed, args.model, args.threads, args.repeats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
