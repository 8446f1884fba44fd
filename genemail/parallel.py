"""Independent jobs of one stage (adapters to train, batches to generate) spread over worker processes.

Why processes and one thread each: the embedded model is far too small for torch's intra-op threads to
help (measured: two threads train no faster than one, and burn 50% more CPU), while two one-thread
processes on two cores each run at full speed. So a stage with several independent jobs runs them in
``workers`` spawned processes, each with one torch thread, and gets close to ``workers`` times the
throughput. Results come back in the jobs' order, so the output does not depend on the worker count
(each job seeds itself). ``workers=1`` runs the jobs in this process, one after the other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, TypeVar

from genemail.errors import config_error

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(requested: int | None, jobs: int) -> int:
    """``requested`` (validated), or by default one per available core; never more than ``jobs``."""
    if requested is not None and (not isinstance(requested, int) or requested < 1):
        raise config_error("workers", requested, "a positive integer (worker processes)")
    return max(1, min(requested or available_cores(), jobs))


# Below this size a copy of the model per worker costs little memory; above it (a real base model such
# as Qwen3-0.6B) one process with all its threads is the default, and more workers must be asked for.
COPYABLE_PARAMETERS = 50_000_000


def model_workers(requested: int | None, jobs: int, n_parameters: int) -> int:
    """Workers for jobs that each need the model: ``requested``, else one per core for a small model, else 1."""
    return resolve_workers(requested if requested or n_parameters < COPYABLE_PARAMETERS else 1, jobs)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_jobs(fn: Callable[[T], R], jobs: Sequence[T], workers: int,
             on_result: Callable[[R], None] | None = None) -> list[R]:
    """``[fn(job) for job in jobs]``, computed by ``workers`` processes; results in ``jobs``' order.

    ``fn`` must be a module-level function and each job picklable (spawned workers import ``fn``'s
    module afresh). Submit the longest jobs first: a worker takes the next job when it is free.
    ``on_result`` sees each result in order (a progress bar). An exception in a job is raised here,
    after the jobs not yet started are cancelled.
    """
    results: list[R] = []

    def keep(result: R) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            keep(fn(job))
        return results
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_one_thread) as pool:
        futures = [pool.submit(fn, job) for job in jobs]
        try:
            for future in futures:
                keep(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def per_process(cache: dict[Any, Any], key: Any, build: Callable[[], Any]) -> Any:
    """``cache[key]``, built on first use: a worker loads a model once for all the jobs it runs."""
    if key not in cache:
        cache.clear()  # one model per worker at a time
        cache[key] = build()
    return cache[key]
