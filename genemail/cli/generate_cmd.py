"""`genemail campaign`: segment a customer file and write every customer's email (optionally as an experiment)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def campaign(
    data: Path = typer.Option(..., "--data", help="customer file (CSV/Parquet, PRD or Kaggle schema)",
                              exists=True, dir_okay=False, readable=True),
    out: Path = typer.Option(Path("emails.jsonl"), "--out", help="output JSONL, one row per customer"),
    release: str = typer.Option(None, "--release", help="release repo on the Hub, e.g. demo/genemail-release"),
    revision: str = typer.Option("main", "--revision", help="release tag, branch or sha (a tag is reproducible)"),
    artifacts: Path = typer.Option(None, "--artifacts", help="a local artifacts folder instead of a release",
                                   file_okay=False),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="customers per mixed batch"),
    max_new_tokens: int = typer.Option(160, "--max-new-tokens", min=1),
    sample: bool = typer.Option(True, "--sample/--greedy", help="seeded sampling (the default: each customer's "
                                "email is reproducible from --sampling-seed) or greedy decoding"),
    temperature: float = typer.Option(0.7, "--temperature"),
    sampling_seed: int = typer.Option(0, "--sampling-seed", min=0, help="seed of sampled decoding"),
    lang: str = typer.Option("zh", "--lang", help="language of prompts and strategy names: zh or en"),
    experiment: str = typer.Option(None, "--experiment", help="run the campaign as this experiment: the output "
                                   "is its send log (docs/EXPERIMENTS.md)"),
    control: float = typer.Option(0.2, "--control", help="fraction of customers in the control arm (baseline email)"),
    holdout: float = typer.Option(0.1, "--holdout", help="fraction held out (no email), to measure incrementality"),
    seed: int = typer.Option(0, "--seed", help="assignment seed of the experiment (same name + seed = same arms)"),
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (docs/SCALING.md)"),
    ray_address: str = typer.Option(None, "--ray-address", help="Ray cluster to join: auto, ray://HOST:10001 "
                                    "(default: a local cluster for the run)"),
    workers: int = typer.Option(None, "--workers", min=1, help="Ray workers (default: the cluster's CPUs or GPUs)"),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0, help="GPUs per Ray worker"),
    work_dir: Path = typer.Option(None, "--work-dir", help="Ray: partitions and finished rows (default: beside "
                                  "--out); a rerun resumes from it"),
    backend: str = typer.Option("peft", "--backend", help="peft (load the models here) or openai (generate "
                                "through an OpenAI-compatible server: genemail serve, vLLM)"),
    base_url: str = typer.Option(None, "--base-url", help="the server of --backend openai, e.g. http://127.0.0.1:8000/v1"),
    api_key: str = typer.Option(None, "--api-key", help="the server's API key (vLLM --api-key), if it has one"),
    control_release: str = typer.Option(None, "--control-release", help="with --experiment: the control arm gets "
                                        "this release's segmented emails instead of the baseline (e.g. v2 vs v1)"),
    control_revision: str = typer.Option("main", "--control-revision", help="revision of --control-release"),
    control_artifacts: Path = typer.Option(None, "--control-artifacts", file_okay=False,
                                           help="a local artifacts folder for the control arm instead of a release"),
    user_embedding: bool = typer.Option(False, "--user-embedding/--no-user-embedding",
                                        help="prepend each customer's user-vector tokens (FR-13) beside the segment "
                                        "adapter; needs a release (or folder) with a user vector"),
    events: Path = typer.Option(None, "--events", help="behaviour events file for --user-embedding (default: "
                                "events synthesized from the customer table's own sums)", dir_okay=False),
) -> None:
    """Segment every customer in DATA and write their emails in mixed batches.

    Without --experiment each row holds the segmented and the baseline email. With it, each customer is
    assigned an arm (segmented, control or holdout), only that arm's email is written, and the output is
    the experiment's send log, which `genemail results ingest` joins outcomes to. With --control-release
    (or --control-artifacts) the control arm gets that release's segmented emails: new adapters against
    their parents, everything else equal (docs/LOOP.md).
    """
    from genemail.data import load_customers
    from genemail.engines.cluster import ray_config_for
    from genemail.errors import ConfigError
    from genemail.pipeline.campaign import run_campaign
    from genemail.generation.generator import GenerationConfig
    from genemail.loading import load_system
    from genemail.serving.client import backend_config, load_remote_system

    plan = None
    if experiment is not None:  # validated before anything is loaded
        from genemail.experiments.assignment import ExperimentConfig

        plan = ExperimentConfig(name=experiment, control=control, holdout=holdout, seed=seed)
    other = control_release is not None or control_artifacts is not None
    if (user_embedding or events is not None) and (other or engine != "local" or backend != "peft"):
        raise ConfigError("--user-embedding runs on the local engine with the peft backend, without a control release",
                          where="genemail campaign", fix="drop --engine/--backend/--control-* (docs/USER_VECTOR.md "
                          "describes serving soft prompts on vLLM)")
    if events is not None and not user_embedding:
        raise ConfigError("--events is only read with --user-embedding", where="genemail campaign",
                          fix="add --user-embedding, or drop --events")
    if other and plan is None:
        raise ConfigError("--control-release / --control-artifacts need --experiment", where="genemail campaign",
                          fix="add --experiment NAME (the control arm exists only in an experiment)")
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=sample, temperature=temperature,
                              seed=sampling_seed, lang=lang)
    remote = backend_config(backend, base_url, api_key=api_key, concurrency=2 * batch_size)  # a batch's rows
    ray = ray_config_for(engine, address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker,
                         work_dir=work_dir)
    if ray is not None:
        if other:
            raise ConfigError("--control-release / --control-artifacts run on the local engine only",
                              where="genemail campaign --engine ray",
                              fix="drop --engine ray, or run the experiment without a control release")
        from genemail.engines.ray_campaign import campaign_on_ray

        loaded = load_customers(data)
        typer.echo(loaded.report.summary(), err=True)
        summary = campaign_on_ray(data, loaded.frame, artifacts=artifacts, release=release, revision=revision,
                                  out_path=out, config=config, batch_size=batch_size, experiment=plan, ray=ray,
                                  backend=remote, work_dir=work_dir, log=lambda m: typer.echo(m, err=True))
        typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
        return
    if remote is not None:
        system = load_remote_system(remote, artifacts=artifacts, release=release, revision=revision)
    else:
        system = load_system(artifacts=artifacts, release=release, revision=revision)
    source = load_system(artifacts=control_artifacts, release=control_release, revision=control_revision) \
        if other else None
    for warning in (*system.warnings, *(source.warnings if source else ())):
        typer.echo(f"warning: {warning}", err=True)
    loaded = load_customers(data)
    typer.echo(loaded.report.summary(), err=True)
    soft = _soft_prompts(system, loaded, events) if user_embedding else None
    summary = run_campaign(loaded.frame, system.segmenter, system.strategies, system.generator, out, config,
                           batch_size=batch_size, progress=True, release_info=system.release_info, experiment=plan,
                           control_source=_as_control(source), soft_prompts=soft)
    typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))


def _soft_prompts(system, loaded, events: Path | None) -> list:  # noqa: ANN001 - LoadedSystem, LoadResult
    """Each customer's user-vector tokens (FR-13), from an events file or the table's own sums."""
    from genemail.behaviour.events import load_events
    from genemail.errors import ConfigError
    from genemail.user_vector.runtime import soft_prompts_for_frame

    if system.user_vector is None:
        raise ConfigError("this release has no user vector", where="genemail campaign --user-embedding",
                          fix="publish a release built by `make train` (it trains user_vector/), or drop the flag")
    frame = loaded.frame
    table = None
    if events is not None:
        table, report = load_events(events, set(frame["customer_id"].astype(str)))
        for note in report.notes:
            typer.echo(f"events: {note}", err=True)
    soft = soft_prompts_for_frame(system.user_vector, frame, loaded.report.reference_date, table)
    typer.echo(f"user embedding: {len(soft.prompts)} customers encoded in {soft.seconds} s "
               f"(events {soft.events_source})", err=True)
    return soft.prompts


def _as_control(system) -> object:  # noqa: ANN001 - LoadedSystem or None
    """The control arm's emails from another loaded system (None: the baseline adapter, as usual)."""
    from genemail.pipeline.campaign import ControlSource

    if system is None:
        return None
    return ControlSource(system.generator, system.strategies, system.release_info)


def register_top_level(root: typer.Typer) -> None:
    """Add ``genemail campaign`` to the root app."""
    root.command("campaign")(campaign)
