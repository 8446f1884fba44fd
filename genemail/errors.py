"""Every error GenEmail raises for a user, in one module (as ``huggingface_hub.errors`` does).

A user-facing error says three things: what was wrong, where (file, row, column, field, repo),
and what to do. The CLI prints ``str(err)`` without a traceback; the app shows it in ``gr.Error``.
"""

from __future__ import annotations


class GenEmailError(Exception):
    """Base class: ``GenEmailError(what, where=..., fix=...)`` renders as one readable message."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.render())

    def __reduce__(self) -> tuple:
        # Rebuilt from its parts, not its rendered text, so it survives a trip between processes intact.
        return (_rebuild, (type(self), self.what, self.where, self.fix))

    def render(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(p.rstrip(".") + "." for p in parts)


def _rebuild(kind: type[GenEmailError], what: str, where: str | None, fix: str | None) -> GenEmailError:
    return kind(what, where=where, fix=fix)


class ConfigError(GenEmailError, ValueError):
    """A configuration value is invalid (names the argument, the value received and the fix)."""


class DataError(GenEmailError, ValueError):
    """A customer file cannot be used (names file, row and column where known)."""


class ArtifactError(GenEmailError):
    """A saved artifact (segmenter, adapter, base model) is missing, corrupt or untrusted."""


class StrategyError(GenEmailError, ValueError):
    """The strategies file is invalid (names the record and the field)."""


class HubError(GenEmailError):
    """Publishing to or pulling from a Hub failed (names repo and revision)."""


class ReleaseError(HubError):
    """A release manifest is invalid or a pinned artifact does not match its pin."""


class ServingError(GenEmailError):
    """A completions server (``genemail serve``, vLLM, ...) cannot be reached or answered with an error."""


def config_error(name: str, value: object, expected: str) -> ConfigError:
    """Shorthand for the common ``__post_init__`` failure: argument, received value, expectation."""
    return ConfigError(
        f"{name}={value!r} is invalid", fix=f"pass {name} as {expected}"
    )
