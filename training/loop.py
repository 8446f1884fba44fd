"""`make loop`: one turn of the learning loop on the embedded default, measured on the simulator.

    release v1 -> campaign as an experiment -> simulated events -> preference pairs -> DPO-tuned
    adapters -> release v2 -> a new experiment of v2 against v1 (new customers, same simulator)

1. build (or reuse) every artifact (``training.pipeline``), start the loop's own local Hub (stopped
   when the loop ends, also on an error or Ctrl-C) and publish to it (v1);
2. experiment 1: new synthetic customers, a sampled campaign of v1 (segmented arm = the segment
   adapters, control = the baseline), events from ``genemail/resources/demo_truth.yaml``, whose
   content effects are the ground truth (some calls to action draw more clicks in some segments);
3. outcomes -> preference pairs per segment (``genemail results preferences``), pushed to the local
   Hub as a dataset, then DPO from each v1 adapter (``training.train_preference``) -> release v2;
4. experiment 2: other new customers; segmented arm = v2's emails, control arm = v1's *segmented*
   emails (``--control-release``), simulated with the same truth but both arms at the same base
   rate, so only the emails' content can make a difference;
5. print v2 against v1 per segment (rates, lift with its 95% interval, P(win), decision), the true
   lift the truth implies for the emails actually sent, and how often each truth phrase was written.

Every step is a command a user could type, printed before it runs. Campaigns sample (seeded): greedy
decoding gives every customer of a segment the same email, and there would be nothing to prefer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from genemail.runner import run_typer
from genemail.errors import HubError
from genemail.hub.server.local import check_port
from training import demo, pipeline

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.loop"
RELEASE_REPO = f"{demo.DEMO_NAMESPACE}/genemail-release"
PREFERENCES_REPO = f"{demo.DEMO_NAMESPACE}/genemail-preferences"
SAMPLING = ["--sample", "--temperature", "0.8", "--sampling-seed", "1", "--batch-size", "64",
            "--max-new-tokens", "96"]


def run_step(args: list[str], endpoint: str, *, show: bool = False) -> str:
    """Run ``python -m <args>`` against the local Hub; print the command (and its output when ``show``)."""
    shown = " ".join(args[1:] if args[0] == "genemail" else ["python -m", *args])
    print(f"[loop] {'genemail ' if args[0] == 'genemail' else ''}{shown}", flush=True)
    env = {**demo.hub_env(endpoint), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # keep the campaign's own bar only
    result = subprocess.run([sys.executable, "-m", *args], env=env, text=True, stdout=subprocess.PIPE)
    if show:
        print(result.stdout, end="")
    if result.returncode != 0:
        print(result.stdout, end="")
        raise HubError(f"the loop step `{shown[:80]}` failed (exit {result.returncode})", where=args[-1],
                       fix="see the message above")
    return result.stdout


def content_only_truth(truth_file: Path, out: Path) -> Path:
    """The truth with each segment's control rate set to its segmented rate (content effects kept).

    In the v2-against-v1 experiment both arms get a segment adapter's email, so the arm itself must
    not matter: only what the emails say.
    """
    import yaml

    data = yaml.safe_load(truth_file.read_text(encoding="utf-8"))
    for spec in data.values():
        spec["control"] = spec["segmented"]
        for key in ("open", "conversion"):
            if isinstance(spec.get(key), dict) and "segmented" in spec[key]:
                spec[key]["control"] = spec[key]["segmented"]
    out.write_text("# The loop's second experiment: demo_truth.yaml with control = segmented per segment.\n"
                   + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def experiment(work: Path, endpoint: str, name: str, customers: Path, truth: Path, seed: int,
               campaign: list[str]) -> dict[str, Any]:
    """Campaign -> simulated events -> ingest -> report; returns the report (printed as text)."""
    log, events, db = work / f"{name}.sendlog.jsonl", work / f"{name}.events.csv", work / "results.sqlite"
    run_step(["genemail", "campaign", *campaign, "--data", str(customers), "--out", str(log), "--experiment", name,
              *SAMPLING], endpoint)
    run_step(["genemail", "results", "simulate", "--campaign", str(log), "--truth", str(truth), "--seed", str(seed),
              "--out", str(events)], endpoint, show=True)
    run_step(["genemail", "results", "ingest", "--campaign", str(log), "--events", str(events), "--db", str(db),
              "--no-export"], endpoint)
    report = work / f"{name}.report.json"
    run_step(["genemail", "results", "report", "--experiment", name, "--db", str(db), "--json", str(report)],
             endpoint, show=True)
    return json.loads(report.read_text(encoding="utf-8"))


def pushed_ref(output: str) -> str:
    """``repo@sha`` from the ``pushed ...`` line of ``genemail results preferences --push``."""
    line = next((ln for ln in output.splitlines() if ln.startswith("pushed ")), None)
    if line is None:
        raise HubError("the preference dataset was not pushed", where=PREFERENCES_REPO, fix="see the output above")
    return line.split()[1]


def fact_rates(sends: Any, customers: Path) -> dict[str, float]:
    """Per arm: the share of sent emails whose stated facts match the customer's profile."""
    from genemail.data import load_customers
    from genemail.evaluation.metrics import fact_consistency
    from genemail.generation.prompts import profile_from_row

    profiles = {str(r["customer_id"]): profile_from_row(r) for r in load_customers(customers).frame.to_dict("records")}
    out = {}
    for arm, part in sends[sends["email"].notna()].groupby("arm"):
        checks = [fact_consistency(e, profiles[c]).consistent for c, e in zip(part["customer_id"], part["email"])
                  if c in profiles]
        out[str(arm)] = sum(checks) / len(checks) if checks else float("nan")
    return out


def summary_table(report: dict[str, Any], send_log: Path, truth: Path, labels: tuple[str, str],
                  customers: Path | None = None) -> str:
    """v2 against v1 per segment: measured lift and decision, the truth's expected lift, phrase shares."""
    from genemail.experiments.content import expected_lift, expected_rates, phrase_shares, shares_by_arm
    from genemail.experiments.sendlog import read_send_log
    from genemail.experiments.simulate import load_truth

    sends, spec = read_send_log(send_log), load_truth(truth)
    true_lift = expected_lift(expected_rates(sends, spec), "segmented", "control")
    shares = shares_by_arm(phrase_shares(sends, spec))
    new, old = labels
    lines = [f"{'segment':<18} {old + ' clicks':>15} {new + ' clicks':>15} {'lift [95% CI]':>22} {'P(win)':>7} "
             f"{'true lift':>9}  decision", "-" * 104]
    for name, entry in [*report["segments"].items(), ("Overall", report["overall"])]:
        seg, ctl = entry["arms"]["segmented"], entry["arms"]["control"]
        lift, ci = entry["lift"]["estimate"], entry["lift"]["ci"]
        interval = "-" if lift is None or ci is None else f"{100 * lift:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
        truth_pts = true_lift.get(name)
        lines.append(f"{name:<18} {_rate(ctl):>15} {_rate(seg):>15} {interval:>22} "
                     f"{'-' if entry['p_win'] is None else format(entry['p_win'], '.2f'):>7} "
                     f"{'-' if truth_pts is None else format(100 * truth_pts, '+.1f'):>9}  {entry['decision']}")
    lines += ["", f"How often each truth phrase was written ({old} = control arm, {new} = segmented arm):"]
    for segment, phrases in sorted(shares.items()):
        for phrase, s in phrases.items():
            lines.append(f"  {segment:<18} {phrase:<6} effect {100 * s['effect']:+.0f} pts: "
                         f"{old} {_share(s.get('control'))} -> {new} {_share(s.get('segmented'))}")
    if customers is not None:
        facts = fact_rates(sends, customers)
        lines.append(f"Emails whose stated facts match the customer: {old} {_share(facts.get('control'))}, "
                     f"{new} {_share(facts.get('segmented'))}")
    return "\n".join(lines)


def _rate(arm: dict[str, Any]) -> str:
    return f"{arm['events']}/{arm['n']} {100 * arm['rate']:.1f}%" if arm["n"] else "-"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}%"


@app.command()
def loop(
    artifacts: Annotated[Path, typer.Option(help="Artifacts folder of v1 (built or reused).")] = Path("artifacts"),
    work: Annotated[Path | None, typer.Option(
        help="Folder for the loop's customers, send logs, pairs, next artifacts (default: ARTIFACTS/loop).")] = None,
    hub_root: Annotated[Path, typer.Option(help="Local Hub data folder.")] = Path(".hub"),
    hub_port: Annotated[int, typer.Option(help="Local Hub port.", min=1, max=65535)] = 8765,
    first_customers: Annotated[int, typer.Option(help="Customers of experiment 1 (v1: outcomes to learn from).",
                                                 min=500)] = 8000,
    second_customers: Annotated[int, typer.Option(help="Customers of experiment 2 (v2 against v1).", min=500)
                                ] = 10000,
    min_pairs: Annotated[int, typer.Option(help="Segments with fewer preference pairs are not tuned.")] = 30,
) -> None:
    """One turn of the loop: v1 -> experiment -> preferences -> DPO -> v2 -> v2 against v1."""
    t0, times = time.perf_counter(), {}
    work = work or artifacts / "loop"  # beside the v1 it turns, wherever that is
    check_port(demo.demo_hub_config(hub_root, hub_port))  # before the build: a taken port is refused at once
    tick = time.perf_counter()
    pipeline.run(pipeline.PipelineConfig(out=artifacts))
    times["build v1 (reused if built)"] = time.perf_counter() - tick
    with demo.demo_hub(hub_root, hub_port, who="loop") as hub:  # stopped when the loop ends, however it ends
        run_turn(hub.endpoint, artifacts, work, first_customers, second_customers, min_pairs, times)
    load = os.getloadavg()
    print("\n[loop] step seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    print(f"[loop] done in {time.perf_counter() - t0:.0f} s (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}); "
          f"files in {work}")


def run_turn(endpoint: str, artifacts: Path, work: Path, first_customers: int, second_customers: int,
             min_pairs: int, times: dict[str, float]) -> None:
    """Steps 1-5 against the Hub at ``endpoint``: publish v1, experiment, DPO, publish v2, v2 against v1."""
    from genemail.resources import RESOURCES_DIR

    tick = time.perf_counter()
    old = demo.publish(artifacts, endpoint)
    times["publish v1"] = time.perf_counter() - tick
    shutil.rmtree(work, ignore_errors=True)  # a re-run measures afresh
    work.mkdir(parents=True)
    truth = RESOURCES_DIR / "demo_truth.yaml"

    print(f"\n== Experiment 1: {RELEASE_REPO}@{old} on {first_customers} new customers (segmented vs baseline) ==")
    tick = time.perf_counter()
    first = f"loop-{old}"
    run_step(["genemail", "data", "synth", "--n", str(first_customers), "--seed", "201", "--out",
              str(work / "customers-1.csv")], endpoint)
    experiment(work, endpoint, first, work / "customers-1.csv", truth, 1,
               ["--release", RELEASE_REPO, "--revision", old, "--control", "0.2", "--holdout", "0.0"])
    times["experiment 1"] = time.perf_counter() - tick

    print("\n== Outcomes -> preference pairs -> DPO from each v1 adapter ==")
    tick = time.perf_counter()
    out = run_step(["genemail", "results", "preferences", "--experiment", first, "--db", str(work / "results.sqlite"),
                    "--customers", str(work / "customers-1.csv"), "--strategies", str(artifacts / "strategies.yaml"),
                    "--min-pairs", str(min_pairs), "--out", str(work / "preferences"), "--push", PREFERENCES_REPO],
                   endpoint, show=True)
    next_artifacts = work / "artifacts-next"
    run_step(["training.train_preference", "--artifacts", str(artifacts), "--preferences", pushed_ref(out),
              "--out", str(next_artifacts), "--no-progress"], endpoint, show=True)
    times["preferences + DPO"] = time.perf_counter() - tick
    tick = time.perf_counter()
    new = demo.publish(next_artifacts, endpoint)
    times["publish v2"] = time.perf_counter() - tick

    name = f"loop-{new}-vs-{old}"
    print(f"\n== Experiment 2: {new} (segmented arm) against {old} (control arm) on {second_customers} new customers ==")
    tick = time.perf_counter()
    run_step(["genemail", "data", "synth", "--n", str(second_customers), "--seed", "202", "--out",
              str(work / "customers-2.csv")], endpoint)
    same_base = content_only_truth(truth, work / "truth-content-only.yaml")
    report = experiment(work, endpoint, name, work / "customers-2.csv", same_base, 2,
                        ["--release", RELEASE_REPO, "--revision", new, "--control-release", RELEASE_REPO,
                         "--control-revision", old, "--control", "0.5", "--holdout", "0.0"])
    times["experiment 2"] = time.perf_counter() - tick

    print(f"\n== {new} against {old}, per segment (clicks; lift in points; true lift = what the truth implies "
          "for the emails sent) ==")
    print(summary_table(report, work / f"{name}.sendlog.jsonl", same_base, (new, old), work / "customers-2.csv"))


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
