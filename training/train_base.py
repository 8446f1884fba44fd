"""Train the embedded base model: a byte-level BPE tokenizer and a tiny Qwen3 causal LM, from scratch.

    python -m training.train_base --corpus artifacts/corpus --out artifacts/base [--preset tiny|micro]
        [--max-steps N] [--epochs E] [--seed N]

A thin command line over :mod:`genemail.training.base_training` (what it learns and why is there).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer
from genemail.training.base_training import BaseTrainConfig

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.train_base"


@app.command()
def train(
    corpus: Annotated[Path, typer.Option(help="Corpus folder (train/validation JSONL).", file_okay=False)],
    out: Annotated[Path, typer.Option(help="Output folder for model + tokenizer + card.")],
    preset: Annotated[str, typer.Option(help="tiny (default, ~1M params) or micro (tests).")] = BaseTrainConfig.preset,
    epochs: Annotated[float, typer.Option(help="Training epochs.")] = BaseTrainConfig.epochs,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps (overrides --epochs).")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = BaseTrainConfig.batch_size,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = BaseTrainConfig.learning_rate,
    max_length: Annotated[int, typer.Option(help="Tokens per example (the prompt is cut first).")] = BaseTrainConfig.max_length,
    vocab_size: Annotated[int | None, typer.Option(help="Tokenizer size (default: the preset's).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the tokenizer, model and data order.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train the tokenizer and the tiny model on CORPUS and save both (and a card) to OUT."""
    from genemail.training.base_training import train_base

    config = BaseTrainConfig(corpus=corpus, out=out, preset=preset, epochs=epochs, max_steps=max_steps,
                             batch_size=batch_size, learning_rate=learning_rate, max_length=max_length,
                             vocab_size=vocab_size, seed=seed, progress=progress)
    typer.echo(json.dumps(train_base(config)["metrics"], indent=2))


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
