"""Export experiments (send log, events, reports) to a Hub dataset repo, e.g. ``NS/genemail-results``.

SQLite stays the source of truth; the Hub gets a snapshot per experiment under
``experiments/<name>/``, written as one commit that holds only the files whose bytes changed (an
export with nothing new makes no commit), with a dataset card listing every experiment in the repo
and the release revision that sent it. Files of experiments this database does not hold are never
touched, so several databases may export to one repo. Comparison, errors and commit helpers are
the publisher's (``genemail.hub.publish``).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError, DataError
from genemail.experiments.assignment import NAME_PATTERN
from genemail.experiments.events import CLICK, CONVERSION, OPEN
from genemail.experiments.report import experiment_report, format_report
from genemail.experiments.store import ResultsStore
from genemail.resources import card_template

if TYPE_CHECKING:
    from huggingface_hub import HfApi

    from genemail.settings import Settings

CARD_TEMPLATE = card_template("results_card.md")
REPORT_METRICS: tuple[str, ...] = (CLICK, OPEN, CONVERSION)
PREFIX = "experiments"


@dataclass(frozen=True)
class ExportResult:
    """What an export did: the repo, the commit (``None`` when nothing changed) and the files written."""

    repo_id: str
    commit: str | None
    files: list[str]


def _parquet(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _json(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def experiment_files(store: ResultsStore, experiment: str, min_n: int) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files of one experiment (path in repo -> bytes) and its row of the card's table."""
    base = f"{PREFIX}/{experiment}"
    reports = {m: experiment_report(store.path, experiment, metric=m, min_n=min_n) for m in REPORT_METRICS}
    releases = store.releases(experiment)
    files = {
        f"{base}/sends.parquet": _parquet(store.sends(experiment)),
        f"{base}/events.parquet": _parquet(store.events(experiment)),
        f"{base}/release.json": _json(releases),
        **{f"{base}/report-{m}.json": _json(r) for m, r in reports.items()},
        f"{base}/README.md": (f"# Experiment {experiment}\n\nSent by "
                              + ", ".join(f"`{r['repo_id']}` revision `{r['revision']}` (`{r['sha']}`)" for r in releases)
                              + f".\n\n```\n{format_report(reports[CLICK])}\n```\n").encode("utf-8"),
    }
    top = releases[0] if releases else {}
    row = {"name": experiment, "release_repo": top.get("repo_id"), "release_revision": top.get("revision"),
           "release_sha": top.get("sha"), "recipients": reports[CLICK]["n_customers"],
           "events": store.count_events(experiment), "decision": reports[CLICK]["overall"]["decision"]}
    return files, row


def render_card(repo_id: str, rows: list[dict[str, Any]]) -> str:
    """The dataset card (README.md) listing ``rows`` (one per experiment, sorted by name)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCardData(
        pretty_name="GenEmail experiment results", tags=["genemail", "genemail-results", "email-marketing", "ab-testing"],
        configs=[{"config_name": "events", "data_files": f"{PREFIX}/*/events.parquet"},
                 {"config_name": "sends", "data_files": f"{PREFIX}/*/sends.parquet"}],
    )
    card = DatasetCard.from_template(data, template_path=str(CARD_TEMPLATE), repo_id=repo_id,
                                     experiments=sorted(rows, key=lambda r: r["name"]))
    return str(card)


def export_results(db_path: Path, repo_id: str, experiments: list[str] | None = None, *, token: str | None = None,
                   private: bool | None = None, min_n: int = 500, hf_api: "HfApi | None" = None) -> ExportResult:
    """Write the experiments (default: all in ``db_path``) to the dataset repo ``repo_id`` in one commit."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from genemail.hub.errors import hub_errors
    from genemail.hub.publish import RepoPlan, diff, remote_files

    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ConfigError(f"repo_id={repo_id!r} is invalid", where="results export",
                          fix="pass repo_id as 'namespace/name', e.g. demo/genemail-results (GENEMAIL_RESULTS_REPO)")
    store = ResultsStore(Path(db_path))
    names = experiments if experiments is not None else store.experiments()
    unknown = [n for n in names if n not in store.experiments()]
    if unknown or not names:
        raise DataError(f"nothing to export: experiment(s) {unknown or 'none'} not in the results database",
                        where=str(db_path), fix="ingest the campaign's send log first (genemail results ingest)")
    unsafe = [n for n in names if not NAME_PATTERN.fullmatch(n)]
    if unsafe:
        raise DataError(f"experiment name {unsafe[0]!r} cannot be a folder name in the repo", where=str(db_path),
                        fix="name experiments with letters, digits, '.', '_' or '-' (ExperimentConfig does)")
    api = hf_api or HfApi(token=token)
    files: dict[str, bytes] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        part, row = experiment_files(store, name, min_n)
        files.update(part)
        rows[name] = row
    with hub_errors(repo_id, action="write to"):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        head = api.repo_info(repo_id, repo_type="dataset").sha
    remote = remote_files(api, repo_id, "dataset", head) if head else {}
    for path in remote:  # experiments exported from elsewhere keep a row (with what the card can know)
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == PREFIX and parts[1] not in rows:
            rows[parts[1]] = {"name": parts[1]}
    files["README.md"] = render_card(repo_id, list(rows.values())).encode("utf-8")
    changed, _ = diff(RepoPlan("results", repo_id, "dataset", dict(files)), remote)  # never delete others' files
    if not changed:
        return ExportResult(repo_id, None, [])
    releases = ", ".join(f"{r.get('release_repo')}@{r.get('release_revision')}" for r in rows.values()
                         if r.get("release_repo"))
    message = f"Results of {', '.join(names)}" + (f" (sent by {releases})" if releases else "")
    with hub_errors(repo_id, "main", action="write to"):
        info = api.create_commit(repo_id, repo_type="dataset", commit_message=message, parent_commit=head,
                                 operations=[CommitOperationAdd(path_in_repo=p, path_or_fileobj=files[p]) for p in changed])
    return ExportResult(repo_id, info.oid, changed)


def export_results_from_settings(db_path: Path, experiments: list[str] | None = None,
                                 settings: "Settings | None" = None) -> ExportResult | None:
    """Export when ``GENEMAIL_RESULTS_REPO`` is set; ``None`` (results stay local) otherwise."""
    from genemail.settings import Settings

    settings = settings or Settings.from_env()
    if not settings.results_repo:
        return None
    return export_results(db_path, settings.results_repo, experiments, token=settings.hf_token)
