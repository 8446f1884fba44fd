"""Ratings export: the JSONL cursor, argument checks, and a real push to the local Hub server."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from genemail.errors import ConfigError, HubError
from genemail.ratings import Rating, RatingsStore, new_submission_id
from genemail.exports.ratings import exported_up_to, start_export, start_export_from_settings
from genemail.settings import Settings
from genemail.taxonomy import DORMANT

if TYPE_CHECKING:
    from huggingface_hub import HfApi


def make_rating(customer_id: str, comment: str = "") -> Rating:
    return Rating(submission_id=new_submission_id(), rater="alice", customer_id=customer_id, segment=DORMANT,
                  left_variant="baseline", right_variant="segmented", choice="B", score_segmented=4,
                  score_baseline=2, release_repo="demo/genemail-release", release_revision="v1",
                  release_sha="a" * 40, adapter_sha="b" * 40, baseline_adapter_sha="c" * 40, comment=comment)


def test_exported_up_to_reads_the_highest_id_in_the_folder(tmp_path: Path) -> None:
    assert exported_up_to(tmp_path) == 0
    (tmp_path / "ratings-1.jsonl").write_text('{"rating_id": 3}\n{"rating_id": 7}\n\n', encoding="utf-8")
    (tmp_path / "ratings-2.jsonl").write_text('{"rating_id": 5}\n', encoding="utf-8")
    (tmp_path / "notes.jsonl").write_text('{"rating_id": 99}\n', encoding="utf-8")  # not an export file
    assert exported_up_to(tmp_path) == 7


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"repo_id": "no-namespace"}, "repo_id"), ({"every": 0}, "every"), ({"every": True}, "every")],
)
def test_start_export_checks_arguments_before_any_network(tmp_path: Path, kwargs: dict, argument: str) -> None:
    store = RatingsStore(tmp_path / "r.sqlite")
    args = {"repo_id": "demo/ratings", "every": 5.0, **kwargs}
    with pytest.raises(ConfigError, match=argument):
        start_export(store, args.pop("repo_id"), tmp_path / "export", **args)


def test_no_ratings_repo_means_no_export(tmp_path: Path) -> None:
    store = RatingsStore(tmp_path / "r.sqlite")
    assert start_export_from_settings(store, tmp_path / "export", Settings(ratings_repo=None)) is None
    assert not (tmp_path / "export").exists()


def test_unreachable_hub_is_a_hub_error(tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = HfApi(endpoint=f"http://127.0.0.1:{port}", token="unused")
    with pytest.raises(HubError, match="demo/ratings") as info:
        start_export(RatingsStore(tmp_path / "r.sqlite"), "demo/ratings", tmp_path / "export", hf_api=api)
    assert "GENEMAIL_RATINGS_REPO" in str(info.value)


@pytest.mark.integration
def test_scheduler_pushes_new_ratings_to_the_hub(tmp_path: Path, hub_api: "HfApi",
                                                 repo_name: Callable[..., str]) -> None:
    from huggingface_hub import hf_hub_download

    store = RatingsStore(tmp_path / "r.sqlite")
    folder = tmp_path / "export"
    repo_id = repo_name("ratings")
    scheduler = start_export(store, repo_id, folder, every=60, hf_api=hub_api)
    try:
        first = [store.add(make_rating(str(i), comment="très bien 很好")) for i in range(3)]
        scheduler.trigger().result(timeout=60)
        assert scheduler.cursor == first[-1]
        name = f"data/{scheduler.jsonl_path.name}"
        pushed = Path(hf_hub_download(repo_id, name, repo_type="dataset", token=hub_api.token,
                                      cache_dir=tmp_path / "cache"))
        rows = [json.loads(line) for line in pushed.read_text(encoding="utf-8").splitlines()]
        assert [r["rating_id"] for r in rows] == first
        assert rows[0]["comment"] == "très bien 很好" and rows[0]["choice"] == "B"

        # Only new rows are appended; the next push carries old + new, no duplicates.
        second = store.add(make_rating("99"))
        scheduler.trigger().result(timeout=60)
        pushed = Path(hf_hub_download(repo_id, name, repo_type="dataset", token=hub_api.token,
                                      cache_dir=tmp_path / "cache"))
        ids = [json.loads(line)["rating_id"] for line in pushed.read_text(encoding="utf-8").splitlines()]
        assert ids == [*first, second]
    finally:
        scheduler.stop()

    # A restarted process resumes after what the folder already holds, in a file of its own.
    commits = len(hub_api.list_repo_commits(repo_id, repo_type="dataset"))
    restarted = start_export(store, repo_id, folder, every=60, hf_api=hub_api)
    try:
        assert restarted.cursor == second
        restarted.trigger().result(timeout=60)  # queued behind the start-up push
        assert not restarted.jsonl_path.exists()  # nothing new: no empty file written or pushed
        assert len(hub_api.list_repo_commits(repo_id, repo_type="dataset")) == commits
        third = store.add(make_rating("100"))
        restarted.trigger().result(timeout=60)
        files = [f for f in hub_api.list_repo_files(repo_id, repo_type="dataset") if f.startswith("data/")]
        assert sorted(files) == sorted([name, f"data/{restarted.jsonl_path.name}"])
        new_file = Path(hf_hub_download(repo_id, f"data/{restarted.jsonl_path.name}", repo_type="dataset",
                                        token=hub_api.token, cache_dir=tmp_path / "cache"))
        assert [json.loads(line)["rating_id"] for line in new_file.read_text(encoding="utf-8").splitlines()] == [third]
    finally:
        restarted.stop()
