"""The Ray cluster a job runs on: joined by address, or a local one started for the run.

``RayConfig(address=None)`` starts a local cluster (``ray.init(address="local")``) and shuts it down after
the run; an address (``auto`` for the cluster ``ray start`` made on this machine, ``ray://head:10001`` for a
remote head, or a KubeRay service) joins that cluster and leaves it running. A process that already called
``ray.init`` (a test session, a notebook) keeps its connection: the job runs on it and leaves it open.

The worker count defaults to what the cluster holds: one worker per GPU when workers take GPUs, else one
per CPU, less one CPU kept free for reading Parquet blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from genemail.errors import ConfigError, config_error

READ_CPUS = 0.25  # CPU share of one Parquet read task: reading is light next to scoring or generation


@dataclass(frozen=True)
class RayConfig:
    """Which cluster, and the workers a job asks of it."""

    address: str | None = None  # None: start a local cluster for the run
    num_cpus: int | None = None  # the local cluster's CPUs (default: this machine's)
    workers: int | None = None  # actors running the job (default: what the cluster holds)
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    object_store_mb: int | None = None  # the local cluster's object store (default: Ray's)

    def __post_init__(self) -> None:
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise config_error("address", self.address,
                               "auto, ray://HOST:10001 or HOST:6379 (or none: a local cluster)")
        if self.num_cpus is not None and (not isinstance(self.num_cpus, int) or self.num_cpus < 1):
            raise config_error("num_cpus", self.num_cpus, "a positive integer")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise config_error("workers", self.workers, "a positive integer")
        if not isinstance(self.cpus_per_worker, (int, float)) or self.cpus_per_worker <= 0:
            raise config_error("cpus_per_worker", self.cpus_per_worker, "a positive number of CPUs")
        if not isinstance(self.gpus_per_worker, (int, float)) or self.gpus_per_worker < 0:
            raise config_error("gpus_per_worker", self.gpus_per_worker, "a number of GPUs >= 0 (0: CPU only)")
        if self.object_store_mb is not None and self.object_store_mb < 100:
            raise config_error("object_store_mb", self.object_store_mb, "at least 100 (MiB)")


def ray_config_for(engine: str, *, address: str | None = None, workers: int | None = None,
                   gpus_per_worker: float = 0.0, work_dir: object = None) -> RayConfig | None:
    """The command line's ``--engine`` and Ray options as a :class:`RayConfig` (None for the local engine)."""
    from genemail.engines import ENGINES

    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r} is unknown", where="--engine", fix=f"pass one of {', '.join(ENGINES)}")
    if engine == "ray":
        return RayConfig(address=address, workers=workers, gpus_per_worker=gpus_per_worker)
    if address is not None or workers is not None or gpus_per_worker or work_dir is not None:
        raise ConfigError("--ray-address, --workers, --gpus-per-worker and --work-dir need --engine ray",
                          where="--engine", fix="add --engine ray, or drop the Ray options")
    return None


def import_ray() -> Any:
    """``ray`` with Ray Data, or a :class:`ConfigError` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extra that read_parquet and map_batches need
    except ImportError as exc:
        raise ConfigError(f"Ray Data is not installed ({exc.name})", where="--engine ray",
                          fix="install the project's requirements (`make setup`; it pins ray[data])") from None
    return ray


@contextmanager
def ray_session(cfg: RayConfig) -> Iterator[Any]:
    """The ``ray`` module, connected; a cluster this started is shut down on exit."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING}
        if cfg.address is None:
            kwargs.update(address="local", num_cpus=cfg.num_cpus)
            if cfg.object_store_mb is not None:
                kwargs["object_store_memory"] = cfg.object_store_mb * 1024 * 1024
        else:
            kwargs["address"] = cfg.address
        try:
            ray.init(**kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot start or join the Ray cluster: {exc}", where="--ray-address",
                              fix="start one with `ray start --head` and pass --ray-address auto, or leave "
                                  "--ray-address out to start a local cluster for the run") from None
        started = True
    _quiet_ray_data(ray)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def worker_count(ray: Any, cfg: RayConfig) -> int:
    """``cfg.workers``, or as many as the cluster's GPUs (or CPUs, one kept for reading) allow."""
    if cfg.workers is not None:
        return cfg.workers
    resources = ray.cluster_resources()
    if cfg.gpus_per_worker > 0:
        gpus = int(resources.get("GPU", 0) // cfg.gpus_per_worker)
        if gpus < 1:
            raise ConfigError(f"the Ray cluster has no GPU for workers of {cfg.gpus_per_worker} GPU(s)",
                              where="--gpus-per-worker", fix="join a cluster with GPUs, or pass --gpus-per-worker 0")
        return gpus
    return max(1, int((resources.get("CPU", 1) - 1) // cfg.cpus_per_worker))


def _quiet_ray_data(ray: Any) -> None:
    """GenEmail shows its own progress bar; Ray Data's bars and per-operator logs would interleave with it."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # e.g. "Progress bars disabled"
