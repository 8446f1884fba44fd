"""Campaigns as experiments: arm assignment, the send log, outcome events, the report, a simulator.

================  =========================================================================
module            job
================  =========================================================================
``assignment``    ``ExperimentConfig`` and ``assign_arms``: segmented / control / holdout
``sendlog``       the send log's schema, ``read_send_log``, ``send_log_row``
``events``        outcome event types, platform column mappings, row validation
``store``         ``ResultsStore``: send logs and events in SQLite (WAL), idempotent
``ids``           customer ids' normal form and how they are matched to the send log
``jsonshapes``    JSON arrays, API pages and webhook bodies as flat records
``ingest``        ``ingest_events``: send log + events file -> the store, exactly, or refused
``diagnose``      the likely cause of a refused events file
``health``        what a report stands on: ingests, counts, and whether a decision may be drawn
``stats``         intervals, tests, Holm / BH, ``compare`` (fixed or always-valid), sample size
``sequential``    the always-valid mixture test and confidence sequence
``srm``           the sample-ratio check (sequential Dirichlet-multinomial, or chi-square)
``cuped``         pre-period variance reduction from per-arm sums
``prior``         ``p_win`` under a skeptical prior for small lifts
``guardrails``    unsubscribe / complaint guardrails and their margins
``planning``      ``plan_experiment``: sizes for the report's analysis, with its assumptions
``daily_looks``   a team reading the report daily, simulated (the proof of the above)
``report``        ``experiment_report``, ``format_report``, ``cumulative_rates``, ``list_experiments``
``simulate``      ``simulate_events`` from a known truth (a documented response model)
================  =========================================================================

Names load on first use, so ``import genemail.experiments`` imports neither pandas nor statsmodels. The
export of results to a Hub dataset repo is :mod:`genemail.exports.results`, at the edge.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES: dict[str, str] = {
    "ARMS": "assignment", "CONTROL": "assignment", "HOLDOUT": "assignment", "SEGMENTED": "assignment",
    "ExperimentConfig": "assignment", "assign_arms": "assignment", "arm_of": "assignment",
    "SEND_LOG_FIELDS": "sendlog", "REQUIRED_FIELDS": "sendlog", "read_send_log": "sendlog",
    "send_log_row": "sendlog",
    "EVENT_TYPES": "events", "PROFILES": "events",
    "ResultsStore": "store",
    "IngestResult": "ingest", "IngestProgress": "ingest", "IngestThresholds": "ingest", "ingest_events": "ingest",
    "ingest_health": "health",
    "plan_sample_size": "stats", "DECISIONS": "stats", "plan_experiment": "planning",
    "GuardrailConfig": "guardrails", "LiftPrior": "prior",
    "experiment_report": "report", "format_report": "report", "cumulative_rates": "report",
    "list_experiments": "report",
    "Truth": "simulate", "load_truth": "simulate", "parse_truth": "simulate", "simulate_events": "simulate",
    "write_events": "simulate",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'genemail.experiments' has no attribute {name!r}")
    return getattr(importlib.import_module(f"genemail.experiments.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
