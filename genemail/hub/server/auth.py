"""Users, tokens and namespaces of the local Hub.

Model: every user owns exactly one namespace, their own name. A token (``Authorization: Bearer``)
identifies its user. Reads of public repos need no token; every write needs one and may touch only
the token's own namespace; a private repo is visible only to its owner (everyone else gets the same
404 ``RepoNotFound`` as for a repo that does not exist, so names do not leak).
Secrets are compared in constant time and never written to logs or error messages.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from pathlib import Path

from genemail.errors import ConfigError
from genemail.hub.server.errors import Forbidden, Unauthorized

USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,38}")
# Path segments the Hub reserves in URLs: a namespace with one of these names would be ambiguous.
RESERVED_NAMESPACES = frozenset({"api", "datasets", "spaces", "models", "resolve", "new"})


def parse_token_spec(spec: str) -> tuple[str, str]:
    """Split ``NAME:SECRET`` into ``(name, secret)``, checking both (the secret is never echoed)."""
    name, sep, secret = spec.partition(":")
    name, secret = name.strip(), secret.strip()
    if not sep or not name or not secret:
        raise ConfigError(
            "a token must be written NAME:SECRET (got a value without both parts)",
            where="--token",
            fix="pass e.g. --token alice:hf_alice_secret",
        )
    if not USER_RE.fullmatch(name) or name.lower() in RESERVED_NAMESPACES:
        raise ConfigError(
            f"user name {name!r} is invalid",
            where="--token",
            fix="use letters, digits, '-', '_' or '.', starting with a letter or digit, at most 39 characters",
        )
    if len(secret) < 8 or any(c.isspace() for c in secret):
        raise ConfigError(
            f"the secret of user {name!r} is too short or contains spaces",
            where="--token",
            fix="use a secret of at least 8 characters without spaces",
        )
    return name, secret


def load_tokens_file(path: Path) -> dict[str, str]:
    """Read a tokens file: one ``NAME:SECRET`` per line; blank lines and ``#`` comments are skipped."""
    if not path.is_file():
        raise ConfigError(f"tokens file {path} does not exist", where="--tokens-file",
                          fix="create it with one NAME:SECRET line per user")
    tokens: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            name, secret = parse_token_spec(line)
        except ConfigError as err:
            raise ConfigError(err.what, where=f"{path}:{lineno}", fix=err.fix) from None
        tokens[name] = secret
    return tokens


def collect_tokens(specs: list[str], tokens_file: Path | None) -> dict[str, str]:
    """Merge ``--tokens-file`` and repeated ``--token NAME:SECRET`` options (later ones win)."""
    tokens = load_tokens_file(tokens_file) if tokens_file else {}
    for spec in specs:
        name, secret = parse_token_spec(spec)
        tokens[name] = secret
    return tokens


@dataclass
class Auth:
    """Maps bearer tokens to users and decides who may read or write where."""

    tokens: dict[str, str] = field(repr=False)  # user name -> secret

    def __post_init__(self) -> None:
        for name, secret in self.tokens.items():
            parse_token_spec(f"{name}:{secret}")  # validates both; raises ConfigError

    def user_for(self, authorization: str | None) -> str | None:
        """The user a ``Authorization`` header names; None without one; ``Unauthorized`` if unknown."""
        if not authorization:
            return None
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("Invalid credentials in Authorization header",
                               fix="send 'Authorization: Bearer <token>'")
        secret = secret.strip()
        found = None
        for name, known in self.tokens.items():
            # compare against every token so the time taken does not reveal which one nearly matched
            if hmac.compare_digest(known.encode(), secret.encode()):
                found = name
        if found is None:
            raise Unauthorized("Invalid credentials in Authorization header",
                               fix="use a token the server was started with (--token / --tokens-file)")
        return found

    @staticmethod
    def require_user(user: str | None, action: str) -> str:
        """The caller's name, or ``Unauthorized`` when the request carries no token."""
        if user is None:
            raise Unauthorized(f"{action} needs a token",
                               fix="pass token=... to HfApi or set HF_TOKEN to a token of this server")
        return user

    @staticmethod
    def can_write(user: str, namespace: str) -> bool:
        """A user writes only to their own namespace."""
        return user == namespace

    def require_write(self, user: str | None, namespace: str, action: str) -> str:
        """The caller's name when they may write to ``namespace``; ``Unauthorized``/``Forbidden`` otherwise."""
        name = self.require_user(user, action)
        if not self.can_write(name, namespace):
            raise Forbidden(f"user {name!r} may not write to namespace {namespace!r} ({action})",
                            fix=f"write to your own namespace, e.g. '{name}/<repo>'")
        return name

    @staticmethod
    def can_read(user: str | None, namespace: str, private: bool) -> bool:
        """Public repos are readable by anyone; private ones only by their namespace's owner."""
        return not private or user == namespace
