"""``genemail campaign --engine ray``: the local campaign function, per block, as Ray Data ``map_batches``.

The driver loads and cleans the customer file as the local engine does and writes it as Parquet partitions.
Each worker loads the release once (the same commit the driver resolved, so every row records the same
release and adapter shas), then, for each block: segments it, groups its customers by segment (fewer
adapters per mixed batch) and runs :func:`genemail.pipeline.campaign.run_campaign` on them, the very
function the local engine runs. Rows go back to input order, so under greedy decoding the output file
equals the local engine's, but for the timing fields (``latency_s``, an experiment's ``sent_at``).

Generation itself can be remote too: with an OpenAI backend each worker sends its batches to a
completions server (vLLM on GPUs) instead of loading the weights.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.engines.cluster import RayConfig
from genemail.engines.ray_batch import PartitionWorker, run_partitions
from genemail.engines.workdir import WorkDir
from genemail.errors import DataError, config_error
from genemail.taxonomy import COLD_START

if TYPE_CHECKING:
    import pandas as pd

    from genemail.experiments.assignment import ExperimentConfig
    from genemail.pipeline.campaign import CampaignSummary
    from genemail.generation.generator import GenerationConfig
    from genemail.loading import LoadedSystem
    from genemail.serving.client import OpenAIBackendConfig


@dataclass(frozen=True)
class SystemSpec:
    """How a worker loads its system: a local folder or a release commit, and the generation backend."""

    artifacts: str | None = None
    release: str | None = None
    revision: str = "main"  # the release commit the driver resolved (every worker loads the same one)
    backend: "OpenAIBackendConfig | None" = None  # None: PEFT weights in the worker

    def load(self) -> "LoadedSystem":
        """The segmenter, strategies and generator (local PEFT, or a client of the backend's server)."""
        artifacts = Path(self.artifacts) if self.artifacts else None
        if self.backend is not None:
            from genemail.serving.client import load_remote_system

            return load_remote_system(self.backend, artifacts=artifacts, release=self.release, revision=self.revision)
        from genemail.loading import load_system

        return load_system(artifacts=artifacts, release=self.release, revision=self.revision)


@dataclass(frozen=True)
class CampaignJob:
    """A campaign run on Ray: what to load, how to write, where to keep the partitions."""

    spec: SystemSpec
    out_path: Path
    work_dir: Path
    config: "GenerationConfig"
    batch_size: int = 16
    release_info: dict[str, Any] | None = None
    experiment: "ExperimentConfig | None" = None
    partition_rows: int = 2_000  # customers per input partition (the unit a resumed run skips)
    block_rows: int = 256  # customers per map_batches call, grouped by segment
    ray: RayConfig = field(default_factory=RayConfig)
    source: dict[str, Any] = field(default_factory=dict)  # the input file's identity (path, size, mtime)
    keep_work: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "partition_rows", "block_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise config_error(name, value, "a positive integer")

    def fingerprint(self) -> dict[str, Any]:
        """What makes two runs the same job (a resumed run must match)."""
        from dataclasses import asdict

        spec = {"artifacts": self.spec.artifacts, "release": self.spec.release, "revision": self.spec.revision,
                "base_url": self.spec.backend.base_url if self.spec.backend else None,
                "artifacts_stamp": _folder_stamp(Path(self.spec.artifacts)) if self.spec.artifacts else None}
        return {"job": "campaign", "source": self.source, "spec": spec, "config": asdict(self.config),
                "batch_size": self.batch_size, "release": self.release_info, "partition_rows": self.partition_rows,
                "experiment": asdict(self.experiment) if self.experiment is not None else None}


def _folder_stamp(folder: Path) -> str:
    """A digest of the model files' names, sizes and mtimes: a retrained local folder is another job."""
    import hashlib

    digest = hashlib.sha256()
    for sub in ("segmenter", "base", "adapters", "strategies.yaml", "base_model.json"):
        path = folder / sub
        for item in sorted([path] if path.is_file() else path.rglob("*") if path.is_dir() else []):
            if item.is_file():
                stat = item.stat()
                digest.update(f"{item.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class _Presegmented:
    """A segmenter that returns segments computed before (the block was sorted by them)."""

    def __init__(self, segments: "pd.DataFrame") -> None:
        self.segments = segments

    def segment(self, customers: "pd.DataFrame") -> "pd.DataFrame":
        if len(customers) != len(self.segments):
            raise DataError(f"{len(customers)} customers but {len(self.segments)} segments",
                            fix="segment the block that is written")
        return self.segments


def campaign_block(customers: "pd.DataFrame", system: "LoadedSystem", config: "GenerationConfig", *,
                   batch_size: int, release_info: dict[str, Any] | None,
                   experiment: "ExperimentConfig | None") -> list[dict[str, Any]]:
    """The campaign rows of a block, in the block's order: grouped by segment, written by ``run_campaign``."""
    import numpy as np
    import pandas as pd

    from genemail.pipeline.campaign import run_campaign

    segments = system.segmenter.segment(customers).reset_index(drop=True)
    l2 = segments["l2"].astype(object).where(segments["l2"].notna(), COLD_START).astype(str)
    order = np.argsort(pd.Categorical(l2).codes, kind="stable")  # one segment after another, input order within
    grouped = customers.iloc[order].reset_index(drop=True)
    with tempfile.TemporaryDirectory(prefix="genemail-block-") as tmp:
        out = Path(tmp) / "block.jsonl"
        run_campaign(grouped, _Presegmented(segments.iloc[order].reset_index(drop=True)), system.strategies,
                     system.generator, out, config, batch_size=batch_size, progress=False, release_info=release_info,
                     experiment=experiment)
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]
    back: list[dict[str, Any]] = [{} for _ in rows]
    for position, row in zip(order.tolist(), rows):
        back[position] = row
    return back


class CampaignWorker(PartitionWorker):
    """A Ray actor: loads the system once, writes the campaign rows of each block it gets."""

    def __init__(self, work_root: str, fmt: str, spec: SystemSpec, config: "GenerationConfig", batch_size: int,
                 release_info: dict[str, Any] | None, experiment: "ExperimentConfig | None") -> None:
        super().__init__(work_root, fmt)
        self.system = self.load(spec.load)
        self.config, self.batch_size = config, batch_size
        self.release_info, self.experiment = release_info, experiment

    def process(self, customers: "pd.DataFrame") -> list[dict[str, Any]]:
        return campaign_block(customers, self.system, self.config, batch_size=self.batch_size,
                              release_info=self.release_info, experiment=self.experiment)


def run_ray_campaign(customers_df: "pd.DataFrame", job: CampaignJob, *,
                     progress: bool = True) -> tuple["CampaignSummary", int]:
    """Write ``job.out_path`` (JSONL, one row per customer, input order) with the campaign run on Ray.

    Returns the summary and how many partitions a previous run of the same job had finished.
    """
    from genemail.pipeline.campaign import CampaignSummary

    if len(customers_df) == 0:
        raise DataError("the customer table is empty", fix="pass a table with at least one customer")
    t0 = time.perf_counter()
    work, _ = WorkDir.open(job.work_dir, job.fingerprint(), "jsonl")
    parts = work.staged()
    if parts is None:
        frame = customers_df.reset_index(drop=True)
        parts = work.stage(frame.iloc[i:i + job.partition_rows] for i in range(0, len(frame), job.partition_rows))
    todo = work.todo(parts)
    kwargs = {"spec": job.spec, "config": job.config, "batch_size": job.batch_size,
              "release_info": job.release_info, "experiment": job.experiment}
    run_partitions(work, todo, CampaignWorker, kwargs, job.ray, block_rows=job.block_rows, desc="campaign",
                   progress=progress)
    counts, arms, total = _write_output(work, parts, Path(job.out_path))
    if not job.keep_work:
        work.remove()
    seconds = time.perf_counter() - t0
    summary = CampaignSummary(
        out_path=Path(job.out_path), n_customers=total, by_segment=dict(sorted(counts.items())),
        cold_start=counts.get(COLD_START, 0), seconds=round(seconds, 2),
        emails_per_s=round(total / seconds, 2) if seconds > 0 else 0.0, release=job.release_info,
        by_arm=dict(sorted(arms.items())) if job.experiment is not None else None,
        experiment=job.experiment.name if job.experiment is not None else None)
    return summary, len(parts) - len(todo)


def _write_output(work: WorkDir, parts: list[Any], out_path: Path) -> tuple[Counter, Counter, int]:
    """Every partition's rows, in input order, to ``out_path`` (written aside, renamed when complete)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    counts: Counter = Counter()
    arms: Counter = Counter()
    total = 0
    with partial.open("w", encoding="utf-8") as fh:
        for rows in work.read_all(parts):
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                counts[row["l2"]] += 1
                arms[row.get("arm")] += 1
                total += 1
    partial.replace(out_path)
    return counts, arms, total


def campaign_on_ray(data: Path, customers_df: "pd.DataFrame", *, artifacts: Path | None, release: str | None,
                    revision: str, out_path: Path, config: "GenerationConfig", batch_size: int,
                    experiment: "ExperimentConfig | None", ray: RayConfig,
                    backend: "OpenAIBackendConfig | None" = None, work_dir: Path | None = None,
                    log: Any = print, progress: bool = True) -> "CampaignSummary":
    """``genemail campaign --engine ray``: resolve the release once here, then run the job on the cluster."""
    from genemail.errors import ConfigError

    if (artifacts is None) == (release is None):
        raise ConfigError("pass exactly one of --artifacts or --release",
                          fix="e.g. --release demo/genemail-release --revision v1, or --artifacts artifacts")
    release_info = None
    spec = SystemSpec(artifacts=str(Path(artifacts).resolve()) if artifacts else None, backend=backend)
    if release is not None:
        from genemail.hub.release import pull_release

        pulled = pull_release(release, revision)  # verified here; workers load this exact commit
        for warning in pulled.warnings:
            log(f"warning: {warning}")
        spec = SystemSpec(release=release, revision=pulled.release_sha, backend=backend)
        release_info = {"repo_id": release, "revision": str(revision), "sha": pulled.release_sha}
    if backend is not None:
        from genemail.serving.client import OpenAIGenerator

        OpenAIGenerator.connect(backend, []).close()  # fail now, not in every worker, when the server is down
    stat = Path(data).stat()
    job = CampaignJob(spec=spec, out_path=Path(out_path), config=config, batch_size=batch_size,
                      release_info=release_info, experiment=experiment, ray=ray,
                      work_dir=work_dir or Path(out_path).with_name(f".{Path(out_path).name}.ray-work"),
                      source={"path": str(Path(data).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    summary, skipped = run_ray_campaign(customers_df, job, progress=progress)
    if skipped:
        log(f"resumed: {skipped} partitions were already written")
    return summary
