"""Strict reading of what clients send: JSON bodies, typed fields, repo file paths.

Every refusal is a 400 :class:`~genemail.hub.server.errors.BadRequest` that names the field
(``files[2].path``, ``header.parentCommit``...), so a client author can see what to fix. The rules:

* JSON must be UTF-8, without ``NaN``/``Infinity``, at most :data:`MAX_DEPTH` levels deep, and no
  string anywhere may hold a NUL character or a lone UTF-16 surrogate (git, HTTP headers and UTF-8
  encoders all fail on those later, far from the cause).
* File paths in a repo follow one rule, on commit and on every request (:func:`check_repo_path`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from genemail.hub.server.errors import BadRequest

MAX_DEPTH = 64  # no Hub payload nests deeper than a handful of levels
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux: longer paths could not be checked out anyway
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f]")
_PATH_FIX = ("use a relative path of '/'-separated names without '..', '.', empty names, a '.git' folder, "
             "backslashes, control characters or a leading ':'")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(data: bytes | str, where: str, *, placeholders: Mapping[str, Any] | None = None) -> Any:
    """Parse one JSON document strictly and check every string in it (see the module docstring).

    ``placeholders`` maps placeholder strings (written by the streaming commit parser in place of
    very long strings) to the objects that stand for them; they are swapped in while checking.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as err:
        raise BadRequest(f"{where} is not valid UTF-8 (byte {err.start})", fix="send UTF-8 encoded JSON") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(f"{where} is nested too deeply", fix=f"nest at most {MAX_DEPTH} levels") from None
    except ValueError as err:
        raise BadRequest(f"{where} is not valid JSON: {err}") from None
    return check_strings(value, where, placeholders or {})


def check_strings(value: Any, where: str, placeholders: Mapping[str, Any], depth: int = 0) -> Any:
    """Return ``value`` with placeholders swapped in; ``BadRequest`` naming the first bad string or key."""
    if depth > MAX_DEPTH:
        raise BadRequest(f"{where} is nested more than {MAX_DEPTH} levels deep", fix="send a flatter payload")
    if isinstance(value, str):
        if value in placeholders:
            return placeholders[value]
        _check_text(value, where)
        return value
    if isinstance(value, list):
        return [check_strings(v, f"{where}[{i}]", placeholders, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            _check_text(key, f"{where} key {key[:40]!r}")
            out[key] = check_strings(item, f"{where}.{key}" if where else key, placeholders, depth + 1)
        return out
    return value


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise BadRequest(f"{where} contains a NUL character", fix="remove the \\u0000 characters")
    if _SURROGATE_RE.search(text):
        raise BadRequest(f"{where} contains a lone UTF-16 surrogate", fix="send valid Unicode text (UTF-8)")


_TYPE_NAMES = {str: "a string", bool: "a boolean (true/false)", dict: "an object", list: "a list", int: "an integer"}


def _json_type(value: Any) -> str:
    if hasattr(value, "json_type"):  # a placeholder for a very long string (see ndjson.LongString)
        return str(value.json_type)
    return {str: "string", bool: "boolean", int: "number", float: "number", dict: "object", list: "list",
            type(None): "null"}.get(type(value), type(value).__name__)


class Fields:
    """Typed access to a JSON object's fields; every failure names ``where.field``."""

    def __init__(self, obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            raise BadRequest(f"{where or 'the body'} must be a JSON object (got {_json_type(obj)})")
        self.obj = obj
        self.where = where

    def name(self, field: str) -> str:
        """The dotted name of ``field`` as used in error messages."""
        return f"{self.where}.{field}" if self.where else field

    def get(self, field: str, kind: type, *, required: bool = False, default: Any = None) -> Any:
        """The field's value if it has type ``kind`` (``null`` counts as absent); ``BadRequest`` otherwise."""
        value = self.obj.get(field)
        if value is None:
            if required:
                raise BadRequest(f"field {self.name(field)} is missing", fix=f"send {self.name(field)} as "
                                 f"{_TYPE_NAMES.get(kind, kind.__name__)}")
            return default
        # bool is a subclass of int in Python, but never an acceptable integer in JSON payloads
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadRequest(f"field {self.name(field)} must be {_TYPE_NAMES.get(kind, kind.__name__)} "
                             f"(got {_json_type(value)})")
        return value

    def str(self, field: str, *, required: bool = False, default: str | None = None) -> str | None:
        """A string field."""
        return self.get(field, str, required=required, default=default)

    def bool(self, field: str, *, default: bool | None = None) -> bool | None:
        """A boolean field: ``"false"`` as a string is refused, not read as true."""
        return self.get(field, bool, default=default)

    def choice(self, field: str, choices: tuple[str, ...], *, default: str | None = None) -> str | None:
        """A string field restricted to ``choices``."""
        value = self.str(field, default=default)
        if value is not None and value not in choices:
            raise BadRequest(f"field {self.name(field)} must be one of {', '.join(map(repr, choices))} (got {value!r})")
        return value

    def obj_field(self, field: str, *, required: bool = False) -> Fields:
        """A nested object, as :class:`Fields` (an empty one when absent and not required)."""
        return Fields(self.get(field, dict, required=required, default={}), self.name(field))

    def list(self, field: str, *, required: bool = False) -> list:
        """A list field (empty when absent and not required)."""
        return self.get(field, list, required=required, default=[])

    def path(self, field: str) -> str:
        """A required repo file path, checked with :func:`check_repo_path`."""
        return check_repo_path(self.str(field, required=True), where=self.name(field))


def check_repo_path(path: Any, *, where: str = "path") -> str:
    """The one rule for file paths in a repo, on commit and on request; returns the normalized path.

    Refused: non-strings, empty paths, NUL and other control characters, lone surrogates, a leading
    ``:`` (git pathspec magic), backslashes, ``.``/``..``/empty components and any ``.git`` component
    (in any letter case: case-insensitive checkouts would treat ``.GIT`` as the git folder).
    Leading and trailing ``/`` are dropped, as on the Hub.
    """
    if not isinstance(path, str):
        raise BadRequest(f"{where} must be a string (got {_json_type(path)})", fix=_PATH_FIX)
    clean = path.strip("/")
    problem = _path_problem(clean)
    if problem:
        shown = path if len(path) <= 200 else path[:200] + "..."
        raise BadRequest(f"invalid file path {shown!r} in {where}: {problem}", fix=_PATH_FIX)
    return clean


def _path_problem(clean: str) -> str | None:
    checks: list[tuple[Callable[[str], bool], str]] = [
        (lambda p: not p, "it is empty"),
        (lambda p: bool(_SURROGATE_RE.search(p)), "it contains a lone UTF-16 surrogate"),
        (lambda p: bool(_CONTROL_RE.search(p)), "it contains a control character"),
        (lambda p: len(p.encode("utf-8")) > MAX_PATH_BYTES, f"it is longer than {MAX_PATH_BYTES} bytes"),
        (lambda p: p.startswith(":"), "it starts with ':'"),
        (lambda p: "\\" in p, "it contains a backslash"),
        (lambda p: any(part in ("", ".", "..") for part in p.split("/")), "it has an empty, '.' or '..' component"),
        (lambda p: any(part.lower().rstrip(". ") == ".git" for part in p.split("/")), "it has a '.git' component"),
    ]
    return next((message for test, message in checks if test(clean)), None)
