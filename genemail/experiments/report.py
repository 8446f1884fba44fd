"""The experiment report: per segment and overall, per arm rates with intervals, lifts, P(win), decision.

A customer counts once per metric (unique clickers, not clicks), and only for events at or after
their ``sent_at``; ``n`` is every customer assigned to the arm (intent to treat: bounces and
non-openers stay in the denominator; holdout ``n`` is the customers held out). Lifts are absolute
differences of rates (``segmented - control`` and ``segmented - holdout``).

* **Analysis**: ``sequential`` (default; always-valid intervals and p-values, valid however often
  the report is read) or ``fixed`` (for a sample size fixed in advance, read once).
* **As of**: with ``as_of`` only the customers sent and the events known at that time count, so
  the daily looks of a team can be replayed.
* **Covariates**: the send log's ``pre_*`` fields adjust every lift (CUPED); each metric reports the
  ``variance_reduction`` achieved (0 without covariates).
* **Sample ratio**: per scope, the customers with a delivery or bounce event in each arm against the
  assigned split; a mismatch gives ``srm_blocked`` and no decision.
* **One family**: the p-values of the segments with enough data and the overall line are adjusted
  together (Holm, or Benjamini-Hochberg).
* **Guardrails**: unsubscribes and complaints; a breached guardrail turns the decision into
  ``guardrail_breached``.

Methods: ``genemail.experiments.stats`` and the modules it names.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError, DataError
from genemail.experiments import cuped, srm, stats
from genemail.experiments.assignment import ARMS, CONTROL, HOLDOUT, SEGMENTED
from genemail.experiments.events import BOUNCE, CLICK, CONVERSION, DELIVERED, EVENT_TYPES, OPEN
from genemail.experiments.guardrails import GuardrailConfig, breached
from genemail.experiments.health import gate_decisions, health_lines, ingest_health
from genemail.experiments.ingest import IngestThresholds
from genemail.experiments.prior import DEFAULT_PRIOR, LiftPrior
from genemail.experiments.sendlog import covariate_frame
from genemail.experiments.sequential import DEFAULT_PLANNED_N
from genemail.experiments.store import ResultsStore
from genemail.experiments.times import to_iso

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ALL_SEGMENTS = "ALL"  # the segment label of pooled rows in cumulative_rates
OPEN_NOTE = ("opens are inflated by mail privacy proxies (e.g. Apple Mail Privacy Protection fetches every "
             "image, so 'opens' include emails nobody read); clicks are the primary metric")
SRM_NOTE = ("no delivery or bounce events: the sample-ratio check needs the platform's delivery events, "
            "ingest them to check that each arm was sent")


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


def parse_as_of(value: "str | Any | None") -> str | None:
    """``--as-of`` in the stored time form: ISO 8601 with an offset or ``Z`` (a date means its end, UTC)."""
    from datetime import datetime, time, timezone

    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and len(text) == 10:  # a bare date: everything known by the end of that day
            moment = datetime.combine(moment.date(), time(23, 59, 59, 999999), tzinfo=timezone.utc)
        if moment is None or moment.tzinfo is None:
            raise ConfigError(f"as_of={value!r} is not a time with a time zone", where="--as-of",
                              fix="pass e.g. 2025-03-08T09:00:00Z, 2025-03-08T17:00:00+08:00 or a UTC date 2025-03-08")
    return to_iso(moment)


def experiment_report(db_path: Path, experiment: str, metric: str = CLICK, min_n: int = stats.DEFAULT_MIN_N,
                      alpha: float = stats.DEFAULT_ALPHA, *, analysis: str = stats.SEQUENTIAL,
                      as_of: "str | Any | None" = None, multiplicity: str = stats.HOLM,
                      planned_n: int = DEFAULT_PLANNED_N, use_covariates: bool = True,
                      guardrails: GuardrailConfig | None = None, prior: LiftPrior = DEFAULT_PRIOR,
                      thresholds: IngestThresholds | None = None) -> dict[str, Any]:
    """The report of one experiment as a JSON-ready dict (shape in docs/EXPERIMENTS.md).

    ``thresholds`` are the shares of bad and unmatched rows above which a stored events file blocks
    every decision (``genemail.experiments.health``; so does an unfinished ingest).
    """
    import numpy as np

    _check_metric(metric, min_n, alpha)
    if analysis not in stats.ANALYSES:
        raise ConfigError(f"analysis={analysis!r} is invalid", where="--analysis", fix="pass sequential or fixed")
    if multiplicity not in stats.MULTIPLICITY:
        raise ConfigError(f"multiplicity={multiplicity!r} is invalid", where="--multiplicity", fix="pass holm or bh")
    if isinstance(planned_n, bool) or not isinstance(planned_n, int) or planned_n < 1:
        raise ConfigError(f"planned_n={planned_n!r} is invalid", where="--planned-n",
                          fix="pass the recipients per arm the experiment was planned for (genemail results plan)")
    guardrails = guardrails or GuardrailConfig()
    cutoff = parse_as_of(as_of)
    store = _open_store(db_path, experiment)
    people = store.recipients(experiment, cutoff)
    if people.empty:
        raise DataError(f"no customer of {experiment!r} was sent at or before {cutoff}", where=str(db_path),
                        fix="pass a later --as-of (the send log's sent_at times are when each customer was sent)")
    metrics = [metric, *[m for m in guardrails.margins if m != metric]]
    data = _CustomerData.load(store, experiment, people, metrics, cutoff, use_covariates)
    options = {"analysis": analysis, "alpha": alpha, "planned_n": planned_n}
    result = data.compare(metric, min_n=min_n, multiplicity=multiplicity, prior=prior, **options)
    holdout = data.difference(metric, SEGMENTED, HOLDOUT, **options)
    guards = {m: data.difference(m, SEGMENTED, CONTROL, **options) for m in guardrails.margins}
    entries = []
    for i, name in enumerate([*data.segments, None]):
        entry = data.entry(i, metric, result, holdout, options)
        entry["guardrails"] = {m: _guardrail(guards[m], i, guardrails.margins[m]) for m in guardrails.margins}
        if entry["decision"] in (stats.SIGNIFICANT_WIN, stats.SIGNIFICANT_LOSS, stats.INCONCLUSIVE) and any(
                g["breached"] for g in entry["guardrails"].values()):
            entry["decision"] = stats.GUARDRAIL_BREACHED
        entries.append(entry)
    notes = [OPEN_NOTE] if metric in (OPEN, CLICK) else []
    if not data.has_deliveries:
        notes.append(SRM_NOTE)
    report = {
        "experiment": experiment, "metric": metric, "min_n": min_n, "alpha": alpha, "analysis": analysis,
        "as_of": cutoff, "multiplicity": multiplicity,
        "planned_n": planned_n if analysis == stats.SEQUENTIAL else None,
        "covariates": data.covariate_names, "prior": prior.to_dict(),
        "guardrail_margins": dict(guardrails.margins),
        "release": store.releases(experiment), "notes": notes,
        "segments": dict(zip(data.segments, entries[:-1])), "overall": entries[-1],
        "n_customers": int(len(people)),
    }
    return gate_decisions(report, ingest_health(store, experiment, thresholds))


def _guardrail(diff: dict[str, "np.ndarray"], i: int, margin: float) -> dict[str, Any]:
    ci = _pair((diff["ci_low"], diff["ci_high"]), i)
    return {"delta": _num(diff["estimate"][i]), "ci": ci, "margin": margin,
            "breached": breached(None if ci is None else ci[0], margin),
            "variance_reduction": round(float(diff["reduction"][i]), 4)}


class _CustomerData:
    """Per customer: scope (segment index), arm, outcome indicators per metric, revenue, covariates;
    and the per-scope sums every statistic is computed from (scopes = the segments, then overall)."""

    def __init__(self, segments: list[str], scope: "np.ndarray", arm: "np.ndarray", hits: dict[str, "np.ndarray"],
                 revenue: "np.ndarray", seen: "np.ndarray", covariates: "np.ndarray", names: list[str]) -> None:
        self.segments, self.scope, self.arm, self.hits = segments, scope, arm, hits
        self.revenue, self.seen, self.x, self.covariate_names = revenue, seen, covariates, names
        self.has_deliveries = bool(seen.any())
        self._cache: dict[tuple[str, str], tuple["np.ndarray", "np.ndarray"]] = {}

    @classmethod
    def load(cls, store: ResultsStore, experiment: str, people: "pd.DataFrame", metrics: list[str],
             cutoff: str | None, use_covariates: bool) -> "_CustomerData":
        import numpy as np

        types = tuple(dict.fromkeys([*metrics, DELIVERED, BOUNCE, CONVERSION]))
        firsts = store.customer_firsts(experiment, types, cutoff)
        ids = people["customer_id"]
        hits = {t: ids.isin(firsts.loc[firsts["event_type"] == t, "customer_id"]).to_numpy() for t in types}
        money = firsts[firsts["event_type"] == CONVERSION].set_index("customer_id")["revenue"]
        revenue = ids.map(money).fillna(0.0).to_numpy(dtype=float)
        segments = sorted(set(people["segment"]))
        scope = people["segment"].map({s: i for i, s in enumerate(segments)}).to_numpy()
        x, names = np.zeros((len(people), 0)), []
        if use_covariates:
            frame = covariate_frame(people)
            frame = frame.loc[:, frame.notna().any() & (frame.nunique() > 1)]  # a constant explains nothing
            if frame.shape[1]:
                names = sorted(frame.columns)
                # An unknown value counts as the experiment's mean: covariates are fixed before the
                # send, so any fill keeps the adjusted lift unbiased; the mean keeps it efficient.
                x = frame[names].fillna(frame[names].mean()).to_numpy(dtype=float)
        return cls(segments, scope, people["arm"].to_numpy(), hits, revenue, hits[DELIVERED] | hits[BOUNCE], x, names)

    def _sums(self, values: "np.ndarray", arm: str) -> "np.ndarray":
        """Per scope (segments, then overall): the sum of ``values`` (n,) or (n, ...) over the arm's customers."""
        import numpy as np

        mask = self.arm == arm
        scopes = len(self.segments)
        out = np.zeros((scopes + 1, *values.shape[1:]))
        np.add.at(out, self.scope[mask], values[mask])
        out[-1] = out[:-1].sum(axis=0)
        return out

    def counts(self, metric: str, arm: str) -> tuple["np.ndarray", "np.ndarray"]:
        """(n, events) per scope."""
        import numpy as np

        if (metric, arm) not in self._cache:
            self._cache[metric, arm] = (self._sums(np.ones(len(self.arm)), arm),
                                        self._sums(self.hits[metric].astype(float), arm))
        return self._cache[metric, arm]

    def moments(self, metric: str, arm: str) -> cuped.Moments:
        """The CUPED sums of one arm per scope."""
        import numpy as np

        y, x = self.hits[metric].astype(float), self.x
        return cuped.Moments(n=self._sums(np.ones(len(y)), arm), y=self._sums(y, arm), yy=self._sums(y, arm),
                             x=self._sums(x, arm), xx=self._sums(x[:, :, None] * x[:, None, :], arm),
                             xy=self._sums(x * y[:, None], arm))

    def _adjustment(self, metric: str, first: str, second: str) -> cuped.Adjustment | None:
        if not self.covariate_names:
            return None
        return cuped.adjust(self.moments(metric, first), self.moments(metric, second))

    def difference(self, metric: str, first: str, second: str, **options: Any) -> dict[str, "np.ndarray"]:
        """``first - second`` per scope, regression-adjusted when there are covariates."""
        (n1, x1), (n2, x2) = self.counts(metric, first), self.counts(metric, second)
        return stats.difference(x1, n1, x2, n2, adjustment=self._adjustment(metric, first, second), **options)

    def compare(self, metric: str, *, min_n: int, multiplicity: str, prior: LiftPrior,
                **options: Any) -> dict[str, Any]:
        """Segmented vs control per scope with the sample-ratio check; the scopes form one family."""
        import numpy as np

        (n1, x1), (n2, x2) = self.counts(metric, SEGMENTED), self.counts(metric, CONTROL)
        seen = self.seen.astype(float)
        check = srm.check(np.stack([n1, n2], axis=-1), np.stack([self._sums(seen, SEGMENTED), self._sums(seen, CONTROL)],
                                                                 axis=-1),
                          sequential=options["analysis"] == stats.SEQUENTIAL)
        result = stats.compare(x1, n1, x2, n2, min_n=min_n, multiplicity=multiplicity, prior=prior,
                               adjustment=self._adjustment(metric, SEGMENTED, CONTROL), blocked=check.blocked,
                               **options)
        result["srm"] = check
        return result

    def entry(self, i: int, metric: str, result: dict[str, Any], holdout: dict[str, "np.ndarray"],
              options: dict[str, Any]) -> dict[str, Any]:
        """The report entry of scope ``i``."""
        arms = {}
        for arm in ARMS:
            n, events = self.counts(metric, arm)
            low, high = stats.rate_ci(events, n, **options)
            arms[arm] = {"n": int(n[i]), "events": int(events[i]),
                         "rate": _num(events[i] / n[i]) if n[i] > 0 else None, "ci": _pair((low, high), i),
                         "revenue": round(float(self._sums(self.revenue, arm)[i]), 2)}
        return {
            "arms": arms,
            "lift": {"estimate": _num(result["lift"][i]), "ci": _pair((result["ci_low"], result["ci_high"]), i)},
            "lift_vs_holdout": {"estimate": _num(holdout["estimate"][i]),
                                "ci": _pair((holdout["ci_low"], holdout["ci_high"]), i)},
            "variance_reduction": round(float(result["variance_reduction"][i]), 4),
            "p_win": _num(result["p_win"][i]), "p_value": _num(result["p_value"][i]),
            "p_value_adj": _num(result["p_value_adj"][i]), "decision": str(result["decision"][i]),
            "srm": _srm_entry(result["srm"], i),
        }


def _srm_entry(check: srm.SrmResult, i: int) -> dict[str, Any]:
    expected = {arm: round(float(check.expected[i, k]), 1) for k, arm in enumerate((SEGMENTED, CONTROL))}
    observed = {arm: int(check.observed[i, k]) for k, arm in enumerate((SEGMENTED, CONTROL))}
    blocked = bool(check.blocked[i])
    lost = None
    if blocked:
        k = int(check.lost[i].argmax())
        lost = {"arm": (SEGMENTED, CONTROL)[k], "sends": int(round(float(check.lost[i, k])))}
    return {"p_value": _num(check.p_value[i]), "blocked": blocked, "expected": expected, "observed": observed,
            "lost": lost, "check": srm.CHECKS if blocked else None}


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


def _srm_text(srm_entry: dict[str, Any]) -> str:
    p = srm_entry["p_value"]
    return "SRM not checked" if p is None else f"SRM p {p:.2g}"


def _blocked_text(srm_entry: dict[str, Any]) -> str:
    lost, expected, observed = srm_entry["lost"], srm_entry["expected"], srm_entry["observed"]
    arm = lost["arm"]
    return (f"srm_blocked: {arm} lost about {lost['sends']:,} sends ({observed[arm]:,} delivered or bounced, "
            f"{expected[arm]:,.0f} expected from the assignment; p {srm_entry['p_value']:.2g}); {srm_entry['check']}")


def format_line(name: str, entry: dict[str, Any], metric: str, min_n: int) -> str:
    """One line: segmented rate vs control, lift, variance reduction, P(win), SRM check and the decision."""
    seg, ctl, hold = (entry["arms"][a] for a in (SEGMENTED, CONTROL, HOLDOUT))
    text = (f"{name}: {metric} {_pct(seg['rate'])} {_interval(seg['ci'])} vs control {_pct(ctl['rate'])} "
            f"{_interval(ctl['ci'])}")
    if entry["decision"] == stats.SRM_BLOCKED:
        return f"{text} → {_blocked_text(entry['srm'])}"
    if entry["decision"] == stats.NOT_ENOUGH_DATA:
        return f"{text} → not_enough_data (n = {seg['n']} and {ctl['n']}, a decision needs {min_n} per arm)"
    lift = entry["lift"]
    text += f", lift {_points(lift['estimate'])} {_interval(lift['ci'])}"
    if entry.get("variance_reduction", 0) > 0.005:
        text += f" (covariates cut its variance {entry['variance_reduction']:.0%})"
    if hold["n"]:
        text += f" (vs holdout {_points(entry['lift_vs_holdout']['estimate'])} {_interval(entry['lift_vs_holdout']['ci'])})"
    p_win = entry["p_win"]
    text += f", P(win) {'-' if p_win is None else f'{p_win:.2f}'}, {_srm_text(entry['srm'])} → {entry['decision']}"
    if entry["decision"] == stats.GUARDRAIL_BREACHED:
        text += ": " + "; ".join(f"{m} {_points(g['delta'])} {_interval(g['ci'])} above its margin {_points(g['margin'])}"
                                 for m, g in entry["guardrails"].items() if g["breached"])
    return text


def format_report(report: dict[str, Any]) -> str:
    """The report as text: a header, notes, one line per segment, then the overall line."""
    metric, min_n = report["metric"], report["min_n"]
    sequential_analysis = report.get("analysis", stats.SEQUENTIAL) == stats.SEQUENTIAL
    kind = "always-valid (valid however often you look)" if sequential_analysis else "fixed-horizon (read once)"
    family = "Holm" if report.get("multiplicity", stats.HOLM) == stats.HOLM else "Benjamini-Hochberg"
    lines = health_lines(report)  # first: whether a decision may be drawn at all, and what the data stands on
    lines += [f"Experiment {report['experiment']}: {metric} rate per arm with 95% {kind} intervals; lift = segmented - "
             f"control; decisions at alpha {report['alpha']} ({family} over the segments and the overall line), at "
             f"least {min_n} per arm."]
    details = []
    if report.get("as_of"):
        details.append(f"as of {report['as_of']}")
    if report.get("covariates"):
        details.append(f"lifts adjusted for {', '.join(report['covariates'])} (CUPED)")
    if sequential_analysis and report.get("planned_n"):
        details.append(f"intervals tuned for {report['planned_n']:,} per arm")
    if report.get("guardrail_margins"):
        details.append("guardrails: " + ", ".join(f"{m} (margin {_points(v)})"
                                                  for m, v in report["guardrail_margins"].items()))
    if details:
        text = "; ".join(details)
        lines.append(text[0].upper() + text[1:] + ".")
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
