"""A commit's file contents are streamed to git: server memory does not grow with the upload.

The test uploads 50 MiB with ``HfApi.upload_file`` to a server subprocess and reads the server's
peak resident memory (``VmHWM`` in ``/proc/<pid>/status``, reset through ``clear_refs`` just
before the upload). The same measurement for any size, as quoted in ``docs/HUB.md``::

    .venv/bin/python -m tests.test_hub_server_memory 200
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

MIB = 1 << 20


def _status_bytes(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise KeyError(key)


def measure_upload_peak(size_mib: int, workdir: Path) -> dict[str, float]:
    """Upload ``size_mib`` MiB of random bytes; return the server's RSS before and its peak during the upload."""
    from huggingface_hub import HfApi

    from genemail.hub.server.runner import ServeConfig, start_process
    from tests.fixtures.net import free_port
    from tests.fixtures.hub import new_tokens

    tokens = new_tokens()
    config = ServeConfig(root=workdir / "root", tokens=tokens, port=free_port(), access_log=False)
    server = start_process(config, log_path=workdir / "server.log")
    try:
        api = HfApi(endpoint=server.endpoint, token=tokens["alice"])
        api.create_repo("alice/memory")
        # warm up: the first commit imports and allocates what every later one reuses
        api.upload_file(path_or_fileobj=b"warm", path_in_repo="warm.txt", repo_id="alice/memory")
        data = workdir / "upload.bin"
        with open(data, "wb") as fh:
            for _ in range(size_mib):
                fh.write(os.urandom(MIB))
        pid = server.process.pid
        before = _status_bytes(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        started = time.monotonic()
        api.upload_file(path_or_fileobj=str(data), path_in_repo="upload.bin", repo_id="alice/memory")
        seconds = time.monotonic() - started
        peak = _status_bytes(pid, "VmHWM")
        stored = api.get_paths_info("alice/memory", ["upload.bin"])[0].size
    finally:
        server.stop()
    return {"size_mib": size_mib, "rss_before_mib": before / MIB, "peak_mib": peak / MIB,
            "growth_mib": (peak - before) / MIB, "growth_ratio": (peak - before) / (size_mib * MIB),
            "seconds": seconds, "stored_bytes": stored}


@pytest.mark.integration
def test_a_50_mib_upload_barely_grows_server_memory(tmp_path: Path) -> None:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to read the server's peak memory")
    result = measure_upload_peak(50, tmp_path)
    assert result["stored_bytes"] == 50 * MIB
    # Before streaming, the server held the body about 6 times over (~300 MiB here).
    assert result["growth_ratio"] < 0.5, result


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    r = measure_upload_peak(size, Path(tempfile.mkdtemp(prefix="hub-memory-")))
    print(f"upload {r['size_mib']} MiB: server RSS {r['rss_before_mib']:.0f} MiB before, peak {r['peak_mib']:.0f} MiB "
          f"(+{r['growth_mib']:.0f} MiB = {r['growth_ratio']:.2f}x the upload), {r['seconds']:.1f} s")
