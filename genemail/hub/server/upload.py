"""Uploads: ``preupload`` and the NDJSON ``commit`` endpoint.

A commit body is streamed (see ``ndjson.py``): each file's bytes go to git as a blob while the body
arrives, so server memory stays flat whatever the upload size. Only when the whole payload has been
read and checked does the store write the tree and commit and move the branch (``storage.py``), so
a refused payload never leaves a half-made commit. Blobs written for a refused payload are
unreferenced objects: harmless, like those of a crashed commit.
"""

from __future__ import annotations

from contextlib import closing

from starlette.responses import JSONResponse, Response

from genemail.hub.server import git
from genemail.hub.server.body import too_large
from genemail.hub.server.context import Call
from genemail.hub.server.errors import BadRequest
from genemail.hub.server.ndjson import Line, LongString, PayloadReader, decode_base64
from genemail.hub.server.payload import Fields, decode_json
from genemail.hub.server.storage import AddFile, DeleteFile, DeleteFolder, Operation, Repo

_OPERATION_KEYS = ("header", "file", "deletedFile", "deletedFolder", "lfsFile")
_OP_OVERHEAD = 100  # bytes a kept operation costs beyond its path (the object, a 40-hex oid)


def _refuse_pull_requests(call: Call) -> None:
    if call.flag("create_pr"):
        raise BadRequest("pull requests are not supported by the local Hub",
                         fix="commit directly to a branch (create_pr=False), e.g. a new branch from create_branch")


def preupload(call: Call) -> Response:
    """``POST /api/{t}s/{repo}/preupload/{rev}``: every file is ``regular`` (never LFS: trap 1)."""
    _refuse_pull_requests(call)
    repo = call.writable_repo("uploading")
    sha = call.server.store.resolve(repo, call.param("rev"))
    body = call.json()
    files = body.list("files", required=True)
    wanted = []
    for i, item in enumerate(files):
        entry = Fields(item, f"files[{i}]")
        entry.get("size", int)
        entry.str("sample")
        wanted.append(entry.path("path"))
    existing = {e.path: e.oid for e in git.ls_tree(repo.path, sha, recursive=True) if e.kind == "blob"}
    answer = [{"path": path, "uploadMode": "regular", "shouldIgnore": False, "oid": existing.get(path)}
              for path in wanted]
    return JSONResponse({"files": answer, "commitOid": sha})


def commit(call: Call) -> Response:
    """``POST /api/{t}s/{repo}/commit/{rev}`` with an NDJSON body: header, then one line per operation."""
    _refuse_pull_requests(call)
    repo = call.writable_repo("committing")
    header, ops = _read_payload(call, repo)
    summary = (header.str("summary") or "").strip() or "Upload files"
    description = (header.str("description") or "").strip()
    message = summary + (f"\n\n{description}" if description else "") + "\n"
    sha = call.server.store.commit(repo, call.param("rev"), ops, message, call.user or repo.id.namespace,
                                   parent_commit=header.str("parentCommit"))
    return JSONResponse({"success": True, "commitOid": sha,
                         "commitUrl": f"{call.repo_url(repo.id)}/commit/{sha}"})


def _read_payload(call: Call, repo: Repo) -> tuple[Fields, list[Operation]]:
    """Read the streamed NDJSON body: the header's fields and the operations (blobs already written).

    Memory is bounded twice by ``max_request_bytes``: per line (what the reader holds while a line
    arrives) and across lines (the header and the operations kept until the commit is written).
    """
    limit = call.server.limits.max_request_bytes
    reader = PayloadReader(call.server.store.root / ".tmp", limit,
                           too_large(limit, "one commit payload line (outside long file contents)", "--max-request-mb"))
    header = Fields({}, "header")
    seen_header = False
    ops: list[Operation] = []
    kept = 0
    with closing(reader.lines(call.chunks)) as lines:
        for line in lines:
            with line:
                key, value = _operation(line)
                if key == "header":
                    if seen_header:
                        raise BadRequest(f"{line.where}: a second header line", fix="send one header line, first")
                    header, seen_header = Fields(value.obj, "header"), True
                    kept += len(line.skeleton)
                else:
                    ops.append(_to_operation(call, repo, key, value))
                    kept += len(ops[-1].path.encode()) + _OP_OVERHEAD
            if kept > limit:
                raise too_large(limit, "the commit's header and list of operations", "--max-request-mb")
    return header, ops


def _operation(line: Line) -> tuple[str, Fields]:
    item = Fields(decode_json(line.skeleton, line.where, placeholders=line.long_strings), line.where)
    key = item.choice("key", _OPERATION_KEYS)
    if key is None:
        raise BadRequest(f"field {item.name('key')} is missing", fix=f"use one of {', '.join(_OPERATION_KEYS)}")
    return key, item.obj_field("value", required=True)


def _to_operation(call: Call, repo: Repo, key: str, value: Fields) -> Operation:
    if key == "lfsFile":
        raise BadRequest("LFS/Xet uploads are not supported by the local Hub",
                         fix="upload with huggingface_hub: the server answers uploadMode=regular for every file")
    path = value.path("path")
    if key == "deletedFile":
        return DeleteFile(path)
    if key == "deletedFolder":
        return DeleteFolder(path)
    value.choice("encoding", ("base64",))
    content = value.obj.get("content")
    store = call.server.store
    if isinstance(content, LongString):
        if content.error is not None:
            raise BadRequest(f"field {value.name('content')} is not valid base64: {content.error}",
                             fix="send the file bytes base64-encoded (standard alphabet, '=' padding)")
        return AddFile(path, oid=store.write_blob_file(repo, content.path))
    text = value.str("content", required=True)
    return AddFile(path, oid=store.write_blob(repo, decode_base64(text, f"field {value.name('content')}")))

