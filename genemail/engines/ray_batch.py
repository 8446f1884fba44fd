"""The Ray Data job both engines share: ``read_parquet`` over the unfinished partitions, ``map_batches``.

``map_batches`` runs a callable class (a :class:`PartitionWorker` subclass) in a pool of actors, so each
worker loads its models once, in ``__init__``, and then processes blocks of rows. A block may hold rows of
two partitions (Ray cuts blocks by size, not by file), so the worker splits it by ``_partition`` and writes
each piece as one output file named by its first row and row count (:mod:`genemail.engines.workdir`). The
driver only counts the rows that come back, for the progress bar.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.engines.cluster import READ_CPUS, RayConfig, ray_session, worker_count
from genemail.engines.workdir import PARTITION, ROW, Partition, WorkDir
from genemail.errors import GenEmailError

if TYPE_CHECKING:
    import pandas as pd

ERROR = "error"  # column of a worker's report: a GenEmailError as JSON, or empty


class PartitionWorker:
    """Base of the ``map_batches`` actor classes: split a block by partition, process, write, report.

    Subclasses load their models in ``__init__`` (after calling this one, through :meth:`load`) and
    implement :meth:`process`,
    which gets the block's customers (internal schema, in input order, no helper columns) and returns one
    output row per customer, in the same order: a DataFrame (parquet output) or a list of dicts (jsonl).
    """

    def __init__(self, work_root: str, fmt: str) -> None:
        self.work = WorkDir(Path(work_root), fmt)
        self._failed: GenEmailError | None = None

    def load(self, loader: Callable[[], Any]) -> Any:
        """``loader()``; a :class:`GenEmailError` is kept and raised on the first block instead.

        Ray reports an error raised in an actor's ``__init__`` as "the actor died", without the exception;
        reported from a block (:func:`dump_error`), it reaches the driver and the command line shows its message.
        """
        try:
            return loader()
        except GenEmailError as err:
            self._failed = err
            return None

    def process(self, customers: "pd.DataFrame") -> Any:
        raise NotImplementedError

    def __call__(self, block: "pd.DataFrame") -> "pd.DataFrame":
        import pandas as pd

        report = []
        try:
            if self._failed is not None:
                raise self._failed
            for index, rows in block.groupby(PARTITION, sort=True):
                rows = rows.sort_values(ROW, kind="stable")
                order = rows[ROW].astype("int64").tolist()
                out = self.process(rows.drop(columns=[PARTITION, ROW]).reset_index(drop=True))
                if len(out) != len(order):
                    raise RuntimeError(f"{type(self).__name__}.process returned {len(out)} rows for {len(order)}")
                if isinstance(out, pd.DataFrame):
                    out = out.reset_index(drop=True).assign(**{ROW: order})
                else:
                    out = [{**row, ROW: n} for row, n in zip(out, order)]
                self.work.write_block(int(index), order[0], out)
                report.append({"partition": int(index), "rows": len(order), ERROR: None})
        except GenEmailError as err:  # a user error travels back as data: Ray would keep only its traceback text
            report.append({"partition": -1, "rows": 0, ERROR: dump_error(err)})
        return pd.DataFrame(report, columns=["partition", "rows", ERROR])


def dump_error(err: GenEmailError) -> str:
    """A GenEmail error as JSON (its class name, what, where and fix)."""
    return json.dumps({"type": type(err).__name__, "what": err.what, "where": err.where, "fix": err.fix})


def load_error(text: str) -> GenEmailError:
    """The error :func:`dump_error` wrote, as its own class from :mod:`genemail.errors`."""
    from genemail import errors

    data = json.loads(text)
    cls = getattr(errors, str(data.get("type")), GenEmailError)
    if not (isinstance(cls, type) and issubclass(cls, GenEmailError)):
        cls = GenEmailError
    return cls(data.get("what") or "a worker failed", where=data.get("where"), fix=data.get("fix"))


@dataclass
class RayRun:
    """A finished Ray run: its partitions, how many a previous run had finished, and the outputs."""

    work: WorkDir
    parts: list[Partition]
    skipped: int
    keep_work: bool = False

    def outputs(self) -> Iterator[Any]:
        """Each partition's output in input order; the work folder is removed after the last one
        (unless ``keep_work``)."""
        yield from self.work.read_all(self.parts)
        if not self.keep_work:
            self.work.remove()


def run_partitions(work: WorkDir, todo: list[Partition], worker: type[PartitionWorker], worker_kwargs: dict[str, Any],
                   cfg: RayConfig, *, block_rows: int, desc: str, progress: bool = True,
                   on_progress: Callable[[int, int], None] | None = None) -> int:
    """Run ``worker`` over the rows of ``todo`` on the cluster; returns the rows processed."""
    from tqdm.auto import tqdm

    total = sum(p.rows for p in todo)
    if not todo:
        return 0
    with ray_session(cfg) as ray:
        workers = min(worker_count(ray, cfg), -(-total // block_rows))  # no more actors than blocks
        resources: dict[str, float] = {"num_cpus": cfg.cpus_per_worker}
        if cfg.gpus_per_worker:
            resources["num_gpus"] = cfg.gpus_per_worker
        ds = ray.data.read_parquet([str(p.path) for p in todo], num_cpus=READ_CPUS)
        ds = ds.map_batches(worker, fn_constructor_kwargs={"work_root": str(work.root), "fmt": work.fmt,
                                                             **worker_kwargs},
                            batch_format="pandas", batch_size=block_rows,
                            compute=ray.data.ActorPoolStrategy(size=workers), **resources)
        done = 0
        with tqdm(total=total, desc=desc, unit="customers", disable=not progress) as bar:
            for report in ds.iter_batches(batch_format="pandas", batch_size=None):
                failed = report[ERROR].dropna() if ERROR in report.columns else []
                if len(failed):
                    raise load_error(failed.iloc[0])  # a worker's GenEmailError, as the local engine shows it
                rows = int(report["rows"].sum()) if len(report) else 0
                done += rows
                bar.update(rows)
                if on_progress is not None:
                    on_progress(done, total)
    return done
