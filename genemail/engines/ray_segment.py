"""``genemail segment predict --engine ray``: the local scoring function, as Ray Data ``map_batches``.

The driver streams and cleans the file exactly as the local engine does (``iter_customer_chunks``, the same
``--chunksize``: duplicates across the file, the day/month order and per-chunk imputation are decided in one
pass), writing each cleaned chunk as one Parquet partition. Workers load the segmenter once and score blocks
with the same ``segment_and_explain`` / ``segment`` call the local engine makes; the driver then hands the
partitions back in input order to the same writer. So the output equals the local engine's, row for row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.engines.cluster import RayConfig
from genemail.engines.ray_batch import PartitionWorker, RayRun, run_partitions
from genemail.engines.workdir import WorkDir
from genemail.errors import config_error

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SegmentJob:
    """A scoring run: the file, the model, the local engine's options, and the Ray settings."""

    model_dir: Path
    data: Path
    work_dir: Path
    chunksize: int = 50_000  # as `segment predict` (genemail.cli.segment_cmd.CHUNK_ROWS): same chunks, same output
    top_k: int = 3
    reasons: bool = True
    reference_date: str | None = None
    date_order: str = "auto"
    block_rows: int = 10_000  # rows per map_batches call
    ray: RayConfig = field(default_factory=RayConfig)
    keep_work: bool = False  # keep the work folder after the output was written

    def __post_init__(self) -> None:
        for name in ("chunksize", "top_k", "block_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise config_error(name, value, "a positive integer")

    def fingerprint(self) -> dict[str, Any]:
        """What makes two runs the same job (a resumed run must match)."""
        model = Path(self.model_dir) / "segmenter.skops"
        stat = Path(self.data).stat()
        return {"job": "segment", "data": str(Path(self.data).resolve()), "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns, "model_sha256": _sha256(model) if model.is_file() else None,
                "chunksize": self.chunksize, "top_k": self.top_k, "reasons": self.reasons,
                "reference_date": self.reference_date, "date_order": self.date_order}


class SegmentWorker(PartitionWorker):
    """A Ray actor: loads the segmenter once, scores blocks as the local engine scores chunks."""

    def __init__(self, work_root: str, fmt: str, model_dir: str, top_k: int, reasons: bool) -> None:
        from genemail.segmentation import load_segmenter

        super().__init__(work_root, fmt)
        self.model = self.load(lambda: load_segmenter(Path(model_dir)))
        self.top_k, self.reasons = top_k, reasons

    def process(self, customers: "pd.DataFrame") -> "pd.DataFrame":
        if self.reasons:
            return self.model.segment_and_explain(customers, top_k=self.top_k, probabilities=True)
        return self.model.segment(customers, probabilities=True)


def score_on_ray(job: SegmentJob, *, progress: bool = True) -> RayRun:
    """Score ``job.data`` on Ray (partitions a previous run of the same job finished are skipped)."""
    from genemail.data.cleaning import CleaningConfig
    from genemail.data.loader import iter_customer_chunks
    from genemail.segmentation import load_segmenter

    load_segmenter(Path(job.model_dir))  # fail here, with the loader's message, not in every worker
    work, _ = WorkDir.open(job.work_dir, job.fingerprint(), "parquet")
    parts = work.staged()
    if parts is None:
        chunks = iter_customer_chunks(job.data, chunksize=job.chunksize, reference_date=job.reference_date,
                                      config=CleaningConfig(date_order=job.date_order))
        parts = work.stage(result.frame for result in _progress(chunks, progress))
    todo = work.todo(parts)
    kwargs = {"model_dir": str(Path(job.model_dir).resolve()), "top_k": job.top_k, "reasons": job.reasons}
    run_partitions(work, todo, SegmentWorker, kwargs, job.ray, block_rows=job.block_rows, desc="segmenting",
                   progress=progress)
    return RayRun(work, parts, skipped=len(parts) - len(todo), keep_work=job.keep_work)


def write_outputs(run: RayRun, writer: Any, *, source: Path) -> dict[str, int]:
    """Write ``run``'s scored partitions in input order with ``writer`` (``write(frame)``, ``close()``);
    return counts per L2 segment. Raises :class:`DataError` when cleaning left no customer."""
    from genemail.errors import DataError

    counts: dict[str, int] = {}
    try:
        for scored in run.outputs():
            writer.write(scored)
            for name, n in scored["l2"].value_counts().items():
                counts[str(name)] = counts.get(str(name), 0) + int(n)
    finally:
        writer.close()
    if not counts:
        raise DataError("no usable customer rows remain after cleaning", where=str(source),
                        fix="run `genemail data check` on the file to see what was dropped")
    return counts


def _progress(chunks: Any, progress: bool) -> Iterator[Any]:
    """The cleaning pass with a bar in input rows (what the local engine's bar counts)."""
    from tqdm.auto import tqdm

    with tqdm(desc="cleaning", unit="customers", disable=not progress) as bar:
        for result in chunks:
            bar.update(int(getattr(result.report, "rows_in", 0) or len(result.frame)))
            yield result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
