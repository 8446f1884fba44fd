"""Preference-tune each segment's adapter from outcome pairs (DPO), writing the next release's artifacts.

    python -m training.train_preference --artifacts artifacts --preferences demo/genemail-preferences@<sha> \\
        --out artifacts-v2 [--beta 0.1 --learning-rate 1e-3 --epochs 4 | --max-steps N] [--segments S ...]
    genemail publish --artifacts artifacts-v2 --namespace demo --tag v2

``--preferences`` is a dataset folder written by ``genemail results preferences`` or a Hub dataset
``repo@revision`` (recorded in the lineage by its full commit sha). ``--artifacts`` is the folder of
the release that sent the experiment: each tuned adapter starts from its adapter there. When the
Hub is reachable, each parent adapter's weights are checked byte for byte against the commit that
wrote the experiment's emails (the send log's ``adapter_sha``), and the result goes into the lineage.

A thin command line over :mod:`genemail.training.preference_training`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from genemail.runner import run_typer
from genemail.training.preference_training import PreferenceTrainConfig

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.train_preference"
D = PreferenceTrainConfig  # the defaults live on the config


def resolve_source(preferences: str) -> Any:
    """A local dataset folder, or a Hub dataset reference downloaded at its pinned commit."""
    from genemail.errors import ConfigError
    from genemail.experiments.preferences import folder_digest
    from genemail.training.preference_training import PreferenceSource
    from genemail.hub.lineage import parse_ref, resolve_dataset

    path = Path(preferences)
    if path.is_dir():
        return PreferenceSource(path=path, digest=folder_digest(path))
    ref = parse_ref(preferences)
    if ref is None:
        raise ConfigError(f"--preferences {preferences!r} is neither a folder nor a Hub dataset reference",
                          where="--preferences", fix="pass the folder `genemail results preferences --out` wrote, "
                          "or NS/genemail-preferences@REVISION")
    local, sha = resolve_dataset(*ref)
    return PreferenceSource(path=local, repo_id=ref[0], sha=sha)


def parent_adapters(artifacts: Path, info: dict[str, Any], verify: bool) -> dict[str, dict[str, Any]]:
    """Per segment: the parent adapter's repo and commit (from the pairs' provenance), verified when asked."""
    from genemail.errors import ArtifactError
    from genemail.hub.lineage import verify_file

    parents = {}
    for name, seg in info.get("segments", {}).items():
        parent: dict[str, Any] = {"repo_id": seg.get("adapter_repo"), "sha": seg.get("adapter_sha")}
        weights = artifacts / "adapters" / name / "adapter_model.safetensors"
        if verify and parent["repo_id"] and parent["sha"] and weights.is_file():
            same, reason = verify_file(weights, parent["repo_id"], parent["sha"], weights.name)
            if same is False:
                raise ArtifactError(f"the {name} adapter here is not the one that wrote the experiment's emails "
                                    f"({reason})", where=str(weights.parent),
                                    fix="pass the artifacts folder of the release that sent the experiment "
                                        "(or --no-verify to tune it anyway, recorded as unverified)")
            parent["verified"] = bool(same)
            if same is None:
                parent["reason"] = reason
        parents[name] = parent
    return parents


@app.command()
def train(
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder of the release that sent the experiment.",
                                            file_okay=False, exists=True)],
    preferences: Annotated[str, typer.Option(help="Preference dataset folder, or a Hub dataset repo@revision.")],
    out: Annotated[Path, typer.Option(help="Next release's artifacts folder (new): the parent's plus tuned adapters.")],
    segments: Annotated[list[str] | None, typer.Option(help="Tune only these (repeat the flag).")] = None,
    beta: Annotated[float, typer.Option(help="DPO beta: higher stays closer to the parent adapter.")] = D.beta,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = D.learning_rate,
    epochs: Annotated[float, typer.Option(help="Passes over each segment's pairs.")] = D.epochs,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps per adapter (overrides --epochs).")] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = D.batch_size,
    seed: Annotated[int, typer.Option(help="Seed of the data order.")] = D.seed,
    base_model_id: Annotated[str | None, typer.Option(help="Hub id to name as base_model in the cards.")] = None,
    verify: Annotated[bool, typer.Option(help="Check the parent adapters against their Hub commits.")] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """DPO-tune every segment with pairs; print pairs, steps, reward accuracy and margin per segment."""
    from genemail.errors import ConfigError
    from genemail.experiments.preferences import read_preferences
    from genemail.training.preference_training import tune_segments

    cfg = PreferenceTrainConfig(beta=beta, learning_rate=learning_rate, epochs=epochs, max_steps=max_steps,
                                batch_size=batch_size, seed=seed, segments=tuple(segments) if segments else None,
                                progress=progress)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out} exists and is not empty", where="--out", fix="pass a new folder")
    source = resolve_source(preferences)
    info, records = read_preferences(source.path)
    parents = parent_adapters(artifacts, info, verify)
    tuned = tune_segments(artifacts, out, source, info, records, parents, cfg, base_model_id)
    typer.echo(f"{'segment':<20}{'pairs':>7}{'steps':>7}{'loss':>8}{'acc':>7}{'margin':>8}{'sec':>7}  parent")
    for t in tuned:
        m = t.metrics
        check = {True: "verified", False: "NOT verified"}.get(t.parent.get("verified"), "unchecked")
        typer.echo(f"{t.segment:<20}{m['pairs']:>7}{m['steps']:>7}{m['train_loss']:>8.3f}"
                   f"{m.get('rewards_accuracies', float('nan')):>7.2f}{m.get('rewards_margins', float('nan')):>8.2f}"
                   f"{m['seconds']:>7}  {t.parent.get('repo_id')}@{str(t.parent.get('sha'))[:12]} ({check})")
    typer.echo(f"wrote {out} (publish it: genemail publish --artifacts {out} --namespace NS --tag vN)")


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
