"""The errors the local Hub answers with, each mapped to an HTTP status and a Hub ``X-Error-Code``.

The ``huggingface_hub`` client turns ``X-Error-Code`` into its own exception classes
(``RepositoryNotFoundError``, ``RevisionNotFoundError``, ``EntryNotFoundError``...), and
``file_exists`` / ``revision_exists`` / ``repo_exists`` return False only when that header is present.
"""

from __future__ import annotations

from genemail.errors import HubError


class HubRequestError(HubError):
    """A request the server refuses; ``status`` is the HTTP status, ``code`` the ``X-Error-Code``."""

    status: int = 400
    code: str | None = None

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(what, where=where, fix=fix)
        self.headers = headers or {}


class BadRequest(HubRequestError):
    """The request is malformed (bad JSON, bad path, unsupported option)."""

    status = 400


class Unauthorized(HubRequestError):
    """No token, or an unknown token, where one is required."""

    status = 401


class Forbidden(HubRequestError):
    """The token is valid but may not write here (another user's namespace)."""

    status = 403


class RepoNotFound(HubRequestError):
    """The repository does not exist, or is private and the caller is not its owner."""

    status = 404
    code = "RepoNotFound"


class RevisionNotFound(HubRequestError):
    """The repository exists but the branch, tag or commit does not."""

    status = 404
    code = "RevisionNotFound"


class EntryNotFound(HubRequestError):
    """The revision exists but the file or folder does not."""

    status = 404
    code = "EntryNotFound"


class Conflict(HubRequestError):
    """The repo, branch or tag already exists (or a concurrent change got there first)."""

    status = 409


class PreconditionFailed(HubRequestError):
    """``parentCommit`` is not the branch's head any more: another commit landed first."""

    status = 412


class PayloadTooLarge(HubRequestError):
    """The request body is over the server's configured limit (the message names the limit)."""

    status = 413
