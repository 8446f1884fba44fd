"""The release manifest: round trip, stable bytes, and refusal of anything that is not a full-sha pin."""

from __future__ import annotations

import json

import pytest

from genemail.errors import ReleaseError
from genemail.hub.manifest import (
    FORMAT_VERSION,
    ArtifactPin,
    BaseModelRef,
    FileRef,
    ReleaseManifest,
    is_full_sha,
)

SHA_A = "a" * 40
SHA_B = "0123456789abcdef0123456789abcdef01234567"
SHA256 = "f" * 64


def _manifest(**overrides: object) -> ReleaseManifest:
    fields = dict(
        namespace="demo",
        segmenter=ArtifactPin("demo/genemail-segmenter", "model", SHA_A, ("segmenter.skops", "README.md")),
        adapters={"Dormant": ArtifactPin("demo/genemail-adapter-dormant", "model", SHA_B, ("adapter_config.json",)),
                  "baseline": ArtifactPin("demo/genemail-adapter-baseline", "model", SHA_A)},
        base=ArtifactPin("demo/genemail-base", "model", SHA_B),
        corpus=ArtifactPin("demo/genemail-corpus", "dataset", SHA_A, ("train.jsonl",)),
        base_model=BaseModelRef("demo/genemail-base", SHA_B),
        strategies=FileRef("strategies.yaml", SHA256, "1.0"),
        eval=FileRef("eval/eval.json", SHA256, files=("eval/eval.json",)),
        created_at="2026-01-02T03:04:05Z",
    )
    fields.update(overrides)
    return ReleaseManifest(**fields)  # type: ignore[arg-type]


def test_round_trip_is_lossless_and_stable() -> None:
    m = _manifest()
    text = m.to_json()
    again = ReleaseManifest.from_json(text)
    assert again == m
    assert again.to_json() == text  # byte-identical: re-publishing the same release makes no commit
    data = json.loads(text)
    assert data["format_version"] == FORMAT_VERSION
    assert data["artifacts"]["corpus"]["repo_type"] == "dataset"
    assert list(data["artifacts"]["adapters"]) == ["Dormant", "baseline"]
    assert data["strategies"] == {"path": "strategies.yaml", "sha256": SHA256, "version": "1.0"}


def test_absent_artifacts_have_a_place_in_the_format() -> None:
    m = _manifest(adapters={}, base=None, corpus=None, base_model=None, strategies=None, eval=None)
    data = json.loads(m.to_json())
    assert data["artifacts"]["base"] is None and data["artifacts"]["corpus"] is None
    assert data["artifacts"]["adapters"] == {} and data["eval"] is None and data["strategies"] is None
    assert ReleaseManifest.from_json(m.to_json()) == m


def test_pins_lists_every_artifact_under_a_display_name() -> None:
    assert list(_manifest().pins()) == ["segmenter", "base", "corpus", "adapter:Dormant", "adapter:baseline"]


def test_same_content_ignores_only_created_at() -> None:
    a = _manifest()
    assert a.same_content(_manifest(created_at="2030-01-01T00:00:00Z"))
    assert not a.same_content(_manifest(strategies=FileRef("strategies.yaml", "e" * 64, "1.0")))


@pytest.mark.parametrize("bad_sha", ["main", "v1", SHA_A[:12], SHA_A.upper(), SHA_A + "0"])
def test_a_pin_must_be_a_full_lowercase_sha(bad_sha: str) -> None:
    data = json.loads(_manifest().to_json())
    data["artifacts"]["adapters"]["Dormant"]["sha"] = bad_sha
    with pytest.raises(ReleaseError) as info:
        ReleaseManifest.from_dict(data)
    assert "demo/genemail-adapter-dormant" in str(info.value)
    assert "full 40-hex" in str(info.value)
    assert info.value.fix


def test_base_model_revision_must_be_a_full_sha() -> None:
    data = json.loads(_manifest().to_json())
    data["base_model"]["revision"] = "main"
    with pytest.raises(ReleaseError, match="base_model"):
        ReleaseManifest.from_dict(data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("artifacts"), "artifacts"),
        (lambda d: d["artifacts"].pop("segmenter"), "segmenter"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d["artifacts"]["corpus"].update(repo_type="space"), "repo_type"),
        (lambda d: d["artifacts"]["base"].pop("repo_id"), "repo_id"),
        (lambda d: d["strategies"].update(sha256="xyz"), "sha256"),
    ],
)
def test_invalid_manifests_raise_release_error_naming_the_field(mutate, message: str) -> None:
    data = json.loads(_manifest().to_json())
    mutate(data)
    with pytest.raises(ReleaseError, match=message):
        ReleaseManifest.from_dict(data)


def test_invalid_json_names_the_source() -> None:
    with pytest.raises(ReleaseError, match=r"demo/genemail-release@v1/release.json.*not valid JSON"):
        ReleaseManifest.from_json("{not json", source="demo/genemail-release@v1/release.json")


def test_is_full_sha() -> None:
    assert is_full_sha(SHA_B)
    assert not is_full_sha("main") and not is_full_sha(None) and not is_full_sha(SHA_B[:-1])
