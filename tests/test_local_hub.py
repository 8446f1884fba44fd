"""A command's local Hub is its own: what answers on the port is checked, and what a command starts it stops.

Real local Hub server processes throughout; the demo's and the loop's long steps (building
artifacts, campaigns, DPO) are replaced by a stand-in in a driver process, because what is tested
here is the Hub's lifetime around them, not them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from genemail.errors import HubError
from genemail.hub.server.probe import SERVICE, probe
from genemail.hub.server.runner import ServeConfig, start_in_thread, wait_until_ready
from tests.fixtures.net import free_port
from training import demo

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


# -- what answers on a port ---------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    """Answers every GET with the class's status and body (a stand-in for some other local web server)."""

    status = 404
    body = b"not found"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


class _Garbage(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(1024)
        self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")


@contextmanager
def _serving(handler: type, port: int, *, http: bool = True) -> Iterator[None]:
    server_class = HTTPServer if http else socketserver.TCPServer
    server = server_class(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _handler(status: int, body: dict | bytes) -> type:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return type("Handler", (_Answer,), {"status": status, "body": raw})


NOT_HUBS = {
    "a 404 to everything": (_handler(404, b"not found"), True),
    "a 200 health without identity": (_handler(200, {"status": "ok"}), True),
    "a look-alike without root and pid": (_handler(200, {"status": "ok", "service": SERVICE}), True),
    "a 500": (_handler(500, b"oops"), True),
    "not HTTP at all": (_Garbage, False),
}


@pytest.mark.parametrize("name", NOT_HUBS)
def test_a_non_hub_server_on_the_port_is_never_taken_for_a_hub(name: str, tmp_path: Path) -> None:
    handler, http = NOT_HUBS[name]
    port = free_port()
    with _serving(handler, port, http=http):
        answer = probe(f"http://127.0.0.1:{port}")
        assert answer.kind == "other" and not answer.serves(tmp_path / "hub")
        with pytest.raises(HubError) as refused:
            with demo.demo_hub(tmp_path / "hub", port):
                pytest.fail("the demo's start-up took another program for its Hub")
        message = str(refused.value)
        assert f"port {port} is taken by a program that is not a GenEmail local Hub" in message
        assert "HUB_PORT=" in message and "--hub-port" in message
        assert "stop the program on that port" in message
        with pytest.raises(HubError, match="did not answer"):  # nor by the start-up wait of the runner
            wait_until_ready(f"http://127.0.0.1:{port}", timeout=1.0)
        assert not (tmp_path / "hub").exists()  # nothing was started, nothing written


def test_nothing_on_the_port_is_told_apart_from_a_hub(tmp_path: Path) -> None:
    port = free_port()
    assert probe(f"http://127.0.0.1:{port}").kind == "nothing"
    config = ServeConfig(root=tmp_path / "hub", tokens={"alice": "hf_alice_secret"}, port=port, access_log=False)
    server = start_in_thread(config)
    try:
        answer = probe(server.endpoint)
        assert answer.kind == "hub" and answer.pid == os.getpid()
        assert answer.root == (tmp_path / "hub").resolve() and answer.serves(tmp_path / "hub")
        assert not answer.serves(tmp_path / "other")
    finally:
        server.stop()


# -- two checkouts, one port ------------------------------------------------------------------------


def test_a_second_checkout_refuses_the_port_of_the_first_ones_hub(tmp_path: Path) -> None:
    """The demo's start-up in two temporary roots on one port: the second refuses, naming port, owner, fix."""
    first, second, port = tmp_path / "checkout-1" / ".hub", tmp_path / "checkout-2" / ".hub", free_port()
    with demo.demo_hub(first, port) as hub:
        assert hub.started and probe(hub.endpoint).serves(first)
        with pytest.raises(HubError) as refused:
            with demo.demo_hub(second, port):
                pytest.fail("the second checkout used the first one's Hub")
        message = str(refused.value)
        assert f"port {port} is taken by a GenEmail local Hub serving {first.resolve()} (pid {hub.pid})" in message
        assert f"not a local Hub serving {second.resolve()}" in message
        assert "HUB_PORT=" in message and "--hub-port" in message and f"kill {hub.pid}" in message
        assert not any(second.glob("*s/*"))  # nothing was published into, or served from, the second root

        with demo.demo_hub(first, port) as again:  # the same checkout again (make hub beside it): used, kept
            assert not again.started and again.pid == hub.pid
        assert probe(hub.endpoint).pid == hub.pid
    assert _gone(hub.pid) and probe(hub.endpoint).kind == "nothing"


@pytest.mark.parametrize("entry", ["demo", "loop"])
def test_a_taken_port_is_refused_before_the_long_build(entry: str, tmp_path: Path, monkeypatch, capsys) -> None:
    from training import loop, pipeline

    def build(cfg: object) -> None:
        pytest.fail("the build ran although the Hub port was taken")

    monkeypatch.setattr(pipeline, "run", build)
    port = free_port()
    with _serving(_handler(404, b"no"), port):
        code = (demo if entry == "demo" else loop).main(["--artifacts", str(tmp_path / "art"), "--hub-root",
                                                          str(tmp_path / ".hub"), "--hub-port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and f"port {port} is taken by a program that is not a GenEmail local Hub" in err
    assert "Traceback" not in err


def test_hub_serve_refuses_a_taken_port_with_the_same_message(tmp_path: Path) -> None:
    port = free_port()
    with _serving(_handler(404, b"no"), port):
        out = subprocess.run([sys.executable, "-m", "genemail.hub.server", "--root", str(tmp_path / "hub"),
                              "--port", str(port), "--token", "alice:hf_alice_secret"],
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"port {port} is taken by a program that is not a GenEmail local Hub" in out.stderr


# -- what a command starts, it stops --------------------------------------------------------------

_DRIVER = r'''
import json, os, sys, time, urllib.request
from pathlib import Path

from genemail.errors import HubError
from training import demo, loop, pipeline

entry, mode, root, port, mark = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5])
pipeline.run = lambda cfg: None  # the artifacts are not under test, the Hub's lifetime is


def check_hub(endpoint):
    """The command's Hub is real: it names its root and answers the Hub API with the demo token."""
    from huggingface_hub import HfApi

    health = json.load(urllib.request.urlopen(endpoint + "/api/health", timeout=5))
    assert HfApi(endpoint=endpoint, token=demo.DEMO_TOKEN).whoami()["name"] == demo.DEMO_NAMESPACE
    return health


if entry == "loop":
    def turn(endpoint, *args):
        mark.write_text(json.dumps({"hub": check_hub(endpoint)}))
        if mode == "fail":
            raise HubError("a loop step failed on purpose", where="the test")
        if mode == "wait":
            time.sleep(120)

    loop.run_turn = turn
    sys.exit(loop.main(["--artifacts", str(mark.parent / "art"), "--work", str(mark.parent / "work"),
                        "--hub-root", root, "--hub-port", port]))

APP = """
import json, os, sys, time, urllib.request
health = json.load(urllib.request.urlopen(os.environ["HF_ENDPOINT"] + "/api/health", timeout=5))
open(sys.argv[1], "w").write(json.dumps({"hub": health, "app_pid": os.getpid()}))
if sys.argv[2] == "wait":
    time.sleep(120)
"""
demo.print_summaries = lambda artifacts: None
demo.publish = lambda artifacts, endpoint: (check_hub(endpoint), "v1")[1]
demo.app_command = lambda: [sys.executable, "-c", APP, str(mark), mode]
sys.exit(demo.main(["--artifacts", str(mark.parent / "art"), "--hub-root", root, "--hub-port", port,
                    "--experiment-customers", "0"]))
'''


def _run_driver(entry: str, mode: str, tmp_path: Path, send: signal.Signals | None = None) -> tuple[int, dict, str]:
    """Run the entry point in a driver process; ``send`` a signal to it alone once its Hub is up."""
    mark, root, port = tmp_path / "mark.json", tmp_path / ".hub", free_port()
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, entry, mode, str(root), str(port), str(mark)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (mark.exists() and mark.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if send is not None and proc.poll() is None:
            proc.send_signal(send)  # to the driver only, not its group: it must stop the Hub itself
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert mark.exists(), output
    info = json.loads(mark.read_text())
    assert info["hub"]["service"] == SERVICE and Path(info["hub"]["root"]) == root.resolve(), output
    return proc.returncode, info, output


@pytest.mark.parametrize(("mode", "send", "code"), [
    ("ok", None, 0),
    ("fail", None, 2),
    ("wait", signal.SIGINT, 130),
    ("wait", signal.SIGTERM, 128 + signal.SIGTERM),
], ids=["success", "failure", "sigint", "sigterm"])
def test_the_loop_leaves_no_hub_behind(mode: str, send: signal.Signals | None, code: int, tmp_path: Path) -> None:
    returncode, info, output = _run_driver("loop", mode, tmp_path, send)
    assert returncode == code, output
    pid = info["hub"]["pid"]
    assert _gone(pid), f"the loop's Hub (pid {pid}) outlived the loop:\n{output}"
    assert "local Hub started" in output and f"(pid {pid}) stopped" in output
    if mode == "fail":
        assert "a loop step failed on purpose" in output and "Traceback" not in output


@pytest.mark.parametrize(("mode", "send"), [("ok", None), ("wait", signal.SIGINT)], ids=["app-exits", "ctrl-c"])
def test_the_demo_keeps_its_hub_while_the_app_runs_and_stops_both(mode: str, send: signal.Signals | None,
                                                                  tmp_path: Path) -> None:
    returncode, info, output = _run_driver("demo", mode, tmp_path, send)
    assert returncode == 0, output
    assert info["hub"]["pid"] != info["app_pid"]  # the app saw the Hub up while it ran
    assert _gone(info["app_pid"]) and _gone(info["hub"]["pid"]), output
    assert output.index("launching the app") < output.index(f"(pid {info['hub']['pid']}) stopped")
