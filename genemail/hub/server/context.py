"""What every endpoint handler receives: the parsed request and the shared server state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import unquote

from genemail.hub.server.auth import Auth
from genemail.hub.server.body import Limits
from genemail.hub.server.errors import BadRequest, RepoNotFound
from genemail.hub.server.payload import Fields, decode_json
from genemail.hub.server.storage import Repo, RepoId, RepoStore


@dataclass(frozen=True)
class Server:
    """Shared, long-lived state: the repository store, the token table and the body limits."""

    store: RepoStore
    auth: Auth
    commits_page_size: int = 50
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Call:
    """One request, already read (handlers run in a worker thread and never touch the event loop)."""

    server: Server
    method: str
    raw_path: str  # still percent-encoded: revisions arrive as quote(rev, safe="")
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes  # read only for routes that take a small body, after the caller was authorized
    base_url: str  # scheme://host[:port] exactly as the client called it (trap: localhost vs 127.0.0.1)
    user: str | None
    params: dict[str, str | None]  # the route's named groups, still percent-encoded
    chunks: Iterable[bytes] = ()  # the streamed body of a commit (see body.BodyChunks)

    def param(self, name: str, default: str = "") -> str:
        """A route parameter, percent-decoded (``BadRequest`` if the bytes are not UTF-8)."""
        value = self.params.get(name)
        if value is None:
            return default
        try:
            return unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise BadRequest(f"the {name} part of the URL is not valid UTF-8 once percent-decoded",
                             fix="percent-encode UTF-8 text") from None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query-string argument."""
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        """A boolean query-string argument ('1', 'true', 'True' are true)."""
        return (self.arg(name) or "").lower() in ("1", "true", "yes")

    def json(self) -> Fields:
        """The body as a checked JSON object (empty when there is no body); ``BadRequest`` otherwise."""
        if not self.body.strip():
            return Fields({}, "")
        return Fields(decode_json(self.body, "the request body"), "")

    def repo_id(self) -> RepoId:
        """The repo addressed by the route (``type``, ``ns``, ``name`` groups)."""
        return RepoId(self.params.get("type") or "model", self.param("ns"), self.param("name"))

    def readable_repo(self) -> Repo:
        """The addressed repo if the caller may see it; private repos of others look missing."""
        repo = self.server.store.get(self.repo_id())
        if not self.server.auth.can_read(self.user, repo.id.namespace, repo.private):
            raise RepoNotFound(f"repository {repo.id.id} ({repo.id.type}) not found",
                               fix="check the repo id, or pass the owner's token for a private repo")
        return repo

    def writable_repo(self, action: str) -> Repo:
        """The addressed repo if the caller may write to it (401 without a token, 403 elsewhere)."""
        repo = self.readable_repo()
        self.server.auth.require_write(self.user, repo.id.namespace, action)
        return repo

    def repo_url(self, repo_id: RepoId) -> str:
        """The repo's web URL on the host the client called."""
        return f"{self.base_url}/{repo_id.url_prefix}{repo_id.id}"


def iso_date(timestamp: int) -> str:
    """``2026-11-24T01:02:03.000Z``: the client refuses ``+00:00``."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
