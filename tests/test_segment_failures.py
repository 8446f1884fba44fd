"""Every failure path of `data check`, `segment predict` and the training script: one message, exit 2.

None of them may print a traceback, and `segment predict` never leaves a partial output file behind.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from genemail.cli import run
from genemail.data import synthesize
from genemail.segmentation import HierarchicalSegmenter, save_segmenter
from training.train_segmenter import main as train_main


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return synthesize(300, 61, dirty=False)


@pytest.fixture(scope="module")
def model_dir(customers: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    save_segmenter(HierarchicalSegmenter(n_augment=0, max_iter=10).fit(customers), out)
    return out


def _train(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = train_main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


@pytest.mark.parametrize(("rows", "identical"), [(1, False), (3, False), (500, True)],
                         ids=["one", "three", "500-identical"])
def test_training_refuses_too_few_customers(tmp_path: Path, raw: pd.DataFrame, capsys, rows: int,
                                            identical: bool) -> None:
    frame = pd.concat([raw.head(1)] * rows, ignore_index=True).assign(ID=range(rows)) if identical else raw.head(rows)
    path = tmp_path / "few.csv"
    frame.to_csv(path, index=False)
    code, err = _train(["--data", str(path), "--out", str(tmp_path / "seg")], capsys)
    assert code == 2
    kept = 1 if identical else rows
    assert f"only {kept} customer(s) can be used to train and test the segmenter, at least 100" in err
    assert f"rows read {rows}" in err and "Fix:" in err
    if identical:
        assert "499 row(s) were dropped as identical to an earlier row except ID" in err
    assert not (tmp_path / "seg" / "segmenter.skops").exists()


@pytest.mark.parametrize("column", ["Income", "Recency", "Dt_Customer"])
def test_a_required_column_blank_throughout_exits_2_everywhere(tmp_path: Path, raw: pd.DataFrame, capsys,
                                                                model_dir: Path, column: str) -> None:
    path = tmp_path / "blank.csv"
    raw.assign(**{column: ""}).to_csv(path, index=False)
    code, err = _train(["--data", str(path), "--out", str(tmp_path / "seg")], capsys)
    assert code == 2 and f"column {column}" in err and "blank in every" in err
    assert run(["data", "check", str(path), "--chunksize", "100"]) == 2
    assert "blank in every" in capsys.readouterr().err
    out = tmp_path / "segments.csv"
    assert run(["segment", "predict", "--model", str(model_dir), "--data", str(path), "--out", str(out),
                "--chunksize", "100", "--quiet"]) == 2
    assert "blank in every" in capsys.readouterr().err
    assert list(tmp_path.glob("*segments*")) == []  # refused after the last chunk: nothing left behind


def test_training_out_must_be_a_directory(tmp_path: Path, capsys) -> None:
    target = tmp_path / "a_file"
    target.write_text("x")
    code, err = _train(["--out", str(target), "--n-synthetic", "200"], capsys)
    assert code == 2 and "is a file, not a directory" in err


def test_predict_refuses_a_corrupt_parquet_file(tmp_path: Path, model_dir: Path, capsys) -> None:
    data = tmp_path / "customers.parquet"
    data.write_bytes(b"PAR1" + b"\x01broken" * 200)
    out = tmp_path / "segments.parquet"
    code = run(["segment", "predict", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "not a readable Parquet file" in err and "Traceback" not in err
    assert not out.exists()


def test_predict_names_directories(tmp_path: Path, model_dir: Path, synthetic_raw_csv: Path, capsys) -> None:
    code = run(["segment", "predict", "--model", str(model_dir), "--data", str(tmp_path), "--out",
                str(tmp_path / "s.csv"), "--quiet"])
    assert code == 2 and "is a directory, not a customer file" in capsys.readouterr().err
    code = run(["segment", "predict", "--model", str(model_dir), "--data", str(synthetic_raw_csv), "--out",
                str(tmp_path), "--quiet"])
    assert code == 2 and "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_failure_mid_file_leaves_no_partial_output(tmp_path: Path, raw: pd.DataFrame, model_dir: Path, capsys,
                                                     suffix: str) -> None:
    bad = raw.copy()
    bad.loc[250, "ID"] = bad.loc[3, "ID"]  # refused in the third chunk: two chunks are already scored
    data = tmp_path / "customers.csv"
    bad.to_csv(data, index=False)
    out = tmp_path / f"segments{suffix}"
    code = run(["segment", "predict", "--model", str(model_dir), "--data", str(data), "--out", str(out),
                "--chunksize", "100", "--quiet"])
    assert code == 2 and "is used by different customers" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv"]
    # An earlier output under that name survives a failed run untouched.
    out.write_text("earlier result")
    assert run(["segment", "predict", "--model", str(model_dir), "--data", str(data), "--out", str(out),
                "--chunksize", "100", "--quiet"]) == 2
    assert out.read_text() == "earlier result"
    capsys.readouterr()


def test_predict_writes_the_whole_file_when_it_succeeds(tmp_path: Path, raw: pd.DataFrame, model_dir: Path,
                                                        capsys) -> None:
    data = tmp_path / "customers.csv"
    raw.to_csv(data, index=False)
    out = tmp_path / "segments.parquet"
    assert run(["segment", "predict", "--model", str(model_dir), "--data", str(data), "--out", str(out),
                "--chunksize", "100", "--quiet", "--no-reasons"]) == 0
    assert len(pd.read_parquet(out)) == len(raw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv", "segments.parquet"]
    capsys.readouterr()
