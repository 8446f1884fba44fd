"""The JSON endpoints of the Hub API (``/api/...``) for accounts, repos, refs, history and trees.

Each function takes a :class:`~genemail.hub.server.context.Call` and returns a Starlette response;
errors are raised as :class:`~genemail.hub.server.errors.HubRequestError` and rendered by the app.
Bodies are read through :class:`~genemail.hub.server.payload.Fields`, so a wrong type or a missing
field is a 400 that names it. The shapes returned are what ``huggingface_hub`` 2.4.0 parses (see
``docs/HUB.md``). Uploads live in ``upload.py``, listings in ``listing.py``, downloads in ``files.py``.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlencode

from starlette.responses import JSONResponse, Response

from genemail.hub.server import git
from genemail.hub.server.cards import MAX_CARD_BYTES, Card, parse_card
from genemail.hub.server.context import Call, iso_date
from genemail.hub.server.errors import BadRequest, Conflict, RepoNotFound
from genemail.hub.server.payload import Fields, check_repo_path
from genemail.hub.server.probe import SERVICE
from genemail.hub.server.storage import REPO_TYPES, Repo, RepoId

MAX_PAGE = 1_000_000  # pages of history beyond this are refused rather than handed to git as --skip

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
    """``POST /api/validate-yaml``: the same front matter rules as ``cardData`` (see ``cards.py``)."""
    body = call.json()
    body.str("repoType")
    card = parse_card(body.str("content", default=""))
    errors = [{"message": message} for message in card.errors]
    return JSONResponse({"errors": errors, "warnings": []}, status_code=400 if errors else 200)


def health(call: Call) -> Response:
    """``GET /api/health``: up, and which server this is (no token needed).

    ``service``, ``root`` (the folder it serves, absolute) and ``pid`` let a command that wants *its*
    local Hub tell it from another checkout's server or any other program on the port (see
    :mod:`genemail.hub.server.probe`).
    """
    return JSONResponse({"status": "ok", "service": SERVICE, "root": str(call.server.store.root.resolve()),
                         "pid": os.getpid()})


# -- repositories -----------------------------------------------------------------------------


def _body_repo_id(call: Call, body: Fields) -> RepoId:
    name = body.str("name", required=True)
    namespace = body.str("organization") or call.server.auth.require_user(call.user, "this operation")
    if "/" in name:  # older clients send the full id as the name
        namespace, name = name.split("/", 1)
    return RepoId(body.choice("type", REPO_TYPES, default="model"), namespace, name)


def create_repo(call: Call) -> Response:
    """``POST /api/repos/create``: 409 with the same ``{"url"}`` body when it exists (``exist_ok``)."""
    body = call.json()
    user = call.server.auth.require_user(call.user, "creating a repo")
    repo_id = _body_repo_id(call, body)
    call.server.auth.require_write(user, repo_id.namespace, f"create {repo_id.id}")
    visibility = body.choice("visibility", ("private", "public"))
    private = visibility == "private" if visibility else bool(body.bool("private", default=False))
    url = call.repo_url(repo_id)
    try:
        call.server.store.create(repo_id, owner=user, private=private)
    except Conflict as err:
        return JSONResponse({"url": url, "name": repo_id.id, "error": err.render()}, status_code=409)
    return JSONResponse({"url": url, "name": repo_id.id, "id": repo_id.id})


def delete_repo(call: Call) -> Response:
    """``DELETE /api/repos/delete``."""
    repo_id = _body_repo_id(call, call.json())
    repo = call.server.store.get(repo_id)
    if not call.server.auth.can_read(call.user, repo_id.namespace, repo.private):
        raise RepoNotFound(f"repository {repo_id.id} ({repo_id.type}) not found")
    call.server.auth.require_write(call.user, repo_id.namespace, f"delete {repo_id.id}")
    call.server.store.delete(repo)
    return JSONResponse({})


def update_settings(call: Call) -> Response:
    """``PUT /api/{t}s/{repo}/settings``: ``private`` (a boolean) or ``visibility``; ``gated`` only as false."""
    repo = call.writable_repo("changing settings")
    body = call.json()
    private = body.bool("private")
    visibility = body.choice("visibility", ("private", "public"))
    gated = body.obj.get("gated")
    if gated not in (None, False):
        raise BadRequest(f"field gated={gated!r} is not supported: the local Hub has no gated repos",
                         fix="leave gated unset or false")
    if private is not None and visibility is not None and private != (visibility == "private"):
        raise BadRequest("fields private and visibility disagree", fix="send only one of them")
    if visibility is not None:
        private = visibility == "private"
    if private is not None:
        call.server.store.set_private(repo, private)
    return JSONResponse({"private": call.server.store.get(repo.id).private})


def repo_info(call: Call) -> Response:
    """``GET /api/{t}s/{repo}[/revision/{rev}]``: id, sha, siblings, private, lastModified, cardData."""
    repo = call.readable_repo()
    store = call.server.store
    sha = store.resolve(repo, call.param("rev", "main"))
    files = [e for e in git.ls_tree(repo.path, sha, recursive=True) if e.kind == "blob"]
    with_blobs = call.flag("blobs")
    siblings = [{"rfilename": e.path, **({"size": e.size, "blobId": e.oid} if with_blobs else {})} for e in files]
    card = _card(repo, files).metadata or {}
    tags = card.get("tags")
    info = {
        "_id": f"{repo.id.type}/{repo.id.id}", "id": repo.id.id, "author": repo.id.namespace, "sha": sha,
        "lastModified": iso_date(git.commit_time(repo.path, sha)), "createdAt": iso_date(repo.created_at),
        "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
        "tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        "siblings": siblings, "cardData": card or None,
    }
    if repo.id.type == "model":
        info.update(modelId=repo.id.id, library_name=_text(card.get("library_name")),
                    pipeline_tag=_text(card.get("pipeline_tag")))
    return JSONResponse(info)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _card(repo: Repo, files: list[git.TreeEntry]) -> Card:
    """The README's front matter, parsed exactly as ``validate-yaml`` parses it."""
    readme = next((e for e in files if e.path == "README.md"), None)
    if readme is None or (readme.size or 0) > MAX_CARD_BYTES:
        return Card()
    text = b"".join(git.stream_blob(repo.path, readme.oid)).decode("utf-8", errors="replace")
    return parse_card(text)


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
    start = call.server.store.resolve(repo, call.json().str("startingPoint") or "main")
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
    tag = body.str("tag", required=True)
    message = body.str("message")
    sha = call.server.store.resolve(repo, call.param("rev"))
    call.server.store.create_tag(repo, tag, sha, message, call.user or repo.id.namespace)
    return JSONResponse({})


def delete_tag(call: Call) -> Response:
    """``DELETE /api/{t}s/{repo}/tag/{tag}``."""
    repo = call.writable_repo("deleting a tag")
    call.server.store.delete_ref(repo, "tag", call.param("rev"))
    return JSONResponse({})


def page_args(call: Call, default_limit: int) -> tuple[int, int]:
    """``(page, limit)`` from ``?p=&limit=`` (limit clamped to 1..1000); ``BadRequest`` if not integers."""
    try:
        page = max(int(call.arg("p") or 0), 0)
        limit = min(max(int(call.arg("limit") or default_limit), 1), 1000)
    except ValueError:
        raise BadRequest("query arguments p and limit must be integers") from None
    if page > MAX_PAGE:
        raise BadRequest(f"page p={page} is out of range", fix=f"use a page number up to {MAX_PAGE}")
    return page, limit


def next_link(call: Call, page: int, limit: int) -> str:
    """The ``Link: <...>; rel="next"`` header value for the page after ``page``."""
    query = [(k, v) for k, vs in call.query.items() if k not in ("p", "limit") for v in vs]
    query += [("p", str(page + 1)), ("limit", str(limit))]
    return f'<{call.base_url}{call.raw_path}?{urlencode(query)}>; rel="next"'


def commits(call: Call) -> Response:
    """``GET /api/{t}s/{repo}/commits/{rev}``: newest first, ``Link: rel="next"`` pagination."""
    repo = call.readable_repo()
    sha = call.server.store.resolve(repo, call.param("rev"))
    page, limit = page_args(call, call.server.commits_page_size)
    records = git.log(repo.path, sha, skip=page * limit, limit=limit + 1)
    items = [{"id": r.oid, "title": r.title, "message": r.body, "date": iso_date(r.timestamp),
              "authors": [{"user": r.author, "avatar": None}]} for r in records[:limit]]
    headers = {"Link": next_link(call, page, limit)} if len(records) > limit else {}
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
    path = call.param("path")
    if path:
        path = check_repo_path(path, where="the tree path in the URL")
    entries = call.server.store.tree(repo, sha, path, recursive=call.flag("recursive"))
    return JSONResponse([_entry_json(e) for e in entries])


def paths_info(call: Call) -> Response:
    """``POST /api/{t}s/{repo}/paths-info/{rev}`` (form-encoded ``paths=...``); missing paths are left out."""
    repo = call.readable_repo()
    sha = call.server.store.resolve(repo, call.param("rev"))
    if call.headers.get("content-type", "").startswith("application/json"):
        paths = call.json().list("paths")
        where = "paths"
    else:
        try:
            form = parse_qs(call.body.decode("utf-8"), errors="strict", max_num_fields=100_000)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the paths-info form body is not valid UTF-8 form data",
                             fix="send paths=<path>&paths=<path>... (application/x-www-form-urlencoded)") from None
        paths, where = form.get("paths", []), "form field paths"
    checked = [check_repo_path(p, where=f"{where}[{i}]") for i, p in enumerate(paths)]
    entries = (call.server.store.entry(repo, sha, p) for p in checked)
    return JSONResponse([_entry_json(e) for e in entries if e is not None])
