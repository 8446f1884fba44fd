"""Micro-batching: concurrent completion requests, across adapters, become one mixed PEFT batch.

Each HTTP request submits its prompts under one adapter name and waits on a future. A single worker
thread takes the first waiting request, keeps collecting for ``max_wait_ms`` (or until ``max_batch_size``
rows), and runs everything with the same decoding settings through one
``EmailGenerator.complete(prompts, adapter_names, config)`` call, so rows for different adapters share
one forward pass (PEFT's ``adapter_names``). Requests with other settings wait for the next batch.

One thread owns the model: PEFT generation is not thread-safe, and on a CPU one batch at a time is what
the cores can do anyway. Work that drives the model itself (``/v1/emails`` writes through
``EmailGenerator.generate``, which resamples and checks) is queued with :meth:`MicroBatcher.run` and runs
on that thread too, between batches.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace, field
from typing import TYPE_CHECKING, Any

from genemail.errors import config_error

if TYPE_CHECKING:
    from genemail.generation.generator import Completion, GenerationConfig

CompleteFn = Callable[[list[str], list[str], "GenerationConfig"], list["Completion"]]


@dataclass(frozen=True)
class BatcherConfig:
    """How long to wait for company, and how many rows one ``generate`` call may hold."""

    max_batch_size: int = 32
    max_wait_ms: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise config_error("max_batch_size", self.max_batch_size, "a positive integer (rows per batch)")
        if not isinstance(self.max_wait_ms, (int, float)) or not 0 <= self.max_wait_ms <= 10_000:
            raise config_error("max_wait_ms", self.max_wait_ms, "milliseconds in [0, 10000]")


@dataclass
class _Item:
    prompts: list[str]
    adapter: str
    config: "GenerationConfig"
    future: "Future[list[Completion]]" = field(default_factory=Future)


@dataclass
class _Call:
    fn: Callable[[], Any]
    future: "Future[Any]" = field(default_factory=Future)


@dataclass
class BatchStats:
    """What the batcher did (``/metrics``-style counters; the tests read ``adapter_mix``)."""

    batches: int = 0
    rows: int = 0
    requests: int = 0
    adapter_mix: list[tuple[str, ...]] = field(default_factory=list)  # adapters of each batch (last 100)


class MicroBatcher:
    """Collects concurrent requests into mixed batches run by one worker thread; use as a context manager."""

    def __init__(self, complete: CompleteFn, config: BatcherConfig = BatcherConfig()) -> None:
        self._complete = complete
        self.config = config
        self.stats = BatchStats()
        self._queue: queue.Queue[_Item | _Call | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="genemail-batcher", daemon=True)
        self._closed = False

    def start(self) -> "MicroBatcher":
        """Start the worker thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop after the requests already queued; later submissions fail."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            if self._thread.is_alive():
                self._thread.join(timeout=60)

    def __enter__(self) -> "MicroBatcher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, prompts: Sequence[str], adapter: str, config: "GenerationConfig") -> "Future[list[Completion]]":
        """Queue ``prompts`` for ``adapter``; the future holds one :class:`Completion` per prompt, in order."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        chunks = [list(prompts[i:i + self.config.max_batch_size])
                  for i in range(0, len(prompts), self.config.max_batch_size)] or [[]]
        items = [_Item(chunk, adapter, config) for chunk in chunks]
        for item in items:
            self._queue.put(item)
        if len(items) == 1:
            return items[0].future
        return _gather([item.future for item in items])

    def run(self, fn: Callable[[], Any]) -> "Future[Any]":
        """Queue ``fn()`` to run on the worker thread, between batches; the future holds its result or error."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        call = _Call(fn)
        self._queue.put(call)
        return call.future

    # ------------------------------------------------------------------------------ worker thread

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            if isinstance(first, _Call):
                _call(first)
                continue
            items, stop = self._collect(first)
            waiting = [item for item in items if isinstance(item, _Item)]
            while waiting:  # one generate call per settings group, in arrival order
                batch, waiting = self._take_batch(waiting)
                self._execute(batch)
            for item in items:  # calls that arrived in the wait window run after its batches
                if isinstance(item, _Call):
                    _call(item)

    def _collect(self, first: _Item) -> tuple[list[_Item | _Call], bool]:
        """``first`` and whatever arrives within the wait window (bounded by the batch size)."""
        items: list[_Item | _Call] = [first]
        rows = len(first.prompts)
        deadline = time.monotonic() + self.config.max_wait_ms / 1000
        while rows < self.config.max_batch_size:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                break
            if item is None:
                return items, True
            items.append(item)
            rows += len(item.prompts) if isinstance(item, _Item) else 0
        return items, False

    def _take_batch(self, items: list[_Item]) -> tuple[list[_Item], list[_Item]]:
        """The first item's settings group, up to ``max_batch_size`` rows; the rest stay waiting, in order."""
        config, batch, rest, rows = _group(items[0].config), [], [], 0
        for item in items:
            if _group(item.config) == config and (not batch or rows + len(item.prompts) <= self.config.max_batch_size):
                batch.append(item)
                rows += len(item.prompts)
            else:
                rest.append(item)
        return batch, rest

    def _execute(self, batch: list[_Item]) -> None:
        prompts = [p for item in batch for p in item.prompts]
        names = [item.adapter for item in batch for _ in item.prompts]
        config = batch[0].config
        try:
            if not prompts:
                rows = []
            elif config.do_sample:  # each request samples from its own seed, whatever shares its batch
                rows = self._complete(prompts, names, config,
                                      row_seeds=[item.config.seed for item in batch for _ in item.prompts])
            else:
                rows = self._complete(prompts, names, config)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request, the thread lives on
            for item in batch:
                item.future.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.rows += len(prompts)
        self.stats.requests += len(batch)
        self.stats.adapter_mix = [*self.stats.adapter_mix[-99:], tuple(sorted(set(names)))]
        start = 0
        for item in batch:
            item.future.set_result(rows[start:start + len(item.prompts)])
            start += len(item.prompts)


def _call(call: _Call) -> None:
    try:
        call.future.set_result(call.fn())
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, the thread lives on
        call.future.set_exception(exc)


def _group(config: "GenerationConfig") -> "GenerationConfig":
    """What a batch must share: the decoding settings, except a sampling request's seed (sampled per row)."""
    return replace(config, seed=0) if config.do_sample else config


def _gather(futures: list["Future[list[Completion]]"]) -> "Future[list[Completion]]":
    """One future whose result is the concatenation of ``futures``' results (the first error wins)."""
    out: Future[list[Completion]] = Future()
    lock = threading.Lock()

    def done(_: Future) -> None:
        with lock:
            if out.done() or not all(f.done() for f in futures):
                return
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:
                out.set_exception(errors[0])
            else:
                out.set_result([c for f in futures for c in f.result()])

    for future in futures:
        future.add_done_callback(done)
    return out
