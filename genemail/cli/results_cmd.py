"""`genemail results ...`: size an experiment, simulate or ingest its outcomes, report, export.

The library is ``genemail.experiments``; these commands only parse options and print. Heavy
imports happen inside the commands, so ``genemail --help`` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Experiment results: plan the sample size, simulate or ingest outcomes, report, export.",
                  no_args_is_help=True)

_DB_HELP = "results SQLite file (default: $GENEMAIL_RESULTS_DB or results.sqlite)"
_BAD_HELP = "largest share of bad rows (of a file's outcome rows) that is stored; above it the file is refused"
_UNMATCHED_HELP = "largest share of rows of customers not in the send log that is stored; above it, refused"


def _db(db: Optional[Path]) -> Path:
    from genemail.settings import Settings

    return db if db is not None else Settings.from_env().results_db


def _write_json(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


@app.command("plan")
def plan(
    rate: float = typer.Option(..., "--rate", help="expected control rate of the metric, e.g. 0.04 for 4% clicks"),
    lift: float = typer.Option(..., "--lift", help="absolute lift to detect, e.g. 0.01 for 4% -> 5%"),
    power: float = typer.Option(0.8, "--power", help="probability of detecting that lift"),
    alpha: float = typer.Option(0.05, "--alpha", help="two-sided significance level"),
    analysis: str = typer.Option("sequential", "--analysis",
                                 help="sequential (read the report any time, the default) or fixed (read it once)"),
    variance_reduction: float = typer.Option(0.0, "--variance-reduction",
                                             help="share of the variance the send log's covariates remove "
                                                  "(an earlier report's variance_reduction), e.g. 0.2"),
    min_n: int = typer.Option(500, "--min-n", min=1, help="the report's minimum recipients per arm for a decision"),
    control: Optional[float] = typer.Option(None, "--control", help="control fraction, to also size the campaign"),
    holdout: float = typer.Option(0.0, "--holdout", help="holdout fraction (with --control)"),
) -> None:
    """How many recipients per arm a lift needs, for the report's analysis, and what that assumes."""
    from genemail.experiments.planning import plan_experiment

    result = plan_experiment(rate, lift, power, alpha, analysis=analysis, variance_reduction=variance_reduction,
                             min_n=min_n, control=control, holdout=holdout)
    typer.echo("\n".join(result.lines()))


@app.command("ingest")
def ingest(
    campaign: Path = typer.Option(..., "--campaign", help="the campaign's send log (JSONL, CSV or Parquet)"),
    events: Path = typer.Option(..., "--events", help="outcome events (CSV, JSONL or Parquet; platform exports ok)"),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    event_type: Optional[str] = typer.Option(None, "--event-type",
                                             help="type of every row, for a file without an event-type column"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the counts as JSON here"),
    export: bool = typer.Option(True, "--export/--no-export", help="export to $GENEMAIL_RESULTS_REPO when set"),
    max_bad: float = typer.Option(0.05, "--max-bad", min=0.0, max=1.0, help=_BAD_HELP),
    max_unmatched: float = typer.Option(0.05, "--max-unmatched", min=0.0, max=1.0, help=_UNMATCHED_HELP),
) -> None:
    """Record the send log and its outcome events in the results database: every row counted exactly, or the
    file refused (exit 2, nothing stored from it). Idempotent and crash-safe."""
    from genemail.exports.results import export_results_from_settings
    from genemail.experiments.ingest import IngestProgress, IngestThresholds, ingest_events

    def progress(p: IngestProgress) -> None:
        typer.echo(f"committed: {p.read} rows read, {p.added} events added (up to {p.unit} {p.position})", err=True)

    path = _db(db)
    thresholds = IngestThresholds(max_bad_share=max_bad, max_unmatched_share=max_unmatched)
    result = ingest_events(path, campaign, events, default_event_type=event_type, thresholds=thresholds,
                           on_progress=progress)
    typer.echo(result.summary())
    if json_out is not None:
        _write_json(result.to_dict(), json_out)
    if export:
        exported = export_results_from_settings(path, [result.experiment])
        if exported is not None:
            typer.echo(f"exported to dataset {exported.repo_id}: "
                       + (f"commit {exported.commit} ({len(exported.files)} files)" if exported.commit else "unchanged"))


@app.command("report")
def report(
    experiment: str = typer.Option(..., "--experiment", help="experiment name (see `genemail results list`)"),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    metric: str = typer.Option("click", "--metric",
                               help="delivered, open, click, conversion, unsubscribe, bounce or complaint"),
    min_n: int = typer.Option(500, "--min-n", min=1, help="recipients per arm below which no decision is made"),
    analysis: str = typer.Option("sequential", "--analysis",
                                 help="sequential: always-valid, read it as often as you like (default); fixed: for a "
                                      "sample size fixed in advance, read once"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="report on what was known at this time (ISO 8601 with "
                                        "a zone, or a UTC date), e.g. to replay daily looks"),
    multiplicity: str = typer.Option("holm", "--multiplicity",
                                     help="holm (family-wise error) or bh (Benjamini-Hochberg false discovery rate)"),
    planned_n: int = typer.Option(2000, "--planned-n", min=1, help="recipients per arm the sequential intervals are "
                                  "tuned for (from `genemail results plan`; keep it fixed across looks)"),
    covariates: bool = typer.Option(True, "--covariates/--no-covariates",
                                    help="adjust lifts for the send log's pre_* covariates (CUPED)"),
    guardrail_margin: Optional[list[str]] = typer.Option(
        None, "--guardrail-margin", help="METRIC=MARGIN, the increase of a guardrail rate tolerated (repeatable; "
                                         "default unsubscribe=0 complaint=0)"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write the report as JSON here"),
    max_bad: float = typer.Option(0.05, "--max-bad", min=0.0, max=1.0,
                                  help="a stored file with a larger share of bad rows blocks every decision"),
    max_unmatched: float = typer.Option(0.05, "--max-unmatched", min=0.0, max=1.0,
                                        help="likewise for rows of customers not in the send log"),
) -> None:
    """Per segment and overall: rates with 95% intervals, lift, P(win), SRM check, guardrails, decision; first,
    what the data stands on (files, rows, problems) and, over an unfinished or bad ingest, no decision."""
    from genemail.experiments.guardrails import GuardrailConfig
    from genemail.experiments.ingest import IngestThresholds
    from genemail.experiments.report import experiment_report, format_report

    thresholds = IngestThresholds(max_bad_share=max_bad, max_unmatched_share=max_unmatched)
    result = experiment_report(_db(db), experiment, metric=metric, min_n=min_n, analysis=analysis, as_of=as_of,
                               multiplicity=multiplicity, planned_n=planned_n, use_covariates=covariates,
                               guardrails=GuardrailConfig.parse(guardrail_margin), thresholds=thresholds)
    typer.echo(format_report(result))
    if json_out is not None:
        _write_json(result, json_out)
        typer.echo(f"report written to {json_out}")


@app.command("simulate")
def simulate(
    campaign: Path = typer.Option(..., "--campaign", help="the campaign's send log"),
    truth: Path = typer.Option(..., "--truth", help="truth YAML: per segment click probability of each arm"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(..., "--out", help="events file to write: .csv, .jsonl or .parquet"),
) -> None:
    """Draw outcome events for a send log from a known truth (the response model is in docs/EXPERIMENTS.md)."""
    from genemail.experiments.sendlog import read_send_log
    from genemail.experiments.simulate import load_truth, simulate_events, unused_segments, write_events

    sends = read_send_log(campaign)
    spec = load_truth(truth)
    for name in unused_segments(spec, sends["segment"]):
        typer.echo(f"warning: {truth}: segment {name!r} is not in the send log (a typo?)", err=True)
    frame = simulate_events(sends, spec, seed)
    write_events(frame, out)
    counts = frame["event_type"].value_counts().sort_index()
    typer.echo(f"wrote {len(frame)} events for {len(sends)} customers to {out} ("
               + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ")")


@app.command("list")
def list_cmd(db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """The experiments in the results database."""
    from genemail.experiments.report import list_experiments

    names = list_experiments(_db(db))
    typer.echo("\n".join(names) if names else f"no experiments in {_db(db)}")


@app.command("export")
def export_cmd(
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    repo: Optional[str] = typer.Option(None, "--repo", help="dataset repo (default: $GENEMAIL_RESULTS_REPO)"),
    experiment: Optional[list[str]] = typer.Option(None, "--experiment", help="only these (repeatable)"),
) -> None:
    """Export experiments (send log, events, reports, card) to a Hub dataset repo."""
    from genemail.errors import ConfigError
    from genemail.exports.results import export_results
    from genemail.settings import Settings

    settings = Settings.from_env()
    repo_id = repo or settings.results_repo
    if not repo_id:
        raise ConfigError("no results repo given", where="genemail results export",
                          fix="pass --repo NS/genemail-results or set GENEMAIL_RESULTS_REPO")
    result = export_results(_db(db), repo_id, experiment or None, token=settings.hf_token)
    typer.echo(f"{result.repo_id}: " + (f"commit {result.commit}, {len(result.files)} files changed"
                                        if result.commit else "nothing changed, no commit"))


@app.command("preferences")
def preferences(
    experiment: str = typer.Option(..., "--experiment", help="experiment whose outcomes become pairs"),
    customers: Path = typer.Option(..., "--customers", help="the customer file the campaign was run on "
                                   "(rebuilds each chosen customer's prompt)", exists=True, dir_okay=False),
    out: Path = typer.Option(..., "--out", help="dataset folder to write (data/<segment>.jsonl, info, card)",
                             file_okay=False),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    strategies: Optional[Path] = typer.Option(None, "--strategies", help="strategies YAML of the release that "
                                              "sent the campaign (default: the packaged one)", dir_okay=False),
    lang: str = typer.Option("zh", "--lang", help="language the campaign was written in: zh or en"),
    rejected_per_chosen: int = typer.Option(2, "--rejected-per-chosen", min=1, help="rejected emails per clicker"),
    min_pairs: int = typer.Option(30, "--min-pairs", min=1, help="segments with fewer pairs are skipped"),
    seed: int = typer.Option(0, "--seed", help="seed of the rejected draw"),
    push: Optional[str] = typer.Option(None, "--push", help="also push the folder to this Hub dataset repo "
                                       "(e.g. NS/genemail-preferences) and print repo@sha"),
) -> None:
    """Outcomes -> preference pairs per segment (TRL prompt/chosen/rejected), as a Hub dataset folder."""
    from genemail.data import load_customers
    from genemail.experiments.preferences import (
        PreferenceConfig, build_preferences, format_summary, write_preferences,
    )
    from genemail.generation.strategies import load_strategies

    config = PreferenceConfig(rejected_per_chosen=rejected_per_chosen, min_pairs=min_pairs, seed=seed, lang=lang)
    table = load_customers(customers).frame
    prefs = build_preferences(_db(db), experiment, table, load_strategies(strategies), config)
    write_preferences(prefs, out)
    typer.echo(format_summary(prefs))
    typer.echo(f"wrote {out}")
    if push:
        from genemail.hub.lineage import push_folder
        from genemail.settings import Settings

        sha, committed = push_folder(out, push, message=f"Preference pairs from experiment {experiment}",
                                     token=Settings.from_env().hf_token)
        typer.echo(f"pushed {push}@{sha} ({'new commit' if committed else 'unchanged'})")
