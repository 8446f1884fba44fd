"""`--engine ray` on a local Ray cluster of 2 CPUs started here, compared with the local engine row for row.

One cluster serves the module (Ray takes tens of seconds to start on a loaded 2-core machine) and the data
stay small: three Ray jobs in all. ``segment predict``: the same file, byte for byte, and a resumed run
skips the partitions already scored. ``campaign``: the same rows as the local engine under greedy decoding,
but for the batch latency, with the release revision recorded.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from genemail.cli import run

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[object]:
    """A local cluster (Ray's local mode is gone): 2 CPUs, a small object store, no dashboard."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 * 1024 * 1024,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}})  # workers import this checkout
    try:
        yield ray
    finally:
        ray.shutdown()


def test_segment_predict_on_ray_equals_local_and_resumes(ray_cluster, app_release, synthetic_raw_csv: Path,
                                                        tmp_path: Path) -> None:
    from genemail.cli.segment_cmd import _Writer
    from genemail.engines.cluster import RayConfig
    from genemail.engines.ray_segment import SegmentJob, score_on_ray, write_outputs

    model = app_release.artifacts / "segmenter"
    local = tmp_path / "local.csv"
    assert run(["segment", "predict", "--model", str(model), "--data", str(synthetic_raw_csv), "--out", str(local),
                "--chunksize", "200", "--quiet"]) == 0

    job = SegmentJob(model_dir=model, data=synthetic_raw_csv, work_dir=tmp_path / "work", chunksize=200,
                     block_rows=150, ray=RayConfig(), keep_work=True)
    first = score_on_ray(job, progress=False)
    assert first.skipped == 0 and len(first.parts) == 3  # 600 rows in chunks of 200
    write_outputs(first, _Writer(tmp_path / "lib.csv"), source=synthetic_raw_csv)
    assert (tmp_path / "lib.csv").read_bytes() == local.read_bytes()

    staged = {p.path: p.path.stat().st_mtime_ns for p in first.parts}
    shutil.rmtree(first.work.partition_dir(1))  # as if the run had died before partition 1 was written
    again = score_on_ray(job, progress=False)
    assert again.skipped == 2 and {p.path: p.path.stat().st_mtime_ns for p in again.parts} == staged
    write_outputs(again, _Writer(tmp_path / "again.csv"), source=synthetic_raw_csv)
    assert (tmp_path / "again.csv").read_bytes() == local.read_bytes()

    # The command line on the same work folder: every partition is finished, so nothing runs; same file.
    out = tmp_path / "ray.csv"
    assert run(["segment", "predict", "--model", str(model), "--data", str(synthetic_raw_csv), "--out", str(out),
                "--chunksize", "200", "--quiet", "--engine", "ray", "--work-dir", str(tmp_path / "work")]) == 0
    assert out.read_bytes() == local.read_bytes()
    assert not (tmp_path / "work").exists()  # removed once the output was written


def test_campaign_on_ray_writes_the_local_engines_rows(ray_cluster, app_release, tmp_path: Path, capsys) -> None:
    from genemail.data import write_synthetic

    data = write_synthetic(40, 11, tmp_path / "customers.csv")
    common = ["campaign", "--release", app_release.repo_id, "--revision", "v1", "--data", str(data),
              "--max-new-tokens", "6", "--batch-size", "8"]
    assert run([*common, "--out", str(tmp_path / "local.jsonl")]) == 0
    capsys.readouterr()
    assert run([*common, "--out", str(tmp_path / "ray.jsonl"), "--engine", "ray"]) == 0
    summary = json.loads(capsys.readouterr().out)

    def rows(path: Path) -> list[dict]:
        return [{k: v for k, v in json.loads(line).items() if k != "latency_s"}
                for line in path.read_text(encoding="utf-8").splitlines()]

    local, ray_rows = rows(tmp_path / "local.jsonl"), rows(tmp_path / "ray.jsonl")
    assert len(ray_rows) == len(local) == summary["n_customers"] > 30
    assert ray_rows == local  # same customers, order, segments, emails, token counts and pins
    assert {r["release_revision"] for r in ray_rows} == {"v1"}
    assert {r["release_sha"] for r in ray_rows} == {app_release.release_shas["v1"]}
    assert summary["release"]["revision"] == "v1" and sum(summary["by_segment"].values()) == len(local)
    assert not (tmp_path / ".ray.jsonl.ray-work").exists()


def test_a_workers_error_is_the_command_lines_one_line_message(ray_cluster, app_release, tmp_path: Path,
                                                               capsys) -> None:
    from genemail.data import write_synthetic

    broken = tmp_path / "artifacts"  # a segmenter and strategies but no adapters: the workers cannot load it
    shutil.copytree(app_release.artifacts / "segmenter", broken / "segmenter")
    data = write_synthetic(20, 2, tmp_path / "customers.csv")
    code = run(["campaign", "--artifacts", str(broken), "--data", str(data), "--out", str(tmp_path / "e.jsonl"),
                "--engine", "ray"])
    err = capsys.readouterr().err
    assert code == 2 and "no adapters found" in err and "make train" in err
    assert "Traceback" not in err and not (tmp_path / "e.jsonl").exists()
