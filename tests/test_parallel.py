"""Work spread over processes: the read-ahead process keeps order, re-raises, and stops when left early."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from genemail.errors import DataError
from genemail.parallel import read_ahead


def numbers(n: int, fail_at: int | None = None, marker: str | None = None) -> Iterator[tuple[int, int]]:
    """``(i, pid)`` for i < n; a DataError at ``fail_at``; writes its pid to ``marker`` first."""
    if marker:
        Path(marker).write_text(str(os.getpid()))
    for i in range(n):
        if i == fail_at:
            raise DataError(f"row {i} is bad", where="numbers.csv, column x", fix="fix row")
        yield i, os.getpid()


def test_items_arrive_in_order_from_another_process() -> None:
    with read_ahead(numbers, n=50) as items:
        got = list(items)
    assert [i for i, _ in got] == list(range(50))
    assert {pid for _, pid in got} != {os.getpid()}


def test_the_producer_error_arrives_after_the_items_before_it_and_intact() -> None:
    seen = []
    with pytest.raises(DataError) as caught, read_ahead(numbers, n=10, fail_at=6) as items:
        for i, _ in items:
            seen.append(i)
    assert seen == list(range(6))
    err = caught.value
    assert (err.what, err.where, err.fix) == ("row 6 is bad", "numbers.csv, column x", "fix row")


def test_leaving_early_stops_the_producer(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    with read_ahead(numbers, depth=1, n=10**9, marker=str(marker)) as items:
        assert next(items)[0] == 0
    pid = int(marker.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("the producer still runs after the consumer left")


def test_ctrl_c_reaches_this_process_only(tmp_path: Path) -> None:
    import signal

    marker = tmp_path / "pid"
    with read_ahead(numbers, depth=1, n=10**9, marker=str(marker)) as items:
        assert next(items)[0] == 0
        os.kill(int(marker.read_text()), signal.SIGINT)  # what a terminal's Ctrl-C sends the whole group
        time.sleep(0.3)
        assert [next(items)[0] for _ in range(3)] == [1, 2, 3]  # the producer ignored it and goes on
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # ours is back
