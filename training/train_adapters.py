"""Train one LoRA adapter per L2 segment, the ``baseline`` adapter (FR-14) and the comparator.

    python -m training.train_adapters --base-model artifacts/base --corpus artifacts/corpus \\
        --out artifacts/adapters [--comparators-out artifacts/comparators] [--segments A --segments B ...] \\
        [--r 8 --alpha 16 --dropout P --target-modules q_proj,v_proj] [--epochs E [--min-steps N] | --max-steps N] [--seed N]

With ``--comparators-out`` the ``segment_prompt`` adapter (one shared adapter, segment tag in the
prompt) is trained too and saved there, apart from the adapters a release publishes.

A thin command line over :mod:`genemail.training.adapter_training` (what each adapter learns is there).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer
from genemail.training.adapter_training import AdapterTrainConfig

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.train_adapters"
D = AdapterTrainConfig  # the defaults live on the config


@app.command()
def train(
    base_model: Annotated[str, typer.Option(help="Base model folder or Hub id (AutoModelForCausalLM).")],
    corpus: Annotated[Path, typer.Option(help="Corpus folder (train/validation JSONL).", file_okay=False)],
    out: Annotated[Path, typer.Option(help="Adapters folder: one sub-folder per adapter.")],
    segments: Annotated[list[str] | None, typer.Option(help="Train only these (repeat the flag).")] = None,
    r: Annotated[int, typer.Option("--r", help="LoRA rank.")] = D.r,
    alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = D.alpha,
    dropout: Annotated[float | None, typer.Option(
        help="LoRA dropout (default: 0.1 for real models; 0 for the small embedded one).")] = None,
    target_modules: Annotated[str | None, typer.Option(
        help="Comma-separated module names (default: q_proj,v_proj for real models; every linear projection "
             "for base models under 50M parameters, see docs/MODELS.md).")] = None,
    epochs: Annotated[float, typer.Option(help="Epochs per adapter.")] = D.epochs,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps per adapter (overrides --epochs).")] = None,
    min_steps: Annotated[int, typer.Option(help="At least this many optimizer steps per adapter (small segments "
                                           "get more epochs); 0: --epochs alone.", min=0)] = AdapterTrainConfig.min_steps,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = D.batch_size,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = D.learning_rate,
    max_length: Annotated[int, typer.Option(help="Tokens per example.")] = D.max_length,
    seed: Annotated[int, typer.Option(help="Seed of the LoRA init and data order.")] = 0,
    strategies: Annotated[Path | None, typer.Option(help="Strategies YAML (the cards' display names).",
                                                    dir_okay=False)] = None,
    base_model_id: Annotated[str | None, typer.Option(help="Hub id to name as base_model in the cards.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    comparators_out: Annotated[Path | None, typer.Option(
        help="Folder for the segment_prompt comparator adapter (not published); omit to skip it.")] = None,
    min_train_records: Annotated[int, typer.Option(
        help="Segments with fewer training records are reported as too small, not trained.")] = D.min_train_records,
    min_gain: Annotated[float, typer.Option(
        help="Relative validation-loss gain over the base alone that counts as clearly better.")] = D.min_gain,
    workers: Annotated[int | None, typer.Option(
        help="Processes training adapters side by side (default: one per core for a small base model, "
             "else 1).", min=1)] = None,
) -> None:
    """Train every adapter and print a loss table (own segment vs the base alone vs the comparators)."""
    from genemail.training.adapter_training import SUMMARY_FILE, parse_target_modules, train_adapters

    targets = parse_target_modules(target_modules)
    config = AdapterTrainConfig(
        base_model=base_model, corpus=corpus, out=out, segments=tuple(segments) if segments else None, r=r,
        alpha=alpha, dropout=dropout, target_modules=targets, epochs=epochs, max_steps=max_steps, min_steps=min_steps,
        batch_size=batch_size, learning_rate=learning_rate, max_length=max_length, seed=seed,
        strategies=strategies, base_model_id=base_model_id, progress=progress, comparators_out=comparators_out,
        min_train_records=min_train_records, min_gain=min_gain, workers=workers)
    results = train_adapters(config)
    typer.echo(f"{'adapter':<20}{'val loss':>10}{'base':>10}{'baseline':>10}{'seg-prompt':>11}{'gain':>8}"
               f"{'steps':>7}{'sec':>7}")
    for name, m in results.items():
        gain = m.get("gain_over_base")
        typer.echo(f"{name:<20}{_fmt(m['validation_loss'])}{_fmt(m['base_validation_loss'])}"
                   f"{_fmt(m.get('baseline_validation_loss'))}{_fmt(m.get('segment_prompt_validation_loss'), 11)}"
                   f"{f'{gain:.0%}' if gain is not None else '-':>8}{m['steps']:>7}{m['seconds']:>7}")
    summary = json.loads((out / SUMMARY_FILE).read_text(encoding="utf-8"))
    if summary["too_small"]:
        typer.echo(f"too small to train (records < {min_train_records}): {summary['too_small']}")
    typer.echo(f"every segment adapter clearly below the base alone: {summary['all_segments_beat_base']}")


def _fmt(value: float | None, width: int = 10) -> str:
    return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
