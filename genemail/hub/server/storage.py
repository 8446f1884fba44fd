"""The durable, git-backed repository store behind the local Hub.

Layout under the root folder::

    ROOT/models/<namespace>/<name>.git/      a bare git repository per repo
    ROOT/datasets/<namespace>/<name>.git/
    ROOT/spaces/<namespace>/<name>.git/
        genemail-repo.json                   visibility and metadata (written temp + os.replace)
        genemail.lock                        flock()ed while a writer changes the repo
    ROOT/.tmp/                               scratch (new repos before their atomic rename, private indexes)
    ROOT/.trash/                             deleted repos on their way out

Writes are atomic: a commit writes its blobs, tree and commit objects first (git writes each object
to a temp file and renames it), and only then moves the branch with ``git update-ref NEW OLD``, a
compare-and-swap. A crash at any point before that leaves the branch at its previous commit; stray
objects are harmless. Commits to one repo are serialized by a thread lock plus an ``flock`` (which
the kernel releases when a process dies, so a ``kill -9`` never leaves a stale lock behind).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from genemail.errors import ConfigError
from genemail.hub.server import git
from genemail.hub.server.payload import check_repo_path
from genemail.hub.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
)

REPO_TYPES = ("model", "dataset", "space")
DEFAULT_BRANCH = "main"
META_FILE = "genemail-repo.json"
LOCK_FILE = "genemail.lock"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
SHORT_SHA_RE = re.compile(r"[0-9a-f]{7,39}")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_FILE_MODE = "100644"


@dataclass(frozen=True)
class RepoId:
    """A repository address: type (model/dataset/space), namespace and name."""

    type: str
    namespace: str
    name: str

    def __post_init__(self) -> None:
        if self.type not in REPO_TYPES:
            raise BadRequest(f"unknown repo type {self.type!r}", fix=f"use one of {', '.join(REPO_TYPES)}")
        for part, value in (("namespace", self.namespace), ("name", self.name)):
            if not NAME_RE.fullmatch(value) or value.endswith((".git", ".lock")) or ".." in value:
                raise BadRequest(
                    f"repo {part} {value!r} is invalid",
                    fix="use letters, digits, '-', '_' or '.' (at most 96 characters, no '..', not ending in .git)",
                )

    @property
    def id(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def url_prefix(self) -> str:
        """The URL path prefix the Hub uses for this type ('' for models, 'datasets/' for datasets...)."""
        return "" if self.type == "model" else f"{self.type}s/"


@dataclass(frozen=True)
class Repo:
    """An existing repository: its id, folder and metadata (``uid`` tells a re-created repo from the old one)."""

    id: RepoId
    path: Path
    private: bool
    created_at: int
    owner: str = ""
    uid: str = ""


@dataclass(frozen=True)
class AddFile:
    """Commit operation: put a file at ``path``, given as bytes (``data``) or as a blob already written (``oid``).

    Streamed uploads write their blobs while the body arrives and pass ``oid``; ``data`` is for
    small contents and tests.
    """

    path: str
    data: bytes | None = None
    oid: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.oid is None):
            raise ValueError("AddFile needs exactly one of data= and oid=")


@dataclass(frozen=True)
class DeleteFile:
    """Commit operation: delete the file at ``path`` (it must exist)."""

    path: str


@dataclass(frozen=True)
class DeleteFolder:
    """Commit operation: delete every file under the folder ``path`` (at least one must exist)."""

    path: str


Operation = AddFile | DeleteFile | DeleteFolder


def is_valid_ref_name(name: str) -> bool:
    """Whether ``name`` is a safe branch/tag name (git's check-ref-format rules, checked in Python)."""
    if not name or len(name) > 255 or _REF_FORBIDDEN.search(name) or ".." in name or "@{" in name:
        return False
    if name == "@" or name.endswith((".", "/")) or name.startswith("/"):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/"))


def _repo_from_meta(repo_id: RepoId, path: Path, meta: object) -> Repo:
    if not isinstance(meta, dict):
        raise RepoNotFound(f"repository {repo_id.id} ({repo_id.type}) has unreadable metadata",
                           where=str(path / META_FILE), fix="restore the file from a backup")
    return Repo(id=repo_id, path=path, private=meta.get("private") is True,
                created_at=int(meta.get("created_at") or 0), owner=str(meta.get("owner") or repo_id.namespace),
                uid=str(meta.get("uid") or ""))


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RepoStore:
    """All repositories under one root folder. Thread-safe; one server process per root is expected."""

    def __init__(self, root: Path, commit_delay: float = 0.0) -> None:
        if commit_delay < 0:
            raise ConfigError(f"commit_delay={commit_delay!r} is negative", where="commit_delay",
                              fix="pass 0 (the default) or a positive number of seconds")
        self.root = Path(root)
        self.commit_delay = commit_delay  # test hook: sleep between commit-tree and update-ref
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        for sub in (".tmp", ".trash"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._recover()

    # -- repositories -------------------------------------------------------------------------

    def folder(self, repo_id: RepoId) -> Path:
        """Where ``repo_id`` lives (whether or not it exists)."""
        return self.root / f"{repo_id.type}s" / repo_id.namespace / f"{repo_id.name}.git"

    def get(self, repo_id: RepoId) -> Repo:
        """The repository, or ``RepoNotFound`` (visibility is the caller's business)."""
        path = self.folder(repo_id)
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            raise RepoNotFound(f"repository {repo_id.id} ({repo_id.type}) not found",
                               fix="check the repo id and repo_type, or create the repo first") from None
        except ValueError:  # written temp + rename, so only a hand edit can break it
            meta = None
        return _repo_from_meta(repo_id, path, meta)

    def list_repos(self, repo_type: str) -> list[Repo]:
        """Every repo of ``repo_type``, sorted by id (folders that are not valid repos are skipped)."""
        repos = []
        for path in sorted((self.root / f"{repo_type}s").glob("*/*.git")):
            try:
                repos.append(self.get(RepoId(repo_type, path.parent.name, path.name[:-len(".git")])))
            except (BadRequest, RepoNotFound):
                continue
        return repos

    def create(self, repo_id: RepoId, owner: str, private: bool) -> Repo:
        """Create an empty repo (one empty initial commit on ``main``); ``Conflict`` if it exists."""
        final = self.folder(repo_id)
        if final.exists():
            raise Conflict(f"repository {repo_id.id} ({repo_id.type}) already exists",
                           fix="pass exist_ok=True or pick another name")
        tmp = self.root / ".tmp" / f"new-{uuid.uuid4().hex}.git"
        now = int(time.time())
        try:
            git.init_bare(tmp)
            _write_json_atomic(tmp / META_FILE, {"private": private, "created_at": now, "owner": owner,
                                                 "type": repo_id.type, "id": repo_id.id, "uid": uuid.uuid4().hex})
            # The Hub gives every new repo an initial commit, so "main" always resolves to a sha.
            empty = git.git(tmp, "mktree", input=b"").stdout.decode().strip()  # git treats it as virtual: store it
            first = git.commit_tree(tmp, empty, None, "initial commit", owner, now)
            git.update_ref(tmp, f"refs/heads/{DEFAULT_BRANCH}", first, None)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(tmp, final)  # atomic: the repo appears whole or not at all
            _fsync_dir(final.parent)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.exists():
                raise Conflict(f"repository {repo_id.id} ({repo_id.type}) already exists",
                               fix="pass exist_ok=True or pick another name") from None
            raise
        return self.get(repo_id)

    def delete(self, repo: Repo) -> None:
        """Remove a repository (moved aside atomically first, then erased)."""
        with self.locked(repo):
            trash = self.root / ".trash" / f"{uuid.uuid4().hex}.git"
            os.rename(repo.path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def set_private(self, repo: Repo, private: bool) -> None:
        """Change a repo's visibility."""
        with self.locked(repo):
            meta = json.loads((repo.path / META_FILE).read_text(encoding="utf-8"))
            meta["private"] = private
            _write_json_atomic(repo.path / META_FILE, meta)

    # -- locking and recovery -----------------------------------------------------------------

    @contextmanager
    def locked(self, repo: Repo) -> Iterator[None]:
        """Hold the repo's write lock (threads of this process and other processes).

        ``RepoNotFound`` if the repo was deleted (or deleted and re-created) since ``repo`` was read:
        a commit racing ``delete_repo`` must not write into a repo on its way to the trash.
        """
        with self._locks_guard:
            lock = self._locks.setdefault(repo.path, threading.Lock())
        with lock, self.alive(repo):
            with open(repo.path / LOCK_FILE, "a+b") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    current = self.get(repo.id)
                    if current.uid != repo.uid or current.created_at != repo.created_at:
                        raise self._gone(repo)
                    yield
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def alive(self, repo: Repo) -> Iterator[None]:
        """Turn git and file errors caused by the repo vanishing mid-request into ``RepoNotFound``."""
        try:
            yield
        except (git.GitCommandError, FileNotFoundError, NotADirectoryError):
            if (repo.path / META_FILE).is_file():
                raise  # the repo is there: a real failure
            raise self._gone(repo) from None

    @staticmethod
    def _gone(repo: Repo) -> RepoNotFound:
        return RepoNotFound(f"repository {repo.id.id} ({repo.id.type}) was deleted during this request",
                            fix="create the repo again if it is still wanted")

    def _recover(self) -> None:
        """After a crash: drop scratch files and git ref locks left by a killed process."""
        for entry in list((self.root / ".tmp").iterdir()) + list((self.root / ".trash").iterdir()):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        for repo_dir in self.root.glob("*s/*/*.git"):
            with open(repo_dir / LOCK_FILE, "a+b") as fh:
                try:  # only when no other live process is writing to this repo
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                for stale in [*repo_dir.glob("refs/**/*.lock"), *repo_dir.glob("*.lock")]:
                    if stale.name != LOCK_FILE:
                        stale.unlink(missing_ok=True)
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # -- revisions and reading ----------------------------------------------------------------

    def resolve(self, repo: Repo, revision: str) -> str:
        """The commit sha a branch, tag, full or short sha names; ``RevisionNotFound`` otherwise."""
        sha = None
        if git.SHA_RE.fullmatch(revision):
            sha = revision if git.object_type(repo.path, revision) == "commit" else None
        elif is_valid_ref_name(revision):
            candidates = [revision] if revision.startswith("refs/") else [
                f"refs/heads/{revision}", f"refs/tags/{revision}"]
            for ref in candidates:
                sha = git.rev_parse_commit(repo.path, ref)
                if sha:
                    break
            if sha is None and SHORT_SHA_RE.fullmatch(revision):
                sha = git.rev_parse_commit(repo.path, revision)
        if sha is None:
            raise RevisionNotFound(f"revision {revision!r} not found in {repo.id.id}",
                                   fix="use an existing branch, tag or commit sha (see list_repo_refs)")
        return sha

    def tree(self, repo: Repo, sha: str, path: str = "", *, recursive: bool = False) -> list[git.TreeEntry]:
        """The entries of the folder ``path`` at ``sha``; ``EntryNotFound`` if it is not a folder."""
        if path:
            path = check_repo_path(path)
            entry = git.entry_at(repo.path, sha, path)
            if entry is None or entry.kind != "tree":
                raise EntryNotFound(f"folder {path!r} not found at {sha[:10]} in {repo.id.id}",
                                    headers={"X-Repo-Commit": sha})
        return [e for e in git.ls_tree(repo.path, sha, path, recursive=recursive) if e.path != path]

    def entry(self, repo: Repo, sha: str, path: str) -> git.TreeEntry | None:
        """The file or folder at ``path`` in ``sha``, or None."""
        return git.entry_at(repo.path, sha, check_repo_path(path))

    def refs(self, repo: Repo) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """``(branches, tags)`` as lists of ``(name, commit sha)``."""
        branches, tags = [], []
        for ref, sha in git.list_refs(repo.path):
            if ref.startswith("refs/heads/"):
                branches.append((ref.removeprefix("refs/heads/"), sha))
            elif ref.startswith("refs/tags/"):
                tags.append((ref.removeprefix("refs/tags/"), sha))
        return branches, tags

    # -- writing ------------------------------------------------------------------------------

    def commit(self, repo: Repo, branch: str, ops: list[Operation], message: str, author: str,
               parent_commit: str | None = None) -> str:
        """Apply ``ops`` on top of ``branch`` as one new commit and return its sha.

        ``parent_commit`` (a full sha) makes it a compare-and-swap: unless it is exactly the branch
        head, ``PreconditionFailed``. A commit that changes nothing returns the current head, so a
        client retrying an already-stored commit does not create a duplicate.
        """
        if not is_valid_ref_name(branch) or branch.startswith("refs/"):
            raise BadRequest(f"cannot commit to revision {branch!r}", fix="commit to a branch name such as 'main'")
        if parent_commit is not None and not git.SHA_RE.fullmatch(parent_commit):
            raise BadRequest(f"parentCommit {parent_commit[:60]!r} is not a full commit sha",
                             where="header.parentCommit", fix="send the 40-character lowercase sha of the branch head")
        # Blobs are content-addressed, so they can be written before taking the lock.
        blobs = {op.path: op.oid or self.write_blob(repo, op.data or b"") for op in ops if isinstance(op, AddFile)}
        ref = f"refs/heads/{branch}"
        with self.locked(repo):
            head = git.rev_parse_commit(repo.path, ref)
            if head is None:
                raise RevisionNotFound(f"branch {branch!r} not found in {repo.id.id}",
                                       fix="create the branch first (create_branch) or commit to 'main'")
            if parent_commit is not None and head != parent_commit:
                raise PreconditionFailed(
                    f"parentCommit {parent_commit} is not the head of {branch!r} any more (head is {head})",
                    where=repo.id.id, fix="fetch the new head and retry the commit on top of it")
            files = {e.path: (e.mode, e.oid) for e in git.ls_tree(repo.path, head, recursive=True)
                     if e.kind == "blob"}
            _apply(files, ops, blobs, repo.id.id)
            index = self.root / ".tmp" / f"index-{uuid.uuid4().hex}"
            try:
                tree = git.write_tree(repo.path, files, index)
            finally:
                index.unlink(missing_ok=True)
            if tree == git.tree_of(repo.path, head):
                return head
            new = git.commit_tree(repo.path, tree, head, message, author, int(time.time()))
            if self.commit_delay:
                print(f"commit {new} written, sleeping {self.commit_delay}s before update-ref (test hook)",
                      file=sys.stderr, flush=True)
                time.sleep(self.commit_delay)
            if not git.update_ref(repo.path, ref, new, head):
                raise PreconditionFailed(f"branch {branch!r} moved during the commit", where=repo.id.id,
                                         fix="retry the commit")
            return new

    def write_blob(self, repo: Repo, data: bytes) -> str:
        """Store ``data`` as a blob (before any lock: blobs are content-addressed) and return its id."""
        with self.alive(repo):
            return git.hash_blob(repo.path, data)

    def write_blob_file(self, repo: Repo, path: Path) -> str:
        """Store the file at ``path`` as a blob without reading it into this process; return its id."""
        with self.alive(repo):
            return git.hash_file(repo.path, path)

    def create_branch(self, repo: Repo, branch: str, start: str) -> None:
        """Create ``branch`` at commit ``start``; ``Conflict`` if it exists."""
        self._create_ref(repo, "refs/heads/", branch, start, "branch")

    def create_tag(self, repo: Repo, tag: str, commit: str, message: str | None, tagger: str) -> None:
        """Create ``tag`` at ``commit`` (annotated when ``message`` is given); ``Conflict`` if it exists."""
        target = commit
        if message:
            target = git.create_annotated_tag(repo.path, tag, commit, message, tagger, int(time.time()))
        self._create_ref(repo, "refs/tags/", tag, target, "tag")

    def delete_ref(self, repo: Repo, kind: str, name: str) -> None:
        """Delete a branch (``kind='branch'``) or a tag; ``RevisionNotFound`` if it does not exist."""
        prefix = "refs/heads/" if kind == "branch" else "refs/tags/"
        if kind == "branch" and name == DEFAULT_BRANCH:
            raise BadRequest("the main branch cannot be deleted", where=repo.id.id)
        missing = RevisionNotFound(f"{kind} {name!r} not found in {repo.id.id}")
        if not is_valid_ref_name(name):
            raise missing
        with self.locked(repo):
            proc = git.git(repo.path, "rev-parse", "--verify", "--quiet", prefix + name, check=False)
            old = proc.stdout.decode().strip()
            if proc.returncode != 0 or not git.delete_ref(repo.path, prefix + name, old):
                raise missing

    def _create_ref(self, repo: Repo, prefix: str, name: str, target: str, kind: str) -> None:
        if not is_valid_ref_name(name) or name.startswith("refs/"):
            raise BadRequest(f"invalid {kind} name {name!r}",
                             fix="use letters, digits, '-', '_', '.', '/' (no '..', spaces or ~^:?*[\\)")
        with self.locked(repo):
            if not git.update_ref(repo.path, prefix + name, target, None):
                raise Conflict(f"{kind} {name!r} already exists in {repo.id.id}",
                               fix=f"pick another {kind} name or pass exist_ok=True")


def _apply(files: dict[str, tuple[str, str]], ops: list[Operation], blobs: dict[str, str], repo: str) -> None:
    """Apply commit operations, in order, to a flat ``path -> (mode, oid)`` map."""
    for op in ops:
        if isinstance(op, AddFile):
            folder_prefix = op.path + "/"
            if any(p.startswith(folder_prefix) for p in files):
                raise BadRequest(f"cannot add file {op.path!r}: a folder of that name exists", where=repo,
                                 fix="delete the folder first or choose another path")
            parents = op.path.split("/")[:-1]
            for i in range(1, len(parents) + 1):
                if "/".join(parents[:i]) in files:
                    raise BadRequest(f"cannot add {op.path!r}: {'/'.join(parents[:i])!r} is a file", where=repo,
                                     fix="delete that file first or choose another path")
            files[op.path] = (_FILE_MODE, blobs[op.path])
        elif isinstance(op, DeleteFile):
            if op.path not in files:
                raise EntryNotFound(f"A file with this name doesn't exist: {op.path!r}", where=repo)
            del files[op.path]
        else:
            prefix = op.path.rstrip("/") + "/"
            doomed = [p for p in files if p.startswith(prefix)]
            if not doomed:
                raise EntryNotFound(f"A folder with this name doesn't exist: {op.path!r}", where=repo)
            for p in doomed:
                del files[p]
