"""`make demo`: the whole system on the embedded default, from nothing to a pinned release.

1. build every artifact (``training.pipeline``: customers, segmenter, corpus, base, adapters, eval);
2. print the segment summary and the evaluation table;
3. start the local Hub in the background (data in ``./.hub``, a demo token), publish the artifacts
   and tag the release, and print the ``hf download`` command that fetches it;
4. launch the app against that release (``--no-app`` stops after step 3).

No data, no token and no network beyond loopback are needed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from training import pipeline

DEMO_NAMESPACE = "demo"
DEMO_TOKEN = "hf_demo_token_local_only"  # a local-only demo credential, never valid on huggingface.co


def hub_endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def hub_is_up(endpoint: str) -> bool:
    """True when a Hub server answers on ``endpoint`` (any HTTP status counts as up)."""
    try:
        urllib.request.urlopen(f"{endpoint}/api/whoami-v2", timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def ensure_local_hub(root: Path, port: int) -> str:
    """Start ``genemail hub serve`` detached (it outlives the demo) unless one already answers."""
    endpoint = hub_endpoint(port)
    if hub_is_up(endpoint):
        print(f"[demo] local Hub already running at {endpoint}")
        return endpoint
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "server.log", "ab")
    cmd = [sys.executable, "-m", "genemail", "hub", "serve", "--root", str(root), "--host", "127.0.0.1",
           "--port", str(port), "--token", f"{DEMO_NAMESPACE}:{DEMO_TOKEN}"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (root / "server.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"[demo] the local Hub exited at start-up; see {root / 'server.log'}")
        if hub_is_up(endpoint):
            print(f"[demo] local Hub started at {endpoint} (pid {proc.pid}, data in {root}, log {root / 'server.log'})")
            return endpoint
        time.sleep(0.3)
    raise SystemExit(f"[demo] the local Hub did not answer within 60 s; see {root / 'server.log'}")


def hub_env(endpoint: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_ENDPOINT=endpoint, HF_TOKEN=DEMO_TOKEN, HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_DISABLE_UPDATE_CHECK="1")
    return env


def publish(artifacts: Path, endpoint: str) -> str:
    """Publish under the first free tag v1, v2, ... (a re-run with unchanged artifacts reuses its tag)."""
    env = hub_env(endpoint)
    for n in range(1, 1000):
        tag = f"v{n}"
        cmd = [sys.executable, "-m", "genemail", "publish", "--artifacts", str(artifacts),
               "--namespace", DEMO_NAMESPACE, "--tag", tag]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if result.returncode == 0:
            print(result.stdout, end="")
            return tag
        if "already exists" not in (result.stderr + result.stdout):
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit("[demo] publishing failed; see the message above")
    raise SystemExit("[demo] no free release tag")


def print_summaries(artifacts: Path) -> None:
    metrics = json.loads((artifacts / "segmenter" / "metrics.json").read_text())
    clusters = json.loads((artifacts / "segmenter" / "clusters.json").read_text())
    total = sum(clusters["segment_sizes"].values())
    print(f"\n== Segments of {total} synthetic customers (L1 tiers: {clusters['tier_sizes']}) ==")
    for segment, size in clusters["segment_sizes"].items():
        print(f"  {segment:24s} {size:6d}  {size / total:6.1%}")
    print(f"  plots: {artifacts / 'segmenter' / 'plots'}")
    print("\n== Segmenter (held-out synthetic customers) ==")
    for key in ("n_train", "n_test", "l1_accuracy", "l2_accuracy", "l2_macro_f1", "l2_accuracy_perturbed",
                "silhouette"):
        if key in metrics:
            print(f"  {key:24s} {metrics[key]}")
    eval_file = artifacts / "eval" / "eval.json"
    if eval_file.exists():
        from training.evaluate import format_table

        print("\n== Evaluation (test customers not seen in adapter training) ==")
        print(format_table(json.loads(eval_file.read_text())))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m training.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    p.add_argument("--hub-root", type=Path, default=Path(".hub"))
    p.add_argument("--hub-port", type=int, default=8765)
    p.add_argument("--no-app", action="store_true", help="stop after publishing")
    a = p.parse_args(argv)

    t0 = time.perf_counter()
    pipeline.run(pipeline.PipelineConfig(out=a.artifacts))
    print_summaries(a.artifacts)
    endpoint = ensure_local_hub(a.hub_root, a.hub_port)
    tag = publish(a.artifacts, endpoint)
    repo = f"{DEMO_NAMESPACE}/genemail-release"
    print(f"\n[demo] built and published {repo}@{tag} to the local Hub ({time.perf_counter() - t0:.0f} s in all). "
          "Fetch it with:")
    print(f"  HF_ENDPOINT={endpoint} .venv/bin/hf download {repo} --revision {tag} --local-dir /tmp/genemail-{tag}")
    print(f"  HF_ENDPOINT={endpoint} .venv/bin/hf download {DEMO_NAMESPACE}/genemail-adapter-dormant --revision {tag}")
    if not a.no_app:
        launch_app(endpoint, repo, tag)


def launch_app(endpoint: str, repo: str, tag: str) -> None:
    app_file = Path(__file__).resolve().parent.parent / "app.py"
    if not app_file.exists():
        print("[demo] the app is not part of this build yet; stopping here.")
        return
    env = hub_env(endpoint)
    env.update(GENEMAIL_RELEASE_REPO=repo, GENEMAIL_RELEASE_REVISION=tag)
    print(f"[demo] launching the app for {repo}@{tag} (Ctrl-C to stop)")
    os.execve(sys.executable, [sys.executable, str(app_file)], env)


if __name__ == "__main__":
    main()
