"""Thin wrappers around the ``git`` command line (plumbing only) for one bare repository.

Every repository the local Hub stores is a real bare git repository, so commit ids are git shas,
branches are ``refs/heads/*`` and tags are ``refs/tags/*``. We call the ``git`` executable rather
than re-implementing object storage: git already writes objects atomically (temp file + rename)
and ``git update-ref NEW OLD`` is an atomic compare-and-swap on a ref.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from genemail.errors import HubError

ZERO_SHA = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree id
SHA_RE = re.compile(r"[0-9a-f]{40}")

# A git config that ignores the machine's ~/.gitconfig and /etc/gitconfig: the server must behave
# the same everywhere (no user hooks, no default-branch surprises, no pager, no prompts).
# GIT_LITERAL_PATHSPECS: a path from a client is always a file name, never pathspec magic
# (":(glob)*", ":!x", "*"), whatever slipped past validation.
_GIT_ENV = {
    "GIT_LITERAL_PATHSPECS": "1",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "LC_ALL": "C",
}


class GitCommandError(HubError):
    """A git command failed unexpectedly (a server-side bug or a broken repository)."""


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a git tree listing: ``kind`` is ``"blob"`` or ``"tree"``; ``size`` only for blobs."""

    mode: str
    kind: str
    oid: str
    path: str
    size: int | None


def git(
    repo: Path,
    *args: str,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git --git-dir=repo args...`` and return the finished process (raises on failure if ``check``)."""
    full_env = {**os.environ, **_GIT_ENV, **(env or {})}
    proc = subprocess.run(
        ["git", f"--git-dir={repo}", *args],
        input=input,
        capture_output=True,
        env=full_env,
    )
    if check and proc.returncode != 0:
        raise GitCommandError(
            f"git {args[0]} failed with status {proc.returncode}: "
            f"{proc.stderr.decode(errors='replace').strip()[:300]}",
            where=str(repo),
            fix="check that the repository folder is an intact bare git repository",
        )
    return proc


def init_bare(path: Path) -> None:
    """Create a bare repository at ``path`` with durable, reproducible settings."""
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "init", "--quiet", "--bare", str(path)],
        check=True,
        capture_output=True,
        env={**os.environ, **_GIT_ENV},
    )
    # fsync objects and refs: an acknowledged commit must survive a power cut, not only kill -9.
    git(path, "config", "core.fsync", "committed")
    git(path, "config", "gc.auto", "0")  # no background gc racing a commit


def hash_blob(repo: Path, data: bytes) -> str:
    """Write ``data`` as a blob object and return its id (the git-blob SHA-1)."""
    return git(repo, "hash-object", "-w", "--stdin", input=data).stdout.decode().strip()


def hash_file(repo: Path, path: Path) -> str:
    """Write the file at ``path`` as a blob object (git reads it from disk, not from us); return its id."""
    return git(repo, "hash-object", "-w", "--no-filters", "--", str(path)).stdout.decode().strip()


def object_type(repo: Path, oid: str) -> str | None:
    """``"commit"``, ``"tree"``, ``"blob"``, ``"tag"`` or ``None`` when the object does not exist."""
    proc = git(repo, "cat-file", "-t", oid, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def rev_parse_commit(repo: Path, rev: str) -> str | None:
    """The commit a (pre-validated) ref or sha prefix points to, peeling annotated tags; ``None`` if none."""
    proc = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    out = proc.stdout.decode().strip()
    return out if proc.returncode == 0 and SHA_RE.fullmatch(out) else None


def ls_tree(repo: Path, commit: str, path: str = "", *, recursive: bool = False) -> list[TreeEntry]:
    """List a commit's tree (or the folder ``path`` in it); with ``recursive``, folders and all files."""
    args = ["ls-tree", "-l", "-z", "--full-tree"]
    if recursive:
        args += ["-r", "-t"]
    args.append(commit)
    if path:
        args += ["--", path.rstrip("/") + "/"]
    out = git(repo, *args).stdout
    return [_parse_ls_tree_line(rec) for rec in out.split(b"\0") if rec]


def entry_at(repo: Path, commit: str, path: str) -> TreeEntry | None:
    """The single tree entry at ``path`` in ``commit`` (a file or a folder), or ``None``."""
    out = git(repo, "ls-tree", "-l", "-z", "--full-tree", commit, "--", path).stdout
    for rec in out.split(b"\0"):
        if rec:
            entry = _parse_ls_tree_line(rec)
            if entry.path == path:
                return entry
    return None


def _parse_ls_tree_line(rec: bytes) -> TreeEntry:
    # "<mode> SP <type> SP <oid> SP* <size> TAB <path>" (size is "-" for trees)
    meta, path = rec.split(b"\t", 1)
    mode, kind, oid, size = meta.split()
    return TreeEntry(
        mode=mode.decode(),
        kind=kind.decode(),
        oid=oid.decode(),
        path=path.decode("utf-8", errors="surrogateescape"),
        size=None if size == b"-" else int(size),
    )


def stream_blob(repo: Path, oid: str, start: int = 0, end: int | None = None, chunk: int = 1 << 16) -> Iterator[bytes]:
    """Yield the bytes ``[start, end]`` (inclusive) of a blob without loading it whole into memory."""
    proc = subprocess.Popen(
        ["git", f"--git-dir={repo}", "cat-file", "blob", oid],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **_GIT_ENV},
    )
    assert proc.stdout is not None
    try:
        pos = 0
        limit = None if end is None else end + 1
        while limit is None or pos < limit:
            data = proc.stdout.read(chunk)
            if not data:
                break
            lo, hi = max(start - pos, 0), len(data) if limit is None else min(len(data), limit - pos)
            pos += len(data)
            if lo < hi:
                yield data[lo:hi]
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def write_tree(repo: Path, entries: dict[str, tuple[str, str]], index_file: Path) -> str:
    """Write a tree holding ``entries`` (path -> (mode, blob oid)) through a private index file."""
    env = {"GIT_INDEX_FILE": str(index_file)}
    lines = b"".join(
        f"{mode} {oid}\t".encode() + path.encode("utf-8", errors="surrogateescape") + b"\0"
        for path, (mode, oid) in sorted(entries.items())
    )
    git(repo, "read-tree", "--empty", env=env)
    if lines:
        git(repo, "update-index", "-z", "--index-info", input=lines, env=env)
    return git(repo, "write-tree", env=env).stdout.decode().strip()


def commit_tree(repo: Path, tree: str, parent: str | None, message: str, author: str, when: int) -> str:
    """Create a commit object (not yet on any branch) and return its sha."""
    ident = {
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": f"{author}@users.noreply.localhost",
        "GIT_AUTHOR_DATE": f"{when} +0000",
        "GIT_COMMITTER_NAME": author,
        "GIT_COMMITTER_EMAIL": f"{author}@users.noreply.localhost",
        "GIT_COMMITTER_DATE": f"{when} +0000",
    }
    args = ["commit-tree", tree, "-F", "-"]
    if parent:
        args += ["-p", parent]
    return git(repo, *args, input=message.encode(), env=ident).stdout.decode().strip()


def update_ref(repo: Path, ref: str, new: str, old: str | None) -> bool:
    """Atomically move ``ref`` from ``old`` to ``new`` (``old=None``: the ref must not exist yet).

    Returns False when the ref was not at ``old`` (someone else moved it): the compare-and-swap failed.
    """
    proc = git(repo, "update-ref", ref, new, old or ZERO_SHA, check=False)
    return proc.returncode == 0


def delete_ref(repo: Path, ref: str, old: str) -> bool:
    """Atomically delete ``ref`` if it still points to ``old``."""
    return git(repo, "update-ref", "-d", ref, old, check=False).returncode == 0


def list_refs(repo: Path) -> list[tuple[str, str]]:
    """Every branch and tag as ``(full ref name, commit sha)``, annotated tags peeled to their commit."""
    fmt = "%(refname)%00%(objectname)%00%(*objectname)"
    out = git(repo, "for-each-ref", f"--format={fmt}", "refs/heads", "refs/tags").stdout.decode()
    refs = []
    for line in out.splitlines():
        name, oid, peeled = line.split("\0")
        refs.append((name, peeled or oid))
    return refs


def create_annotated_tag(repo: Path, name: str, commit: str, message: str, tagger: str, when: int) -> str:
    """Write an annotated tag object for ``commit`` (the ref is set separately) and return its id."""
    body = (
        f"object {commit}\ntype commit\ntag {name}\n"
        f"tagger {tagger} <{tagger}@users.noreply.localhost> {when} +0000\n\n{message.rstrip()}\n"
    )
    return git(repo, "mktag", input=body.encode()).stdout.decode().strip()


@dataclass(frozen=True)
class CommitRecord:
    """One commit of the history, as ``git log`` reports it."""

    oid: str
    author: str
    timestamp: int
    title: str
    body: str


def log(repo: Path, commit: str, skip: int, limit: int) -> list[CommitRecord]:
    """Up to ``limit`` commits reachable from ``commit`` after skipping ``skip``, newest first."""
    # NUL between fields and (-z) between commits: the one byte a commit message cannot hold, so
    # any other separator a client might put in a summary cannot shift the fields.
    fmt = "%H%x00%an%x00%at%x00%s%x00%b"
    out = git(repo, "log", "-z", f"--format={fmt}", f"--skip={skip}", f"--max-count={limit}", commit, "--").stdout
    fields = out.decode("utf-8", errors="replace").split("\0")
    records = []
    for i in range(0, len(fields) - 4, 5):
        oid, author, ts, title, body = fields[i:i + 5]
        records.append(CommitRecord(oid.strip("\n"), author, int(ts), title, body.strip()))
    return records


def count_commits(repo: Path, commit: str) -> int:
    """How many commits ``commit`` has in its history (itself included)."""
    return int(git(repo, "rev-list", "--count", commit, "--").stdout.decode().strip())


def commit_time(repo: Path, commit: str) -> int:
    """The committer timestamp of ``commit`` (seconds since the epoch, UTC)."""
    return int(git(repo, "show", "-s", "--format=%ct", commit, "--").stdout.decode().strip())


def tree_of(repo: Path, commit: str) -> str:
    """The root tree id of ``commit``."""
    return git(repo, "rev-parse", "--verify", f"{commit}^{{tree}}").stdout.decode().strip()
