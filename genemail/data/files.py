"""What a customer file is, before any row is read: kind, encoding, separator, header.

:func:`inspect_file` looks at the bytes: a directory, a missing, empty, binary or too-big file is
refused with a message that says so; Parquet is recognized by its suffix or magic; a CSV's encoding
is UTF-8 (with or without a byte-order mark), UTF-16 (with a byte-order mark, or without one,
detected from its zero bytes), else a reported Latin-1 fallback; its separator is sniffed.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from genemail.data.text import cut
from genemail.errors import DataError

PARQUET_SUFFIXES = {".parquet", ".pq"}
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class FileFormat:
    """What :func:`inspect_file` found out about a file."""

    kind: str  # "csv" | "parquet"
    size: int
    encoding: str | None = None
    sep: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def inspect_file(path: Path, *, max_bytes: int | None = None) -> FileFormat:
    """Refuse directories and missing, empty, binary or too-big files; find a CSV's encoding and separator."""
    if path.is_dir():
        suffixes = {".csv", ".tsv", ".txt", *PARQUET_SUFFIXES}
        found = sorted(p.name for p in path.iterdir() if p.suffix.lower() in suffixes)
        hint = f" (it holds {', '.join(found[:3])}{', ...' if len(found) > 3 else ''})" if found else ""
        raise DataError(f"is a directory, not a customer file{hint}", where=str(path),
                        fix="pass the CSV or Parquet file itself, e.g. DIR/customers.csv")
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="check the path (CSV or Parquet customer table)")
    size = path.stat().st_size
    if size == 0:
        raise DataError("file is empty (0 bytes)", where=str(path), fix="export the customer table again")
    if max_bytes is not None and size > max_bytes:
        raise DataError(
            f"file is {size / 2**20:.1f} MiB, above the {max_bytes / 2**20:.1f} MiB limit for loading at once",
            where=str(path),
            fix="stream it with iter_customer_chunks() (as `genemail data check` does) or raise max_bytes",
        )
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if head.startswith(b"PAR1") or path.suffix.lower() in PARQUET_SUFFIXES:
        return FileFormat("parquet", size)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding, notes = "utf-16", ("encoding: UTF-16 (byte-order mark)",)
    elif (utf16 := _utf16_without_bom(head)) is not None:
        encoding = utf16
        notes = (f"encoding: UTF-16 {'little' if utf16.endswith('le') else 'big'}-endian without a byte-order "
                 "mark (detected from its zero bytes); re-export as UTF-8 to be sure",)
    else:
        _refuse_binary(path, head)
        encoding, notes = _utf8_or_latin1(path, head)
    sample = head[: len(head) - len(head) % 2] if encoding.startswith("utf-16") else head
    sep = _sniff_separator(sample.decode(encoding, errors="replace"))
    return FileFormat("csv", size, encoding, sep, notes + (f"separator: {SEPARATOR_NAMES.get(sep, repr(sep))}",))


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when the zero bytes sit at every other position (ASCII text in UTF-16)."""
    sample = head[:4096]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    even, odd = sample[0::2], sample[1::2]
    zero_even, zero_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if zero_odd > 0.7 and zero_even < 0.1:
        encoding = "utf-16-le"
    elif zero_even > 0.7 and zero_odd < 0.1:
        encoding = "utf-16-be"
    else:
        return None
    try:
        sample[: len(sample) - len(sample) % 2].decode(encoding)
    except UnicodeDecodeError:
        return None
    return encoding


def _refuse_binary(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        kind = "a zip archive or an Excel workbook"
    elif head.startswith(b"\x1f\x8b"):
        kind = "gzip-compressed"
    elif b"\x00" in head or sum(b < 9 or 13 < b < 32 for b in head[:4096]) > len(head[:4096]) * 0.05:
        kind = "a binary file, not text"
    else:
        return
    raise DataError(f"file is {kind}", where=str(path),
                    fix="save the customer table as CSV (UTF-8) or Parquet and pass that file")


def _utf8_or_latin1(path: Path, head: bytes) -> tuple[str, tuple[str, ...]]:
    """Validate UTF-8 over the whole file in 1 MiB blocks; fall back to Latin-1 with a note."""
    bom = head.startswith(codecs.BOM_UTF8)
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0  # counted block by block, so the failing line is known without re-reading
    with path.open("rb") as fh:
        while block := fh.read(2**20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                start = max(err.start, 0)
                line = newlines + block[:start].count(b"\n") + 1
                note = (f"encoding: not valid UTF-8 (byte 0x{block[start]:02x} on line {line}); "
                        "decoded as Latin-1 - check accented text, or re-export as UTF-8")
                return "latin-1", (note,)
            newlines += block.count(b"\n")
    return ("utf-8-sig", ("encoding: UTF-8 with byte-order mark",)) if bom else ("utf-8", ("encoding: UTF-8",))


def _sniff_separator(sample: str) -> str:
    lines = sample.splitlines()
    header = lines[0] if lines else ""
    try:
        sep = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=",;\t").delimiter
        if sep in header:
            return sep
    except csv.Error:
        pass  # the Sniffer gives up on ragged samples: fall back to counting in the header
    counts = {s: header.count(s) for s in (",", ";", "\t")}
    return max(counts, key=counts.get) if max(counts.values()) else ","


def read_header(path: Path, fmt: FileFormat) -> list[str]:
    """Column names as written in the file."""
    if fmt.kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise DataError(f"not a readable Parquet file ({cut(err)})", where=str(path),
                            fix="write it again with pandas.DataFrame.to_parquet, or pass a CSV") from None
    try:
        header = pd.read_csv(path, sep=fmt.sep, encoding=fmt.encoding, nrows=0)
    except pd.errors.EmptyDataError:
        raise DataError("file is empty (no header line)", where=str(path),
                        fix="export the customer table again, with its header line") from None
    except (pd.errors.ParserError, UnicodeError) as err:
        raise DataError(f"cannot read the header line ({cut(err)})", where=f"{path}, line 1",
                        fix="export the customer table again as CSV (UTF-8) with one header line") from None
    return [str(c) for c in header.columns]
