"""Export of experiments to a Hub dataset repo (the session's local Hub), and the settings that turn it on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from genemail.cli import run
from genemail.errors import ConfigError, DataError
from genemail.experiments import ExperimentConfig, ingest_events, simulate_events
from genemail.exports.results import export_results
from genemail.exports.results import export_results_from_settings
from genemail.experiments.tables import write_table
from genemail.settings import Settings
from tests.fixtures.experiments import RELEASE, build_send_log

if TYPE_CHECKING:
    from huggingface_hub import HfApi

TRUTH = {"default": {"control": 0.05, "segmented": 0.08}}


def _experiment(tmp_path: Path, name: str, db: Path) -> tuple[Path, Path]:
    log_path = tmp_path / f"{name}.jsonl"
    log = build_send_log(log_path, {"Parent_Active": 400, "Dormant": 200}, ExperimentConfig(name, 0.3, 0.1))
    events = write_table(simulate_events(log, TRUTH, seed=1),
                         tmp_path / f"{name}-events.csv")
    ingest_events(db, log_path, events)
    return log_path, events


def _download(api: "HfApi", repo_id: str, path: str, tmp_path: Path) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id, path, repo_type="dataset", token=api.token, cache_dir=tmp_path / "cache"))


@pytest.mark.integration
def test_export_writes_each_experiment_with_its_release_and_a_card(tmp_path: Path, hub_api: "HfApi",
                                                                    repo_name: Callable[..., str]) -> None:
    from huggingface_hub import DatasetCard

    db, repo_id = tmp_path / "r.sqlite", repo_name("genemail-results")
    _experiment(tmp_path, "spring", db)
    result = export_results(db, repo_id, hf_api=hub_api)
    assert result.commit and "experiments/spring/events.parquet" in result.files
    files = set(hub_api.list_repo_files(repo_id, repo_type="dataset"))
    assert {"README.md", *(f"experiments/spring/{f}" for f in (
        "sends.parquet", "events.parquet", "release.json", "report-click.json", "report-open.json",
        "report-conversion.json", "README.md"))} <= files
    events = pd.read_parquet(_download(hub_api, repo_id, "experiments/spring/events.parquet", tmp_path))
    assert len(events) > 0 and set(events["event_type"]) <= {"delivered", "open", "click", "conversion",
                                                            "unsubscribe", "bounce"}
    release = json.loads(_download(hub_api, repo_id, "experiments/spring/release.json", tmp_path).read_text())
    assert release[0]["revision"] == RELEASE["release_revision"] and release[0]["sha"] == RELEASE["release_sha"]
    report = json.loads(_download(hub_api, repo_id, "experiments/spring/report-click.json", tmp_path).read_text())
    assert report["experiment"] == "spring" and set(report["segments"]) == {"Dormant", "Parent_Active"}
    card = DatasetCard.load(repo_id, repo_type="dataset", token=hub_api.token)
    assert "genemail-results" in card.data.tags and card.data.configs[0]["config_name"] == "events"
    assert "spring" in card.text and "v1" in card.text and RELEASE["release_sha"][:12] in card.text
    commit = hub_api.list_repo_commits(repo_id, repo_type="dataset")[0]
    assert "spring" in commit.title and "demo/genemail-release@v1" in commit.title

    # Nothing new: no commit. A second experiment from another database keeps the first one's files.
    assert export_results(db, repo_id, hf_api=hub_api).commit is None
    other_db = tmp_path / "other.sqlite"
    _experiment(tmp_path, "summer", other_db)
    second = export_results(other_db, repo_id, hf_api=hub_api)
    assert second.commit and all(f.startswith(("experiments/summer/", "README.md")) for f in second.files)
    files = set(hub_api.list_repo_files(repo_id, repo_type="dataset"))
    assert "experiments/spring/events.parquet" in files and "experiments/summer/events.parquet" in files
    card = DatasetCard.load(repo_id, repo_type="dataset", token=hub_api.token)
    assert "spring" in card.text and "summer" in card.text


@pytest.mark.integration
def test_ingest_exports_when_a_results_repo_is_configured(tmp_path: Path, hub_api: "HfApi", hub_server,
                                                          repo_name: Callable[..., str], monkeypatch, capsys) -> None:
    repo_id = repo_name("genemail-results")
    log_path, events = _experiment(tmp_path, "autumn", tmp_path / "seed.sqlite")
    monkeypatch.setenv("GENEMAIL_RESULTS_REPO", repo_id)
    monkeypatch.setenv("GENEMAIL_RESULTS_DB", str(tmp_path / "env.sqlite"))  # --db defaults to it
    monkeypatch.setenv("HF_TOKEN", hub_server.alice_token)
    assert run(["results", "ingest", "--campaign", str(log_path), "--events", str(events)]) == 0
    assert f"exported to dataset {repo_id}: commit" in capsys.readouterr().out
    assert (tmp_path / "env.sqlite").is_file()
    assert "experiments/autumn/sends.parquet" in hub_api.list_repo_files(repo_id, repo_type="dataset")
    assert run(["results", "ingest", "--campaign", str(log_path), "--events", str(events)]) == 0
    assert "unchanged" in capsys.readouterr().out  # re-ingesting added nothing, so nothing to push


def test_export_is_off_without_a_repo_and_checks_its_arguments(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    assert export_results_from_settings(db, settings=Settings(results_repo=None)) is None
    assert Settings().results_db == Path("results.sqlite")
    with pytest.raises(ConfigError, match="repo_id"):
        export_results(db, "no-namespace")
    with pytest.raises(DataError, match="nothing to export"):
        export_results(db, "demo/genemail-results")
