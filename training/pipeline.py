"""`make train`: build every artifact into one folder, stage by stage, data flowing one way.

    customers.csv -> segmenter/ -> corpus/ -> base/ -> adapters/ -> eval/

Each stage is its own script (``python -m training.<stage> --help``); this file only orders them.
A stage that finished is recorded in ``<out>/.done/<stage>`` and skipped next time unless
``--force`` is given, so a second ``make demo`` does not retrain what is already there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from genemail.errors import ConfigError


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

    def __post_init__(self) -> None:
        if self.n_customers < 200:
            raise ConfigError(f"n_customers={self.n_customers} is too small", fix="use --n-customers 200 or more")
        if self.lang not in ("zh", "en"):
            raise ConfigError(f"lang={self.lang!r} is not supported", fix="use --lang zh or --lang en")
        if self.data is not None and not self.data.is_file():
            raise ConfigError(f"data={str(self.data)!r} does not exist", fix="pass an existing CSV/Parquet file")


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
                                   # several reference emails per customer: small segments still get
                                   # enough adapter training records (the split stays by customer)
                                   "--emails-per-customer", 2)))
    if cfg.base_model is None:
        plan.append(("base", _python("training.train_base", "--corpus", out / "corpus",
                                     "--out", out / "base", "--seed", cfg.seed)))
    plan.append(("adapters", _python("training.train_adapters", "--base-model", base,
                                     "--corpus", out / "corpus", "--out", out / "adapters",
                                     "--seed", cfg.seed)))
    # Seeded sampling, as marketing emails are sent: greedy decoding gives every customer of a segment
    # the same phrasing (measured: both decodings are reported in README.md).
    plan.append(("evaluate", _python("training.evaluate", "--artifacts", out, "--temperature", 0.7,
                                     "--seed", cfg.seed)))
    return plan


def run(cfg: PipelineConfig) -> dict[str, float]:
    """Run every stage not yet done; return seconds per stage run."""
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
        t0 = time.perf_counter()
        result = subprocess.run(cmd)
        if result.returncode != 0:
            raise SystemExit(f"[train] stage {name!r} failed (exit {result.returncode}); fix the error above and re-run")
        timings[name] = round(time.perf_counter() - t0, 1)
        marker.write_text(json.dumps({"seconds": timings[name], "command": cmd[2:]}))
    return timings


def _write_static_inputs(cfg: PipelineConfig) -> None:
    """Copy the strategies used and record a named base model, so the folder is self-describing."""
    from genemail.generation.strategies import default_strategies_path

    shutil.copyfile(default_strategies_path(), cfg.out / "strategies.yaml")
    if cfg.base_model is not None:
        (cfg.out / "base_model.json").write_text(json.dumps({"id": cfg.base_model, "revision": None}))


def parse_args(argv: list[str] | None = None) -> PipelineConfig:
    p = argparse.ArgumentParser(prog="python -m training.pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("artifacts"), help="artifacts folder (default ./artifacts)")
    p.add_argument("--data", type=Path, default=None, help="customer file; default: synthetic customers")
    p.add_argument("--n-customers", type=int, default=2000, help="synthetic customers to generate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lang", default="zh", choices=["zh", "en"])
    p.add_argument("--base-model", default=None,
                   help="a real causal LM (hub id or local path) instead of training the embedded tiny model")
    p.add_argument("--force", action="store_true", help="rebuild stages that are already done")
    a = p.parse_args(argv)
    return PipelineConfig(out=a.out, n_customers=a.n_customers, seed=a.seed, lang=a.lang,
                          base_model=a.base_model, data=a.data, force=a.force)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    timings = run(cfg)
    if timings:
        print("[train] stage seconds: " + ", ".join(f"{k}={v}" for k, v in timings.items()), flush=True)


if __name__ == "__main__":
    main()
