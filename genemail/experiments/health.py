"""What a report stands on: an experiment's ingests, their counts, and whether a decision may be drawn.

Per events file (by file name; the latest run of each counts, so a re-run replaces a crashed run):
its status (``finished``, ``refused``: nothing stored, ``unfinished``: killed or still running, part
of it stored), rows read, events added, duplicates, bad rows, rows of customers not in the send log,
conversions with their amount missing. A report gives **no decision** (every decision becomes
:data:`INGEST_BLOCKED`) and says why at the top when:

* an ingest did not finish (its file is only partly stored);
* a stored file has more bad or unmatched rows than the thresholds (the ingest's, default 5%: such a
  file is stored only when the ingest was told to accept more);
* no events file has been ingested.

A refused file stored nothing and blocks nothing; the report lists it, since its events are missing.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from genemail.experiments.ingest import IngestThresholds
from genemail.experiments.store import FINISHED, REFUSED, ResultsStore

INGEST_BLOCKED = "ingest_blocked"
UNFINISHED = "unfinished"


def _file_name(path: str) -> str:
    return PurePath(path.replace("\\", "/")).name


def ingest_health(store: ResultsStore, experiment: str, thresholds: IngestThresholds | None = None) -> dict[str, Any]:
    """The ingest health of ``experiment`` as a JSON-ready dict (see the module docstring)."""
    thresholds = thresholds or IngestThresholds()
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in store.ingests(experiment):
        runs.setdefault(_file_name(run["events_file"]), []).append(run)
    by_source = store.events_by_source(experiment)
    files, problems, warnings = [], [], []
    for name, attempts in runs.items():
        run = attempts[-1]
        result = run["result"] or {}
        status = run.get("outcome") or (FINISHED if run["finished_at"] else UNFINISHED)
        outcome_rows = result.get("outcome_rows", result.get("read", 0) - sum((result.get("skipped") or {}).values()))
        unmatched = result.get("unmatched", result.get("unknown_customer_events", 0))
        # Events the file brought (stored under its name, whichever of its runs stored them); the rest of its
        # valid rows were duplicates. Stable when the same file is ingested again.
        events = by_source.get(name, 0)
        valid = outcome_rows - result.get("bad", 0) if result else None
        entry = {"file": name, "status": status, "read": result.get("read"), "events": events,
                 "duplicates": None if status != FINISHED else max(valid - events, 0),
                 "bad": result.get("bad"), "unmatched": unmatched if result else None,
                 "revenue_missing": result.get("revenue_missing", 0),
                 "bad_share": (result.get("bad", 0) / outcome_rows) if outcome_rows else 0.0,
                 "unmatched_share": (unmatched / outcome_rows) if outcome_rows else 0.0}
        files.append(entry)
        if status == UNFINISHED:
            problems.append(f"the ingest of {name} started at {run['started_at']} did not finish (killed, or still "
                            "running): part of the file is stored; run the same ingest again, it adds only what is "
                            "missing")
        elif status == REFUSED:
            warnings.append(f"{name} was refused and nothing from it is stored: {result.get('refusal') or '?'}")
        else:
            if entry["bad_share"] > thresholds.max_bad_share:
                problems.append(f"{name}: {entry['bad']} bad rows ({entry['bad_share']:.1%}), above the "
                                f"{thresholds.max_bad_share:.0%} threshold")
            if entry["unmatched_share"] > thresholds.max_unmatched_share:
                problems.append(f"{name}: {unmatched} rows of customers not in the send log "
                                f"({entry['unmatched_share']:.1%}), above the {thresholds.max_unmatched_share:.0%} "
                                "threshold")
    if not any(f["status"] == FINISHED for f in files):
        problems.append("no events file has been ingested for this experiment")
    stored = [f for f in files if f["status"] != REFUSED]
    return {
        "files": files, "events_stored": store.count_events(experiment),
        "files_ingested": sum(f["status"] == FINISHED for f in files),
        **{key: sum(f[key] or 0 for f in stored) for key in ("read", "duplicates", "bad", "unmatched",
                                                              "revenue_missing")},
        "unfinished": sum(f["status"] == UNFINISHED for f in files),
        "refused": sum(f["status"] == REFUSED for f in files),
        "thresholds": {"max_bad_share": thresholds.max_bad_share,
                       "max_unmatched_share": thresholds.max_unmatched_share},
        "problems": problems, "warnings": warnings, "blocked": bool(problems),
    }


def gate_decisions(report: dict[str, Any], health: dict[str, Any]) -> dict[str, Any]:
    """Attach ``health`` to ``report`` as ``"ingest"``; when it is blocked, no entry keeps a decision."""
    report["ingest"] = health
    if health["blocked"]:
        for entry in [*report["segments"].values(), report["overall"]]:
            entry["decision"] = INGEST_BLOCKED
    return report


def health_lines(report: dict[str, Any]) -> list[str]:
    """The lines a text report starts with: no decision and why, then what the data stands on."""
    health = report.get("ingest")
    if not health:
        return []
    lines = []
    if health["blocked"]:
        lines.append("NO DECISION: " + "; ".join(health["problems"]) + ".")
    lines.append(f"Ingest: {health['files_ingested']} file(s) ingested, {health['events_stored']} events stored; "
                 f"{health['read']} rows read, {health['duplicates']} duplicates, {health['bad']} bad, "
                 f"{health['unmatched']} of customers not in the send log, {health['revenue_missing']} conversions "
                 f"without an amount, {health['unfinished']} ingest(s) unfinished, {health['refused']} file(s) "
                 "refused.")
    lines += [f"Warning: {w}." for w in health["warnings"]]
    return lines
