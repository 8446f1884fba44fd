"""The experiment report: per segment and overall, per arm rates with intervals, lifts, P(win), decision.

A customer counts once per metric (unique clickers, not clicks), and only for events at or after
their ``sent_at``; ``n`` is every customer assigned to the arm (intent to treat: bounces and
non-openers stay in the denominator; holdout ``n`` is the customers held out). Lifts are absolute
differences of rates (``segmented - control`` and ``segmented - holdout``). The p-values of the
segments that have enough data are Holm-adjusted together; ``overall`` is its own (single)
hypothesis, so its adjusted p-value is its raw one. Methods: ``genemail.experiments.stats``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError, DataError
from genemail.experiments import stats
from genemail.experiments.assignment import ARMS, CONTROL, HOLDOUT, SEGMENTED
from genemail.experiments.events import CLICK, EVENT_TYPES, OPEN
from genemail.experiments.store import ResultsStore

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ALL_SEGMENTS = "ALL"  # the segment label of pooled rows in cumulative_rates
OPEN_NOTE = ("opens are inflated by mail privacy proxies (e.g. Apple Mail Privacy Protection fetches every "
             "image, so 'opens' include emails nobody read); clicks are the primary metric")


def list_experiments(db_path: Path) -> list[str]:
    """Experiments recorded in the results database (empty when the file does not exist yet)."""
    if not Path(db_path).is_file():
        return []
    return ResultsStore(Path(db_path)).experiments()


def _open_store(db_path: Path, experiment: str) -> ResultsStore:
    if not Path(db_path).is_file():
        raise DataError("no results database here", where=str(db_path),
                        fix="run `genemail results ingest --campaign SENDLOG --events FILE --db PATH` first")
    store = ResultsStore(Path(db_path))
    known = store.experiments()
    if experiment not in known:
        raise DataError(f"experiment {experiment!r} is not in the results database (it has: "
                        f"{', '.join(known) or 'none'})", where=str(db_path),
                        fix="pass one of those names with --experiment, or ingest its send log first")
    return store


def _check_metric(metric: str, min_n: int, alpha: float = stats.DEFAULT_ALPHA) -> None:
    if metric not in EVENT_TYPES:
        raise ConfigError(f"metric={metric!r} is invalid", where="report", fix=f"pass one of {', '.join(EVENT_TYPES)}")
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1:
        raise ConfigError(f"min_n={min_n!r} is invalid", where="report", fix="pass a positive number of recipients")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha!r} is invalid", where="report", fix="pass alpha in (0, 1), e.g. 0.05")


def experiment_report(db_path: Path, experiment: str, metric: str = CLICK, min_n: int = stats.DEFAULT_MIN_N,
                      alpha: float = stats.DEFAULT_ALPHA) -> dict[str, Any]:
    """The report of one experiment as a JSON-ready dict (shape in docs/EXPERIMENTS.md)."""
    _check_metric(metric, min_n, alpha)
    store = _open_store(db_path, experiment)
    counts = store.arm_counts(experiment, metric)
    segments = sorted(set(counts["segment"]))
    table = counts.pivot_table(index="segment", columns="arm", values=["n", "events", "revenue"],
                               aggfunc="sum", fill_value=0).reindex(segments)
    per_segment = {arm: {k: _column(table, k, arm) for k in ("n", "events", "revenue")} for arm in ARMS}
    total = {arm: {k: v.sum(keepdims=True) for k, v in cols.items()} for arm, cols in per_segment.items()}
    seg_groups = _groups(per_segment, min_n, alpha, adjust=True)
    overall = _groups(total, min_n, alpha, adjust=False)[0]
    notes = [OPEN_NOTE] if metric in (OPEN, CLICK) else []
    return {
        "experiment": experiment, "metric": metric, "min_n": min_n, "alpha": alpha,
        "release": store.releases(experiment), "notes": notes,
        "segments": dict(zip(segments, seg_groups)), "overall": overall,
        "n_customers": int(sum(per_segment[a]["n"].sum() for a in ARMS)),
    }


def _column(table: "pd.DataFrame", value: str, arm: str) -> "np.ndarray":
    import numpy as np

    if (value, arm) not in table.columns:
        return np.zeros(len(table))
    return table[(value, arm)].to_numpy(dtype=float)


def _groups(arms: dict[str, dict[str, "np.ndarray"]], min_n: int, alpha: float, adjust: bool) -> list[dict[str, Any]]:
    """One report entry per position of the arrays (a segment, or the single overall entry)."""
    import numpy as np

    seg, ctl, hold = arms[SEGMENTED], arms[CONTROL], arms[HOLDOUT]
    rate_ci = {arm: stats.wilson_ci(a["events"], a["n"], alpha) for arm, a in arms.items()}
    result = stats.compare(seg["events"], seg["n"], ctl["events"], ctl["n"], min_n=min_n, alpha=alpha, adjust=adjust)
    hold_ci = stats.diff_ci(seg["events"], seg["n"], hold["events"], hold["n"], alpha)
    rates = {arm: np.divide(a["events"], a["n"], out=np.full(a["n"].shape, np.nan), where=a["n"] > 0)
             for arm, a in arms.items()}
    out = []
    for i in range(len(seg["n"])):
        out.append({
            "arms": {arm: {"n": int(a["n"][i]), "events": int(a["events"][i]), "rate": _num(rates[arm][i]),
                           "ci": _pair(rate_ci[arm], i), "revenue": round(float(a["revenue"][i]), 2)}
                     for arm, a in arms.items()},
            "lift": {"estimate": _num(result["lift"][i]), "ci": _pair((result["ci_low"], result["ci_high"]), i)},
            "lift_vs_holdout": {"estimate": _num(rates[SEGMENTED][i] - rates[HOLDOUT][i]), "ci": _pair(hold_ci, i)},
            "p_win": _num(stats.p_win(int(seg["events"][i]), int(seg["n"][i]), int(ctl["events"][i]),
                                      int(ctl["n"][i]))),
            "p_value": _num(result["p_value"][i]), "p_value_adj": _num(result["p_value_adj"][i]),
            "decision": str(result["decision"][i]),
        })
    return out


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _pair(ci: tuple["np.ndarray", "np.ndarray"], i: int) -> list[float] | None:
    low, high = _num(ci[0][i]), _num(ci[1][i])
    return None if low is None or high is None else [low, high]


# --- text --------------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _interval(ci: list[float] | None, scale: float = 100.0) -> str:
    return "[-]" if ci is None else f"[{scale * ci[0]:.1f}, {scale * ci[1]:.1f}]"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} pts"


def format_line(name: str, entry: dict[str, Any], metric: str, min_n: int) -> str:
    """One line: segmented rate vs control, lift, P(win) and the decision."""
    seg, ctl, hold = (entry["arms"][a] for a in (SEGMENTED, CONTROL, HOLDOUT))
    text = (f"{name}: {metric} {_pct(seg['rate'])} {_interval(seg['ci'])} vs control {_pct(ctl['rate'])} "
            f"{_interval(ctl['ci'])}")
    if entry["decision"] == stats.NOT_ENOUGH_DATA:
        return f"{text} → not_enough_data (n = {seg['n']} and {ctl['n']}, a decision needs {min_n} per arm)"
    lift = entry["lift"]
    text += f", lift {_points(lift['estimate'])} {_interval(lift['ci'])}"
    if hold["n"]:
        text += f" (vs holdout {_points(entry['lift_vs_holdout']['estimate'])} {_interval(entry['lift_vs_holdout']['ci'])})"
    p_win = entry["p_win"]
    return f"{text}, P(win) {'-' if p_win is None else f'{p_win:.2f}'} → {entry['decision']}"


def format_report(report: dict[str, Any]) -> str:
    """The report as text: a header, notes, one line per segment, then the overall line."""
    metric, min_n = report["metric"], report["min_n"]
    lines = [f"Experiment {report['experiment']}: {metric} rate per arm with 95% intervals; lift = segmented - "
             f"control; decisions at alpha {report['alpha']} (Holm over segments), at least {min_n} per arm."]
    lines += [f"Note: {note}." for note in report.get("notes", [])]
    lines += [format_line(name, entry, metric, min_n) for name, entry in report["segments"].items()]
    lines.append(format_line("Overall", report["overall"], metric, min_n))
    return "\n".join(lines)


# --- over time ---------------------------------------------------------------------------------
def cumulative_rates(db_path: Path, experiment: str, metric: str = CLICK) -> "pd.DataFrame":
    """Cumulative ``metric`` rate over time per segment and arm, plus pooled ``segment="ALL"`` rows.

    Columns: time (UTC), segment, arm, n (recipients), events (customers with a first event so far),
    rate. Each group starts at its first send with 0 events, then has one row per first event.
    """
    import pandas as pd

    _check_metric(metric, 1)
    store = _open_store(db_path, experiment)
    sends = store.sends(experiment)[["customer_id", "segment", "arm", "sent_at"]]
    firsts = store.first_events(experiment, metric)
    frames = []
    for sent, hits in [(sends, firsts),
                       (sends.assign(segment=ALL_SEGMENTS), firsts.assign(segment=ALL_SEGMENTS))]:
        n = sent.groupby(["segment", "arm"]).size().rename("n")
        start = sent.groupby(["segment", "arm"])["sent_at"].min().rename("time").reset_index().assign(events=0)
        hits = hits.sort_values("time").assign(events=1)
        hits["events"] = hits.groupby(["segment", "arm"])["events"].cumsum()
        frame = pd.concat([start, hits[["segment", "arm", "time", "events"]]], ignore_index=True)
        frames.append(frame.join(n, on=["segment", "arm"]))
    out = pd.concat(frames, ignore_index=True)
    out["time"] = pd.to_datetime(out["time"], format="ISO8601", utc=True)
    out["rate"] = out["events"] / out["n"]
    out = out.sort_values(["segment", "arm", "time", "events"], kind="stable").reset_index(drop=True)
    return out[["time", "segment", "arm", "n", "events", "rate"]]
