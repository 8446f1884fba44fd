"""Request bodies: size limits, and reading a body bit by bit from a handler's worker thread.

The app decides who may write *before* it reads a body (see ``app.py``); this module only reads.
Two limits apply: commit bodies (file contents, base64 in NDJSON) may be large and are streamed,
never held whole; every other body is small JSON or a form and is read into memory. A body over
its limit is answered ``413`` naming the limit, as soon as ``Content-Length`` says so or, for a
chunked body, as soon as the bytes read pass it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from genemail.errors import config_error
from genemail.hub.server.errors import BadRequest, PayloadTooLarge

MIB = 1 << 20
DEFAULT_MAX_COMMIT_BYTES = 2048 * MIB  # a whole model in one commit, base64-encoded
DEFAULT_MAX_REQUEST_BYTES = 16 * MIB  # JSON and forms: preupload lists of a few hundred files are ~300 KB


@dataclass(frozen=True)
class Limits:
    """Body size limits in bytes: ``max_commit_bytes`` for commit payloads, ``max_request_bytes`` for the rest.

    ``max_request_bytes`` also bounds what a commit payload may hold outside file contents (the
    header, paths, operations), since that part is kept in memory until the commit is written.
    """

    max_commit_bytes: int = DEFAULT_MAX_COMMIT_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES

    def __post_init__(self) -> None:
        for name in ("max_commit_bytes", "max_request_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
                raise config_error(name, value, "an integer number of bytes, at least 1024")


def describe(limit: int) -> str:
    """``16 MiB`` or ``1536 KiB``: the limit as a person reads it."""
    return f"{limit / MIB:g} MiB" if limit >= MIB else f"{limit / 1024:g} KiB"


def too_large(limit: int, what: str, option: str) -> PayloadTooLarge:
    """The 413 for a body over ``limit``; ``option`` names the server option that raises it."""
    return PayloadTooLarge(f"{what} is larger than this server's limit of {describe(limit)} ({limit} bytes)",
                           fix=f"send less per request (e.g. split the upload into several commits) or start the "
                               f"server with a higher {option}")


def declared_length(headers: dict[str, str]) -> int | None:
    """The ``Content-Length`` the client announced, or None (chunked bodies)."""
    value = headers.get("content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise BadRequest(f"Content-Length {value[:40]!r} is not a number")
    return int(value)


async def read_all(stream: AsyncIterator[bytes], limit: int, what: str, option: str) -> bytes:
    """The whole body (for small JSON or form bodies), ``PayloadTooLarge`` past ``limit``."""
    parts, total = [], 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise too_large(limit, what, option)
        parts.append(chunk)
    return b"".join(parts)


class BodyChunks:
    """The request body as a *synchronous* iterator of chunks, for a handler in a worker thread.

    Each chunk is fetched from the event loop with ``anyio.from_thread.run``, so only one chunk
    (what the socket delivered, typically 64 KiB) is in memory at a time.
    """

    def __init__(self, stream: AsyncIterator[bytes], limit: int, what: str, option: str) -> None:
        self._stream = stream
        self._limit = limit
        self._what = what
        self._option = option
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        import anyio.from_thread

        async def next_chunk() -> bytes | None:
            try:
                return await self._stream.__anext__()
            except StopAsyncIteration:
                return None

        while True:
            chunk = anyio.from_thread.run(next_chunk)
            if chunk is None:
                return
            self.bytes_read += len(chunk)
            if self.bytes_read > self._limit:
                raise too_large(self._limit, self._what, self._option)
            if chunk:
                yield chunk
