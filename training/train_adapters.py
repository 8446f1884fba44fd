"""Train one LoRA adapter per L2 segment, plus the ``baseline`` adapter (FR-14).

    python -m training.train_adapters --base-model artifacts/base --corpus artifacts/corpus \\
        --out artifacts/adapters [--segments A --segments B ...] [--r 8 --alpha 16 --dropout 0.1 \\
        --target-modules q_proj,v_proj] [--epochs E | --max-steps N] [--seed N]

A thin command line over :mod:`genemail.generation.adapter_training` (what each adapter learns is there).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.cli.runner import run_typer
from genemail.generation.adapter_training import AdapterTrainConfig

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
    dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = D.dropout,
    target_modules: Annotated[str | None, typer.Option(
        help="Comma-separated module names (default: q_proj,v_proj for real models; every linear projection "
             "for base models under 50M parameters, see docs/MODELS.md).")] = None,
    epochs: Annotated[float, typer.Option(help="Epochs per adapter.")] = D.epochs,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps per adapter (overrides --epochs).")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = D.batch_size,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = D.learning_rate,
    max_length: Annotated[int, typer.Option(help="Tokens per example.")] = D.max_length,
    seed: Annotated[int, typer.Option(help="Seed of the LoRA init and data order.")] = 0,
    strategies: Annotated[Path | None, typer.Option(help="Strategies YAML (the cards' display names).",
                                                    dir_okay=False)] = None,
    base_model_id: Annotated[str | None, typer.Option(help="Hub id to name as base_model in the cards.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train every adapter and print a loss table (own segment vs the baseline adapter vs the base alone)."""
    from genemail.generation.adapter_training import parse_target_modules, train_adapters

    targets = parse_target_modules(target_modules)
    config = AdapterTrainConfig(
        base_model=base_model, corpus=corpus, out=out, segments=tuple(segments) if segments else None, r=r,
        alpha=alpha, dropout=dropout, target_modules=targets, epochs=epochs, max_steps=max_steps,
        batch_size=batch_size, learning_rate=learning_rate, max_length=max_length, seed=seed,
        strategies=strategies, base_model_id=base_model_id, progress=progress)
    results = train_adapters(config)
    typer.echo(f"{'adapter':<20}{'val loss':>10}{'baseline':>10}{'base':>10}{'steps':>7}{'sec':>7}")
    for name, m in results.items():
        typer.echo(f"{name:<20}{_fmt(m['validation_loss'])}{_fmt(m.get('baseline_validation_loss'))}"
                   f"{_fmt(m['base_validation_loss'])}{m['steps']:>7}{m['seconds']:>7}")


def _fmt(value: float | None) -> str:
    return f"{value:>10.3f}" if value is not None else f"{'-':>10}"


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
