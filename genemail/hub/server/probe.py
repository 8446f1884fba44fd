"""What answers on a port: nothing, a GenEmail local Hub (serving which root, as which process), or something else.

A command that starts a local Hub must not mistake another program, or another checkout's Hub, for
its own: any HTTP answer used to count as "a Hub is up", and a fresh clone's demo then published into
the first checkout's ``.hub/``. The local Hub's ``GET /api/health`` names the service, the root it
serves and its pid; everything else is "something else", described well enough to say what to stop.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SERVICE = "genemail-local-hub"  # the ``service`` field of the local Hub's GET /api/health


@dataclass(frozen=True)
class PortAnswer:
    """The result of :func:`probe`: ``kind`` is ``nothing``, ``hub`` (a GenEmail local Hub) or ``other``."""

    endpoint: str
    kind: str
    root: Path | None = None  # the folder a GenEmail local Hub serves
    pid: int | None = None  # its process id (on this machine when the endpoint is loopback)
    detail: str = ""  # for ``other``: what was seen

    def serves(self, root: Path) -> bool:
        """Whether this is a GenEmail local Hub serving ``root`` (the same folder, however it is spelled)."""
        if self.kind != "hub" or self.root is None:
            return False
        try:
            return self.root.resolve() == Path(root).resolve() or self.root.samefile(root)
        except OSError:  # either folder is gone: only an equal path can be the same folder
            return False

    def describe(self) -> str:
        """One phrase for a message: what answers there."""
        if self.kind == "nothing":
            return "nothing"
        if self.kind == "hub":
            return f"a GenEmail local Hub serving {self.root} (pid {self.pid})"
        return f"a program that is not a GenEmail local Hub ({self.detail})"


def probe(endpoint: str, timeout: float = 2.0) -> PortAnswer:
    """Ask ``GET {endpoint}/api/health`` and classify the answer (never raises for what it finds)."""
    url = f"{endpoint.rstrip('/')}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status, server, body = resp.status, resp.headers.get("Server"), resp.read(65536)
    except urllib.error.HTTPError as err:
        return PortAnswer(endpoint, "other", detail=_http_detail(err.code, err.headers.get("Server")))
    except urllib.error.URLError as err:
        if isinstance(err.reason, ConnectionRefusedError):
            return PortAnswer(endpoint, "nothing")
        return PortAnswer(endpoint, "other", detail=f"connecting failed: {err.reason}")
    except (TimeoutError, socket.timeout):
        return PortAnswer(endpoint, "other", detail=f"it accepts connections but did not answer within {timeout:g} s")
    except (http.client.HTTPException, ConnectionError) as err:
        return PortAnswer(endpoint, "other", detail=f"it does not speak HTTP ({type(err).__name__})")
    try:
        info = json.loads(body)
    except ValueError:
        info = None
    if (isinstance(info, dict) and info.get("service") == SERVICE and isinstance(info.get("root"), str)
            and isinstance(info.get("pid"), int)):
        return PortAnswer(endpoint, "hub", root=Path(info["root"]), pid=info["pid"])
    return PortAnswer(endpoint, "other", detail=_http_detail(status, server))


def _http_detail(status: int, server: str | None) -> str:
    by = f" from a server calling itself {server!r}" if server else ""
    return f"GET /api/health answered HTTP {status}{by}, without the local Hub's service, root and pid"
