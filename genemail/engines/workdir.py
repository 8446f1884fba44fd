"""A Ray job's folder: the input partitions, one output folder per partition, and what is finished.

Layout::

    WORK/job.json                          what the job is (input file, model, options): a resumed run
                                           must be the same job
    WORK/input/staged.json                 the partition list, written last: staging finished
    WORK/input/part-00003.parquet          customers (internal schema) + _partition + _row
    WORK/output/part-00003/rows-000000120-000040.parquet   one file per block a worker finished:
                                           first global row and row count in the name

A partition is finished when its files' row counts add up to its size, so a resumed run skips it. Files
are written aside and renamed, so a file that exists is complete; a partly finished partition is cleared
and redone. Workers write the output files themselves: on a cluster, WORK must be a folder every node
sees (NFS, a mounted bucket).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

ROW = "_row"  # global row number in the input (output order)
PARTITION = "_partition"
FORMATS = ("parquet", "jsonl")
_OUT = re.compile(r"rows-(\d+)-(\d+)\.(parquet|jsonl)")
JOB_FILE = "job.json"
STAGED_FILE = "staged.json"


@dataclass(frozen=True)
class Partition:
    """One input partition: its index, its rows and its file."""

    index: int
    rows: int
    path: Path


class WorkDir:
    """The folder of one job; :meth:`open` makes it (or checks that a resumed one is the same job)."""

    def __init__(self, root: Path, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"output format {fmt!r} is unknown", fix=f"use one of {FORMATS}")
        self.root, self.fmt = Path(root), fmt
        self.input_dir, self.output_dir = self.root / "input", self.root / "output"

    @classmethod
    def open(cls, root: Path, job: Mapping[str, Any], fmt: str) -> tuple["WorkDir", bool]:
        """The job's folder and whether it resumes a run of the same job.

        A folder holding another job (other input, model or options) is started over; only GenEmail's
        own files in it are removed, and only when it has a ``job.json``.
        """
        work = cls(root, fmt)
        marker = work.root / JOB_FILE
        wanted = json.loads(json.dumps(dict(job), sort_keys=True, default=str))
        if marker.is_file():
            if json.loads(marker.read_text(encoding="utf-8")) == wanted:
                return work, True
            work._clear()
        elif work.root.exists() and any(work.root.iterdir()):
            raise ConfigError(f"{work.root} is not empty and holds no {JOB_FILE}", where="--work-dir",
                              fix="pass an empty or new folder as --work-dir")
        work.root.mkdir(parents=True, exist_ok=True)
        _atomic_text(marker, json.dumps(wanted, indent=2, sort_keys=True))
        return work, False

    def _clear(self) -> None:
        for path in (self.input_dir, self.output_dir):
            shutil.rmtree(path, ignore_errors=True)
        (self.root / JOB_FILE).unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the whole folder (after the output was written)."""
        self._clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---------------------------------------------------------------------------------- staging

    def staged(self) -> list[Partition] | None:
        """The partitions of a finished staging, or None when staging must (re)run."""
        path = self.input_dir / STAGED_FILE
        if not path.is_file():
            return None
        items = json.loads(path.read_text(encoding="utf-8"))
        parts = [Partition(int(i["index"]), int(i["rows"]), self.input_dir / i["file"]) for i in items]
        return parts if all(p.path.is_file() for p in parts) else None

    def stage(self, frames: Iterable["pd.DataFrame"]) -> list[Partition]:
        """Write each non-empty frame as one partition (one Arrow schema for all), numbering rows globally."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        shutil.rmtree(self.input_dir, ignore_errors=True)
        shutil.rmtree(self.output_dir, ignore_errors=True)
        self.input_dir.mkdir(parents=True)
        parts: list[Partition] = []
        schema, first_row = None, 0
        for frame in frames:
            if frame.empty:
                continue
            frame = frame.reset_index(drop=True).assign(**{PARTITION: len(parts)})
            frame[ROW] = range(first_row, first_row + len(frame))
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            schema = schema or table.schema  # Ray reads every partition with the first one's schema
            path = self.input_dir / f"part-{len(parts):05d}.parquet"
            pq.write_table(table, path)
            parts.append(Partition(len(parts), len(frame), path))
            first_row += len(frame)
        listing = [{"index": p.index, "rows": p.rows, "file": p.path.name} for p in parts]
        _atomic_text(self.input_dir / STAGED_FILE, json.dumps(listing))
        return parts

    # ---------------------------------------------------------------------------------- outputs

    def partition_dir(self, index: int) -> Path:
        return self.output_dir / f"part-{index:05d}"

    def rows_done(self, part: Partition) -> int:
        """Rows in the finished output files of ``part``."""
        folder = self.partition_dir(part.index)
        if not folder.is_dir():
            return 0
        return sum(int(m.group(2)) for f in folder.iterdir() if (m := _OUT.fullmatch(f.name)))

    def todo(self, parts: list[Partition]) -> list[Partition]:
        """Partitions not finished yet; their partial outputs are cleared (they are redone whole)."""
        left = []
        for part in parts:
            done = self.rows_done(part)
            if done == part.rows:
                continue
            shutil.rmtree(self.partition_dir(part.index), ignore_errors=True)
            left.append(part)
        return left

    def write_block(self, index: int, first_row: int, data: Any) -> Path:
        """Write one finished block of partition ``index`` (a DataFrame for parquet, row dicts for jsonl)."""
        folder = self.partition_dir(index)
        folder.mkdir(parents=True, exist_ok=True)
        n = len(data)
        path = folder / f"rows-{first_row:09d}-{n:06d}.{self.fmt}"
        tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
        if self.fmt == "parquet":
            data.to_parquet(tmp, index=False)
        else:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in data)
        os.replace(tmp, path)  # a file under its final name is complete
        return path

    def read_partition(self, part: Partition) -> Any:
        """A finished partition's output in input order (DataFrame or row dicts), without ``_row``."""
        files = sorted(f for f in self.partition_dir(part.index).iterdir() if _OUT.fullmatch(f.name))
        if self.fmt == "parquet":
            import pandas as pd

            frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
            return frame.sort_values(ROW, kind="stable").drop(columns=[ROW]).reset_index(drop=True)
        rows = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line]
        rows.sort(key=lambda r: r[ROW])
        return [{k: v for k, v in r.items() if k != ROW} for r in rows]

    def read_all(self, parts: list[Partition]) -> Iterator[Any]:
        """Every partition's output, in input order (one partition in memory at a time)."""
        for part in parts:
            yield self.read_partition(part)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
