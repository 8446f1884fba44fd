"""The release manifest (``release.json``): one file that pins every artifact of a release.

A release is reproducible only if every pin is immutable, so every artifact is pinned by its repo id,
repo type and *full* 40-hex commit sha (never a branch or tag), and the manifest refuses to load
otherwise. The strategies file lives in the release repo itself, pinned by its sha256.

Format (``format_version`` 1)::

    {
      "format_version": 1,
      "created_at": "2026-01-02T03:04:05Z",
      "namespace": "demo",
      "artifacts": {
        "segmenter": {"repo_id": "demo/genemail-segmenter", "repo_type": "model", "sha": "<40 hex>",
                      "files": ["segmenter.skops", ...]},
        "base": {...} | null,
        "corpus": {... "repo_type": "dataset" ...} | null,
        "adapters": {"Dormant": {...}, "baseline": {...}},
        "user_vector": {...}       (only when the release has one: FR-13's encoder + projector)
      },
      "base_model": {"id": "demo/genemail-base", "revision": "<40 hex>"} | null,
      "strategies": {"path": "strategies.yaml", "version": "3", "sha256": "<64 hex>"} | null,
      "eval": {"path": "eval/eval.json", "sha256": "<64 hex>", "files": [...]} | null,
      "serving_check": {"engine": "vllm", "passed": true, "forced": false, "max_lora_rank": 8,
                        "problems": []}              (absent in releases published before the check)
      "lineage": {...}            # only in a release made by preference tuning (genemail.hub.lineage)
      "rules": {"path": "segment_rules.json", "sha256": "<64 hex>"}   (only when the release has its own
                                  segment thresholds: the strategy studio saves them)
    }

``lineage`` and ``rules`` are optional and written only when present, so every release published before it existed
keeps its exact bytes; a reader that does not know the key ignores it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genemail.clock import utc_now
from genemail.errors import ReleaseError

if TYPE_CHECKING:
    from genemail.hub.lineage import Lineage

FORMAT_VERSION = 1
MANIFEST_FILENAME = "release.json"
REPO_TYPES = ("model", "dataset")

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIX = "re-publish the release with `genemail publish` (pins are written by the tool, not by hand)"


def is_full_sha(value: object) -> bool:
    """True when ``value`` is a full, lower-case 40-hex git commit sha."""
    return isinstance(value, str) and _FULL_SHA.fullmatch(value) is not None


def _require(cond: bool, what: str, where: str) -> None:
    if not cond:
        raise ReleaseError(what, where=where, fix=_FIX)


@dataclass(frozen=True)
class ArtifactPin:
    """One artifact repo pinned at one commit."""

    repo_id: str
    repo_type: str
    sha: str
    files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"release manifest, artifact {self.repo_id!r}"
        _require(isinstance(self.repo_id, str) and self.repo_id.count("/") == 1, "repo_id must be 'namespace/name'", where)
        _require(self.repo_type in REPO_TYPES, f"repo_type={self.repo_type!r} is not one of {REPO_TYPES}", where)
        _require(
            is_full_sha(self.sha),
            f"sha={self.sha!r} is not a full 40-hex commit sha (branches and tags are mutable)",
            where,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"repo_id": self.repo_id, "repo_type": self.repo_type, "sha": self.sha, "files": list(self.files)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "ArtifactPin":
        _require(isinstance(data, dict), f"expected an object, got {type(data).__name__}", where)
        missing = {"repo_id", "repo_type", "sha"} - set(data)
        _require(not missing, f"missing field(s) {sorted(missing)}", where)
        files = data.get("files", [])
        _require(isinstance(files, list) and all(isinstance(f, str) for f in files), "files must be a list of paths", where)
        return cls(data["repo_id"], data["repo_type"], data["sha"], tuple(files))


@dataclass(frozen=True)
class BaseModelRef:
    """The causal LM every adapter sits on: a repo id and a full commit sha."""

    id: str
    revision: str

    def __post_init__(self) -> None:
        where = "release manifest, base_model"
        _require(isinstance(self.id, str) and bool(self.id), "id must be a non-empty repo id", where)
        _require(is_full_sha(self.revision), f"revision={self.revision!r} is not a full 40-hex commit sha", where)


@dataclass(frozen=True)
class FileRef:
    """A file committed in the release repo itself, pinned by sha256 (strategies, eval)."""

    path: str
    sha256: str
    version: str | None = None
    files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"release manifest, file {self.path!r}"
        _require(isinstance(self.path, str) and bool(self.path), "path must be a non-empty repo path", where)
        _require(
            isinstance(self.sha256, str) and _SHA256.fullmatch(self.sha256) is not None,
            f"sha256={self.sha256!r} is not a 64-hex digest",
            where,
        )

    def to_dict(self, *, with_version: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "sha256": self.sha256}
        if with_version:
            out["version"] = self.version
        if self.files:
            out["files"] = list(self.files)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "FileRef":
        _require(isinstance(data, dict), f"expected an object, got {type(data).__name__}", where)
        _require({"path", "sha256"} <= set(data), "missing field 'path' or 'sha256'", where)
        version = data.get("version")
        return cls(data["path"], data["sha256"], None if version is None else str(version), tuple(data.get("files", [])))


@dataclass(frozen=True)
class ServingCheck:
    """The serving engine's adapter check at publish (``genemail.hub.vllm_compat``), and whether it was forced."""

    passed: bool
    forced: bool = False
    max_lora_rank: int | None = None
    problems: tuple[str, ...] = ()
    engine: str = "vllm"

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "passed": self.passed, "forced": self.forced,
                "max_lora_rank": self.max_lora_rank, "problems": list(self.problems)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "ServingCheck":
        _require(isinstance(data, dict) and isinstance(data.get("passed"), bool),
                 "serving_check needs a boolean 'passed'", where)
        problems = data.get("problems") or []
        _require(isinstance(problems, list) and all(isinstance(p, str) for p in problems),
                 "serving_check.problems must be a list of strings", where)
        return cls(passed=data["passed"], forced=bool(data.get("forced", False)),
                   max_lora_rank=data.get("max_lora_rank"), problems=tuple(problems),
                   engine=str(data.get("engine", "vllm")))


@dataclass(frozen=True)
class ReleaseManifest:
    """Everything one release revision pins; serialized as ``release.json``."""

    namespace: str
    segmenter: ArtifactPin
    adapters: dict[str, ArtifactPin] = field(default_factory=dict)
    base: ArtifactPin | None = None
    corpus: ArtifactPin | None = None
    base_model: BaseModelRef | None = None
    strategies: FileRef | None = None
    eval: FileRef | None = None
    serving: ServingCheck | None = None  # None: published before the check existed
    lineage: "Lineage | None" = None
    user_vector: ArtifactPin | None = None  # FR-13; written only when present (older releases keep their bytes)
    rules: FileRef | None = None  # the segment thresholds file in the release repo; written only when present
    created_at: str = field(default_factory=utc_now)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        _require(
            self.format_version == FORMAT_VERSION,
            f"format_version={self.format_version!r} is not supported (this GenEmail reads {FORMAT_VERSION})",
            "release manifest",
        )
        _require(bool(self.namespace), "namespace must not be empty", "release manifest")

    def pins(self) -> dict[str, ArtifactPin]:
        """Every pinned artifact under a display name: segmenter, base, corpus, adapter:<segment>."""
        out: dict[str, ArtifactPin] = {"segmenter": self.segmenter}
        if self.base is not None:
            out["base"] = self.base
        if self.corpus is not None:
            out["corpus"] = self.corpus
        out.update({f"adapter:{name}": pin for name, pin in sorted(self.adapters.items())})
        if self.user_vector is not None:
            out["user_vector"] = self.user_vector
        return out

    def to_dict(self) -> dict[str, Any]:
        out = self._core_dict()
        if self.serving is not None:
            out["serving_check"] = self.serving.to_dict()
        if self.lineage is not None:
            out["lineage"] = self.lineage.to_dict()
        if self.rules is not None:
            out["rules"] = self.rules.to_dict(with_version=False)
        return out

    def _core_dict(self) -> dict[str, Any]:
        out = {
            "format_version": self.format_version,
            "created_at": self.created_at,
            "namespace": self.namespace,
            "artifacts": {
                "segmenter": self.segmenter.to_dict(),
                "base": self.base.to_dict() if self.base else None,
                "corpus": self.corpus.to_dict() if self.corpus else None,
                "adapters": {k: v.to_dict() for k, v in sorted(self.adapters.items())},
            },
            "base_model": {"id": self.base_model.id, "revision": self.base_model.revision} if self.base_model else None,
            "strategies": self.strategies.to_dict(with_version=True) if self.strategies else None,
            "eval": self.eval.to_dict(with_version=False) if self.eval else None,
        }
        if self.user_vector is not None:
            out["artifacts"]["user_vector"] = self.user_vector.to_dict()
        return out

    def to_json(self) -> str:
        """Stable JSON (sorted adapters, fixed key order, trailing newline) so equal releases are equal bytes."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def same_content(self, other: "ReleaseManifest") -> bool:
        """Equal apart from ``created_at``: re-publishing such a release must not make a commit."""
        a, b = self.to_dict(), other.to_dict()
        a.pop("created_at"), b.pop("created_at")
        return a == b

    @classmethod
    def from_dict(cls, data: Any) -> "ReleaseManifest":
        """Validate and build; any problem raises :class:`ReleaseError` naming the field."""
        where = "release manifest"
        _require(isinstance(data, dict), "top level must be a JSON object", where)
        _require(data.get("format_version") == FORMAT_VERSION,
                 f"format_version={data.get('format_version')!r} is not supported (expected {FORMAT_VERSION})", where)
        arts = data.get("artifacts")
        _require(isinstance(arts, dict), "missing object 'artifacts'", where)
        _require(arts.get("segmenter") is not None, "artifacts.segmenter is missing", where)
        adapters = arts.get("adapters") or {}
        _require(isinstance(adapters, dict), "artifacts.adapters must be an object", where)

        def opt_pin(key: str) -> ArtifactPin | None:
            value = arts.get(key)
            return None if value is None else ArtifactPin.from_dict(value, f"{where}, artifacts.{key}")

        base_model = data.get("base_model")
        if base_model is not None:
            _require(isinstance(base_model, dict) and {"id", "revision"} <= set(base_model),
                     "base_model needs 'id' and 'revision'", where)
            base_model = BaseModelRef(base_model["id"], base_model["revision"])
        strategies, evaluation, rules = data.get("strategies"), data.get("eval"), data.get("rules")
        serving = data.get("serving_check")
        lineage = None
        if data.get("lineage") is not None:
            from genemail.hub.lineage import Lineage

            lineage = Lineage.from_dict(data["lineage"], where=f"{where}, lineage")
        return cls(
            namespace=data.get("namespace") or "",
            segmenter=ArtifactPin.from_dict(arts["segmenter"], f"{where}, artifacts.segmenter"),
            adapters={k: ArtifactPin.from_dict(v, f"{where}, artifacts.adapters.{k}") for k, v in adapters.items()},
            base=opt_pin("base"),
            corpus=opt_pin("corpus"),
            user_vector=opt_pin("user_vector"),
            base_model=base_model,
            strategies=None if strategies is None else FileRef.from_dict(strategies, f"{where}, strategies"),
            eval=None if evaluation is None else FileRef.from_dict(evaluation, f"{where}, eval"),
            serving=None if serving is None else ServingCheck.from_dict(serving, f"{where}, serving_check"),
            lineage=lineage,
            rules=None if rules is None else FileRef.from_dict(rules, f"{where}, rules"),
            created_at=str(data.get("created_at") or ""),
            format_version=data["format_version"],
        )

    @classmethod
    def from_json(cls, text: str, *, source: str = MANIFEST_FILENAME) -> "ReleaseManifest":
        """Parse ``release.json`` text; invalid JSON or fields raise :class:`ReleaseError`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ReleaseError(f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})",
                               where=source, fix=_FIX) from None
        return cls.from_dict(data)
