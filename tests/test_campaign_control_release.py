"""An experiment whose control arm gets another release's segmented emails (v2 against v1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genemail.errors import ConfigError
from genemail.experiments.assignment import ExperimentConfig
from genemail.experiments.sendlog import read_send_log
from genemail.pipeline.campaign import ControlSource, run_campaign
from genemail.generation.generator import AdapterRef, EmailGenerator, GenerationConfig
from genemail.taxonomy import BASELINE
from tests.fixtures.models import FIXTURE_ADAPTERS
from tests.test_campaign import FakeSegmenter, _customers

NEW = {"repo_id": "demo/genemail-release", "revision": "v2", "sha": "2" * 40}
OLD = {"repo_id": "demo/genemail-release", "revision": "v1", "sha": "1" * 40}
CFG = GenerationConfig(max_new_tokens=8)


def _generator(base: Path, adapters: Path, digit: str, order: tuple[str, ...]) -> EmailGenerator:
    """The fixture adapters under their names; ``order`` permutes folders so the two releases differ."""
    refs = [AdapterRef(name, adapters / folder, repo_id=f"demo/genemail-adapter-{name.lower()}",
                       revision=digit * 40) for name, folder in zip(FIXTURE_ADAPTERS, order)]
    return EmailGenerator.load(base, refs)


@pytest.fixture(scope="module")
def releases(tiny_base_model_dir: Path, tiny_adapters_dir: Path):
    from genemail.generation.strategies import load_strategies

    book = load_strategies()
    new = _generator(tiny_base_model_dir, tiny_adapters_dir, "2", FIXTURE_ADAPTERS)
    old = _generator(tiny_base_model_dir, tiny_adapters_dir, "1", tuple(reversed(FIXTURE_ADAPTERS)))
    return book, new, old


@pytest.mark.integration
def test_control_rows_carry_the_other_releases_segment_email(releases, tmp_path: Path) -> None:
    book, new, old = releases
    customers = _customers(40)
    plan = ExperimentConfig(name="v2-vs-v1", control=0.4, holdout=0.2, seed=3)
    out = tmp_path / "sendlog.jsonl"
    summary = run_campaign(customers, FakeSegmenter(), book, new, out, CFG, batch_size=5, progress=False,
                           release_info=NEW, experiment=plan, control_source=ControlSource(old, book, OLD))
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert summary.by_arm and {r["arm"] for r in rows} == {"segmented", "control", "holdout"}
    profiles = {r["customer_id"]: r for r in rows}
    for row in rows:
        if row["arm"] == "holdout":
            assert row["email"] is None and row["release_revision"] == "v2"
            continue
        expected = NEW if row["arm"] == "segmented" else OLD
        assert (row["release_revision"], row["release_sha"]) == (expected["revision"], expected["sha"])
        assert row["adapter_sha"] == expected["sha"][0] * 40  # written by that release's adapter ...
        assert row["adapter"] == book.for_segment(row["l2"]).adapter  # ... of the customer's own segment
        assert row["email"] is not None and row["baseline_email"] in (None, row["email"])
        if row["arm"] == "control":
            assert row["baseline_email"] is None and row["adapter"] != BASELINE or row["l2"] == "Cold_Start"
    # The control email is exactly what the old release writes for that customer with greedy decoding.
    control = [r for r in rows if r["arm"] == "control" and r["l2"] != "Cold_Start"]
    from genemail.generation.prompts import profile_from_row

    row = customers.set_index("customer_id").loc[control[0]["customer_id"]].to_dict()
    profile = profile_from_row({**row, "customer_id": control[0]["customer_id"]})
    alone = old.generate([profile], [book.for_segment(control[0]["l2"])], CFG, with_baseline=False)[0]
    assert alone.email == profiles[control[0]["customer_id"]]["email"]
    # A valid send log (random fixture adapters may write an empty email, which a send log refuses: left out).
    valid = tmp_path / "valid.jsonl"
    valid.write_text("".join(json.dumps(r) + "\n" for r in rows if r["arm"] == "holdout" or r["email"]))
    assert set(read_send_log(valid)["release_revision"].dropna()) == {"v1", "v2"}


def test_a_control_release_needs_an_experiment(releases, tmp_path: Path) -> None:
    book, new, old = releases
    with pytest.raises(ConfigError, match="control_source"):
        run_campaign(_customers(3), FakeSegmenter(), book, new, tmp_path / "x.jsonl", GenerationConfig(max_new_tokens=2),
                     progress=False, control_source=ControlSource(old, book, OLD))


@pytest.mark.integration
def test_cli_control_release_needs_experiment(tmp_path: Path, capsys) -> None:
    from genemail.cli import run

    data = tmp_path / "c.csv"
    data.write_text("ID,Recency\n1,3\n")
    code = run(["campaign", "--data", str(data), "--artifacts", str(tmp_path), "--control-artifacts", str(tmp_path),
                "--out", str(tmp_path / "o.jsonl")])
    assert code == 2 and "--experiment" in capsys.readouterr().err
