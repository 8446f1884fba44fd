"""Independent jobs of one stage (adapters to train, batches to generate) spread over worker processes.

Why processes and one thread each: the embedded model is far too small for torch's intra-op threads to
help (measured: two threads train no faster than one, and burn 50% more CPU), while two one-thread
processes on two cores each run at full speed. So a stage with several independent jobs runs them in
``workers`` spawned processes, each with one torch thread, and gets close to ``workers`` times the
throughput. Results come back in the jobs' order, so the output does not depend on the worker count
(each job seeds itself). ``workers=1`` runs the jobs in this process, one after the other.

:func:`read_ahead` is the streaming counterpart: one spawned process produces the items of an
iterator (the chunks of a customer file) while this one consumes them.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from multiprocessing.queues import Queue
from typing import Any, Generic, TypeVar

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


def _produce(items: Queue, fn: Callable[..., Iterator[Any]], kwargs: dict[str, Any]) -> None:
    """In the reading process: put every item of ``fn(**kwargs)`` on ``items``, then the end or the error."""
    try:
        for item in fn(**kwargs):
            items.put(("item", item))
        items.put(("end", None))
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an exception that cannot travel is described instead
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        items.put(("error", exc))


class read_ahead(Generic[T]):  # noqa: N801 - used like a function: `with read_ahead(fn, **kw) as items:`
    """``fn(**kwargs)``'s items, produced up to ``depth`` ahead (plus the one being made) in a spawned process.

    Reading and cleaning a customer file is Python-heavy work that holds the GIL: in a thread it
    takes turns with the scoring instead of running beside it. In its own process it gets its own
    core. ``fn`` must be a module-level function and ``kwargs`` and the items picklable. The process
    starts on ``with`` (so its imports overlap whatever this one does next); the producer's exception
    is raised here, in order, after the items before it; leaving the block early (an error while
    scoring, Ctrl-C) stops the producer.
    """

    def __init__(self, fn: Callable[..., Iterator[T]], depth: int = 1, **kwargs: Any) -> None:
        self._fn, self._depth, self._kwargs = fn, depth, kwargs

    def __enter__(self) -> Iterator[T]:
        context = get_context("spawn")
        self._items: Queue = context.Queue(maxsize=self._depth)
        self._producer = context.Process(target=_produce, args=(self._items, self._fn, self._kwargs),
                                         name="genemail-read-ahead", daemon=True)
        # The producer ignores Ctrl-C (the disposition survives the spawn): this process handles it and
        # stops the producer, so a user never sees the producer's traceback.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self._producer.start()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return self._consume()

    def _consume(self) -> Iterator[T]:
        while True:
            try:
                kind, payload = self._items.get(timeout=1.0)
            except queue.Empty:
                if self._producer.is_alive():
                    continue
                code = self._producer.exitcode
                why = f"killed by signal {-code}, e.g. out of memory" if code is not None and code < 0 else f"exit code {code}"
                raise RuntimeError(f"the reading process stopped unexpectedly ({why})")
            if kind == "end":
                return
            if kind == "error":
                raise payload
            yield payload

    def __exit__(self, *exc_info: object) -> None:
        if self._producer.is_alive():
            self._producer.terminate()
        self._producer.join(timeout=5)
        self._items.close()
        self._items.cancel_join_thread()
