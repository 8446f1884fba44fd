"""A team that reads the report every day: simulated with a known truth, vectorized over thousands of runs.

The scenario the report must survive (defaults of :class:`LooksScenario`):

* **14 daily looks**, the report re-run at the end of each day;
* **a growing population**: each day a new cohort is sent (per segment and arm, ``first_cohort`` +
  ``growth`` x day customers; the arm of each customer is a fair coin, as the assignment hash is);
* **clicks that arrive over days**: a customer who will click does so ``d`` days after the send
  with probability ∝ ``delay_decay ** d`` (half on the first day, a quarter on the second, ...);
* five segments with different click rates, plus the overall line (the sum of the segments).

Every look goes through :func:`genemail.experiments.stats.compare` on the counts known at that
look, exactly as ``genemail results report --as-of`` would compute them. The arrays have the shape
``(runs, looks, scopes)`` with the overall line as the last scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from genemail.experiments import cuped, srm, stats

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class LooksScenario:
    """Sizes, rates and arrival of a simulated experiment read daily (see the module docstring)."""

    rates: tuple[float, ...] = (0.02, 0.03, 0.05, 0.06, 0.08)  # control click rate per segment
    lifts: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)      # true segmented - control, per segment
    looks: int = 14
    first_cohort: int = 100   # customers per arm and segment sent on the first day
    growth: int = 20          # ... and this many more each following day
    delay_decay: float = 0.5  # P(click on day d after the send) ∝ delay_decay ** d
    min_n: int = stats.DEFAULT_MIN_N
    alpha: float = stats.DEFAULT_ALPHA
    planned_n: float = stats.sequential.DEFAULT_PLANNED_N
    multiplicity: str = stats.HOLM

    def cohort_sizes(self) -> "np.ndarray":
        """Customers per arm and segment sent on each day (expected; the split is a coin)."""
        import numpy as np

        return self.first_cohort + self.growth * np.arange(self.looks)

    def delay_cdf(self) -> "np.ndarray":
        """P(a clicker has clicked within ``d`` days of the send), d = 0 .. looks - 1."""
        import numpy as np

        weights = self.delay_decay ** np.arange(self.looks)
        return np.cumsum(weights) / weights.sum()


@dataclass(frozen=True)
class LookCounts:
    """Counts known at each look: arrays ``(runs, looks, scopes)`` (overall last); ``truth`` ``(looks, scopes)``."""

    seg_n: "np.ndarray"
    seg_events: "np.ndarray"
    ctl_n: "np.ndarray"
    ctl_events: "np.ndarray"
    truth: "np.ndarray"


def simulate_looks(scenario: LooksScenario, runs: int, seed: int) -> LookCounts:
    """Draw ``runs`` experiments of ``scenario`` and count what each look knows.

    ``truth`` is the expected lift *of what can be known at that look*: the click rate by then,
    ``(p_seg - p_ctl)`` times the share of clicks that have arrived, averaged over the cohorts.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    looks, segments = scenario.looks, len(scenario.rates)
    sizes = scenario.cohort_sizes()                                   # (looks,) per arm, expected
    seg_cohort = rng.binomial(2 * sizes, 0.5, (runs, segments, looks))  # coin per customer
    ctl_cohort = 2 * sizes - seg_cohort
    rates = np.asarray(scenario.rates)[None, :, None]
    lifts = np.asarray(scenario.lifts)[None, :, None]
    weights = scenario.delay_decay ** np.arange(looks)
    pvals = weights / weights.sum()
    events = []
    for n_cohort, p in ((seg_cohort, rates + lifts), (ctl_cohort, rates)):
        clickers = rng.binomial(n_cohort, np.broadcast_to(p, n_cohort.shape))       # (runs, seg, cohort)
        by_delay = rng.multinomial(clickers, pvals)                                 # (runs, seg, cohort, delay)
        arrived = np.cumsum(by_delay, axis=-1)                                      # clicked within d days
        known = np.zeros((runs, segments, looks))
        for k in range(looks):  # look k knows cohort j's clicks within k - j days
            j = np.arange(k + 1)
            known[..., k] = arrived[:, :, j, k - j].sum(axis=-1)
        events.append(known)
    seg_n, ctl_n = np.cumsum(seg_cohort, axis=-1), np.cumsum(ctl_cohort, axis=-1)

    def scopes(a: "np.ndarray") -> "np.ndarray":  # (runs, seg, looks) -> (runs, looks, seg + overall)
        a = np.moveaxis(a, 1, 2).astype(float)
        return np.concatenate([a, a.sum(axis=-1, keepdims=True)], axis=-1)

    cdf = scenario.delay_cdf()
    share = np.array([(sizes[: k + 1] * cdf[k - np.arange(k + 1)]).sum() / sizes[: k + 1].sum()
                      for k in range(looks)])                              # arrived share at look k
    seg_truth = share[:, None] * np.asarray(scenario.lifts)[None, :]
    weights_seg = np.ones(segments) / segments  # equal expected sizes: the overall lift is the mean
    truth = np.concatenate([seg_truth, (seg_truth * weights_seg).sum(axis=-1, keepdims=True)], axis=-1)
    return LookCounts(seg_n=scopes(seg_n), seg_events=scopes(events[0]), ctl_n=scopes(ctl_n),
                      ctl_events=scopes(events[1]), truth=truth)


def analyze(counts: LookCounts, scenario: LooksScenario, analysis: str) -> dict[str, "np.ndarray"]:
    """``stats.compare`` at every look of every run (the family: the segments and the overall line)."""
    return stats.compare(counts.seg_events, counts.seg_n, counts.ctl_events, counts.ctl_n, analysis=analysis,
                         min_n=scenario.min_n, alpha=scenario.alpha, planned_n=scenario.planned_n,
                         multiplicity=scenario.multiplicity)


@dataclass(frozen=True)
class PeekingResult:
    """A/A read daily: how often a false result appeared at *some* look (counts out of ``runs``)."""

    runs: int
    segments: int
    segment_wins: int     # (run, segment) pairs with a significant_win at some look
    report_wins: int      # runs with a significant_win in any scope (segments or overall) at some look
    report_any: int       # runs with any significant result in any scope at some look
    overall_wins: int     # runs whose overall line showed a significant_win at some look


def peeking(analysis: str, runs: int = 4000, seed: int = 23, scenario: LooksScenario | None = None) -> PeekingResult:
    """A/A (no true lift anywhere), read at every look; count false results at any look."""
    scenario = scenario or LooksScenario()
    counts = simulate_looks(scenario, runs, seed)
    decision = analyze(counts, scenario, analysis)["decision"]
    win = decision == stats.SIGNIFICANT_WIN
    significant = win | (decision == stats.SIGNIFICANT_LOSS)
    segments = len(scenario.rates)
    return PeekingResult(runs=runs, segments=segments, segment_wins=int(win[..., :segments].any(axis=1).sum()),
                         report_wins=int(win.any(axis=(1, 2)).sum()), report_any=int(significant.any(axis=(1, 2)).sum()),
                         overall_wins=int(win[..., -1].any(axis=1).sum()))


def coverage_at_every_look(analysis: str, runs: int = 4000, seed: int = 29,
                           scenario: LooksScenario | None = None) -> tuple[int, int]:
    """Known lifts: (runs, scopes x runs whose lift interval covered the truth at *every* look).

    Returned as ``(covered, trials)`` over all (run, scope) pairs; the looks before a scope has any
    recipient in both arms have no interval and are skipped.
    """
    import numpy as np

    scenario = scenario or LooksScenario(lifts=(0.0, 0.005, 0.01, 0.0, 0.02))
    counts = simulate_looks(scenario, runs, seed)
    result = analyze(counts, scenario, analysis)
    truth = counts.truth[None, :, :]
    inside = (result["ci_low"] <= truth) & (truth <= result["ci_high"]) | np.isnan(result["ci_low"])
    every = inside.all(axis=1)  # (runs, scopes)
    return int(every.sum()), int(every.size)


@dataclass(frozen=True)
class SrmRates:
    """How often the sample-ratio check blocked (counts out of ``runs``)."""

    runs: int
    blocked_last_look: int
    blocked_any_look: int


def srm_rates(control_dropped: float, n_per_arm: int, *, sequential: bool = True, runs: int = 4000,
              looks: int = 14, delivered: float = 0.99, seed: int = 31) -> SrmRates:
    """One scope assigned 50/50 by a coin per customer and sent in ``looks`` equal daily cohorts;
    the platform delivers (or bounces) ``delivered`` of the emails and silently drops a further
    ``control_dropped`` of the control arm's. ``n_per_arm`` is the expected size of each arm at the
    last look."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cohort = max(1, round(2 * n_per_arm / looks))
    seg = rng.binomial(cohort, 0.5, (runs, looks))
    ctl = cohort - seg
    seg_seen = rng.binomial(seg, delivered)
    ctl_seen = rng.binomial(ctl, delivered * (1.0 - control_dropped))
    assigned = np.stack([np.cumsum(seg, axis=1), np.cumsum(ctl, axis=1)], axis=-1)
    observed = np.stack([np.cumsum(seg_seen, axis=1), np.cumsum(ctl_seen, axis=1)], axis=-1)
    blocked = srm.check(assigned, observed, sequential=sequential).blocked  # (runs, looks)
    return SrmRates(runs=runs, blocked_last_look=int(blocked[:, -1].sum()), blocked_any_look=int(blocked.any(axis=1).sum()))


@dataclass(frozen=True)
class CupedResult:
    """Regression adjustment with a binary pre-period covariate (e.g. "answered the last campaign")."""

    runs: int
    mean_reduction: float       # mean of the reported variance reduction
    empirical_reduction: float  # 1 - var(adjusted estimates) / var(raw estimates) across runs
    bias: float                 # mean adjusted estimate - true lift
    bias_se: float              # its Monte-Carlo standard error
    covered_fixed: int          # runs whose fixed 95% interval (adjusted) covered the lift, one look
    covered_sequential: int     # runs whose always-valid interval (adjusted) covered at all looks


def _cells(rng: "np.random.Generator", n: "np.ndarray", p_y: float, p_x: float, rho: float,
           lift: float) -> "np.ndarray":
    """Multinomial counts of (x, y) in {00, 01, 10, 11} with corr(x, y) = rho, then y's rate + lift in both x."""
    import numpy as np

    p11 = p_x * p_y + rho * np.sqrt(p_x * (1 - p_x) * p_y * (1 - p_y))
    y_given_x1, y_given_x0 = p11 / p_x + lift, (p_y - p11) / (1 - p_x) + lift
    probs = np.array([(1 - p_x) * (1 - y_given_x0), (1 - p_x) * y_given_x0, p_x * (1 - y_given_x1),
                      p_x * y_given_x1])
    return rng.multinomial(n, probs)


def _moments(cells: "np.ndarray") -> cuped.Moments:
    n = cells.sum(axis=-1).astype(float)
    y, x, xy = cells[..., 1] + cells[..., 3], cells[..., 2] + cells[..., 3], cells[..., 3]
    return cuped.Moments(n=n, y=y.astype(float), yy=y.astype(float), x=x[..., None].astype(float),
                         xx=x[..., None, None].astype(float), xy=xy[..., None].astype(float))


def cuped_check(rho: float = 0.5, runs: int = 4000, n_per_arm: int = 2000, looks: int = 14, p_y: float = 0.10,
                p_x: float = 0.10, lift: float = 0.02, seed: int = 37) -> CupedResult:
    """Simulate experiments where a binary covariate is correlated ``rho`` with the outcome; adjust;
    measure variance reduction, bias and coverage (fixed at the last look, sequential at every look)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cohort = max(1, n_per_arm // looks)
    seg = np.cumsum(_cells(rng, np.full((runs, looks), cohort), p_y, p_x, rho, lift), axis=1)
    ctl = np.cumsum(_cells(rng, np.full((runs, looks), cohort), p_y, p_x, rho, 0.0), axis=1)
    adjustment = cuped.adjust(_moments(seg), _moments(ctl))
    ys, yc, n_s, n_c = seg[..., 1] + seg[..., 3], ctl[..., 1] + ctl[..., 3], seg.sum(-1), ctl.sum(-1)
    fixed = stats.difference(ys[:, -1], n_s[:, -1], yc[:, -1], n_c[:, -1], analysis=stats.FIXED,
                             adjustment=cuped.Adjustment(*(a[:, -1] for a in (adjustment.estimate, adjustment.variance,
                                                                                  adjustment.raw_variance,
                                                                                  adjustment.reduction))))
    sequential = stats.difference(ys, n_s, yc, n_c, analysis=stats.SEQUENTIAL, adjustment=adjustment)
    raw = ys[:, -1] / n_s[:, -1] - yc[:, -1] / n_c[:, -1]
    est = fixed["estimate"]
    return CupedResult(
        runs=runs, mean_reduction=float(adjustment.reduction[:, -1].mean()),
        empirical_reduction=float(1.0 - est.var() / raw.var()), bias=float(est.mean() - lift),
        bias_se=float(est.std() / np.sqrt(runs)),
        covered_fixed=int(((fixed["ci_low"] <= lift) & (lift <= fixed["ci_high"])).sum()),
        covered_sequential=int(((sequential["ci_low"] <= lift) & (lift <= sequential["ci_high"])).all(axis=1).sum()),
    )


def power_any_look(rate: float, lift: float, n_per_arm: int, *, analysis: str = stats.SEQUENTIAL, runs: int = 2000,
                   looks: int = 14, planned_n: float | None = None, seed: int = 41) -> int:
    """Runs (of ``runs``) with a ``significant_win`` at some look: one scope, ``looks`` equal daily
    cohorts reaching ``n_per_arm`` per arm, outcomes known at once; the boundary tuned for ``planned_n``
    (default: ``n_per_arm``, as the planner advises)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cohort = max(1, n_per_arm // looks)
    n = np.cumsum(np.full((runs, looks), cohort), axis=1)
    seg = np.cumsum(rng.binomial(cohort, rate + lift, (runs, looks)), axis=1)
    ctl = np.cumsum(rng.binomial(cohort, rate, (runs, looks)), axis=1)
    result = stats.compare(seg, n, ctl, n, analysis=analysis, adjust=False, min_n=1,
                           planned_n=planned_n or n_per_arm)
    return int((result["decision"] == stats.SIGNIFICANT_WIN).any(axis=1).sum())
