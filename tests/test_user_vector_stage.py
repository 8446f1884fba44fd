"""The ``user_vector`` stage end to end on a micro artifacts folder, and its command line's errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genemail.user_vector.stage import ABLATION_KEY


def test_cli_refuses_a_folder_without_artifacts_with_one_message(tmp_path: Path, capsys) -> None:
    from training.train_user_vector import main

    assert main(["--artifacts", str(tmp_path), "--n-eval", "20"]) == 2
    err = capsys.readouterr().err
    assert "Fix:" in err and "Traceback" not in err
    assert main(["--artifacts", str(tmp_path), "--n-eval", "5"]) == 2
    assert "n_eval=5 is too small" in capsys.readouterr().err


@pytest.mark.integration
def test_stage_builds_the_artifact_and_the_eval_block(tmp_path: Path, tiny_base_model_dir: Path,
                                                       tiny_adapters_dir: Path) -> None:
    from genemail.data.synth import write_synthetic
    from genemail.generation.strategies import default_strategies_path
    from genemail.user_vector.artifact import ARTIFACT_FILES, load_user_vector
    from tests.fixtures.artifacts import fit_segmenter
    from training.build_corpus import main as build_corpus
    from training.train_user_vector import main

    art = tmp_path / "artifacts"
    (art / "segmenter").mkdir(parents=True)
    write_synthetic(300, 0, art / "customers.csv")
    fit_segmenter(art / "segmenter")
    assert build_corpus(["--customers", str(art / "customers.csv"), "--segmenter", str(art / "segmenter"),
                         "--out", str(art / "corpus"), "--min-train", "0", "--min-validation", "0",
                         "--min-test", "0"]) == 0
    shutil.copytree(tiny_base_model_dir, art / "base")
    shutil.copytree(tiny_adapters_dir, art / "adapters")
    shutil.copyfile(default_strategies_path(), art / "strategies.yaml")
    (art / "eval").mkdir()
    (art / "eval" / "eval.json").write_text(json.dumps({"n": 7}))
    assert main(["--artifacts", str(art), "--n-eval", "20", "--steps", "4", "--batch-size", "4"]) == 0
    assert sorted(p.name for p in (art / "user_vector").iterdir()) == sorted(ARTIFACT_FILES)
    load_user_vector(art / "user_vector", lm_hidden_size=32)
    report = json.loads((art / "eval" / "eval.json").read_text())
    assert report["n"] == 7  # the evaluate stage's keys stay
    block = report[ABLATION_KEY]
    assert {"fact", "n", "text_with_fact", "text_without_fact", "without_fact_with_embedding"} <= set(block)
    assert 0 < block["n"] <= 20 and all(len(block[k]["ci"]) == 2 for k in
                                        ("text_with_fact", "text_without_fact", "without_fact_with_embedding"))
    probe = block["vector_probe"]["accuracy"]
    assert probe["ci"][0] <= probe["rate"] <= probe["ci"][1] and block["vector_probe"]["n_test"] == block["n"]
    metrics = json.loads((art / "user_vector" / "metrics.json").read_text())
    assert metrics["ablation"] == block and metrics["n_train_customers"] > 0
