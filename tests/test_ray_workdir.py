"""The Ray engine's parts that need no cluster: the work folder, options, error unwrapping, block grouping."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from genemail.cli import run
from genemail.engines.cluster import RayConfig, ray_config_for
from genemail.engines.workdir import PARTITION, ROW, WorkDir
from genemail.errors import ConfigError, ServingError

JOB = {"job": "test", "input": "a.csv", "size": 10}


def _frames(sizes: list[int]) -> list[pd.DataFrame]:
    start, out = 0, []
    for n in sizes:
        out.append(pd.DataFrame({"customer_id": pd.array([f"C{i}" for i in range(start, start + n)], dtype="string"),
                                 "age": [float(i) for i in range(start, start + n)]}))
        start += n
    return out


def test_staging_numbers_rows_and_finished_partitions_are_skipped(tmp_path: Path) -> None:
    work, resumed = WorkDir.open(tmp_path / "w", JOB, "parquet")
    assert not resumed and work.staged() is None
    parts = work.stage(_frames([3, 0, 4]))  # an empty chunk (every row dropped) makes no partition
    assert [(p.index, p.rows) for p in parts] == [(0, 3), (1, 4)]
    first = pd.read_parquet(parts[1].path)
    assert first[ROW].tolist() == [3, 4, 5, 6] and set(first[PARTITION]) == {1}
    assert first["customer_id"].dtype == "string"  # the cleaned frame's dtypes survive

    out = pd.read_parquet(parts[0].path).assign(l2="Dormant")
    work.write_block(0, 0, out.iloc[:2])
    assert [p.index for p in work.todo(parts)] == [0, 1]  # 2 of 3 rows: not finished, and cleared
    assert not work.partition_dir(0).exists()
    work.write_block(0, 2, out.iloc[2:])
    work.write_block(0, 0, out.iloc[:2])
    assert [p.index for p in work.todo(parts)] == [1]
    back = work.read_partition(parts[0])
    assert back["customer_id"].tolist() == ["C0", "C1", "C2"] and ROW not in back.columns

    again, resumed = WorkDir.open(tmp_path / "w", JOB, "parquet")  # the same job resumes: staging kept
    assert resumed and [p.rows for p in again.staged()] == [3, 4]
    other, resumed = WorkDir.open(tmp_path / "w", {**JOB, "size": 11}, "parquet")  # the input changed
    assert not resumed and other.staged() is None and not other.output_dir.exists()


def test_jsonl_blocks_come_back_in_input_order(tmp_path: Path) -> None:
    work, _ = WorkDir.open(tmp_path / "w", JOB, "jsonl")
    parts = work.stage(_frames([4]))
    work.write_block(0, 2, [{"customer_id": "C2", ROW: 2}, {"customer_id": "C3", ROW: 3}])
    work.write_block(0, 0, [{"customer_id": "C0", ROW: 0}, {"customer_id": "C1", ROW: 1}])
    assert work.todo(parts) == []
    assert work.read_partition(parts[0]) == [{"customer_id": f"C{i}"} for i in range(4)]
    work.remove()
    assert not (tmp_path / "w").exists()


def test_a_foreign_folder_is_never_used(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="--work-dir"):
        WorkDir.open(tmp_path, JOB, "parquet")
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="format"):
        WorkDir(tmp_path, "csv")


def test_ray_options_are_validated() -> None:
    assert ray_config_for("local") is None
    assert ray_config_for("ray", address="auto", workers=3) == RayConfig(address="auto", workers=3)
    with pytest.raises(ConfigError, match="engine"):
        ray_config_for("spark")
    with pytest.raises(ConfigError, match="--engine ray"):
        ray_config_for("local", address="auto")
    for bad in ({"workers": 0}, {"cpus_per_worker": 0}, {"gpus_per_worker": -1}, {"address": " "}):
        with pytest.raises(ConfigError):
            RayConfig(**bad)


def test_cli_refuses_ray_options_without_the_ray_engine(synthetic_raw_csv: Path, tmp_path: Path, capsys) -> None:
    code = run(["segment", "predict", "--model", str(tmp_path), "--data", str(synthetic_raw_csv),
                "--out", str(tmp_path / "s.csv"), "--ray-address", "auto"])
    assert code == 2 and "--engine ray" in capsys.readouterr().err
    code = run(["campaign", "--artifacts", str(tmp_path), "--data", str(synthetic_raw_csv),
                "--out", str(tmp_path / "e.jsonl"), "--engine", "dask"])
    assert code == 2 and "engine" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "e.jsonl").exists()


def test_a_workers_user_error_travels_back_as_its_own_class() -> None:
    from genemail.engines.ray_batch import dump_error, load_error
    from genemail.errors import GenEmailError

    back = load_error(dump_error(ServingError("server down", where="http://h/v1", fix="start it")))
    assert type(back) is ServingError and str(back) == "http://h/v1: server down. Fix: start it."
    assert type(load_error(json.dumps({"type": "SystemExit", "what": "x"}))) is GenEmailError  # never another class


# ------------------------------------------------------------------------------- block grouping

@pytest.mark.integration
def test_a_block_is_generated_segment_by_segment_and_comes_back_in_order(tiny_base_model_dir: Path,
                                                                         tiny_adapters_dir: Path,
                                                                         tmp_path: Path, monkeypatch) -> None:
    import genemail.pipeline.campaign as campaign_module
    from genemail.engines.ray_campaign import campaign_block
    from genemail.generation.gate import QualityGate, Verdict

    class AcceptAll(QualityGate):  # one draft per row: the batches' grouping is under test, not the gate
        def check(self, text, profile, strategy, variant, **_):  # noqa: ANN001, ANN201
            return Verdict(), text

    monkeypatch.setattr(campaign_module, "QualityGate", AcceptAll)
    from genemail.pipeline.campaign import run_campaign
    from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig
    from genemail.generation.strategies import load_strategies
    from tests.fixtures.models import FIXTURE_ADAPTERS
    from tests.test_campaign import FakeSegmenter, _customers

    gen = EmailGenerator.load(tiny_base_model_dir, [AdapterRef(n, tiny_adapters_dir / n) for n in FIXTURE_ADAPTERS])
    calls: list[list[str]] = []
    complete = gen.complete

    def spy(prompts, adapters, config, *args, **kwargs):  # noqa: ANN001, ANN202 - records, then runs the real one
        calls.append(list(adapters))
        return complete(prompts, adapters, config, *args, **kwargs)

    gen.complete = spy  # type: ignore[method-assign]
    customers, config = _customers(12), GenerationConfig(max_new_tokens=5)
    system = SimpleNamespace(segmenter=FakeSegmenter(), strategies=load_strategies(), generator=gen)
    rows = campaign_block(customers, system, config, batch_size=4, release_info=None, experiment=None)

    segmented = [a for call in calls for a in call[:len(call) // 2]]  # each call: segmented rows, then baseline
    runs = [a for i, a in enumerate(segmented) if i == 0 or a != segmented[i - 1]]
    assert len(runs) == len(set(runs)) >= 3  # each adapter in one contiguous run: grouped by segment
    assert [r["customer_id"] for r in rows] == list(customers["customer_id"])  # back in input order

    out = tmp_path / "local.jsonl"  # run_campaign on the table as it comes, as the local engine does
    run_campaign(customers, FakeSegmenter(), system.strategies, gen, out, config, batch_size=4, progress=False)
    expected = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    strip = [{k: v for k, v in r.items() if k != "latency_s"} for r in rows]
    assert strip == [{k: v for k, v in r.items() if k != "latency_s"} for r in expected]
