"""``GET /api/models``, ``/api/datasets``, ``/api/spaces``: what ``list_models`` & co. read.

A caller sees every public repo plus their own private ones, never another user's. Supported
query arguments: ``search`` (case-insensitive substring of the repo id; repeated = all must
match), ``author`` (the namespace), ``sort`` (``id``, ``createdAt``, ``lastModified``) with
``direction=-1`` for descending, and ``limit`` (the page size, at most 1000) with
``Link: rel="next"`` pages, as on the Hub. Arguments that only ask for more fields (``full``,
``cardData``, ``config``, ``expand``) are accepted and answered with the basic fields. Any other
filter is refused with a 400 rather than silently ignored (the answer would be wrong).
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from genemail.hub.server import git
from genemail.hub.server.api import next_link, page_args
from genemail.hub.server.context import Call, iso_date
from genemail.hub.server.errors import BadRequest
from genemail.hub.server.storage import Repo

SORT_KEYS = ("id", "createdAt", "lastModified")
_ACCEPTED = {"search", "author", "sort", "direction", "limit", "p", "full", "cardData", "config", "expand"}


def list_repos(call: Call) -> Response:
    """The repos of the route's type visible to the caller, filtered, sorted and paginated."""
    unsupported = sorted(set(call.query) - _ACCEPTED)
    if unsupported:
        raise BadRequest(f"query argument {unsupported[0]!r} is not supported by the local Hub's repo listing",
                         fix=f"filter with {', '.join(sorted(_ACCEPTED - {'p', 'full', 'cardData', 'config', 'expand'}))}")
    repo_type = call.params.get("type") or "model"
    searches = [s.lower() for s in call.query.get("search", []) if s]
    author = call.arg("author")
    sort = call.arg("sort") or "id"
    if sort not in SORT_KEYS:
        raise BadRequest(f"sort={sort!r} is not supported", fix=f"use one of {', '.join(SORT_KEYS)}")
    if call.arg("direction") not in (None, "", "1", "-1"):
        raise BadRequest("direction must be 1 or -1")
    page, limit = page_args(call, 1000)
    repos = [r for r in call.server.store.list_repos(repo_type)
             if call.server.auth.can_read(call.user, r.id.namespace, r.private)
             and (author is None or r.id.namespace == author)
             and all(s in r.id.id.lower() for s in searches)]
    items = [item for item in map(_item, repos) if item is not None]
    items.sort(key=lambda item: item[sort], reverse=call.arg("direction") == "-1")
    chunk = items[page * limit:(page + 1) * limit]
    headers = {"Link": next_link(call, page, limit)} if len(items) > (page + 1) * limit else {}
    return JSONResponse(chunk, headers=headers)


def _item(repo: Repo) -> dict | None:
    """One listing entry; None when the repo was deleted while the listing was made."""
    head = git.rev_parse_commit(repo.path, "refs/heads/main")
    try:
        modified = git.commit_time(repo.path, head) if head else repo.created_at
    except git.GitCommandError:
        return None
    item = {
        "_id": f"{repo.id.type}/{repo.id.id}", "id": repo.id.id, "author": repo.id.namespace,
        "sha": head, "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
        "tags": [], "createdAt": iso_date(repo.created_at),
        "lastModified": iso_date(modified),
    }
    if repo.id.type == "model":
        item["modelId"] = repo.id.id
    return item
