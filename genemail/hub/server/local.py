"""A command's own local Hub: started for the command's run and stopped when it ends.

``make demo``, ``make loop`` and the ``python -m training.*`` scripts that need a local Hub use
:func:`local_hub`. On the port it finds one of three things:

* nothing: it starts ``genemail hub serve`` for ``config.root`` and stops it when the ``with`` block
  ends, however it ends (success, an error, Ctrl-C, SIGTERM or SIGHUP);
* a GenEmail local Hub serving the same root (``make hub`` in another terminal, say): it uses that
  one and leaves it running, since it did not start it;
* anything else (another checkout's Hub, another program): it refuses with :func:`port_taken`,
  which names the port, what answers there and the fix.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from genemail.errors import HubError
from genemail.hub.server.probe import PortAnswer, probe
from genemail.hub.server.runner import ServeConfig, start_process


_ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class LocalHub:
    """The Hub a command uses: ``started`` says whether the command started it (and so stops it)."""

    endpoint: str
    root: Path
    pid: int | None
    started: bool


def port_taken(config: ServeConfig, answer: PortAnswer) -> HubError:
    """The refusal: the port, what answers there, and the two ways out (another port, or stop that server)."""
    port = config.port
    other = _free_port_near(config.host, port)
    stop = f"stop that server (kill {answer.pid})" if answer.pid else "stop the program on that port"
    if answer.serves(config.root):  # only `genemail hub serve` refuses this; a command uses that server
        return HubError(f"{config.root.resolve()} is already served on port {port} by pid {answer.pid}",
                        where=f"{config.host}:{port}",
                        fix=f"use that server (HF_ENDPOINT={config.endpoint}), or {stop} and run the command again")
    return HubError(f"port {port} is taken by {answer.describe()}, not a local Hub serving {config.root.resolve()}",
                    where=f"{config.host}:{port}",
                    fix=f"use another port (HUB_PORT={other} for make, or --hub-port {other}), or {stop} and "
                        "run the command again")


def check_port(config: ServeConfig) -> None:
    """Refuse early (before a long build) what :func:`local_hub` would refuse: a port held by anything else."""
    answer = probe(config.endpoint)
    if answer.kind != "nothing" and not answer.serves(config.root):
        raise port_taken(config, answer)


@contextmanager
def local_hub(config: ServeConfig, *, log_path: Path | None = None,
              say: Callable[[str], None] = print) -> Iterator[LocalHub]:
    """The local Hub for ``config.root`` on ``config.port`` for the duration of the ``with`` block.

    Starts one (and stops it at the end) when the port is free, uses a running Hub of the same root
    (and leaves it running), refuses anything else with :func:`port_taken`. ``say`` prints progress.
    """
    config = replace(config, root=config.root.resolve())  # the server runs elsewhere: give it an absolute root
    answer = probe(config.endpoint)
    if answer.serves(config.root):
        say(f"local Hub already serving {answer.root} at {config.endpoint} (pid {answer.pid}); using it and "
            "leaving it running")
        yield LocalHub(config.endpoint, config.root, answer.pid, started=False)
        return
    if answer.kind != "nothing":
        raise port_taken(config, answer)
    config.root.mkdir(parents=True, exist_ok=True)
    with _signals_end_the_command():
        try:
            server = start_process(config, via_cli=True, log_path=log_path)
        except HubError:
            answer = probe(config.endpoint)  # lost a race for the port: say to whom
            if answer.kind != "nothing" and not answer.serves(config.root):
                raise port_taken(config, answer) from None
            raise
        try:
            say(f"local Hub started at {config.endpoint} (pid {server.process.pid}, data in {config.root}, "
                f"log {server.log_path}); it stops when this command ends")
            yield LocalHub(config.endpoint, config.root, server.process.pid, started=True)
        finally:
            with _signals_deferred():  # a second Ctrl-C must not cut the stop short and leave the server behind
                server.stop()
                say(f"local Hub at {config.endpoint} (pid {server.process.pid}) stopped")


@contextmanager
def _signals_end_the_command() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``SystemExit(128 + signal)`` so ``finally`` blocks run (Ctrl-C already does).

    Only the main thread can own signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def end(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, end) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done, then end the command as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: pending.append(signum)) for sig in _ENDING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if signal.SIGINT in pending:
        raise KeyboardInterrupt
    if pending:
        raise SystemExit(128 + pending[0])


def _free_port_near(host: str, port: int) -> int:
    """The first port after ``port`` that can be bound now (a suggestion for the message)."""
    for candidate in range(port + 1, min(port + 100, 65536)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return port + 1
