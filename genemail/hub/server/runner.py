"""Running the local Hub: in the foreground (the CLI), in a background thread, or in a subprocess.

Tests and other GenEmail code use :func:`start_in_thread` or :func:`start_process`; both return
only once the server they started answers ``GET /api/health`` (checked by pid, so another program
on the port is never taken for it). A command that wants a Hub only for its own run uses
:func:`genemail.hub.server.local.local_hub`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from genemail.errors import ConfigError, HubError
from genemail.hub.server.body import DEFAULT_MAX_COMMIT_BYTES, DEFAULT_MAX_REQUEST_BYTES, MIB, Limits
from genemail.hub.server.probe import probe


@dataclass
class ServeConfig:
    """Everything ``genemail hub serve`` needs (validated at construction).

    ``max_commit_bytes`` bounds a commit's body (file contents, base64-encoded: about 4/3 of the
    files' size); ``max_request_bytes`` bounds every other body. Larger bodies get a 413.
    """

    root: Path
    tokens: dict[str, str] = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8765
    commit_delay: float = 0.0
    access_log: bool = True
    max_commit_bytes: int = DEFAULT_MAX_COMMIT_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        Limits(self.max_commit_bytes, self.max_request_bytes)  # ConfigError naming a bad limit
        if not 0 < self.port < 65536:
            raise ConfigError(f"port={self.port!r} is out of range", where="--port", fix="pass a port in 1-65535")
        if not self.tokens:
            raise ConfigError("no users were given, so nobody could write to this Hub", where="--token",
                              fix="pass --token NAME:SECRET (repeatable) or --tokens-file FILE")
        if self.commit_delay < 0:
            raise ConfigError(f"commit_delay={self.commit_delay!r} is negative", where="--test-commit-delay",
                              fix="leave it at 0 (it exists for crash tests)")
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"{self.root} exists and is not a folder", where="--root",
                              fix="pass a folder (it is created if missing)")

    @property
    def endpoint(self) -> str:
        """The URL clients use (``HF_ENDPOINT``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def limits(self) -> Limits:
        """The body size limits as the app takes them."""
        return Limits(max_commit_bytes=self.max_commit_bytes, max_request_bytes=self.max_request_bytes)

    def limit_args(self) -> list[str]:
        """``--max-commit-mb``/``--max-request-mb`` options for a subprocess, only where not the default."""
        args = []
        if self.max_commit_bytes != DEFAULT_MAX_COMMIT_BYTES:
            args += ["--max-commit-mb", f"{self.max_commit_bytes / MIB:.6f}"]
        if self.max_request_bytes != DEFAULT_MAX_REQUEST_BYTES:
            args += ["--max-request-mb", f"{self.max_request_bytes / MIB:.6f}"]
        return args


def _uvicorn_server(config: ServeConfig) -> Any:
    import uvicorn

    from genemail.hub.server.app import create_app

    config.root.mkdir(parents=True, exist_ok=True)
    app = create_app(config.root, config.tokens, commit_delay=config.commit_delay, limits=config.limits)
    # uvicorn's access log prints the request line only, never headers, so tokens never reach it.
    return uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="info",
                                         access_log=config.access_log, server_header=False))


def serve(config: ServeConfig) -> None:
    """Run the server in the foreground until interrupted."""
    _uvicorn_server(config).run()


def wait_until_ready(endpoint: str, timeout: float = 30.0, process: subprocess.Popen | None = None, *,
                     pid: int | None = None) -> None:
    """Poll ``GET /api/health`` until *this* server answers; ``HubError`` on timeout or if ``process`` died.

    The server that answers must be a GenEmail local Hub with the expected pid (``pid``, else
    ``process.pid``): another program on the port, or another Hub, is not taken for the one starting.
    """
    expected = pid if pid is not None else (process.pid if process is not None else None)
    deadline = time.monotonic() + timeout
    answer = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise HubError(f"the local Hub process exited with status {process.returncode} during start-up",
                           where=endpoint, fix="read its log (see ServerProcess.log_path); a port in use is the "
                                               "usual cause")
        answer = probe(endpoint, timeout=1.0)
        if answer.kind == "hub" and (expected is None or answer.pid == expected):
            return
        time.sleep(0.05)
    seen = "" if answer is None or answer.kind == "nothing" else f"; meanwhile {answer.describe()} answers there"
    raise HubError(f"the local Hub did not answer within {timeout:.0f}s{seen}", where=endpoint,
                   fix="check that the port is free and read the server log")


@dataclass
class ThreadServer:
    """A server running in a daemon thread of this process; ``stop()`` shuts it down."""

    config: ServeConfig
    _server: Any = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def endpoint(self) -> str:
        """The URL clients use."""
        return self.config.endpoint

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)


def start_in_thread(config: ServeConfig, timeout: float = 30.0) -> ThreadServer:
    """Start the server in a background thread and return once it answers."""
    server = _uvicorn_server(config)
    server.install_signal_handlers = lambda: None  # signals belong to the main thread
    thread = threading.Thread(target=server.run, name=f"local-hub-{config.port}", daemon=True)
    thread.start()
    wait_until_ready(config.endpoint, timeout, pid=os.getpid())
    return ThreadServer(config, server, thread)


@dataclass
class ServerProcess:
    """A server running as ``python -m ...`` in a subprocess; its output goes to ``log_path``."""

    config: ServeConfig
    process: subprocess.Popen = field(repr=False)
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def endpoint(self) -> str:
        """The URL clients use."""
        return self.config.endpoint

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def kill(self) -> None:
        """``kill -9``: no clean-up at all, as in a crash."""
        self.process.kill()
        self.process.wait()
        self._log.close()

    def log_text(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_process(config: ServeConfig, *, via_cli: bool = False, log_path: Path | None = None,
                  timeout: float = 60.0) -> ServerProcess:
    """Start the server in a subprocess and return once it answers.

    ``via_cli=True`` runs ``python -m genemail hub serve`` (the real command line); the default runs
    ``python -m genemail.hub.server``, which imports only the server and starts faster. Tokens go
    through a private tokens file, never the command line (other users can read ``ps`` output).
    """
    workdir = Path(tempfile.mkdtemp(prefix="genemail-hub-"))
    tokens_file = workdir / "tokens.txt"
    fd = os.open(tokens_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(f"{name}:{secret}\n" for name, secret in config.tokens.items())
    module = ["genemail", "hub", "serve"] if via_cli else ["genemail.hub.server"]
    args = [sys.executable, "-m", *module, "--root", str(config.root), "--host", config.host,
            "--port", str(config.port), "--tokens-file", str(tokens_file)]
    if config.commit_delay:
        args += ["--test-commit-delay", str(config.commit_delay)]
    args += config.limit_args()
    log_path = log_path or workdir / "server.log"
    log = open(log_path, "ab")
    repo_root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo_root), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=repo_root)
    handle = ServerProcess(config, process, log_path, log)
    try:
        wait_until_ready(config.endpoint, timeout, process)
    except HubError as err:
        handle.stop()
        raise HubError(err.what, where=err.where, fix=f"server log:\n{handle.log_text()[-2000:]}") from None
    except BaseException:  # Ctrl-C while waiting: the caller never gets the handle, so stop it here
        handle.stop()
        raise
    return handle
