"""`make train`: build every artifact into one folder, stage by stage, data flowing one way.

    customers.csv -> segmenter/ -> corpus/ -> base/ -> adapters/ (+ comparators/) -> eval/

Each stage is its own script (``python -m training.<stage> --help``); this file only orders them.
A stage that finished is recorded in ``<out>/.done/<stage>`` and skipped next time unless
``--force`` is given, so a second ``make demo`` does not retrain what is already there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer
from genemail.errors import ArtifactError, ConfigError
from genemail.taxonomy import LANGS

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.pipeline"


@dataclass(frozen=True)
class PipelineConfig:
    """What to build and where. ``base_model`` None means: train the embedded tiny model."""

    out: Path
    n_customers: int = 2000
    seed: int = 0
    lang: str = "zh"
    base_model: str | None = None
    data: Path | None = None
    force: bool = False
    # Customers per segment in each corpus split; synthesized (and segmented) where the table is short,
    # so every segment's adapter has enough examples and the evaluation >= 1,000 held-out customers.
    min_train: int = 200
    min_validation: int = 60
    min_test: int = 200
    eval_seeds: tuple[int, ...] = (0, 1, 2)  # sampled decoding is repeated over these seeds

    def __post_init__(self) -> None:
        if self.n_customers < 200:
            raise ConfigError(f"n_customers={self.n_customers} is too small", fix="use --n-customers 200 or more")
        if self.lang not in LANGS:
            raise ConfigError(f"lang={self.lang!r} is not supported", fix=f"use --lang with one of {', '.join(LANGS)}")
        if self.data is not None and not self.data.is_file():
            raise ConfigError(f"data={str(self.data)!r} does not exist", fix="pass an existing CSV/Parquet file")
        for name in ("min_train", "min_validation", "min_test"):
            if not 0 <= getattr(self, name) <= 100_000:
                raise ConfigError(f"{name}={getattr(self, name)} is invalid", fix=f"pass {name} from 0 to 100000")
        if not self.eval_seeds or len(set(self.eval_seeds)) != len(self.eval_seeds):
            raise ConfigError(f"eval_seeds={self.eval_seeds} is invalid", fix="pass distinct seeds, e.g. (0, 1, 2)")


def _python(module: str, *args: object) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def stages(cfg: PipelineConfig) -> list[tuple[str, list[str]]]:
    """The ordered (name, command) list for this configuration."""
    out = cfg.out
    customers = cfg.data or out / "customers.csv"
    base = cfg.base_model or out / "base"
    plan: list[tuple[str, list[str]]] = []
    if cfg.data is None:
        plan.append(("customers", _python("genemail", "data", "synth", "--n", cfg.n_customers,
                                          "--seed", cfg.seed, "--out", customers)))
    plan.append(("segmenter", _python("training.train_segmenter", "--data", customers,
                                      "--out", out / "segmenter", "--seed", cfg.seed)))
    plan.append(("corpus", _python("training.build_corpus", "--customers", customers,
                                   "--segmenter", out / "segmenter", "--out", out / "corpus",
                                   "--lang", cfg.lang, "--seed", cfg.seed,
                                   # several reference emails per customer (the split stays by customer)
                                   "--emails-per-customer", 2, "--min-train", cfg.min_train,
                                   "--min-validation", cfg.min_validation, "--min-test", cfg.min_test)))
    if cfg.base_model is None:
        plan.append(("base", _python("training.train_base", "--corpus", out / "corpus",
                                     "--out", out / "base", "--seed", cfg.seed)))
    # comparators/ holds the segment_prompt adapter: evaluated, never published with a release.
    plan.append(("adapters", _python("training.train_adapters", "--base-model", base,
                                     "--corpus", out / "corpus", "--out", out / "adapters",
                                     "--comparators-out", out / "comparators", "--seed", cfg.seed,
                                     "--no-progress")))
    # Seeded sampling, as marketing emails are sent (greedy decoding gives every customer of a segment
    # the same phrasing), repeated over several seeds: rates are reported as mean +- sd.
    plan.append(("evaluate", _python("training.evaluate", "--artifacts", out, "--temperature", 0.7,
                                     "--seeds", ",".join(map(str, cfg.eval_seeds)), "--seed", cfg.seed)))
    # FR-13: encoder + projector on top of the frozen base + adapters; adds user_embedding_ablation to eval.json.
    plan.append(("user_vector", _python("training.train_user_vector", "--artifacts", out, "--customers", customers,
                                        "--seed", cfg.seed)))
    return plan


def _child_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by finished child processes."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cfg: PipelineConfig) -> dict[str, float]:
    """Run every stage not yet done; return wall seconds per stage run.

    Each stage's marker also records its CPU seconds: on a machine shared with other jobs the wall
    time is inflated, the CPU time much less so.
    """
    cfg.out.mkdir(parents=True, exist_ok=True)
    done_dir = cfg.out / ".done"
    done_dir.mkdir(exist_ok=True)
    _write_static_inputs(cfg)
    timings: dict[str, float] = {}
    for name, cmd in stages(cfg):
        marker = done_dir / name
        if marker.exists() and not cfg.force:
            print(f"[train] {name}: already built ({marker}); --force to rebuild", flush=True)
            continue
        print(f"[train] {name}: {' '.join(cmd[2:])}", flush=True)
        t0, cpu0 = time.perf_counter(), _child_cpu_seconds()
        result = subprocess.run(cmd)
        if result.returncode != 0:
            raise ArtifactError(f"stage {name!r} failed (exit {result.returncode})", where=str(cfg.out),
                                fix="fix the error printed above and run the same command again")
        timings[name] = round(time.perf_counter() - t0, 1)
        cpu = round(_child_cpu_seconds() - cpu0, 1)
        print(f"[train] {name}: {timings[name]} s wall, {cpu} s CPU", flush=True)
        marker.write_text(json.dumps({"seconds": timings[name], "cpu_seconds": cpu, "command": cmd[2:]}))
    return timings


def _write_static_inputs(cfg: PipelineConfig) -> None:
    """Copy the strategies used and record a named base model, so the folder is self-describing."""
    from genemail.generation.strategies import default_strategies_path

    shutil.copyfile(default_strategies_path(), cfg.out / "strategies.yaml")
    if cfg.base_model is not None:
        (cfg.out / "base_model.json").write_text(json.dumps({"id": cfg.base_model, "revision": None}))


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Artifacts folder (created).")] = Path("artifacts"),
    data: Annotated[Path | None, typer.Option(help="Customer file; default: synthetic customers.",
                                              exists=True, dir_okay=False, readable=True)] = None,
    n_customers: Annotated[int, typer.Option(help="Synthetic customers to generate.")] = PipelineConfig.n_customers,
    seed: Annotated[int, typer.Option(help="Seed of every stage.")] = 0,
    lang: Annotated[str, typer.Option(help="Email language: zh or en.")] = "zh",
    base_model: Annotated[str | None, typer.Option(
        help="A real causal LM (Hub id or local path) instead of training the embedded tiny model.")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild stages that are already done.")] = False,
) -> None:
    """Build every artifact into OUT, stage by stage; finished stages are skipped."""
    cfg = PipelineConfig(out=out, n_customers=n_customers, seed=seed, lang=lang, base_model=base_model, data=data,
                         force=force)
    timings = run(cfg)
    if timings:
        typer.echo("[train] stage seconds: " + ", ".join(f"{k}={v}" for k, v in timings.items()))


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
