"""The ASGI application: routing on the raw (still percent-encoded) path, errors as Hub headers.

Routing happens on ``scope["raw_path"]`` because the client sends revisions quoted with
``safe=""``: a branch ``feat/x`` arrives as ``feat%2Fx`` and must not be split at the slash.
Handlers are plain functions run in Starlette's worker threads (they call ``git``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from genemail.errors import ConfigError
from genemail.hub.server import api, files
from genemail.hub.server.auth import Auth
from genemail.hub.server.context import Call, Server
from genemail.hub.server.errors import HubRequestError
from genemail.hub.server.storage import RepoStore

logger = logging.getLogger("genemail.hub.server")

Handler = Callable[[Call], Response]
_T = r"(?P<type>model|dataset|space)s"
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
_API = rf"/api/{_T}/{_REPO}"
_REV = r"(?P<rev>[^/]+)"

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/api/health", api.health),
    ("GET", r"/api/whoami-v2", api.whoami),
    ("POST", r"/api/validate-yaml", api.validate_yaml),
    ("POST", r"/api/repos/create", api.create_repo),
    ("DELETE", r"/api/repos/delete", api.delete_repo),
    ("GET", _API, api.repo_info),
    ("GET", rf"{_API}/revision/{_REV}", api.repo_info),
    ("GET", rf"{_API}/refs", api.refs),
    ("GET", rf"{_API}/commits/{_REV}", api.commits),
    ("GET", rf"{_API}/tree/{_REV}(?:/(?P<path>.*))?", api.tree),
    ("POST", rf"{_API}/paths-info/{_REV}", api.paths_info),
    ("POST", rf"{_API}/preupload/{_REV}", api.preupload),
    ("POST", rf"{_API}/commit/{_REV}", api.commit),
    ("POST", rf"{_API}/branch/{_REV}", api.create_branch),
    ("DELETE", rf"{_API}/branch/{_REV}", api.delete_branch),
    ("POST", rf"{_API}/tag/{_REV}", api.create_tag),
    ("DELETE", rf"{_API}/tag/{_REV}", api.delete_tag),
    ("PUT", rf"{_API}/settings", api.update_settings),
    ("GET", rf"/(?:(?P<type>dataset|space)s/)?{_REPO}/resolve/{_REV}/(?P<path>.+)", files.resolve),
    ("HEAD", rf"/(?:(?P<type>dataset|space)s/)?{_REPO}/resolve/{_REV}/(?P<path>.+)", files.resolve),
]
_COMPILED = [(method, re.compile(pattern), handler) for method, pattern, handler in ROUTES]


def create_app(root: Path, tokens: dict[str, str], *, commit_delay: float = 0.0,
               commits_page_size: int = 50) -> Starlette:
    """Build the local Hub ASGI app storing repos under ``root``; ``tokens`` maps user name -> secret.

    ``commit_delay`` (tests only) sleeps inside every commit between writing the commit object and
    moving the branch, so a test can kill the server mid-commit.
    """
    if not 1 <= commits_page_size <= 1000:
        raise ConfigError(f"commits_page_size={commits_page_size!r} is out of range", where="commits_page_size",
                          fix="pass an integer between 1 and 1000")
    server = Server(store=RepoStore(Path(root), commit_delay=commit_delay), auth=Auth(dict(tokens)),
                    commits_page_size=commits_page_size)

    async def dispatch(request: Request) -> Response:
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
        handler, params = _match(request.method, raw_path)
        if handler is None:
            return _error_response(404, None, f"no endpoint {request.method} {raw_path} on this local Hub")
        try:
            user = server.auth.user_for(request.headers.get("authorization"))
            call = Call(
                server=server, method=request.method, raw_path=raw_path,
                query=parse_qs(request.url.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"},
                body=await request.body(), base_url=str(request.base_url).rstrip("/"), user=user, params=params,
            )
            return await run_in_threadpool(handler, call)
        except HubRequestError as err:
            return _error_response(err.status, err.code, err.render(), err.headers)
        except Exception:  # a bug: log it (no headers, so no token) and answer 500
            logger.exception("unexpected error on %s %s", request.method, raw_path)
            return _error_response(500, None, "internal error in the local Hub; see the server log")

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", dispatch, methods=methods)])
    app.state.hub = server
    return app


def _match(method: str, raw_path: str) -> tuple[Handler | None, dict[str, str | None]]:
    for route_method, pattern, handler in _COMPILED:
        if route_method == method:
            match = pattern.fullmatch(raw_path)
            if match:
                return handler, match.groupdict()
    return None, {}


def _error_response(status: int, code: str | None, message: str, extra: dict[str, str] | None = None) -> Response:
    """A JSON ``{"error"}`` body plus the ``X-Error-Code`` / ``X-Error-Message`` headers the client reads."""
    headers = dict(extra or {})
    # Header values must be latin-1 and one line: keep the message readable but safe to send.
    headers["X-Error-Message"] = " ".join(message.split()).encode("ascii", errors="replace").decode("ascii")
    if code:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)
