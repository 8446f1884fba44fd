"""`make demo`: the whole system on the embedded default, from nothing to a pinned release.

1. build every artifact (``training.pipeline``: customers, segmenter, corpus, base, adapters, eval);
2. print the segment summary and the evaluation table;
3. start its own local Hub (data in ``./.hub``, a demo token; refused if another program or another
   checkout's Hub holds the port), publish the artifacts and tag the release, and print the
   ``hf download`` command that fetches it;
4. run a demo experiment on that release: new synthetic customers, a campaign with segmented,
   control and holdout arms, outcome events simulated from a known truth
   (``genemail/resources/demo_truth.yaml``), ingested twice (the second adds nothing), and the
   report per segment printed;
5. launch the app against that release (``--no-app`` stops after step 4).

The local Hub runs for as long as the demo does: with the app, until the app ends (Ctrl-C stops the
app and the Hub together); with ``--no-app``, until step 4 is done. ``make hub`` serves ``.hub`` again
on its own, in the foreground. No data, no token and no network beyond loopback are needed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer
from genemail.errors import GenEmailError, HubError
from genemail.hub.server.local import LocalHub, check_port, local_hub
from genemail.hub.server.runner import ServeConfig
from training import pipeline

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.demo"

DEMO_NAMESPACE = "demo"
DEMO_TOKEN = "hf_demo_token_local_only"  # a local-only demo credential, never valid on huggingface.co


def demo_hub_config(root: Path, port: int) -> ServeConfig:
    """The demo's local Hub: data in ``root``, the demo user and token, loopback only."""
    return ServeConfig(root=root, tokens={DEMO_NAMESPACE: DEMO_TOKEN}, host="127.0.0.1", port=port)


def demo_hub(root: Path, port: int, who: str = "demo") -> AbstractContextManager[LocalHub]:
    """The command's own local Hub (data in ``root``, the demo token) for a ``with`` block; stopped at its end.

    A Hub already serving ``root`` is used and left running; anything else on ``port`` (another
    checkout's Hub, another program) is refused with the port, what answers there and the fix.
    ``who`` prefixes its progress lines (``[demo]``, ``[loop]``).
    """
    return local_hub(demo_hub_config(root, port), log_path=root / "server.log",
                     say=lambda message: print(f"[{who}] {message}", flush=True))


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
            raise HubError("publishing the demo release failed", where=endpoint, fix="see the message above")
    raise HubError("no free release tag (v1 to v999 are taken)", where=endpoint, fix="remove the .hub folder")


def run_demo_experiment(artifacts: Path, endpoint: str, repo: str, tag: str, n_customers: int) -> Path:
    """Steps of a simulated experiment, each a command a user could type; returns the results database."""
    from genemail.resources import RESOURCES_DIR

    work = artifacts / "experiment"
    work.mkdir(parents=True, exist_ok=True)
    db, log, events, name = work / "results.sqlite", work / "sendlog.jsonl", work / "events.csv", f"demo-{tag}"
    db.unlink(missing_ok=True)  # a re-run of the demo measures afresh
    steps = [
        ["data", "synth", "--n", str(n_customers), "--seed", "101", "--out", str(work / "customers.csv")],
        ["campaign", "--release", repo, "--revision", tag, "--data", str(work / "customers.csv"), "--out", str(log),
         "--experiment", name, "--control", "0.3", "--holdout", "0.1", "--seed", "0", "--batch-size", "64",
         "--max-new-tokens", "96"],
        ["results", "simulate", "--campaign", str(log), "--truth", str(RESOURCES_DIR / "demo_truth.yaml"),
         "--seed", "0", "--out", str(events)],
        ["results", "ingest", "--campaign", str(log), "--events", str(events), "--db", str(db), "--no-export"],
        ["results", "ingest", "--campaign", str(log), "--events", str(events), "--db", str(db), "--no-export"],
        ["results", "report", "--experiment", name, "--db", str(db), "--json", str(work / "report.json")],
    ]
    print(f"\n== Demo experiment {name}: {n_customers} new synthetic customers, outcomes simulated from a known "
          "truth ==")
    for step in steps:
        print(f"[demo] genemail {' '.join(step)}", flush=True)
        result = subprocess.run([sys.executable, "-m", "genemail", *step], env=hub_env(endpoint), text=True,
                                stdout=subprocess.PIPE)
        if result.returncode != 0:
            raise HubError(f"the demo experiment step `genemail {step[0]} {step[1]}` failed", where=str(work),
                           fix="see the message above")
        if step[0] == "results" and step[1] in ("ingest", "report"):
            print(result.stdout, end="")
    return db


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
        from genemail.evaluation.offline import format_table

        print("\n== Evaluation (test customers not seen in adapter training) ==")
        print(format_table(json.loads(eval_file.read_text())))


@app.command()
def demo(
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder (built or reused).")] = Path("artifacts"),
    hub_root: Annotated[Path, typer.Option(help="Local Hub data folder.")] = Path(".hub"),
    hub_port: Annotated[int, typer.Option(help="Local Hub port.", min=1, max=65535)] = 8765,
    experiment_customers: Annotated[int, typer.Option(help="Customers of the demo experiment (0: skip it).",
                                                      min=0)] = 8000,
    app_: Annotated[bool, typer.Option("--app/--no-app", help="Launch the app at the end.")] = True,
) -> None:
    """Build everything on the embedded default, publish a pinned release to a local Hub, launch the app."""
    t0 = time.perf_counter()
    check_port(demo_hub_config(hub_root, hub_port))  # before the build: a taken port is refused at once
    pipeline.run(pipeline.PipelineConfig(out=artifacts))
    print_summaries(artifacts)
    with demo_hub(hub_root, hub_port) as hub:
        endpoint = hub.endpoint
        tag = publish(artifacts, endpoint)
        repo = f"{DEMO_NAMESPACE}/genemail-release"
        print(f"\n[demo] built and published {repo}@{tag} to the local Hub ({time.perf_counter() - t0:.0f} s in "
              "all). Fetch it while the demo's app runs, or after `make hub`:")
        print(f"  HF_ENDPOINT={endpoint} .venv/bin/hf download {repo} --revision {tag} --local-dir /tmp/genemail-{tag}")
        print(f"  HF_ENDPOINT={endpoint} .venv/bin/hf download {DEMO_NAMESPACE}/genemail-adapter-dormant "
              f"--revision {tag}")
        db = run_demo_experiment(artifacts, endpoint, repo, tag, experiment_customers) if experiment_customers else None
        print(f"[demo] done in {time.perf_counter() - t0:.0f} s")
        if app_:
            run_app(endpoint, repo, tag, db)
        elif hub.started:
            print("[demo] --no-app: the demo's local Hub stops now; `make hub` serves it again")


def app_command() -> list[str] | None:
    """The app's command line, or None where the app is not part of this build."""
    app_file = Path(__file__).resolve().parent.parent / "app.py"
    return [sys.executable, str(app_file)] if app_file.exists() else None


def run_app(endpoint: str, repo: str, tag: str, results_db: Path | None = None) -> None:
    """Run the app against the release until it ends or Ctrl-C; the caller's Hub stops after it."""
    cmd = app_command()
    if cmd is None:
        print("[demo] the app is not part of this build yet; stopping here.")
        return
    env = hub_env(endpoint)
    env.update(GENEMAIL_RELEASE_REPO=repo, GENEMAIL_RELEASE_REVISION=tag)
    if results_db is not None:
        env["GENEMAIL_RESULTS_DB"] = str(results_db)
    print(f"[demo] launching the app for {repo}@{tag} (Ctrl-C stops the app and the local Hub together)", flush=True)
    status = run_until_stopped(cmd, env)
    if status not in (0, 130, -signal.SIGINT):
        raise GenEmailError(f"the app exited with status {status}", where=" ".join(cmd),
                       fix="read its messages above; the release stays on the local Hub (`make hub` serves it)")


def run_until_stopped(cmd: list[str], env: dict[str, str], grace: float = 10.0) -> int:
    """Run ``cmd`` in the foreground until it exits, or until Ctrl-C; it never outlives this call.

    Returns its exit status (130 after Ctrl-C). Ctrl-C in a terminal reaches the child too; a
    SIGINT sent to this process alone is passed on. The child gets ``grace`` seconds to close, then
    SIGTERM, then SIGKILL.
    """
    proc = subprocess.Popen(cmd, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        print("[demo] Ctrl-C: stopping the app, then the local Hub", flush=True)
        return 130
    finally:
        _stop_child(proc, grace)


def _stop_child(proc: subprocess.Popen, grace: float) -> None:
    for ask, wait in ((lambda: proc.send_signal(signal.SIGINT), grace), (proc.terminate, 5.0), (proc.kill, None)):
        if proc.poll() is not None:
            return
        ask()
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
