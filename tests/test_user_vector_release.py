"""The user vector in a release: published and pinned, pulled, loaded; composing and campaigns with and without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genemail.generation.generator import GenerationConfig
from tests.fixtures.artifacts import NS, RELEASE, build_artifacts, new_tag
from tests.fixtures.models import save_random_user_vector

GREEDY = GenerationConfig(max_new_tokens=6)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, tiny_base_model_dir, tiny_adapters_dir, tiny_corpus_dir):
    art, _, customers = build_artifacts(tmp_path_factory.mktemp("uvrel"), tiny_base_model_dir, tiny_adapters_dir,
                                        tiny_corpus_dir)
    save_random_user_vector(art)
    return art, customers


@pytest.fixture(scope="module")
def system(artifacts):
    from genemail.loading import load_local

    return load_local(artifacts[0])


def _known_segment_rows(system, customers, n: int):
    """Customers whose segment's adapter the fixture has (it has only three of the five)."""
    seg = system.segmenter.segment(customers)
    ok = [system.strategies.for_segment(s).adapter in system.generator.adapter_names for s in seg["l2"]]
    return customers[ok].head(n).reset_index(drop=True)


def test_local_folder_loads_the_user_vector_and_composes_with_and_without_it(system, artifacts) -> None:
    from genemail.generation.compose import compose
    from genemail.user_vector.runtime import soft_prompts_for_frame

    assert system.user_vector is not None and system.user_vector_sha is None
    frame = _known_segment_rows(system, artifacts[1], 1)
    plain = compose(system, frame, GREEDY)
    again = compose(system, frame, GREEDY, soft_prompt=None)
    assert (plain.email, plain.user_embedding) == (again.email, False)
    soft = soft_prompts_for_frame(system.user_vector, frame, "2014-06-29")
    hidden = system.generator.model.get_input_embeddings().weight.shape[1]
    assert soft.prompts[0].shape == (4, hidden) and soft.events_source == "synthesized from the table"
    with_vec = compose(system, frame, GREEDY, soft_prompt=soft.prompts[0], embedding_ms=1000 * soft.seconds)
    assert with_vec.user_embedding and with_vec.baseline_email == plain.baseline_email
    assert with_vec.to_dict()["user_embedding"] is True


def test_campaign_rows_say_whether_the_embedding_was_used(system, artifacts, tmp_path: Path) -> None:
    from genemail.pipeline.campaign import run_campaign
    from genemail.user_vector.runtime import soft_prompts_for_frame

    frame = _known_segment_rows(system, artifacts[1], 4)
    soft = soft_prompts_for_frame(system.user_vector, frame, "2014-06-29").prompts
    soft[1] = None
    out = tmp_path / "emails.jsonl"
    run_campaign(frame, system.segmenter, system.strategies, system.generator, out, GREEDY, batch_size=4,
                 progress=False, soft_prompts=soft)
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert [r["user_embedding"] for r in rows] == [True, False, True, True]
    plain = tmp_path / "plain.jsonl"
    run_campaign(frame, system.segmenter, system.strategies, system.generator, plain, GREEDY, batch_size=4,
                 progress=False)
    rows_plain = [json.loads(x) for x in plain.read_text("utf-8").splitlines()]
    assert "user_embedding" not in rows_plain[0]
    assert rows[1]["email"] == rows_plain[1]["email"]  # the row without a vector: today's email
    assert [r["baseline_email"] for r in rows] == [r["baseline_email"] for r in rows_plain]


def test_release_pins_pulls_and_loads_the_user_vector(artifacts, hub_server) -> None:
    from genemail.hub.manifest import ReleaseManifest
    from genemail.hub.publish import PublishConfig, publish
    from genemail.hub.release import pull_release
    from genemail.loading import build_system

    art = artifacts[0]
    result = publish(PublishConfig(art, NS, new_tag(), token=hub_server.alice_token))
    pin = result.manifest.user_vector
    assert pin is not None and pin.repo_id == f"{NS}/genemail-user-vector" and len(pin.sha) == 40
    assert "model.safetensors" in pin.files
    assert ReleaseManifest.from_json(result.manifest.to_json()) == result.manifest
    pulled = pull_release(RELEASE, result.tag, token=hub_server.alice_token)
    assert pulled.user_vector_path is not None
    assert (pulled.user_vector_path / "model.safetensors").read_bytes() == \
        (art / "user_vector" / "model.safetensors").read_bytes()
    card = (pulled.user_vector_path / "README.md").read_text("utf-8")
    assert f"base_model: {NS}/genemail-base" in card
    system = build_system(pulled, repo_id=RELEASE)
    assert system.user_vector is not None and system.user_vector_sha == pin.sha


def test_manifest_without_user_vector_keeps_its_bytes() -> None:
    from genemail.hub.manifest import ArtifactPin, ReleaseManifest

    seg = ArtifactPin("a/genemail-segmenter", "model", "a" * 40, ("segmenter.skops",))
    manifest = ReleaseManifest(namespace="a", segmenter=seg, created_at="2026-01-01T00:00:00Z")
    assert "user_vector" not in manifest.to_json()
    with_uv = ReleaseManifest(namespace="a", segmenter=seg, created_at="2026-01-01T00:00:00Z",
                              user_vector=ArtifactPin("a/genemail-user-vector", "model", "b" * 40))
    assert with_uv.pins()["user_vector"].sha == "b" * 40
    assert ReleaseManifest.from_json(with_uv.to_json()) == with_uv


def test_campaign_cli_with_user_embedding_and_an_events_file(system, artifacts, tmp_path: Path, capsys) -> None:
    from genemail.behaviour.synth_events import synthesize_events
    from genemail.cli import run
    from genemail.data.loader import clean_frame
    from genemail.data.synth import synthesize

    raw = synthesize(60, 5, dirty=False)
    cleaned = clean_frame(raw)
    keep = _known_segment_rows(system, cleaned.frame, 6)["customer_id"].astype(str)
    data = tmp_path / "customers.csv"
    raw[raw["ID"].astype(str).isin(set(keep))].to_csv(data, index=False)
    events = tmp_path / "events.csv"
    synthesize_events(cleaned.frame[cleaned.frame["customer_id"].astype(str).isin(set(keep))],
                      cleaned.report.reference_date).to_csv(events, index=False)
    out = tmp_path / "emails.jsonl"
    code = run(["campaign", "--artifacts", str(artifacts[0]), "--data", str(data), "--out", str(out),
                "--max-new-tokens", "4", "--user-embedding", "--events", str(events)])
    assert code == 0, capsys.readouterr().err
    assert "user embedding: 6 customers encoded" in capsys.readouterr().err
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert len(rows) == 6 and all(r["user_embedding"] is True for r in rows)
    # --events without --user-embedding, and --user-embedding on a remote backend, are refused up front.
    assert run(["campaign", "--artifacts", str(artifacts[0]), "--data", str(data), "--out", str(out),
                "--events", str(events)]) == 2
    assert "only read with --user-embedding" in capsys.readouterr().err
    assert run(["campaign", "--artifacts", str(artifacts[0]), "--data", str(data), "--out", str(out),
                "--user-embedding", "--engine", "ray"]) == 2
    assert "local engine" in capsys.readouterr().err


def test_service_composes_with_and_without_the_user_embedding(system, tmp_path: Path) -> None:
    from genemail.errors import ConfigError
    from genemail.service import GenEmailService, ServiceConfig

    service = GenEmailService(ServiceConfig(release_repo="bob/genemail-release", revision="v1", work_dir=tmp_path,
                                            ratings_db=tmp_path / "r.sqlite", labels_db=tmp_path / "l.sqlite"))
    service.start(load_release=False)
    service._snapshot = system  # the local folder's system (with a user vector) stands in for a pulled release
    cid = str(_known_segment_rows(system, service.customers.reset_index(drop=True), 1)["customer_id"].iloc[0])
    plain = service.compose(cid)
    with_vec = service.compose(cid, user_embedding=True)
    assert not plain.user_embedding and with_vec.user_embedding and with_vec.embedding_ms >= 0
    assert with_vec.baseline_email == plain.baseline_email
    from dataclasses import replace

    service._snapshot = replace(system, user_vector=None)
    with pytest.raises(ConfigError, match="no user vector"):
        service.compose(cid, user_embedding=True)
    assert service.compose(cid).email == plain.email
