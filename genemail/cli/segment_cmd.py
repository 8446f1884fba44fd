"""`genemail segment ...` commands: score a customer file with a trained segmenter, train one, or check drift.

``drift`` compares two snapshots of the customer table (migration matrix, PSI, retrain verdict) and
``synth-drift`` writes a later snapshot with a known drift (``genemail.segmentation.drift``).

The file is streamed in chunks (``genemail.data.iter_customer_chunks``) and each chunk's segments
are appended to the output, so memory stays flat however large the file is. The output is written
beside its final name and renamed only when every chunk succeeded, so a failure (a refused row, a
corrupt page, Ctrl-C) never leaves a partial file behind under the name asked for.

The next chunks are read and cleaned in another process while the current one is scored (reading
and cleaning hold the GIL, so a thread would only take turns with the scoring), and the segmenter
scores each chunk on ``--threads`` threads (the compiled trees release the GIL). Both CSV and
Parquet are written with pyarrow (the CSV quotes every text cell; numbers are written in their
shortest form that reads back exactly).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Segment customers: score a file with a trained segmenter, train one, or check drift.",
                  no_args_is_help=True)

OUTPUT_SUFFIXES = (".csv", ".parquet")
# Rows per chunk. Two processes each hold a chunk or two (the reader and this one): at 50,000 the whole
# command peaks at ~850 MiB on a million customers, at 100,000 above 1.1 GiB, for the same speed.
CHUNK_ROWS = 50_000


def _count_rows(path: Path) -> int | None:
    """Data rows in the file, for the progress bar (None when unknown)."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        lines = 0
        with path.open("rb") as handle:  # counted in 1 MiB blocks: ten times faster than line by line
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
        return max(lines - 1, 0)
    except Exception:  # noqa: BLE001 - a corrupt file is refused by the loader, with a message; here only the bar
        return None


class _Writer:
    """Appends scored chunks to a CSV or Parquet file with pyarrow (both keep the first chunk's schema)."""

    def __init__(self, path: Path) -> None:
        self.path, self._writer, self._schema = path, None, None
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, frame) -> None:  # noqa: ANN001 - pandas DataFrame
        import pyarrow as pa

        table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            if self.path.suffix.lower() == ".csv":
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self.path, table.schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _system_allocator() -> None:
    """Arrow's system allocator for this process, instead of its default (jemalloc).

    jemalloc hands the pages of each freed chunk back to the OS and faults them in again for the
    next: on a million customers the system allocator took 0.2-0.6 s (of ~10 s) and a quarter of the
    kernel time off, in alternating runs of the same command.
    """
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def _cleaned_chunks(**options: object) -> Iterator[object]:
    """``iter_customer_chunks(**options)`` in the read-ahead process, with the same allocator as here."""
    from genemail.data.loader import iter_customer_chunks

    _system_allocator()
    yield from iter_customer_chunks(**options)


def _check_out(out: Path) -> None:
    from genemail.errors import ConfigError

    if out.is_dir():
        raise ConfigError(f"output {out} is a directory", where="--out",
                          fix=f"give a file name such as {out / 'segments.csv'}")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"output {out} has an unsupported extension", where="--out",
                          fix=f"end the output name with one of {OUTPUT_SUFFIXES}")


def score_file(model_dir: Path, data: Path, out: Path, *, chunksize: int = CHUNK_ROWS, top_k: int = 3,
               reasons: bool = True, reference_date: Optional[str] = None, progress: bool = True,
               date_order: str = "auto", engine: str = "local", ray=None,  # noqa: ANN001 - engines.RayConfig
               work_dir: Optional[Path] = None, threads: int | None = None) -> dict[str, int]:
    """Segment every customer of ``data`` into ``out`` (CSV/Parquet); return counts per L2 segment.

    ``out`` appears only when the whole file was scored (written aside, renamed at the end).
    ``threads`` scores each chunk on that many threads (None: one per core).
    ``engine="ray"`` scores the same chunks on a Ray cluster (``genemail.engines.ray_segment``).
    """
    if engine == "ray":
        return _score_on_ray(model_dir, data, out, chunksize=chunksize, top_k=top_k, reasons=reasons,
                             reference_date=reference_date, progress=progress, date_order=date_order, ray=ray,
                             work_dir=work_dir)
    from contextlib import nullcontext

    from genemail.data.cleaning import CleaningConfig
    from genemail.data.loader import iter_customer_chunks
    from genemail.errors import DataError
    from genemail.parallel import read_ahead
    from genemail.segmentation import load_segmenter

    _check_out(out)
    config = CleaningConfig(date_order=date_order)
    total = _count_rows(data)
    options = {"path": data, "chunksize": chunksize, "reference_date": reference_date, "config": config}
    # Several chunks: they are read and cleaned in another process while this one scores.
    _system_allocator()
    reader = read_ahead(_cleaned_chunks, **options) if total is None or total > chunksize \
        else nullcontext(iter_customer_chunks(**options))
    partial = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")  # same folder: rename is atomic
    try:
        with reader as chunks:
            model = load_segmenter(model_dir)  # ArtifactError names the missing dir and how to train one
            model.set_params(n_threads=threads or os.cpu_count() or 1)
            counts = _score_chunks(model, chunks, partial, total, top_k, reasons, progress)
        if not counts:
            raise DataError("no usable customer rows remain after cleaning", where=str(data),
                            fix="run `genemail data check` on the file to see what was dropped")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return counts


def _score_chunks(model, chunks, path: Path, total: int | None, top_k: int, reasons: bool,  # noqa: ANN001
                  progress: bool) -> dict[str, int]:
    """Score every chunk into ``path``; return counts per L2 segment.

    Each scored chunk is written by a background thread while the next one is scored (pyarrow
    encodes without the GIL); one write at a time, in order, so memory holds one chunk more at most.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from tqdm.auto import tqdm

    from genemail.segmentation.model import MIN_ROWS_COMPILED

    counts: dict[str, int] = {}
    writer = _Writer(path)
    bar = tqdm(total=total if progress else None, unit="customers", disable=not progress, desc="segmenting")
    pending: Future | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genemail-writer") as pool:
        # Loads the compiled trees while the first chunk is read (a small file is scored without them).
        warm = pool.submit(model.warm_up if total is None or total >= MIN_ROWS_COMPILED else lambda: None)
        try:
            for result in chunks:
                frame = result.frame
                # Progress in input rows (dropped duplicates included) so the bar ends at the file's size.
                bar.update(int(getattr(result.report, "rows_in", 0) or len(frame)))
                if frame.empty:  # every row of the chunk was dropped by the cleaner
                    continue
                warm.result()
                if reasons:
                    scored = model.segment_and_explain(frame, top_k=top_k, probabilities=True)
                else:
                    scored = model.segment(frame, probabilities=True)
                if pending is not None:
                    pending.result()  # the previous write's error, if any, stops the run here
                pending = pool.submit(writer.write, scored)
                for name, n in scored["l2"].value_counts().items():
                    counts[str(name)] = counts.get(str(name), 0) + int(n)
            if pending is not None:
                pending.result()
        finally:
            bar.close()
            if pending is not None:
                pending.exception()  # wait for it: the file is closed only after its last write
            writer.close()
    return counts


def _score_on_ray(model_dir: Path, data: Path, out: Path, *, ray, work_dir: Optional[Path],  # noqa: ANN001
                  progress: bool, **options) -> dict[str, int]:  # noqa: ANN003 - score_file's options
    from genemail.engines.cluster import ray_config_for
    from genemail.engines.ray_segment import SegmentJob, score_on_ray, write_outputs

    _check_out(out)
    job = SegmentJob(model_dir=model_dir, data=data, work_dir=work_dir or out.with_name(f".{out.name}.ray-work"),
                     ray=ray or ray_config_for("ray"), **options)
    run = score_on_ray(job, progress=progress)
    if run.skipped:
        typer.echo(f"resumed: {run.skipped} of {len(run.parts)} partitions were already scored", err=True)
    partial = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")
    try:
        counts = write_outputs(run, _Writer(partial), source=data)  # input order: the local engine's file
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return counts


@app.command("predict")
def predict(
    model: Path = typer.Option(..., "--model", help="Directory with segmenter.skops (from `segment train`)."),
    data: Path = typer.Option(..., "--data", help="Customer file to score: CSV or Parquet, PRD or Kaggle schema."),
    out: Path = typer.Option(..., "--out", help="Output file: .csv or .parquet."),
    chunksize: int = typer.Option(CHUNK_ROWS, "--chunksize", min=1, help="Rows per chunk (memory stays flat)."),
    top_k: int = typer.Option(3, "--top-k", min=1, help="Reasons per customer."),
    no_reasons: bool = typer.Option(False, "--no-reasons", help="Skip the reasons column (faster)."),
    reference_date: Optional[str] = typer.Option(None, "--reference-date", help="Date for age and tenure."),
    date_order: str = typer.Option("auto", "--date-order", help="Day/month order of numeric dates: auto, dmy or mdy."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (docs/SCALING.md)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join: auto, "
                                              "ray://HOST:10001 (default: a local cluster for the run)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Ray workers (default: the cluster's CPUs)."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Ray: partitions and finished outputs "
                                            "(default: beside --out); a rerun resumes from it."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="Threads scoring each chunk (default: one per core)."),
) -> None:
    """Segment every customer of a file: customer_id, l1, l2, probabilities, cold_start_reason, reasons."""
    from genemail.engines.cluster import ray_config_for

    ray = ray_config_for(engine, address=ray_address, workers=workers, work_dir=work_dir)
    counts = score_file(model, data, out, chunksize=chunksize, top_k=top_k, reasons=not no_reasons,
                        reference_date=reference_date, progress=not quiet, date_order=date_order, engine=engine,
                        ray=ray, work_dir=work_dir, threads=threads)
    total = sum(counts.values())
    typer.echo(f"segmented {total} customers -> {out}")
    for name, n in sorted(counts.items(), key=lambda item: -item[1]):
        typer.echo(f"  {name:<20} {n:>9}  {n / max(total, 1):6.1%}")


@app.command("train")
def train(
    out: Path = typer.Option(..., "--out", help="Output directory for segmenter.skops, metrics.json, plots/."),
    data: Optional[Path] = typer.Option(None, "--data", help="Customer file (default: synthetic customers)."),
    seed: int = typer.Option(0, "--seed", help="Seed of split, KMeans, augmentation and models."),
    half_life: float = typer.Option(30.0, "--half-life", help="Time-decay half-life in days (default: "
                                    "genemail.features.DEFAULT_HALF_LIFE_DAYS)."),
) -> None:
    """Train and evaluate the segmenter (same as `python -m training.train_segmenter`)."""
    from genemail.segmentation.training import TrainConfig, summary
    from genemail.segmentation.training import train as run_training

    metrics = run_training(TrainConfig(out=out, data=data, seed=seed, half_life_days=half_life))
    typer.echo(summary(metrics))
    typer.echo(f"wrote {out}")


@app.command("drift")
def drift(
    model: Path = typer.Option(..., "--model", help="Directory with segmenter.skops (and its metrics.json)."),
    before: Path = typer.Option(..., "--before", help="Earlier snapshot of the customer table (CSV/Parquet)."),
    after: Path = typer.Option(..., "--after", help="Later snapshot of the same customers (CSV/Parquet)."),
    psi_threshold: float = typer.Option(0.25, "--psi-threshold", help="PSI above which a feature has drifted."),
    migration_threshold: float = typer.Option(0.2, "--migration-threshold",
                                              help="Share of customers changing segment that calls for retraining."),
    cadence_days: float = typer.Option(90.0, "--cadence-days", help="Retrain at least this often (PRD: quarterly)."),
    trained_at: Optional[str] = typer.Option(None, "--trained-at", help="When the model was trained (default: "
                                             "metrics.json's trained_at, else the file's modification time)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the model's age is counted to (default: now)."),
    reference_date: Optional[str] = typer.Option(None, "--reference-date", help="Date for age and tenure."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON here."),
) -> None:
    """Compare two snapshots: segment migration matrix, PSI per feature, and whether to retrain (and why)."""
    import json

    from genemail.data import load_customers
    from genemail.segmentation import load_segmenter
    from genemail.segmentation.drift import DriftConfig, drift_report, format_drift, model_trained_at, parse_utc

    config = DriftConfig(psi_threshold=psi_threshold, migration_threshold=migration_threshold,
                         cadence_days=cadence_days)
    segmenter = load_segmenter(model)
    stamp, source = (parse_utc(trained_at), "--trained-at") if trained_at else model_trained_at(model)
    frames = [load_customers(p, reference_date=reference_date).frame for p in (before, after)]
    report = drift_report(segmenter, *frames, config, trained_at=stamp, trained_at_source=source,
                          as_of=parse_utc(as_of) if as_of else None)
    typer.echo(format_drift(report))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
        typer.echo(f"report written to {json_out}")


@app.command("synth-drift")
def synth_drift(
    data: Path = typer.Option(..., "--data", help="Kaggle-schema customer file (e.g. from `genemail data synth`)."),
    out: Path = typer.Option(..., "--out", help="The later snapshot to write (.csv or .parquet)."),
    days: int = typer.Option(60, "--days", min=1, help="Days that pass between the snapshots."),
    returning: float = typer.Option(0.5, "--returning", help="Share of customers who buy again in that time."),
    spend_growth: float = typer.Option(0.1, "--spend-growth", help="Spend and purchase growth of those who return."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write a later snapshot with a known drift: who returned, who lapsed (for `segment drift`)."""
    from genemail.segmentation.drift import DriftSpec, read_raw_table, synthesize_drift

    _check_out(out)
    later, returned = synthesize_drift(read_raw_table(data), DriftSpec(days=days, returning=returning,
                                                                       spend_growth=spend_growth, seed=seed))
    out.parent.mkdir(parents=True, exist_ok=True)
    later.to_parquet(out, index=False) if out.suffix.lower() == ".parquet" else later.to_csv(out, index=False)
    typer.echo(f"wrote {len(later)} customers {days} days later to {out}: {int(returned.sum())} returned, "
               f"{int((~returned).sum())} did not (their recency grew by {days} days)")
