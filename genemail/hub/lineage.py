"""Where a release's adapters came from: lineage in the manifest, dataset pushes and parent checks.

A release made by preference tuning (the loop) records, in ``release.json``, the parent release it
was tuned from, the experiment whose outcomes taught it, the preference dataset (repo and full
commit sha) and, per tuned adapter, the parent adapter's commit. :class:`Lineage` validates that
record (full shas only: lineage must not point at something that can move).

Helpers for the loop, each one Hub call:

* :func:`push_folder`: make a repo hold exactly a folder's files (one commit, none when unchanged);
* :func:`resolve_dataset`: download a dataset ``repo@revision`` and return its path and full sha;
* :func:`verify_file`: is a local file byte-identical to the file a pinned commit holds?
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ReleaseError
from genemail.hub.manifest import is_full_sha

if TYPE_CHECKING:
    from huggingface_hub import HfApi

_REF = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[\w./-]+))?")
_FIX = "re-publish from the folder `python -m training.train_preference` wrote (lineage.json is written by the tool)"


def _require(cond: bool, what: str, where: str) -> None:
    if not cond:
        raise ReleaseError(what, where=where, fix=_FIX)


@dataclass(frozen=True)
class AdapterLineage:
    """One tuned adapter: its parent adapter's repo and commit, how it was tuned, on how many pairs."""

    parent_repo: str | None
    parent_sha: str | None
    method: str = "dpo"
    pairs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"parent_repo": self.parent_repo, "parent_sha": self.parent_sha, "method": self.method,
                "pairs": self.pairs}


@dataclass(frozen=True)
class Lineage:
    """The ``lineage`` block of a release manifest (absent for a release trained from scratch)."""

    parent_release: dict[str, Any]
    experiment: str | None
    preferences: dict[str, Any]
    adapters: dict[str, AdapterLineage] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "release manifest, lineage"
        sha = self.parent_release.get("sha")
        _require(sha is None or is_full_sha(sha), f"parent_release.sha={sha!r} is not a full commit sha", where)
        pref_sha = self.preferences.get("sha")
        _require(not self.preferences.get("repo_id") or is_full_sha(pref_sha),
                 f"preferences.sha={pref_sha!r} is not a full commit sha", where)
        for name, adapter in self.adapters.items():
            _require(adapter.parent_sha is None or is_full_sha(adapter.parent_sha),
                     f"adapters.{name}.parent_sha={adapter.parent_sha!r} is not a full commit sha", where)

    def to_dict(self) -> dict[str, Any]:
        return {"parent_release": dict(self.parent_release), "experiment": self.experiment,
                "preferences": dict(self.preferences),
                "adapters": {k: v.to_dict() for k, v in sorted(self.adapters.items())}}

    @classmethod
    def from_dict(cls, data: Any, where: str = "release manifest, lineage") -> "Lineage":
        """Validate a parsed ``lineage`` object (from ``release.json`` or ``lineage.json``)."""
        _require(isinstance(data, dict), "lineage must be an object", where)
        parent, prefs, adapters = data.get("parent_release") or {}, data.get("preferences") or {}, data.get("adapters") or {}
        _require(isinstance(parent, dict) and isinstance(prefs, dict) and isinstance(adapters, dict),
                 "parent_release, preferences and adapters must be objects", where)
        parsed = {}
        for name, value in adapters.items():
            _require(isinstance(value, dict), f"adapters.{name} must be an object", where)
            parsed[name] = AdapterLineage(value.get("parent_repo"), value.get("parent_sha"),
                                          str(value.get("method") or "dpo"), value.get("pairs"))
        experiment = data.get("experiment")
        return cls(dict(parent), None if experiment is None else str(experiment), dict(prefs), parsed)


def read_lineage_file(path: Path) -> Lineage | None:
    """``lineage.json`` of an artifacts folder, validated; None when the folder has none."""
    import json

    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReleaseError(f"invalid JSON ({err.msg})", where=str(path), fix=_FIX) from None
    return Lineage.from_dict(data, where=str(path))


def parse_ref(text: str) -> tuple[str, str] | None:
    """``"ns/name@rev"`` -> ``("ns/name", "rev")`` (``main`` without ``@``); None if not a repo reference."""
    match = _REF.fullmatch(text.strip())
    if match is None:
        return None
    return match["repo"], match["rev"] or "main"


def push_folder(folder: Path, repo_id: str, *, repo_type: str = "dataset", message: str,
                private: bool = False, token: str | None = None, api: "HfApi | None" = None) -> tuple[str, bool]:
    """Make ``repo_id``'s main branch hold exactly ``folder``'s files; return (commit sha, committed?)."""
    from huggingface_hub import HfApi

    from genemail.hub.publish import RepoPlan, _folder_files, sync_repo

    api = api or HfApi(token=token)
    plan = RepoPlan(repo_id.split("/")[-1], repo_id, repo_type, dict(_folder_files(Path(folder))))
    published = sync_repo(api, plan, private=private, message=message)
    return published.sha, published.committed


def resolve_dataset(repo_id: str, revision: str, *, token: str | None = None) -> tuple[Path, str]:
    """Download dataset ``repo_id`` at ``revision``; return (local folder, full commit sha)."""
    from genemail.hub.release import download

    return download(repo_id, "dataset", revision, probe="README.md", token=token)


def local_file_id(path: Path, lfs: bool) -> str:
    """What the Hub reports for a file: its sha256 when stored in LFS, else its git blob sha1."""
    from genemail.hub.publish import git_blob_sha1

    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest() if lfs else git_blob_sha1(data)


def verify_file(local: Path, repo_id: str, sha: str, path_in_repo: str, *, repo_type: str = "model",
                token: str | None = None, api: "HfApi | None" = None) -> tuple[bool | None, str]:
    """(True, "") when ``local`` equals ``path_in_repo`` at commit ``sha``; (False, why) when it differs;
    (None, why) when the Hub could not be asked."""
    from huggingface_hub import HfApi

    from genemail.errors import HubError
    from genemail.hub.publish import remote_files

    api = api or HfApi(token=token)
    try:
        remote = remote_files(api, repo_id, repo_type, sha)
    except HubError as err:
        return None, f"the Hub could not be asked ({err.what})"
    if path_in_repo not in remote:
        return False, f"{repo_id}@{sha[:12]} has no {path_in_repo}"
    blob_id, lfs_sha256 = remote[path_in_repo]
    if local_file_id(local, lfs_sha256 is not None) != (lfs_sha256 or blob_id):
        return False, f"{local} differs from {repo_id}@{sha[:12]}/{path_in_repo}"
    return True, ""
