"""File downloads, pinned to a commit as on the real Hub.

``HEAD``/``GET /[datasets/|spaces/]{ns}/{name}/resolve/{rev}/{path}`` with a branch, a tag or a
short sha answers ``307`` with a *relative* ``Location`` to
``/api/resolve-cache/{t}s/{ns}/{name}/{commit sha}/{path}``: the revision is resolved once, there.
``huggingface_hub`` follows the redirect for its HEAD and then sends its GET to the final, pinned
URL, so a commit landing between the client's HEAD and GET cannot make it file one commit's bytes
under another commit's sha. A full sha in ``resolve/`` is already pinned and served directly.

The pinned answer has what ``hf_hub_download`` needs: ``X-Repo-Commit`` (the sha), an ``ETag``
that is the git-blob SHA-1 of the bytes (the cache shares blobs by ETag across commits and repos)
and the true ``Content-Length`` (a HEAD answering 0 leaves an empty cached file). GET streams the
bytes, honouring a single ``Range`` when the client resumes a download.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from genemail.hub.server import git
from genemail.hub.server.context import Call
from genemail.hub.server.errors import EntryNotFound, HubRequestError, RevisionNotFound
from genemail.hub.server.payload import check_repo_path
from genemail.hub.server.storage import Repo

_RANGE_RE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})")  # 19 digits: any int64 offset


class RangeNotSatisfiable(HubRequestError):
    """The requested byte range lies outside the file."""

    status = 416


def resolve(call: Call) -> Response:
    """``resolve/{rev}/{path}``: a 307 to the pinned location, or the file itself for a full sha."""
    repo = call.readable_repo()
    revision = call.param("rev")
    sha = call.server.store.resolve(repo, revision)
    path = check_repo_path(call.param("path"), where="the file path in the URL")
    entry = _file_entry(repo, call, sha, path)
    if revision == sha:
        return _serve(call, repo, sha, path, entry)
    location = f"/api/resolve-cache/{repo.id.type}s/{repo.id.id}/{sha}/{quote(path, safe='/')}"
    # X-Repo-Commit and ETag here too, as the Hub sends them; clients read the final answer's.
    return Response(status_code=307, headers={"Location": location, "X-Repo-Commit": sha, "ETag": f'"{entry.oid}"'})


def resolve_cache(call: Call) -> Response:
    """``/api/resolve-cache/{t}s/{ns}/{name}/{sha}/{path}``: the file at a commit given by its full sha."""
    repo = call.readable_repo()
    sha = call.param("rev")
    if not git.SHA_RE.fullmatch(sha):
        raise RevisionNotFound(f"resolve-cache needs a full commit sha, got {sha[:60]!r}",
                               fix="use resolve/<revision>/<path>, which redirects here")
    sha = call.server.store.resolve(repo, sha)
    path = check_repo_path(call.param("path"), where="the file path in the URL")
    return _serve(call, repo, sha, path, _file_entry(repo, call, sha, path))


def _file_entry(repo: Repo, call: Call, sha: str, path: str) -> git.TreeEntry:
    entry = call.server.store.entry(repo, sha, path)
    if entry is None or entry.kind != "blob":
        raise EntryNotFound(f"file {path!r} not found at {sha[:10]} in {repo.id.id}",
                            fix="check the file name and revision (list_repo_files)",
                            headers={"X-Repo-Commit": sha})
    return entry


def _serve(call: Call, repo: Repo, sha: str, path: str, entry: git.TreeEntry) -> Response:
    """HEAD: the file's metadata; GET: its bytes (200, or 206 for a Range)."""
    size = entry.size or 0
    headers = {
        "X-Repo-Commit": sha,
        "ETag": f'"{entry.oid}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": _disposition(path.rsplit("/", 1)[-1]),
    }
    start, end, status = 0, size - 1, 200
    range_header = call.headers.get("range")
    if range_header:
        start, end = parse_range(range_header, size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(max(end - start + 1, 0))
    if call.method == "HEAD":
        return Response(status_code=status, headers=headers)
    if size == 0:
        return Response(b"", status_code=status, headers=headers)
    return StreamingResponse(git.stream_blob(repo.path, entry.oid, start, end), status_code=status, headers=headers)


def _disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 name (RFC 6266), header-safe."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def parse_range(header: str, size: int) -> tuple[int, int]:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` into inclusive ``(start, end)``; one range only."""
    match = _RANGE_RE.fullmatch(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        raise RangeNotSatisfiable(f"unsupported Range header {header[:80]!r}", fix="send one range: bytes=START-END",
                                  headers={"Content-Range": f"bytes */{size}"})
    first, last = match.groups()
    if not first:  # suffix: the last n bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(f"range {header[:80]!r} is outside the file ({size} bytes)",
                                  headers={"Content-Range": f"bytes */{size}"})
    return start, end
