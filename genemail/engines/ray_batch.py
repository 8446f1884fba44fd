"""The Ray Data job both engines share: ``read_parquet`` over the unfinished partitions, ``map_batches``.

``map_batches`` runs a callable class (a :class:`PartitionWorker` subclass) in a pool of actors, so each
worker loads its models once, in ``__init__``, and then processes blocks of rows. A block may hold rows of
two partitions (Ray cuts blocks by size, not by file), so the worker splits it by ``_partition`` and writes
each piece as one output file named by its first row and row count (:mod:`genemail.engines.workdir`). The
driver only counts the rows that come back, for the progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.engines.cluster import READ_CPUS, RayConfig, ray_session, worker_count
from genemail.engines.workdir import PARTITION, ROW, Partition, WorkDir
from genemail.errors import GenEmailError

if TYPE_CHECKING:
    import pandas as pd


class PartitionWorker:
    """Base of the ``map_batches`` actor classes: split a block by partition, process, write, report.

    Subclasses load their models in ``__init__`` (after calling this one) and implement :meth:`process`,
    which gets the block's customers (internal schema, in input order, no helper columns) and returns one
    output row per customer, in the same order: a DataFrame (parquet output) or a list of dicts (jsonl).
    """

    def __init__(self, work_root: str, fmt: str) -> None:
        self.work = WorkDir(Path(work_root), fmt)

    def process(self, customers: "pd.DataFrame") -> Any:
        raise NotImplementedError

    def __call__(self, block: "pd.DataFrame") -> "pd.DataFrame":
        import pandas as pd

        report = []
        for index, rows in block.groupby(PARTITION, sort=True):
            rows = rows.sort_values(ROW, kind="stable")
            order = rows[ROW].astype("int64").tolist()
            out = self.process(rows.drop(columns=[PARTITION, ROW]).reset_index(drop=True))
            if isinstance(out, pd.DataFrame):
                out = out.reset_index(drop=True).assign(**{ROW: order})
            else:
                out = [{**row, ROW: n} for row, n in zip(out, order)]
            if len(out) != len(order):
                raise RuntimeError(f"{type(self).__name__}.process returned {len(out)} rows for {len(order)}")
            self.work.write_block(int(index), order[0], out)
            report.append({"partition": int(index), "rows": len(order)})
        return pd.DataFrame(report, columns=["partition", "rows"])


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
        resources = {"num_cpus": cfg.cpus_per_worker, **({"num_gpus": cfg.gpus_per_worker} if cfg.gpus_per_worker else {})}
        ds = ray.data.read_parquet([str(p.path) for p in todo], num_cpus=READ_CPUS)
        ds = ds.map_batches(worker, fn_constructor_kwargs={"work_root": str(work.root), "fmt": work.fmt,
                                                             **worker_kwargs},
                            batch_format="pandas", batch_size=block_rows,
                            compute=ray.data.ActorPoolStrategy(size=workers), **resources)
        done = 0
        with tqdm(total=total, desc=desc, unit="customers", disable=not progress) as bar:
            try:
                for report in ds.iter_batches(batch_format="pandas", batch_size=None):
                    rows = int(report["rows"].sum()) if len(report) else 0
                    done += rows
                    bar.update(rows)
                    if on_progress is not None:
                        on_progress(done, total)
            except Exception as exc:
                user = _user_error(exc)
                if user is None:
                    raise
                raise user from None  # a worker's GenEmailError, as the local engine would show it
    return done


def _user_error(exc: BaseException) -> GenEmailError | None:
    """The :class:`GenEmailError` a worker raised, found through Ray's wrappers (``.cause``, ``__cause__``).

    Ray re-raises a worker's exception as a subclass that carries the worker's traceback in its message;
    the original instance (a plain GenEmail error) is further down the chain.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, GenEmailError) and type(current).__module__.startswith("genemail"):
            return current
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return None
