"""The ASGI application: routing on the raw path, who-may-act before the body, errors as Hub headers.

Routing happens on ``scope["raw_path"]`` because the client sends revisions quoted with
``safe=""``: a branch ``feat/x`` arrives as ``feat%2Fx`` and must not be split at the slash.

Every route declares who may call it (``guard``) and what body it takes (``body``). The guard runs
first, before a byte of the body is read, so an anonymous or foreign upload is refused at once
(401/403) however large its body. Then the body is read under its size limit (413 naming the limit)
or, for commits, handed to the handler as a stream. Handlers are plain functions run in Starlette's
worker threads (they call ``git``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from genemail.errors import ConfigError
from genemail.hub.server import api, files, listing, upload
from genemail.hub.server.auth import Auth
from genemail.hub.server.body import BodyChunks, Limits, declared_length, read_all, too_large
from genemail.hub.server.context import Call, Server
from genemail.hub.server.errors import BadRequest, HubRequestError, RepoNotFound
from genemail.hub.server.storage import RepoId, RepoStore

logger = logging.getLogger("genemail.hub.server")

Handler = Callable[[Call], Response]
_T = r"(?P<type>model|dataset|space)s"
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
_API = rf"/api/{_T}/{_REPO}"
_REV = r"(?P<rev>[^/]+)"
_FILE = rf"/(?:(?P<type>dataset|space)s/)?{_REPO}/resolve/{_REV}/(?P<path>.+)"
_PINNED = rf"/api/resolve-cache/{_T}/{_REPO}/{_REV}/(?P<path>.+)"


@dataclass(frozen=True)
class Endpoint:
    """One route: ``guard`` is checked before the body is read; ``body`` is none, small or stream."""

    method: str
    pattern: str
    handler: Handler
    guard: str = "none"  # none | user | read | write
    body: str = "none"  # none | small | stream
    action: str = ""  # what a refused caller was trying to do (for the 401/403 message)

    def __post_init__(self) -> None:
        if self.guard not in ("none", "user", "read", "write") or self.body not in ("none", "small", "stream"):
            raise ConfigError(f"route {self.method} {self.pattern} has guard={self.guard!r} body={self.body!r}",
                              fix="use guard none/user/read/write and body none/small/stream")


ROUTES: list[Endpoint] = [
    Endpoint("GET", r"/api/health", api.health),
    Endpoint("GET", r"/api/whoami-v2", api.whoami),
    Endpoint("POST", r"/api/validate-yaml", api.validate_yaml, body="small"),
    Endpoint("POST", r"/api/repos/create", api.create_repo, "user", "small", "creating a repo"),
    Endpoint("DELETE", r"/api/repos/delete", api.delete_repo, "user", "small", "deleting a repo"),
    Endpoint("GET", rf"/api/{_T}", listing.list_repos),
    Endpoint("GET", _API, api.repo_info),
    Endpoint("GET", rf"{_API}/revision/{_REV}", api.repo_info),
    Endpoint("GET", rf"{_API}/refs", api.refs),
    Endpoint("GET", rf"{_API}/commits/{_REV}", api.commits),
    Endpoint("GET", rf"{_API}/tree/{_REV}(?:/(?P<path>.*))?", api.tree),
    Endpoint("POST", rf"{_API}/paths-info/{_REV}", api.paths_info, "read", "small"),
    Endpoint("POST", rf"{_API}/preupload/{_REV}", upload.preupload, "write", "small", "uploading"),
    Endpoint("POST", rf"{_API}/commit/{_REV}", upload.commit, "write", "stream", "committing"),
    Endpoint("POST", rf"{_API}/branch/{_REV}", api.create_branch, "write", "small", "creating a branch"),
    Endpoint("DELETE", rf"{_API}/branch/{_REV}", api.delete_branch, "write", "small", "deleting a branch"),
    Endpoint("POST", rf"{_API}/tag/{_REV}", api.create_tag, "write", "small", "creating a tag"),
    Endpoint("DELETE", rf"{_API}/tag/{_REV}", api.delete_tag, "write", "small", "deleting a tag"),
    Endpoint("PUT", rf"{_API}/settings", api.update_settings, "write", "small", "changing settings"),
    Endpoint("GET", _FILE, files.resolve),
    Endpoint("HEAD", _FILE, files.resolve),
    Endpoint("GET", _PINNED, files.resolve_cache),
    Endpoint("HEAD", _PINNED, files.resolve_cache),
]
_COMPILED = [(route, re.compile(route.pattern)) for route in ROUTES]


def create_app(root: Path, tokens: dict[str, str], *, commit_delay: float = 0.0,
               commits_page_size: int = 50, limits: Limits | None = None) -> HubApp:
    """Build the local Hub ASGI app storing repos under ``root``; ``tokens`` maps user name -> secret.

    ``limits`` bounds request bodies (see :class:`~genemail.hub.server.body.Limits`).
    ``commit_delay`` (tests only) sleeps inside every commit between writing the commit object and
    moving the branch, so a test can kill the server mid-commit.
    """
    if not 1 <= commits_page_size <= 1000:
        raise ConfigError(f"commits_page_size={commits_page_size!r} is out of range", where="commits_page_size",
                          fix="pass an integer between 1 and 1000")
    server = Server(store=RepoStore(Path(root), commit_delay=commit_delay), auth=Auth(dict(tokens)),
                    commits_page_size=commits_page_size, limits=limits or Limits())
    return HubApp(server)


class HubApp:
    """The ASGI application. ``state.hub`` is the shared :class:`~genemail.hub.server.context.Server`.

    A plain ASGI callable rather than a Starlette router: every path, whatever bytes it holds (a
    ``%0A`` decodes to a newline, which a router's patterns do not match), reaches :meth:`dispatch`
    and gets a Hub-style answer.
    """

    def __init__(self, server: Server) -> None:
        self.state = SimpleNamespace(hub=server)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":  # nothing to set up or tear down
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        response = await self.dispatch(Request(scope, receive))
        await response(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        """Route one request and turn every refusal into a Hub error answer (a 500 only for a bug)."""
        server: Server = self.state.hub
        raw_path = request.scope.get("raw_path", request.scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        route, params = _match(request.method, raw_path)
        if route is None:
            return _error_response(404, None, f"no endpoint {request.method} {raw_path[:200]} on this local Hub")
        try:
            call = await _prepare(server, route, request, raw_path, params)
            return await run_in_threadpool(route.handler, call)
        except HubRequestError as err:
            return _error_response(err.status, err.code, err.render(), err.headers)
        except ClientDisconnect:  # the client went away mid-body: nobody is left to answer
            return Response(status_code=400)
        except Exception:
            if _repo_gone(server, params):  # a read or write racing delete_repo
                return _error_response(404, "RepoNotFound", "repository was deleted during this request")
            # a bug: log it (no headers, so no token) and answer 500
            logger.exception("unexpected error on %s %s", request.method, raw_path[:200])
            return _error_response(500, None, "internal error in the local Hub; see the server log")


async def _prepare(server: Server, route: Endpoint, request: Request, raw_path: str,
                   params: dict[str, str | None]) -> Call:
    """The request as a :class:`Call`: caller checked against the route's guard first, then the body read."""
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}
    call = Call(
        server=server, method=request.method, raw_path=raw_path,
        query=parse_qs(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True),
        headers=headers, body=b"", base_url=_base_url(request),
        user=server.auth.user_for(request.headers.get("authorization")), params=params,
    )
    await run_in_threadpool(_check_guard, call, route)
    if route.body == "none":
        return call
    limits = server.limits
    if route.body == "stream":
        limit, what, option = limits.max_commit_bytes, "the commit payload", "--max-commit-mb"
    else:
        limit, what, option = limits.max_request_bytes, "the request body", "--max-request-mb"
    length = declared_length(headers)
    if length is not None and length > limit:
        raise too_large(limit, what, option)  # refused before reading any of it
    if route.body == "stream":
        return replace(call, chunks=BodyChunks(request.stream(), limit, what, option))
    return replace(call, body=await read_all(request.stream(), limit, what, option))


def _check_guard(call: Call, route: Endpoint) -> None:
    if route.guard == "user":
        call.server.auth.require_user(call.user, route.action)
    elif route.guard == "read":
        call.readable_repo()
    elif route.guard == "write":
        call.writable_repo(route.action)


def _base_url(request: Request) -> str:
    """``scheme://host[:port]`` as the client called it; ``BadRequest`` for a Host header that is not a host."""
    try:
        return str(request.base_url).rstrip("/")
    except ValueError:
        raise BadRequest("the Host header is not a valid host[:port]") from None


def _repo_gone(server: Server, params: dict[str, str | None]) -> bool:
    """Whether the route's repo folder is missing now (then an unexpected error was the deletion's doing)."""
    if not params.get("ns") or not params.get("name"):
        return False
    try:
        repo_id = RepoId(params.get("type") or "model", unquote(str(params["ns"])), unquote(str(params["name"])))
    except (HubRequestError, RepoNotFound):
        return False
    return not server.store.folder(repo_id).exists()


def _match(method: str, raw_path: str) -> tuple[Endpoint | None, dict[str, str | None]]:
    for route, pattern in _COMPILED:
        if route.method == method:
            match = pattern.fullmatch(raw_path)
            if match:
                return route, match.groupdict()
    return None, {}


def _error_response(status: int, code: str | None, message: str, extra: dict[str, str] | None = None) -> Response:
    """A JSON ``{"error"}`` body plus the ``X-Error-Code`` / ``X-Error-Message`` headers the client reads."""
    headers = dict(extra or {})
    # Header values must be latin-1 and one line: keep the message readable but safe to send.
    headers["X-Error-Message"] = " ".join(message.split()).encode("ascii", errors="replace").decode("ascii")[:2000]
    if code:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)
