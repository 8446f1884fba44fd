"""File downloads: ``HEAD`` and ``GET /[datasets/|spaces/]{ns}/{name}/resolve/{rev}/{path}``.

``hf_hub_download`` first sends HEAD and needs ``X-Repo-Commit`` (the resolved sha), an ``ETag``
that is the git-blob SHA-1 of the bytes (the cache shares blobs by ETag across commits and repos)
and the true ``Content-Length`` (a HEAD answering 0 leaves an empty cached file). GET then streams
the bytes, honouring a single ``Range`` when the client resumes a download.
"""

from __future__ import annotations

import re

from starlette.responses import Response, StreamingResponse

from genemail.hub.server import git
from genemail.hub.server.context import Call
from genemail.hub.server.errors import EntryNotFound, HubRequestError

_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(HubRequestError):
    """The requested byte range lies outside the file."""

    status = 416


def resolve(call: Call) -> Response:
    """Answer HEAD with the file's metadata, GET with its bytes (200, or 206 for a Range)."""
    repo = call.readable_repo()
    sha = call.server.store.resolve(repo, call.param("rev"))
    path = call.param("path")
    entry = call.server.store.entry(repo, sha, path)
    if entry is None or entry.kind != "blob":
        raise EntryNotFound(f"file {path!r} not found at {sha[:10]} in {repo.id.id}",
                            fix="check the file name and revision (list_repo_files)",
                            headers={"X-Repo-Commit": sha})
    size = entry.size or 0
    headers = {
        "X-Repo-Commit": sha,
        "ETag": f'"{entry.oid}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{path.rsplit("/", 1)[-1]}"'.encode(
            "latin-1", errors="replace").decode("latin-1"),
    }
    start, end, status = 0, size - 1, 200
    range_header = call.headers.get("range")
    if range_header:
        start, end = _parse_range(range_header, size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(max(end - start + 1, 0))
    if call.method == "HEAD":
        return Response(status_code=status, headers=headers)
    if size == 0:
        return Response(b"", status_code=status, headers=headers)
    return StreamingResponse(git.stream_blob(repo.path, entry.oid, start, end), status_code=status, headers=headers)


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` into inclusive ``(start, end)``; one range only."""
    match = _RANGE_RE.fullmatch(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        raise RangeNotSatisfiable(f"unsupported Range header {header!r}", fix="send one range: bytes=START-END",
                                  headers={"Content-Range": f"bytes */{size}"})
    first, last = match.groups()
    if not first:  # suffix: the last n bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(f"range {header!r} is outside the file ({size} bytes)",
                                  headers={"Content-Range": f"bytes */{size}"})
    return start, end
