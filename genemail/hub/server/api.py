"""The JSON endpoints of the Hub API (``/api/...``), one small function per endpoint.

Each function takes a :class:`~genemail.hub.server.context.Call` and returns a Starlette response;
errors are raised as :class:`~genemail.hub.server.errors.HubRequestError` and rendered by the app.
The shapes returned are what ``huggingface_hub`` 2.4.0 parses (see ``docs/HUB.md``).
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import parse_qs, urlencode

import yaml
from starlette.responses import JSONResponse, Response

from genemail.hub.server import git
from genemail.hub.server.context import Call, iso_date
from genemail.hub.server.errors import BadRequest, Conflict, RepoNotFound
from genemail.hub.server.storage import (
    AddFile,
    DeleteFile,
    DeleteFolder,
    Operation,
    Repo,
    RepoId,
    check_repo_path,
)

# -- account and cards ------------------------------------------------------------------------


def whoami(call: Call) -> Response:
    """``GET /api/whoami-v2``: the token's user (401 without a token)."""
    user = call.server.auth.require_user(call.user, "whoami")
    return JSONResponse({
        "type": "user", "id": user, "name": user, "fullname": user, "email": None,
        "orgs": [], "isPro": False, "canPay": False,
        "auth": {"type": "access_token", "accessToken": {"displayName": "local-hub-token", "role": "write"}},
    })


def validate_yaml(call: Call) -> Response:
    """``POST /api/validate-yaml``: check a README's YAML front matter parses to a mapping."""
    content = str(call.json().get("content") or "")
    errors = []
    lines = content.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
        if end is None:
            errors.append({"message": "the YAML front matter has no closing '---' line"})
        else:
            try:
                meta = yaml.safe_load("\n".join(lines[1:end]))
                if meta is not None and not isinstance(meta, dict):
                    errors.append({"message": "the YAML front matter must be a mapping (key: value)"})
            except yaml.YAMLError as err:
                errors.append({"message": f"invalid YAML front matter: {err}"})
    return JSONResponse({"errors": errors, "warnings": []}, status_code=400 if errors else 200)


def health(call: Call) -> Response:
    """``GET /api/health``: answers as soon as the server is up (used to wait for start-up)."""
    return JSONResponse({"status": "ok"})


# -- repositories -----------------------------------------------------------------------------


def _body_repo_id(call: Call, body: dict) -> RepoId:
    name = str(body.get("name") or "")
    namespace = body.get("organization") or call.server.auth.require_user(call.user, "this operation")
    if "/" in name:  # older clients send the full id as the name
        namespace, name = name.split("/", 1)
    return RepoId(str(body.get("type") or "model"), str(namespace), name)


def create_repo(call: Call) -> Response:
    """``POST /api/repos/create``: 409 with the same ``{"url"}`` body when it exists (``exist_ok``)."""
    body = call.json()
    user = call.server.auth.require_user(call.user, "creating a repo")
    repo_id = _body_repo_id(call, body)
    call.server.auth.require_write(user, repo_id.namespace, f"create {repo_id.id}")
    private = body.get("visibility") == "private" or body.get("private") is True
    url = call.repo_url(repo_id)
    try:
        call.server.store.create(repo_id, owner=user, private=private)
    except Conflict as err:
        return JSONResponse({"url": url, "name": repo_id.id, "error": err.render()}, status_code=409)
    return JSONResponse({"url": url, "name": repo_id.id, "id": repo_id.id})


def delete_repo(call: Call) -> Response:
    """``DELETE /api/repos/delete``."""
    body = call.json()
    repo_id = _body_repo_id(call, body)
    repo = call.server.store.get(repo_id)
    if not call.server.auth.can_read(call.user, repo_id.namespace, repo.private):
        raise RepoNotFound(f"repository {repo_id.id} ({repo_id.type}) not found")
    call.server.auth.require_write(call.user, repo_id.namespace, f"delete {repo_id.id}")
    call.server.store.delete(repo)
    return JSONResponse({})


def update_settings(call: Call) -> Response:
    """``PUT /api/{t}s/{repo}/settings``: only ``private`` is supported."""
    repo = call.writable_repo("changing settings")
    body = call.json()
    if "private" in body:
        call.server.store.set_private(repo, bool(body["private"]))
    elif body.get("visibility") in ("private", "public"):
        call.server.store.set_private(repo, body["visibility"] == "private")
    return JSONResponse({"private": call.server.store.get(repo.id).private})


def repo_info(call: Call) -> Response:
    """``GET /api/{t}s/{repo}[/revision/{rev}]``: id, sha, siblings, private, lastModified, cardData."""
    repo = call.readable_repo()
    store = call.server.store
    sha = store.resolve(repo, call.param("rev", "main"))
    files = [e for e in git.ls_tree(repo.path, sha, recursive=True) if e.kind == "blob"]
    with_blobs = call.flag("blobs")
    siblings = [{"rfilename": e.path, **({"size": e.size, "blobId": e.oid} if with_blobs else {})} for e in files]
    card = _card_data(repo, files)
    info = {
        "_id": f"{repo.id.type}/{repo.id.id}", "id": repo.id.id, "author": repo.id.namespace, "sha": sha,
        "lastModified": iso_date(git.commit_time(repo.path, sha)), "createdAt": iso_date(repo.created_at),
        "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
        "tags": list(card.get("tags") or []) if isinstance(card.get("tags"), list) else [],
        "siblings": siblings, "cardData": card or None,
    }
    if repo.id.type == "model":
        info.update(modelId=repo.id.id, library_name=card.get("library_name"), pipeline_tag=card.get("pipeline_tag"))
    return JSONResponse(info)


def _card_data(repo: Repo, files: list[git.TreeEntry]) -> dict:
    """The README's YAML front matter, as the Hub returns it in ``cardData`` (``{}`` if none)."""
    readme = next((e for e in files if e.path == "README.md"), None)
    if readme is None or (readme.size or 0) > 1_000_000:
        return {}
    text = b"".join(git.stream_blob(repo.path, readme.oid)).decode("utf-8", errors="replace")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) if end else None
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


# -- refs and history -------------------------------------------------------------------------


def refs(call: Call) -> Response:
    """``GET /api/{t}s/{repo}/refs``: branches and tags (``converts`` must be present)."""
    repo = call.readable_repo()
    branches, tags = call.server.store.refs(repo)

    def fmt(prefix: str, items: list[tuple[str, str]]) -> list[dict]:
        return [{"name": n, "ref": prefix + n, "targetCommit": sha} for n, sha in items]

    return JSONResponse({"branches": fmt("refs/heads/", branches), "tags": fmt("refs/tags/", tags),
                         "converts": [], "pullRequests": []})


def create_branch(call: Call) -> Response:
    """``POST /api/{t}s/{repo}/branch/{branch}`` ``{"startingPoint"?}``: 409 if it exists."""
    repo = call.writable_repo("creating a branch")
    start = call.server.store.resolve(repo, str(call.json().get("startingPoint") or "main"))
    call.server.store.create_branch(repo, call.param("rev"), start)
    return JSONResponse({})


def delete_branch(call: Call) -> Response:
    """``DELETE /api/{t}s/{repo}/branch/{branch}``."""
    repo = call.writable_repo("deleting a branch")
    call.server.store.delete_ref(repo, "branch", call.param("rev"))
    return JSONResponse({})


def create_tag(call: Call) -> Response:
    """``POST /api/{t}s/{repo}/tag/{rev}`` ``{"tag", "message"?}``: the revision is in the URL."""
    repo = call.writable_repo("creating a tag")
    body = call.json()
    tag = str(body.get("tag") or "")
    sha = call.server.store.resolve(repo, call.param("rev"))
    call.server.store.create_tag(repo, tag, sha, body.get("message"), call.user or repo.id.namespace)
    return JSONResponse({})


def delete_tag(call: Call) -> Response:
    """``DELETE /api/{t}s/{repo}/tag/{tag}``."""
    repo = call.writable_repo("deleting a tag")
    call.server.store.delete_ref(repo, "tag", call.param("rev"))
    return JSONResponse({})


def commits(call: Call) -> Response:
    """``GET /api/{t}s/{repo}/commits/{rev}``: newest first, ``Link: rel="next"`` pagination."""
    repo = call.readable_repo()
    sha = call.server.store.resolve(repo, call.param("rev"))
    try:
        page = max(int(call.arg("p") or 0), 0)
        limit = min(max(int(call.arg("limit") or call.server.commits_page_size), 1), 1000)
    except ValueError:
        raise BadRequest("p and limit must be integers") from None
    records = git.log(repo.path, sha, skip=page * limit, limit=limit + 1)
    items = [{"id": r.oid, "title": r.title, "message": r.body, "date": iso_date(r.timestamp),
              "authors": [{"user": r.author, "avatar": None}]} for r in records[:limit]]
    headers = {}
    if len(records) > limit:
        query = [(k, v) for k, vs in call.query.items() if k not in ("p", "limit") for v in vs]
        query += [("p", str(page + 1)), ("limit", str(limit))]
        headers["Link"] = f'<{call.base_url}{call.raw_path}?{urlencode(query)}>; rel="next"'
    return JSONResponse(items, headers=headers)


# -- trees ------------------------------------------------------------------------------------


def _entry_json(entry: git.TreeEntry) -> dict:
    # Never "lfs" or "xetHash" here: either would switch the client to Xet storage (trap 2).
    if entry.kind == "tree":
        return {"type": "directory", "path": entry.path, "oid": entry.oid}
    return {"type": "file", "path": entry.path, "oid": entry.oid, "size": entry.size}


def tree(call: Call) -> Response:
    """``GET /api/{t}s/{repo}/tree/{rev}[/{path}]?recursive=``."""
    repo = call.readable_repo()
    sha = call.server.store.resolve(repo, call.param("rev"))
    entries = call.server.store.tree(repo, sha, call.param("path"), recursive=call.flag("recursive"))
    return JSONResponse([_entry_json(e) for e in entries])


def paths_info(call: Call) -> Response:
    """``POST /api/{t}s/{repo}/paths-info/{rev}`` (form-encoded ``paths=...``); missing paths are left out."""
    repo = call.readable_repo()
    sha = call.server.store.resolve(repo, call.param("rev"))
    if call.headers.get("content-type", "").startswith("application/json"):
        paths = call.json().get("paths") or []
    else:
        paths = parse_qs(call.body.decode("utf-8", errors="replace")).get("paths", [])
    entries = (call.server.store.entry(repo, sha, str(p)) for p in paths)
    return JSONResponse([_entry_json(e) for e in entries if e is not None])


# -- commits ----------------------------------------------------------------------------------


def _refuse_pull_requests(call: Call) -> None:
    if call.flag("create_pr"):
        raise BadRequest("pull requests are not supported by the local Hub",
                         fix="commit directly to a branch (create_pr=False), e.g. a new branch from create_branch")


def preupload(call: Call) -> Response:
    """``POST /api/{t}s/{repo}/preupload/{rev}``: every file is ``regular`` (never LFS: trap 1)."""
    _refuse_pull_requests(call)
    repo = call.writable_repo("uploading")
    sha = call.server.store.resolve(repo, call.param("rev"))
    files = call.json().get("files")
    if not isinstance(files, list):
        raise BadRequest("preupload body needs a 'files' list")
    existing = {e.path: e.oid for e in git.ls_tree(repo.path, sha, recursive=True) if e.kind == "blob"}
    answer = [{"path": f.get("path"), "uploadMode": "regular", "shouldIgnore": False,
               "oid": existing.get(str(f.get("path")))} for f in files if isinstance(f, dict)]
    return JSONResponse({"files": answer, "commitOid": sha})


def commit(call: Call) -> Response:
    """``POST /api/{t}s/{repo}/commit/{rev}`` with an NDJSON body: header, then one line per operation."""
    _refuse_pull_requests(call)
    repo = call.writable_repo("committing")
    header, ops = _parse_ndjson(call.body)
    summary = str(header.get("summary") or "").strip() or "Upload files"
    description = str(header.get("description") or "").strip()
    message = summary + (f"\n\n{description}" if description else "") + "\n"
    sha = call.server.store.commit(repo, call.param("rev"), ops, message, call.user or repo.id.namespace,
                                   parent_commit=header.get("parentCommit"))
    return JSONResponse({"success": True, "commitOid": sha,
                         "commitUrl": f"{call.repo_url(repo.id)}/commit/{sha}"})


def _parse_ndjson(body: bytes) -> tuple[dict, list[Operation]]:
    header: dict = {}
    ops: list[Operation] = []
    for lineno, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (ValueError, KeyError, TypeError):
            raise BadRequest(f"commit payload line {lineno} is not a {{key, value}} JSON object") from None
        if key == "header":
            header = value
        elif key == "file":
            ops.append(AddFile(check_repo_path(value["path"]), _decode_content(value, lineno)))
        elif key == "deletedFile":
            ops.append(DeleteFile(check_repo_path(value["path"])))
        elif key == "deletedFolder":
            ops.append(DeleteFolder(check_repo_path(value["path"])))
        elif key == "lfsFile":
            raise BadRequest("LFS/Xet uploads are not supported by the local Hub",
                             fix="upload with huggingface_hub: the server answers uploadMode=regular for every file")
        else:
            raise BadRequest(f"unknown commit operation {key!r} on line {lineno}")
    return header, ops


def _decode_content(value: dict, lineno: int) -> bytes:
    content = value.get("content", "")
    if value.get("encoding", "base64") != "base64":
        return str(content).encode("utf-8")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"file content on commit payload line {lineno} is not valid base64") from None
