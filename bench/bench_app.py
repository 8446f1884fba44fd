"""App benchmark: cold start (launch to first answer) and /compose latency p50/p95 through gradio_client.

    python -m bench.bench_app [--artifacts artifacts] [--requests 100] [--max-new-tokens 64]

On the embedded default: ``./artifacts`` (from ``make train``) when it exists, else a tiny random
release built like the test fixture (so the script runs on a fresh machine; its timings then
describe the plumbing, not a useful model). The artifacts are published to a private local Hub
started for the run, and the app is launched as a real ``python app.py`` process against it, so
cold start includes interpreter start-up, imports, the Hub pull, model loading and the first
generation. Requests are sequential (one user), greedy, over distinct demo customers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fixtures.net import free_port

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "bench"
TOKEN = "hf_bench_token_local_only"  # a throwaway credential for the run's own local Hub
TAG = "v1"


def tiny_artifacts(out: Path) -> Path:
    """A tiny random release like the test fixture's (micro base, random adapters, small segmenter)."""
    import json

    from genemail.data.loader import clean_frame
    from genemail.data.synth import synthesize
    from tests.fixtures.app import build_tiny_artifacts
    from tests.fixtures.models import save_random_base, write_corpus

    corpus = write_corpus(out / "_corpus")
    records = [json.loads(line) for line in (corpus / "train.jsonl").read_text("utf-8").splitlines()]
    base = save_random_base(out / "_base", [r[k] for r in records for k in ("input", "baseline_input", "output")])
    customers = clean_frame(synthesize(600, seed=0), source="bench customers").frame
    return build_tiny_artifacts(out / "artifacts", customers, base)


def hub_env(endpoint: str, tmp: Path) -> dict[str, str]:
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp / "hf_home"),
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "TOKENIZERS_PARALLELISM": "false"}
    env.pop("HF_HUB_OFFLINE", None)
    return env


def publish(artifacts: Path, env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "genemail", "publish", "--artifacts", str(artifacts), "--namespace", NAMESPACE,
           "--tag", TAG]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"[bench_app] publishing failed:\n{result.stdout}{result.stderr}")


def wait_for_first_answer(url: str, customer: str, max_new_tokens: int, proc: subprocess.Popen,
                          timeout: float = 600) -> tuple[float, object]:
    """Seconds until the server answers (page), then returns a /compose result; and the client."""
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"[bench_app] the app exited with code {proc.returncode} before answering")
        try:
            client = Client(url, verbose=False)
            break
        except Exception:  # not listening yet: any connection error means "try again"
            if time.monotonic() > deadline:
                raise SystemExit("[bench_app] the app did not start in time") from None
            time.sleep(0.25)
    client.predict(customer, max_new_tokens, 0, 0, api_name="/compose")
    return time.monotonic(), client


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_app", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifacts", type=Path, default=ROOT / "artifacts", help="artifacts folder (default ./artifacts)")
    p.add_argument("--requests", type=int, default=100, help="timed /compose requests (default 100)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    a = p.parse_args(argv)

    from genemail.hub.server.runner import ServeConfig, start_process
    from genemail.service import GenEmailService, ServiceConfig

    tmp = Path(tempfile.mkdtemp(prefix="genemail-bench-app-"))
    use_trained = (a.artifacts / "segmenter" / "segmenter.skops").is_file()
    source = f"{a.artifacts} (trained)" if use_trained else "tiny random release (no ./artifacts; run make train)"
    print(f"[bench_app] release: {source}", flush=True)
    artifacts = a.artifacts if use_trained else tiny_artifacts(tmp / "tiny")
    hub = start_process(ServeConfig(root=tmp / "hub", tokens={NAMESPACE: TOKEN}, port=free_port()),
                        log_path=tmp / "hub.log")
    app = None
    try:
        env = hub_env(hub.endpoint, tmp)
        publish(artifacts, env)
        # The app's demo table (500 synthetic customers, seed 0) without loading any model here.
        ids = GenEmailService(ServiceConfig(release_repo=f"{NAMESPACE}/x", work_dir=tmp / "ids")).customer_ids()
        port = free_port()
        env.update(GENEMAIL_RELEASE_REPO=f"{NAMESPACE}/genemail-release", GENEMAIL_RELEASE_REVISION=TAG,
                   GENEMAIL_RATINGS_DB=str(tmp / "ratings.sqlite"), GENEMAIL_LABELS_DB=str(tmp / "labels.sqlite"),
                   GENEMAIL_RESULTS_DB=str(tmp / "results.sqlite"))
        t0 = time.monotonic()
        app = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                               env=env, stdout=open(tmp / "app.log", "wb"), stderr=subprocess.STDOUT)
        answered, client = wait_for_first_answer(f"http://127.0.0.1:{port}/", ids[0], a.max_new_tokens, app)
        cold = answered - t0

        walls, server = [], []
        for i in range(a.requests):
            t = time.perf_counter()
            details = client.predict(ids[1 + i % (len(ids) - 1)], a.max_new_tokens, 0, 0, api_name="/compose")[0]
            walls.append(time.perf_counter() - t)
            server.append(details["latency_s"] + details["baseline_latency_s"])
        rows = [
            ("release", source),
            ("cold start: launch -> first /compose answer (s)", f"{cold:.1f}"),
            (f"/compose wall latency p50 over {a.requests} (s)", f"{percentile(walls, 50):.3f}"),
            (f"/compose wall latency p95 over {a.requests} (s)", f"{percentile(walls, 95):.3f}"),
            ("/compose generation time p50, both emails (s)", f"{percentile(server, 50):.3f}"),
            ("max new tokens per email / decoding", f"{a.max_new_tokens} / greedy"),
            ("CPU cores / load average at end", f"{os.cpu_count()} / {os.getloadavg()[0]:.1f}"),
        ]
        width = max(len(k) for k, _ in rows)
        print("\n" + "\n".join(f"{k:<{width}}  {v}" for k, v in rows), flush=True)
    finally:
        if app is not None:
            app.terminate()
            app.wait(timeout=30)
        hub.stop()


if __name__ == "__main__":
    main()
