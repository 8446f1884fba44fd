"""Publish an artifacts folder to a Hub: one repo per artifact, then a release repo pinning them all.

Order: plan every repo's files in memory (cards rendered, nothing written to the artifacts folder),
check the tag in every repo *before* writing anything (an existing tag pointing at different content
is an error, so a failed publish never moves a tag), then commit each repo (only files whose blob oid
differs from the remote head, so an unchanged artifact makes no commit), tag each pinned commit, and
finally commit ``release.json`` + card + strategies + eval to the release repo and tag it. A folder
written by preference tuning has a ``lineage.json``; it becomes the manifest's ``lineage`` (parent
release, experiment, preference dataset commit, parent adapter commits) and a section of the card.

Endpoint and token come from ``HF_ENDPOINT`` / ``HF_TOKEN`` as ``huggingface_hub`` reads them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail import taxonomy
from genemail.errors import ArtifactError, ConfigError, HubError
from genemail.hub import cards
from genemail.hub.errors import hub_errors
from genemail.hub.lineage import read_lineage_file
from genemail.hub.manifest import (
    MANIFEST_FILENAME,
    ArtifactPin,
    BaseModelRef,
    FileRef,
    ReleaseManifest,
    is_full_sha,
)
from genemail.hub.vllm_compat import check_for_publish

if TYPE_CHECKING:
    from huggingface_hub import HfApi

SEGMENTER_REPO = "genemail-segmenter"
BASE_REPO = "genemail-base"
CORPUS_REPO = "genemail-corpus"
RELEASE_REPO = "genemail-release"
STRATEGIES_FILE = "strategies.yaml"
LINEAGE_FILE = "lineage.json"  # written by training.train_preference; becomes the manifest's lineage
KEEP_REMOTE = frozenset({".gitattributes"})  # created by the Hub itself; never deleted

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


@dataclass(frozen=True)
class PublishConfig:
    """What to publish and where. ``token`` None lets the client read ``HF_TOKEN``."""

    artifacts: Path
    namespace: str
    tag: str
    private: bool = False
    token: str | None = field(default=None, repr=False)
    force: bool = False  # publish adapters vLLM would refuse; the release records it (genemail.hub.vllm_compat)

    def __post_init__(self) -> None:
        if not (self.artifacts / "segmenter" / "segmenter.skops").is_file():
            raise ConfigError(f"artifacts={str(self.artifacts)!r} has no segmenter/segmenter.skops",
                              fix="pass the folder `make train` built (--artifacts artifacts)")
        if not _NAME.fullmatch(self.namespace or ""):
            raise ConfigError(f"namespace={self.namespace!r} is invalid",
                              fix="pass --namespace as a user or organization name (letters, digits, - _ .)")
        if not _NAME.fullmatch(self.tag or "") or is_full_sha(self.tag) or self.tag in ("main", "HEAD"):
            raise ConfigError(f"tag={self.tag!r} is invalid",
                              fix="pass --tag as a release name such as v1 (not a branch or commit sha)")


@dataclass
class RepoPlan:
    """The exact files one artifact repo must hold after publishing (path in repo -> file or bytes)."""

    name: str
    repo_id: str
    repo_type: str
    files: dict[str, Path | bytes]

    def blob(self, path: str) -> bytes:
        value = self.files[path]
        return value if isinstance(value, bytes) else value.read_bytes()


@dataclass(frozen=True)
class PublishedRepo:
    """One repo after publishing: its pinned commit and whether this run committed to it."""

    name: str
    repo_id: str
    repo_type: str
    sha: str
    committed: bool


@dataclass(frozen=True)
class PublishResult:
    """What ``publish`` did: the manifest, the release commit and every artifact repo."""

    manifest: ReleaseManifest
    release_repo: str
    release_sha: str
    tag: str
    repos: list[PublishedRepo]
    release_committed: bool


# ---------------------------------------------------------------------------------------- planning

def _folder_files(folder: Path) -> dict[str, Path]:
    """Every regular file under ``folder`` by POSIX relative path, hidden files and folders skipped."""
    out: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = path
    return out


def _base_model_id(cfg: PublishConfig) -> str | None:
    if (cfg.artifacts / "base").is_dir():
        return f"{cfg.namespace}/{BASE_REPO}"
    ref = _read_base_model_json(cfg.artifacts)
    return ref["id"] if ref else None


def _read_base_model_json(artifacts: Path) -> dict[str, Any] | None:
    path = artifacts / "base_model.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ArtifactError(f"invalid JSON ({err.msg})", where=str(path), fix='write {"id": ..., "revision": ...}') from None
    if not isinstance(data, dict) or not data.get("id"):
        raise ArtifactError("needs an 'id' field", where=str(path), fix='write {"id": "Qwen/Qwen3-0.6B", "revision": "<sha>"}')
    return data


def plan_segmenter(cfg: PublishConfig) -> RepoPlan:
    """segmenter.skops, its json files and plots, and a skops-style card."""
    return segmenter_plan(cfg.namespace, cfg.artifacts / "segmenter")


def segmenter_plan(namespace: str, folder: Path) -> RepoPlan:
    """The segmenter repo's files from a folder with segmenter.skops (what :func:`plan_segmenter` plans)."""
    files: dict[str, Path | bytes] = {k: v for k, v in _folder_files(folder).items() if k != "README.md"}
    repo_id = f"{namespace}/{SEGMENTER_REPO}"
    trusted = cards.segmenter_trusted_types(folder / "segmenter.skops")
    card = cards.render_segmenter_card(folder, repo_id, sorted([*files, "README.md"]), trusted)
    files["README.md"] = card.encode("utf-8")
    return RepoPlan("segmenter", repo_id, "model", files)


def plan_adapter(cfg: PublishConfig, folder: Path, base_id: str | None) -> RepoPlan:
    """A PEFT adapter folder, its card's ``base_model`` and config's base path set to the published base."""
    return adapter_plan(cfg.namespace, folder, base_id)


def adapter_plan(namespace: str, folder: Path, base_id: str | None) -> RepoPlan:
    """The adapter repo's files for the adapter folder ``folder`` (named after its segment)."""
    segment = folder.name
    if segment not in (*taxonomy.L2_SEGMENTS, taxonomy.BASELINE):
        raise ArtifactError(f"adapter folder {segment!r} is not a segment name", where=str(folder),
                            fix=f"name adapter folders after {', '.join(taxonomy.L2_SEGMENTS)} or {taxonomy.BASELINE}")
    if not (folder / "adapter_config.json").is_file():
        raise ArtifactError("missing adapter_config.json (not a PEFT adapter)", where=str(folder),
                            fix="re-train it: python -m training.train_adapters")
    files: dict[str, Path | bytes] = dict(_folder_files(folder))
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    base_id = base_id or config.get("base_model_name_or_path") or "unknown"
    if config.get("base_model_name_or_path") != base_id:
        # So that AutoPeftModel / PeftModel.from_pretrained find the base on the Hub, not a local folder.
        config["base_model_name_or_path"] = base_id
        files["adapter_config.json"] = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")
    files["README.md"] = cards.render_adapter_card(folder, segment, base_id).encode("utf-8")
    return RepoPlan(f"adapter:{segment}", f"{namespace}/{taxonomy.adapter_repo_name(segment)}", "model", files)


def plan_artifacts(cfg: PublishConfig) -> list[RepoPlan]:
    """Every artifact repo to publish, base first (adapters name it), in a stable order."""
    plans: list[RepoPlan] = []
    base = cfg.artifacts / "base"
    if base.is_dir():
        plans.append(RepoPlan("base", f"{cfg.namespace}/{BASE_REPO}", "model", dict(_folder_files(base))))
    plans.append(plan_segmenter(cfg))
    corpus = cfg.artifacts / "corpus"
    if corpus.is_dir():
        if (corpus / "README.md").is_file():
            cards.check_dataset_card(corpus / "README.md")
        plans.append(RepoPlan("corpus", f"{cfg.namespace}/{CORPUS_REPO}", "dataset", dict(_folder_files(corpus))))
    adapters = cfg.artifacts / "adapters"
    if adapters.is_dir():
        base_id = _base_model_id(cfg)
        plans += [plan_adapter(cfg, d, base_id) for d in sorted(adapters.iterdir()) if d.is_dir()]
    user_vector = cfg.artifacts / "user_vector"
    if (user_vector / "model.safetensors").is_file():
        plans.append(plan_user_vector(cfg, user_vector, _base_model_id(cfg)))
    return plans


def plan_user_vector(cfg: PublishConfig, folder: Path, base_id: str | None) -> RepoPlan:
    """The user vector's files, its card re-rendered to name the published base model (FR-13)."""
    from genemail.user_vector.artifact import CARD, REPO_NAME, load_user_vector, read_metrics, render_card

    model = load_user_vector(folder)  # refuses a broken artifact before anything is published
    files: dict[str, Path | bytes] = dict(_folder_files(folder))
    files[CARD] = render_card(model.config, read_metrics(folder), base_id or "unknown").encode("utf-8")
    return RepoPlan("user_vector", f"{cfg.namespace}/{REPO_NAME}", "model", files)


# ------------------------------------------------------------------------------------ hub syncing

def git_blob_sha1(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub reports as a file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def remote_files(api: "HfApi", repo_id: str, repo_type: str, revision: str) -> dict[str, tuple[str, str | None]]:
    """``path -> (git blob oid, lfs sha256 or None)`` of every file at ``revision``."""
    from huggingface_hub.hf_api import RepoFile

    with hub_errors(repo_id, revision, action="read from"):
        entries = api.list_repo_tree(repo_id, recursive=True, revision=revision, repo_type=repo_type)
        return {e.path: (e.blob_id, e.lfs.sha256 if e.lfs else None) for e in entries if isinstance(e, RepoFile)}


def diff(plan: RepoPlan, remote: dict[str, tuple[str, str | None]]) -> tuple[list[str], list[str]]:
    """(paths to upload, remote paths to delete) so that the repo holds exactly ``plan.files``.

    Compared by content: the git blob sha1 for regular files, the sha256 for LFS files (real Hub).
    """
    changed: list[str] = []
    for path in sorted(plan.files):
        if path not in remote:
            changed.append(path)
            continue
        blob_id, lfs_sha256 = remote[path]
        data = plan.blob(path)
        local = hashlib.sha256(data).hexdigest() if lfs_sha256 else git_blob_sha1(data)
        if local != (lfs_sha256 or blob_id):
            changed.append(path)
    stale = sorted(p for p in remote if p not in plan.files and p not in KEEP_REMOTE)
    return changed, stale


def _refs(api: "HfApi", repo_id: str, repo_type: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """(branches, tags) as name -> commit, or None when the repo does not exist yet."""
    from huggingface_hub import errors as hf

    try:
        refs = api.list_repo_refs(repo_id, repo_type=repo_type)
    except hf.RepositoryNotFoundError:
        return None
    return {b.name: b.target_commit for b in refs.branches}, {t.name: t.target_commit for t in refs.tags}


def tagged_commit(api: "HfApi", plan: RepoPlan, tag: str) -> str | None:
    """The commit ``tag`` names in this repo if it holds exactly the planned files; None if no such tag.

    Raises :class:`HubError` when the tag exists and points at different content.
    """
    with hub_errors(plan.repo_id, action="read from"):
        refs = _refs(api, plan.repo_id, plan.repo_type)
    if refs is None or tag not in refs[1]:
        return None
    sha = refs[1][tag]
    changed, stale = diff(plan, remote_files(api, plan.repo_id, plan.repo_type, sha))
    if changed or stale:
        raise HubError(
            f"tag {tag!r} already exists at {sha[:12]} with different content ({len(changed)} changed, "
            f"{len(stale)} removed file(s), e.g. {(changed + stale)[0]})",
            where=plan.repo_id, fix="choose a new tag (--tag v2); published tags are never moved")
    return sha


def sync_repo(api: "HfApi", plan: RepoPlan, *, private: bool, message: str,
              description: str | None = None) -> PublishedRepo:
    """Make ``main`` hold exactly ``plan.files``: one atomic commit, or none when nothing changed.

    ``message`` is the commit's title, ``description`` (optional) its body.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    with hub_errors(plan.repo_id, action="write to"):
        api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=private, exist_ok=True)
        branches, _ = _refs(api, plan.repo_id, plan.repo_type) or ({}, {})
    head = branches.get("main")
    remote = remote_files(api, plan.repo_id, plan.repo_type, head) if head else {}
    changed, stale = diff(plan, remote)
    if head and not changed and not stale:
        return PublishedRepo(plan.name, plan.repo_id, plan.repo_type, head, committed=False)
    ops: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=plan.files[p]) for p in changed]
    ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
    with hub_errors(plan.repo_id, "main", action="write to"):
        # create_commit (not upload_folder): one atomic commit; parent_commit refuses a concurrent writer.
        info = api.create_commit(plan.repo_id, operations=ops, commit_message=message,
                                 commit_description=description, repo_type=plan.repo_type, parent_commit=head)
    if not is_full_sha(info.oid):
        raise HubError(f"the Hub returned commit id {info.oid!r}, not a full sha", where=plan.repo_id,
                       fix="use a Hub that returns 40-hex commit ids")
    return PublishedRepo(plan.name, plan.repo_id, plan.repo_type, info.oid, committed=info.oid != head)


def tag_commit(api: "HfApi", repo: PublishedRepo, tag: str) -> None:
    """Tag ``repo.sha`` with ``tag`` unless that exact tag already exists there."""
    with hub_errors(repo.repo_id, action="tag"):
        refs = _refs(api, repo.repo_id, repo.repo_type)
        existing = refs[1].get(tag) if refs else None
        if existing == repo.sha:
            return
        if existing is not None:
            raise HubError(f"tag {tag!r} already points at {existing[:12]}, not {repo.sha[:12]}",
                           where=repo.repo_id, fix="choose a new tag (--tag v2)")
        api.create_tag(repo.repo_id, tag=tag, revision=repo.sha, repo_type=repo.repo_type,
                       tag_message=f"GenEmail release {tag}")


# ----------------------------------------------------------------------------------- the release

def _strategies(artifacts: Path) -> tuple[FileRef | None, bytes | None]:
    """The strategies file's bytes and its pin (sha256 + the file's own ``version``)."""
    path = artifacts / STRATEGIES_FILE
    if not path.is_file():
        return None, None
    data = path.read_bytes()
    return strategies_ref(data, str(path)), data


def strategies_ref(data: bytes, where: str) -> FileRef:
    """The manifest's pin of a strategies file's bytes: its sha256 and the file's own ``version``."""
    import yaml

    try:
        loaded = yaml.safe_load(data)
    except yaml.YAMLError as err:
        raise ArtifactError(f"invalid YAML ({err})", where=where, fix="fix the strategies file and re-publish") from None
    version = loaded.get("version") if isinstance(loaded, dict) else None
    return FileRef(STRATEGIES_FILE, hashlib.sha256(data).hexdigest(), None if version is None else str(version))


def _evaluation(artifacts: Path) -> tuple[FileRef | None, dict[str, Path]]:
    """``eval/`` files for the release repo, pinned by eval.json's sha256 (None when not evaluated)."""
    folder = artifacts / "eval"
    if not (folder / "eval.json").is_file():
        return None, {}
    files = {f"eval/{rel}": path for rel, path in _folder_files(folder).items()}
    digest = hashlib.sha256((folder / "eval.json").read_bytes()).hexdigest()
    return FileRef("eval/eval.json", digest, files=tuple(sorted(files))), files


def _base_model_ref(api: "HfApi", cfg: PublishConfig, pinned: dict[str, PublishedRepo]) -> BaseModelRef | None:
    """The base model pin: the published embedded base, or ``base_model.json`` resolved to a full sha."""
    if "base" in pinned:
        return BaseModelRef(pinned["base"].repo_id, pinned["base"].sha)
    ref = _read_base_model_json(cfg.artifacts)
    if ref is None:
        return None
    revision = ref.get("revision") or "main"
    if is_full_sha(revision):
        return BaseModelRef(ref["id"], revision)
    try:
        with hub_errors(ref["id"], revision, action="resolve on"):
            sha = api.repo_info(ref["id"], revision=revision).sha
    except HubError as err:
        raise HubError(f"base model revision {revision!r} cannot be pinned to a commit ({err.what})",
                       where=str(cfg.artifacts / "base_model.json"),
                       fix='write the base model\'s full 40-hex commit sha as "revision" in base_model.json') from None
    return BaseModelRef(ref["id"], sha)


def _previous_manifest(api: "HfApi", repo_id: str, revision: str | None) -> ReleaseManifest | None:
    """The release.json at ``revision`` (None when absent or unreadable: a new one is written)."""
    from huggingface_hub import errors as hf

    from genemail.errors import ReleaseError

    if revision is None:
        return None
    with hub_errors(repo_id, revision, action="read from"):
        try:
            path = api.hf_hub_download(repo_id, MANIFEST_FILENAME, revision=revision)
        except hf.EntryNotFoundError:
            return None
    try:
        return ReleaseManifest.from_json(Path(path).read_text(encoding="utf-8"))
    except ReleaseError:
        return None


def plan_release(api: "HfApi", cfg: PublishConfig, manifest: ReleaseManifest, previous: ReleaseManifest | None,
                 extra: dict[str, Path | bytes]) -> tuple[RepoPlan, ReleaseManifest]:
    """release.json + card + strategies + eval; keeps the previous ``created_at`` if nothing else changed."""
    from dataclasses import replace

    if previous is not None and previous.same_content(manifest):
        manifest = replace(manifest, created_at=previous.created_at)  # same bytes -> no commit
    repo_id = f"{cfg.namespace}/{RELEASE_REPO}"
    files: dict[str, Path | bytes] = dict(extra)
    files[MANIFEST_FILENAME] = manifest.to_json().encode("utf-8")
    files["README.md"] = cards.render_release_card(manifest, repo_id, api.endpoint).encode("utf-8")
    return RepoPlan("release", repo_id, "model", files), manifest


def publish(cfg: PublishConfig, api: "HfApi | None" = None) -> PublishResult:
    """Publish every artifact in ``cfg.artifacts`` and a release pinning them, all tagged ``cfg.tag``."""
    from huggingface_hub import HfApi

    api = api or HfApi(token=cfg.token)
    plans = plan_artifacts(cfg)
    serving = check_for_publish(api, cfg, plans)  # before any write: refuses unservable adapters unless forced
    lineage = read_lineage_file(cfg.artifacts / LINEAGE_FILE)  # a preference-tuned folder says its parents
    strategies_ref, strategies_bytes = _strategies(cfg.artifacts)
    eval_ref, eval_files = _evaluation(cfg.artifacts)
    release_id = f"{cfg.namespace}/{RELEASE_REPO}"

    # 1. Read-only: an existing tag must already hold exactly this content, checked before any write.
    tagged = {p.name: tagged_commit(api, p, cfg.tag) for p in plans}
    with hub_errors(release_id, action="read from"):
        release_refs = _refs(api, release_id, "model")
    release_tagged = release_refs[1].get(cfg.tag) if release_refs else None
    untagged = [p.repo_id for p in plans if tagged[p.name] is None]
    if release_tagged and untagged:
        raise HubError(f"tag {cfg.tag!r} is already a release, and {untagged[0]} is not part of it",
                       where=release_id, fix="choose a new tag (--tag v2); published tags are never moved")

    # 2. Artifact repos: commit what changed, tag the pinned commit.
    message = f"GenEmail publish {cfg.tag}"
    pinned: dict[str, PublishedRepo] = {}
    for plan in plans:
        sha = tagged[plan.name]
        repo = (PublishedRepo(plan.name, plan.repo_id, plan.repo_type, sha, committed=False) if sha
                else sync_repo(api, plan, private=cfg.private, message=f"{message}: {plan.name}"))
        tag_commit(api, repo, cfg.tag)
        pinned[plan.name] = repo

    # 3. The release repo.
    def pin(name: str) -> ArtifactPin | None:
        repo = pinned.get(name)
        return None if repo is None else ArtifactPin(repo.repo_id, repo.repo_type, repo.sha,
                                                      tuple(sorted(next(p for p in plans if p.name == name).files)))

    manifest = ReleaseManifest(
        namespace=cfg.namespace, segmenter=pin("segmenter"), base=pin("base"), corpus=pin("corpus"),  # type: ignore[arg-type]
        adapters={n.split(":", 1)[1]: pin(n) for n in pinned if n.startswith("adapter:")},  # type: ignore[misc]
        base_model=_base_model_ref(api, cfg, pinned), strategies=strategies_ref, eval=eval_ref, serving=serving,
        lineage=lineage, user_vector=pin("user_vector"),
    )
    extra: dict[str, Path | bytes] = dict(eval_files)
    if strategies_bytes is not None:
        extra[STRATEGIES_FILE] = strategies_bytes
    head = (release_refs[0] if release_refs else {}).get("main")
    previous = _previous_manifest(api, release_id, release_tagged or head)
    release_plan, manifest = plan_release(api, cfg, manifest, previous, extra)
    if release_tagged:  # same tag re-published: must be byte-identical, else tagged_commit raises
        release = PublishedRepo("release", release_id, "model", tagged_commit(api, release_plan, cfg.tag) or "", False)
    else:
        release = sync_repo(api, release_plan, private=cfg.private, message=f"{message}: release")
        tag_commit(api, release, cfg.tag)
    return PublishResult(manifest, release_id, release.sha, cfg.tag, list(pinned.values()), release.committed)
