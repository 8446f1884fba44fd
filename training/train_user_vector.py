"""Train the user vector (FR-13) on top of the frozen base model + segment adapters, and run its ablation.

    python -m training.train_user_vector --artifacts artifacts [--customers FILE] [--n-eval 300]
        [--steps 300] [--batch-size 16] [--embed-dim 32] [--n-tokens 4] [--seed 0]

A thin command line over :mod:`genemail.user_vector.stage`. Writes ``artifacts/user_vector/``
(model.safetensors, config.json, metrics.json, README.md) and adds ``user_embedding_ablation`` to
``artifacts/eval/eval.json``, leaving its other keys as they are.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.train_user_vector"


def _cell(rate: dict) -> str:
    return f"{rate['rate']:.3f} [{rate['ci'][0]:.3f}, {rate['ci'][1]:.3f}]"


@app.command()
def train(
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder (segmenter/, corpus/, base/, adapters/).")]
    = Path("artifacts"),
    customers: Annotated[Path | None, typer.Option(help="Customer table (default: ARTIFACTS/customers.csv).")] = None,
    n_eval: Annotated[int, typer.Option(help="Held-out customers for the ablation.")] = 300,
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 300,
    batch_size: Annotated[int, typer.Option(help="Customers per step.")] = 16,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (AdamW, linear decay).")] = 3e-3,
    embed_dim: Annotated[int, typer.Option(help="d: size of the user vector.")] = 32,
    n_tokens: Annotated[int, typer.Option(help="k: virtual tokens prepended to the prompt.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the events, the training and the held-out customers.")] = 0,
) -> None:
    """Train ARTIFACTS/user_vector/ and write the ablation into ARTIFACTS/eval/eval.json."""
    from genemail.user_vector.ablation import CONDITIONS
    from genemail.user_vector.stage import StageConfig, run_stage

    cfg = StageConfig(artifacts=artifacts, customers=customers, n_eval=n_eval, steps=steps, batch_size=batch_size,
                      learning_rate=learning_rate,
                      embed_dim=embed_dim, n_tokens=n_tokens, seed=seed)
    metrics = run_stage(cfg)
    ab = metrics["ablation"]
    typer.echo(f"user vector: {metrics['n_train_customers']} training customers, loss {metrics['first_loss']} -> "
               f"{metrics['final_loss']} in {metrics['train_seconds']} s")
    typer.echo(f"ablation (fact={ab['fact']}, n={ab['n']}, greedy):  states true value | style match | fact consistency")
    for name in CONDITIONS:
        typer.echo(f"  {name:<30} {_cell(ab[name])} | {_cell(ab['style_match'][name])} | "
                   f"{_cell(ab['fact_consistency'][name])}")
    typer.echo(f"  majority-value share {ab['majority_value_share']:.3f}; {ab['verdict']}")
    typer.echo(f"  linear probe user vector -> {ab['fact']}: {_cell(ab['vector_probe']['accuracy'])} on held-out")
    typer.echo(f"  extra latency {ab['latency']['extra_ms_per_email']} ms per email; stage {metrics['stage_seconds']} s")


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
