"""Pull a release by revision: resolve it, download every pinned artifact at its sha, and verify it.

``pull_release(repo, "v1")`` downloads ``release.json`` at ``v1``, then each artifact with
``snapshot_download(repo_id, revision=<pinned sha>)`` and checks what arrived: the snapshot's commit is
the pin, the pinned files are there, the strategies file's sha256 matches. With ``HF_HUB_OFFLINE=1`` a
revision pulled before loads from the cache. A branch (``main``) may be pulled but is reported as not
reproducible.

This module only downloads and verifies; :func:`genemail.loading.build_system` turns a pulled release
into a running system (segmenter, strategies, generator).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import HubError, ReleaseError
from genemail.hub.manifest import MANIFEST_FILENAME, ArtifactPin, BaseModelRef, ReleaseManifest, is_full_sha
from genemail.hub.errors import hub_errors
from genemail.hub.vllm_compat import check_pulled

if TYPE_CHECKING:
    from huggingface_hub import HfApi

REVISION_KINDS = ("sha", "tag", "branch", "unknown")


@dataclass(frozen=True)
class PulledAdapter:
    """One segment's LoRA adapter on disk (PEFT layout) and where it came from."""

    name: str
    path: Path
    repo_id: str
    revision: str


@dataclass(frozen=True)
class PulledArtifact:
    """One downloaded artifact (a row of the pull table)."""

    name: str
    repo_id: str
    repo_type: str
    sha: str
    path: Path


@dataclass
class PulledRelease:
    """A release on disk, verified against its pins: what :mod:`genemail.loading` builds a system from."""

    manifest: ReleaseManifest
    release_sha: str
    revision: str
    revision_kind: str
    release_path: Path
    segmenter_path: Path
    strategies: Path | None
    base_model: BaseModelRef | None
    base_model_path: Path | None
    adapters: dict[str, PulledAdapter] = field(default_factory=dict)
    corpus_path: Path | None = None
    eval: dict[str, Any] | None = None
    user_vector_path: Path | None = None  # FR-13's encoder + projector, when the release pins one
    rules: Path | None = None  # the segment thresholds file, when the release has its own (strategy studio)
    artifacts: list[PulledArtifact] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_mutable(self) -> bool:
        """True unless the revision is known to be a tag or a commit sha (a branch can move)."""
        return self.revision_kind in ("branch", "unknown")


# ----------------------------------------------------------------------------------- revisions

def revision_kind(api: "HfApi", repo_id: str, revision: str) -> str:
    """``sha``, ``tag`` or ``branch``; ``unknown`` when the Hub cannot be asked (offline, unreachable).

    Raises :class:`HubError` when the Hub answers that the repo or the revision does not exist.
    """
    import httpx2
    from huggingface_hub import errors as hf

    if is_full_sha(revision):
        return "sha"
    with hub_errors(repo_id, revision, action="read from"):
        try:
            refs = api.list_repo_refs(repo_id)
        except (hf.OfflineModeIsEnabled, httpx2.TransportError, ConnectionError):
            return "unknown"  # the cache may still hold it: snapshot_download decides
    if any(t.name == revision for t in refs.tags):
        return "tag"
    if any(b.name == revision for b in refs.branches):
        return "branch"
    raise HubError(f"revision {revision!r} is neither a tag nor a branch", where=repo_id,
                   fix=f"pass one of the tags: {', '.join(_sorted_tags(t.name for t in refs.tags)) or '(none yet)'}")


def _version_key(tag: str) -> tuple[Any, ...]:
    """Natural order: v2 before v10."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", tag) if p)


def _sorted_tags(tags: Any) -> list[str]:
    return sorted(tags, key=_version_key)


def list_release_tags(repo_id: str, *, token: str | None = None) -> list[str]:
    """The release repo's tags in natural order (``v1, v2, v10``) for the app's models tab."""
    from huggingface_hub import HfApi

    with hub_errors(repo_id, action="list tags of"):
        refs = HfApi(token=token).list_repo_refs(repo_id)
    return _sorted_tags(t.name for t in refs.tags)


# ----------------------------------------------------------------------------------- downloads

def _local_commit(local_dir: Path, filename: str) -> str | None:
    """The commit a file in a ``local_dir`` download came from (the client's own metadata)."""
    from huggingface_hub._local_folder import read_download_metadata

    meta = read_download_metadata(local_dir, filename)
    return meta.commit_hash if meta else None


def download(repo_id: str, repo_type: str, revision: str, *, probe: str, token: str | None = None,
             local_dir: Path | None = None) -> tuple[Path, str]:
    """``snapshot_download`` and the commit it got: the cache folder's name, or ``probe``'s metadata."""
    from huggingface_hub import errors as hf
    from huggingface_hub import snapshot_download

    try:
        with hub_errors(repo_id, revision, action="download from"):
            path = Path(snapshot_download(repo_id, repo_type=repo_type, revision=revision, token=token,
                                          local_dir=local_dir))
    except hf.LocalEntryNotFoundError:
        raise HubError(f"revision {revision!r} is not in the local cache and the Hub cannot be reached",
                       where=repo_id, fix="pull it once online (unset HF_HUB_OFFLINE, check HF_ENDPOINT)") from None
    commit = path.name if local_dir is None else _local_commit(path, probe)
    if commit is None or not is_full_sha(commit):
        raise ReleaseError(f"cannot tell which commit was downloaded (no {probe!r})", where=f"{repo_id}@{revision}",
                           fix="delete the local folder and pull again")
    return path, commit


def verify_artifact(pin: ArtifactPin, path: Path, commit: str, local_dir: Path | None) -> None:
    """The snapshot is the pinned commit and holds every pinned file; else :class:`ReleaseError`."""
    where = f"{pin.repo_id}@{pin.sha[:12]}"
    fix = "the Hub served something other than the pin: re-publish the release, or report the Hub bug"
    if commit != pin.sha:
        raise ReleaseError(f"downloaded commit {commit[:12]} is not the pinned {pin.sha[:12]}", where=where, fix=fix)
    missing = [f for f in pin.files if not (path / f).is_file()]
    if missing:
        raise ReleaseError(f"pinned file(s) missing from the download: {missing[:5]}", where=where, fix=fix)
    if local_dir is not None:
        wrong = [f for f in pin.files if _local_commit(path, f) not in (None, pin.sha)]
        if wrong:
            raise ReleaseError(f"file(s) from another commit in {path}: {wrong[:5]}", where=where,
                               fix="delete that folder and pull again")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checked_file(release_path: Path, path_in_repo: str, sha256: str, what: str) -> Path:
    path = release_path / path_in_repo
    if not path.is_file():
        raise ReleaseError(f"{what} file {path_in_repo!r} is missing from the release", where=str(release_path),
                           fix="re-publish the release")
    if _sha256(path) != sha256:
        raise ReleaseError(f"{what} file {path_in_repo!r} does not match its sha256 in the manifest",
                           where=str(release_path), fix="re-publish the release; never edit a release repo by hand")
    return path


# ------------------------------------------------------------------------------------ the pull

def _load_manifest(release_path: Path, where: str) -> ReleaseManifest:
    path = release_path / MANIFEST_FILENAME
    if not path.is_file():
        raise ReleaseError(f"no {MANIFEST_FILENAME} at this revision (not a GenEmail release)", where=where,
                           fix="pass a release repo published by `genemail publish` and one of its tags")
    return ReleaseManifest.from_json(path.read_text(encoding="utf-8"), source=f"{where}/{MANIFEST_FILENAME}")


def pull_release(repo_id: str, revision: str = "main", *, token: str | None = None,
                 local_dir: str | Path | None = None) -> PulledRelease:
    """Download and verify every artifact a release revision pins (commit, files, sha256 of strategies).

    ``local_dir`` None keeps everything in the Hugging Face cache (works offline afterwards);
    otherwise each artifact goes to ``local_dir/<artifact>``.
    """
    from huggingface_hub import HfApi

    root = Path(local_dir) if local_dir is not None else None
    kind = revision_kind(HfApi(token=token), repo_id, revision)
    release_path, release_sha = download(repo_id, "model", revision, probe=MANIFEST_FILENAME, token=token,
                                         local_dir=root / "release" if root else None)
    manifest = _load_manifest(release_path, f"{repo_id}@{revision}")
    pulled: list[PulledArtifact] = [PulledArtifact("release", repo_id, "model", release_sha, release_path)]
    for name, pin in manifest.pins().items():
        target = root / name.replace(":", "-") if root else None
        path, commit = download(pin.repo_id, pin.repo_type, pin.sha, probe=(pin.files or ("README.md",))[0],
                                token=token, local_dir=target)
        verify_artifact(pin, path, commit, target)
        pulled.append(PulledArtifact(name, pin.repo_id, pin.repo_type, pin.sha, path))
    paths = {a.name: a.path for a in pulled}

    strategies = None
    if manifest.strategies is not None:
        strategies = _checked_file(release_path, manifest.strategies.path, manifest.strategies.sha256, "strategies")
    rules = None
    if manifest.rules is not None:
        rules = _checked_file(release_path, manifest.rules.path, manifest.rules.sha256, "segment rules")
    evaluation = None
    if manifest.eval is not None:
        eval_file = _checked_file(release_path, manifest.eval.path, manifest.eval.sha256, "eval")
        evaluation = json.loads(eval_file.read_text(encoding="utf-8"))

    segmenter_path = paths["segmenter"] / "segmenter.skops"
    warnings = []
    if kind in ("branch", "unknown"):
        what = "is a branch" if kind == "branch" else "could not be checked (Hub not reachable)"
        warnings.append(f"{revision} {what}: this pull is not reproducible; pin a tag or sha")
    adapter_paths = {seg: paths[f"adapter:{seg}"] for seg in manifest.adapters}
    warnings += check_pulled(manifest, adapter_paths, paths.get("base"), token=token)  # what vLLM would refuse
    return PulledRelease(
        manifest=manifest, release_sha=release_sha, revision=revision, revision_kind=kind,
        release_path=release_path, segmenter_path=segmenter_path, strategies=strategies,
        base_model=manifest.base_model, base_model_path=paths.get("base"),
        adapters={seg: PulledAdapter(seg, paths[f"adapter:{seg}"], pin.repo_id, pin.sha)
                  for seg, pin in sorted(manifest.adapters.items())},
        corpus_path=paths.get("corpus"), eval=evaluation, user_vector_path=paths.get("user_vector"),
        rules=rules, artifacts=pulled, warnings=warnings,
    )


def format_pull_table(release: PulledRelease) -> str:
    """The ``release pull`` report: one row per artifact (artifact, repo, sha[:12], local path)."""
    rows = [("artifact", "repo", "sha", "local path")]
    rows += [(a.name, a.repo_id, a.sha[:12], str(a.path)) for a in release.artifacts]
    if release.strategies is not None and release.manifest.strategies is not None:
        rows.append(("strategies", f"v{release.manifest.strategies.version}",
                     release.manifest.strategies.sha256[:12], str(release.strategies)))
    if release.base_model is not None and release.base_model_path is None:
        rows.append(("base_model", release.base_model.id, release.base_model.revision[:12], "(not downloaded)"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
