"""Streaming reader of the commit endpoint's NDJSON body, in memory bounded by a few chunks.

The client sends one JSON object per line; a ``file`` line carries the whole file base64-encoded in
one JSON string (a 200 MB file is a 267 MB line). Reading such a line with ``json.loads`` would
hold it several times over, so :class:`PayloadReader` scans the byte stream itself:

* Outside strings it copies bytes into a small per-line *skeleton*.
* A string up to :data:`LONG_STRING` bytes is copied into the skeleton as it is.
* A longer string is never kept: its characters are base64-decoded as they arrive into a temp file
  (a :class:`LongString`), and the skeleton gets a placeholder string in its place.

When a line ends, the skeleton (a few hundred bytes) is parsed by the strict JSON reader in
``payload.py`` with the placeholders swapped back for their :class:`LongString` objects, so the
structure of every line is still checked by a real JSON parser. A long string that turns out not to
be a file's ``content`` is refused by the caller ("longer than ..."); it was only ever on disk.
"""

from __future__ import annotations

import binascii
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from genemail.hub.server.errors import BadRequest

LONG_STRING = 256 * 1024  # bytes of JSON string text kept in memory before spilling to a temp file
_OUTSIDE = (b'"', b"\n")  # what ends plain JSON text: a string opening, or the line
_INSIDE = (b'"', b"\\", b"\n")  # what ends a run of string characters
_BASE64_ASCII = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _find_first(data: bytes, start: int, needles: tuple[bytes, ...]) -> int:
    """Index of the first of ``needles`` in ``data[start:]``, or -1.

    ``bytes.find`` per needle, each bounded by the best hit so far: about 100 times faster than a
    regex character class on the megabytes of base64 text a commit carries.
    """
    best = len(data)
    for needle in needles:
        hit = data.find(needle, start, best)
        if hit != -1:
            best = hit
    return best if best < len(data) else -1


def decode_base64(text: str | bytes, where: str) -> bytes:
    """Strict base64 (standard alphabet, correct padding, nothing after it), as for long strings."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where} is not valid base64", fix="send the file bytes base64-encoded "
                         "(standard alphabet, '=' padding, no line breaks)") from None


@dataclass
class LongString:
    """A JSON string too long to keep in memory: its base64-decoded bytes are in ``path``.

    ``error`` says why it is not valid base64 (then ``path`` holds garbage); ``size`` is the number
    of decoded bytes, ``length`` the number of characters.
    """

    path: Path
    length: int = 0
    size: int = 0
    error: str | None = None
    json_type: str = field(default=f"a string longer than {LONG_STRING} characters", repr=False)

    def discard(self) -> None:
        """Delete the temp file."""
        self.path.unlink(missing_ok=True)


class _Base64Spill:
    """Decodes base64 text, fed in arbitrary pieces, into a file (strictly: see :func:`decode_base64`)."""

    def __init__(self, path: Path) -> None:
        self.result = LongString(path)
        self._fh: IO[bytes] | None = open(path, "wb")
        self._pending = b""  # fewer than 4 characters left over from the last piece
        self._padded = False  # a group with '=' was decoded: nothing may follow

    def feed(self, text: bytes) -> None:
        self.result.length += len(text)
        if self.result.error is not None:
            return
        data = self._pending + text
        if self._padded and data:
            self.result.error = "it has characters after the '=' padding"
            return
        cut = len(data) - len(data) % 4
        self._pending = data[cut:]
        if not cut:
            return
        try:
            decoded = binascii.a2b_base64(data[:cut], strict_mode=True)
        except (binascii.Error, ValueError):
            self.result.error = "it is not valid base64"
            return
        self._padded = data[cut - 1:cut] == b"="
        assert self._fh is not None
        self._fh.write(decoded)
        self.result.size += len(decoded)

    def close(self) -> LongString:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self.result.error is None and self._pending:
            self.result.error = "its length is not a multiple of 4 (missing '=' padding?)"
        return self.result


def _unescape_ascii(text: bytes) -> bytes:
    """JSON string text (whole escapes only) as the base64 characters it stands for.

    Long strings are file contents, so anything that is not a base64 character becomes ``!``,
    which the strict decoder then refuses.
    """
    if b"\\" not in text:
        return text
    try:
        decoded = json.loads(b'"' + text + b'"')
    except ValueError:
        return b"!"
    encoded = decoded.encode("ascii", errors="replace")
    return encoded if all(b in _BASE64_ASCII for b in encoded) else b"!"


@dataclass
class Line:
    """One NDJSON line: its skeleton JSON text and the long strings its placeholders stand for."""

    number: int
    skeleton: bytes
    long_strings: dict[str, LongString]

    @property
    def where(self) -> str:
        """How error messages name this line."""
        return f"commit payload line {self.number}"

    def __enter__(self) -> Line:
        return self

    def __exit__(self, *exc: object) -> None:
        for long in self.long_strings.values():
            long.discard()


class PayloadReader:
    """Splits an NDJSON byte stream into :class:`Line` objects without holding long strings in memory.

    ``max_line_bytes`` bounds one line's skeleton (its text outside long strings, short file
    contents included), which is all a line keeps in memory; past it, ``too_large`` is raised.
    Temp files go to ``tmp_dir``.
    """

    def __init__(self, tmp_dir: Path, max_line_bytes: int, too_large: Exception) -> None:
        self._tmp_dir = tmp_dir
        self._max_line = max_line_bytes
        self._too_large = too_large
        self._nonce = uuid.uuid4().hex
        self._reset_line(1)

    def _reset_line(self, number: int) -> None:
        self._number = number
        self._skeleton = bytearray()
        self._long: dict[str, LongString] = {}
        self._in_string = False
        self._string = bytearray()
        self._spill: _Base64Spill | None = None

    def lines(self, chunks: Iterable[bytes]) -> Iterator[Line]:
        """Yield each non-blank line; use each as a context manager so its temp files are removed."""
        carry = b""
        try:
            for chunk in chunks:
                data = carry + chunk if carry else chunk
                carry = yield from self._scan(data)
            if carry:  # a backslash escape cut off by the end of the body
                self._string_text(carry)
            if self._in_string:
                self._close_string(terminated=False)
            line = self._take_line()
            if line is not None:
                yield line
        finally:
            self._discard_pending()

    def _scan(self, data: bytes) -> Iterator[Line]:
        """Consume ``data``; yield the lines it completes; return an unfinished escape to carry over."""
        pos, end = 0, len(data)
        while pos < end:
            if not self._in_string:
                hit = _find_first(data, pos, _OUTSIDE)
                stop = end if hit == -1 else hit
                self._add_skeleton(data[pos:stop])
                if hit == -1:
                    return b""
                pos = stop + 1
                if data[stop] == 0x0A:  # newline: the line is complete
                    line = self._take_line()
                    if line is not None:
                        yield line
                else:
                    self._in_string, self._string = True, bytearray()
                continue
            hit = _find_first(data, pos, _INSIDE)
            stop = end if hit == -1 else hit
            if stop > pos:
                self._string_text(data[pos:stop])
            if hit == -1:
                return b""
            char = data[stop]
            if char == 0x22:  # closing quote
                self._close_string(terminated=True)
                pos = stop + 1
            elif char == 0x5C:  # backslash: the escape must be whole before it is used
                size = 6 if data[stop + 1:stop + 2] == b"u" else 2
                if stop + size > end:
                    return data[stop:]
                self._string_escape(data[stop:stop + size])
                pos = stop + size
            else:  # a raw newline inside a string: the line ends there (and is invalid JSON)
                self._close_string(terminated=False)
                pos = stop + 1
                line = self._take_line()
                if line is not None:
                    yield line
        return b""

    def _add_skeleton(self, text: bytes | bytearray) -> None:
        if len(self._skeleton) + len(text) > self._max_line:
            raise self._too_large
        self._skeleton += text

    def _string_text(self, text: bytes) -> None:
        if self._spill is not None:
            self._spill.feed(text)
            return
        self._string += text
        if len(self._string) > LONG_STRING:
            self._spill = _Base64Spill(self._tmp_dir / f"commit-{self._nonce}-{len(self._long)}.part")
            self._spill.feed(_unescape_ascii(bytes(self._string)))
            self._string = bytearray()

    def _string_escape(self, escape: bytes) -> None:
        if self._spill is None:
            self._string_text(escape)  # short strings keep their escapes: json.loads reads them later
            return
        self._spill.feed(_unescape_ascii(escape))

    def _close_string(self, *, terminated: bool) -> None:
        self._in_string = False
        if self._spill is None:
            self._add_skeleton(b'"' + self._string + (b'"' if terminated else b""))
            self._string = bytearray()
            return
        long = self._spill.close()
        self._spill = None
        key = f"\x00{self._nonce}:{len(self._long)}"
        self._long[key] = long
        self._add_skeleton(b'"\\u0000' + key[1:].encode() + (b'"' if terminated else b""))

    def _take_line(self) -> Line | None:
        skeleton, long = bytes(self._skeleton), self._long
        number = self._number
        self._reset_line(number + 1)
        if not skeleton.strip() and not long:
            return None
        return Line(number, skeleton, long)

    def _discard_pending(self) -> None:
        if self._spill is not None:
            self._long["pending"] = self._spill.close()
            self._spill = None
        for long in self._long.values():
            long.discard()
