"""Score every variant's emails and build ``eval.json``: rates with intervals, paired comparisons.

For each variant, decoding seed and customer there are three 0/1 outcomes: **style match** (the
judge reads the customer's segment), **fact consistency** (every claim agrees with the profile) and
**content relevance** (:mod:`genemail.evaluation.relevance`); and per seed the diversity of the
variant's emails (distinct-1/2, self-BLEU). :mod:`genemail.evaluation.stats` turns them into rates
with 95% Wilson intervals (overall and per segment), mean +- sd over seeds, and paired comparisons
(bootstrap interval of the difference, McNemar per seed, Holm over the whole family of comparisons).

The report keeps the keys the app, the demo and the docs read (``style_match_segmented``,
``style_match_baseline``, ...; "baseline" there is the *unsegmented* variant, as it always was) and
adds ``variants`` and ``comparisons``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from genemail.evaluation.variants import SEGMENT_PROMPT_VARIANT, SEGMENTED, SINGLE_STRATEGY, UNSEGMENTED

if TYPE_CHECKING:
    import numpy as np

    from genemail.evaluation.judge import StyleJudge
    from genemail.generation.prompts import CustomerProfile

Customer = tuple["CustomerProfile", str, str]  # profile, segment, reference email
RATES: tuple[str, ...] = ("style_match", "fact_consistency", "relevance")
# The quality gate's rates per variant (reported with intervals; not part of the comparison family).
QA_RATES: tuple[str, ...] = ("first_attempt_pass", "fallback")
DIVERSITY: tuple[str, ...] = ("distinct1", "distinct2", "self_bleu")
# (a, b): is a better than b? segmented against each comparator, and the PRD v1.0 model against O3's.
COMPARISONS: tuple[tuple[str, str], ...] = (
    (SEGMENTED, SINGLE_STRATEGY), (SEGMENTED, UNSEGMENTED), (SEGMENTED, SEGMENT_PROMPT_VARIANT),
    (UNSEGMENTED, SINGLE_STRATEGY),
)
# self-BLEU compares each email with all the others: with 1,000 template-like emails it saturates near
# 1 and costs seconds per variant and seed. It is computed on the same seeded sample of customers
# for every variant and seed (distinct-n uses every email).
SELF_BLEU_SAMPLE = 200
# Targets on the embedded default (issue 4): style and facts >= 95 %, segmented ahead of baseline.
STYLE_TARGET = 0.95
FACT_TARGET = 0.95


def outcomes(emails: Sequence[Sequence[str]], customers: Sequence[Customer], judge: "StyleJudge",
             lang: str) -> tuple[dict[str, "np.ndarray"], dict[str, Any]]:
    """The ``(seeds, customers)`` 0/1 outcome arrays of one variant, and its per-seed diversity and claims."""
    import numpy as np

    from genemail.evaluation.metrics import distinct_n, fact_consistency, self_bleu
    from genemail.evaluation.relevance import relevance_outcomes

    profiles, segments = [c[0] for c in customers], [c[1] for c in customers]
    sample = sorted(np.random.default_rng(0).permutation(len(customers))[:SELF_BLEU_SAMPLE])
    result: dict[str, list[list[int]]] = {rate: [] for rate in RATES}
    extra: dict[str, list[float]] = {**{k: [] for k in DIVERSITY}, "claims_per_email": [], "with_claims": [],
                                     "distinct_emails_per_customer": []}
    for seed_emails in emails:
        extra["distinct_emails_per_customer"].append(len(set(seed_emails)) / max(len(seed_emails), 1))
        result["style_match"].append([int(p == s) for p, s in zip(judge.predict(list(seed_emails)), segments)])
        checks = [fact_consistency(e, p, lang) for e, p in zip(seed_emails, profiles)]
        result["fact_consistency"].append([int(c.consistent) for c in checks])
        result["relevance"].append(relevance_outcomes(seed_emails, profiles, segments, lang))
        extra["distinct1"].append(distinct_n(seed_emails, 1, lang))
        extra["distinct2"].append(distinct_n(seed_emails, 2, lang))
        extra["self_bleu"].append(self_bleu([seed_emails[i] for i in sample], lang))
        extra["claims_per_email"].append(sum(len(c.claims) for c in checks) / max(len(checks), 1))
        extra["with_claims"].append(sum(bool(c.claims) for c in checks) / max(len(checks), 1))
    return {rate: np.asarray(values, dtype=float) for rate, values in result.items()}, extra


def variant_summary(name: str, arrays: dict[str, "np.ndarray"], extra: dict[str, list[float]],
                    segments: Sequence[str], description: str) -> dict[str, Any]:
    """One entry of ``variants``: n, per-segment n, each rate with its intervals, diversity mean +- sd."""
    import numpy as np

    from genemail.evaluation.stats import rate_summary

    summary: dict[str, Any] = {"description": description, "n": len(segments),
                               "per_segment_n": dict(sorted(Counter(segments).items()))}
    for rate in RATES:
        summary[rate] = rate_summary(arrays[rate], segments)
    for key in (*DIVERSITY, "claims_per_email", "with_claims", "distinct_emails_per_customer"):
        values = np.asarray(extra[key], dtype=float)
        summary[key] = round(float(values.mean()), 4)
        summary[f"{key}_sd"] = round(float(values.std(ddof=1)), 4) if len(values) > 1 else 0.0
    return summary


def comparisons(arrays: dict[str, dict[str, "np.ndarray"]], segments: Sequence[str], seed: int = 0) -> dict[str, Any]:
    """Every pair in :data:`COMPARISONS` whose two variants were written, on every rate.

    Overall p-values are Holm-adjusted over the whole family (every pair x rate); per-segment ones
    over the segments of that pair and rate. The verdict needs the adjusted p below 0.05 *and* a
    bootstrap interval that excludes 0.
    """
    from genemail.evaluation.stats import compare_by_segment, holm, verdict

    out: dict[str, Any] = {}
    for a, b in COMPARISONS:
        if a in arrays and b in arrays:
            out[f"{a}_vs_{b}"] = {"a": a, "b": b, **{
                rate: compare_by_segment(arrays[a][rate], arrays[b][rate], segments, (a, b), seed) for rate in RATES}}
    family = [(key, rate) for key in out for rate in RATES]
    for (key, rate), p_adj in zip(family, holm([out[key][rate]["p_value"] for key, rate in family])):
        result = out[key][rate]
        result["p_value_holm"] = p_adj
        result["verdict"] = verdict(result["ci"], p_adj, out[key]["a"], out[key]["b"])
    return out


def qa_outcomes(verdicts: Sequence[Sequence[Any]]) -> dict[str, "np.ndarray"]:
    """The ``(seeds, customers)`` 0/1 arrays of the gate: passed on the first attempt, fell back to the template."""
    import numpy as np

    return {"first_attempt_pass": np.asarray([[int(q.first_attempt) for q in seed] for seed in verdicts], dtype=float),
            "fallback": np.asarray([[int(q.status == "fallback") for q in seed] for seed in verdicts], dtype=float)}


def build_report(emails: dict[str, Sequence[Sequence[str]]], customers: Sequence[Customer], judge: "StyleJudge",
                 judge_info: dict[str, Any], lang: str, source: str, seed: int = 0,
                 descriptions: dict[str, str] | None = None,
                 qa: dict[str, Sequence[Sequence[Any]]] | None = None) -> dict[str, Any]:
    """The eval.json content: ``variants``, ``comparisons``, the judge, and today's flat keys.

    ``qa`` (each email's gate verdict, as ``emails``) adds ``first_attempt_pass`` and ``fallback`` rates
    with their intervals to each variant; the emails themselves are the ones sent (facts filled).
    """
    from genemail.evaluation.stats import rate_summary

    segments = [c[1] for c in customers]
    arrays, summaries = {}, {}
    for name, per_seed in emails.items():
        arrays[name], extra = outcomes(per_seed, customers, judge, lang)
        summaries[name] = variant_summary(name, arrays[name], extra, segments, (descriptions or {}).get(name, name))
        if qa and name in qa:
            for rate, values in qa_outcomes(qa[name]).items():
                summaries[name][rate] = rate_summary(values, segments)
    report: dict[str, Any] = {
        "source": source, "lang": lang, "n": len(customers), "per_segment_n": dict(sorted(Counter(segments).items())),
        "judge_accuracy": judge_info["accuracy"], "judge": judge_info,
        "variants": summaries, "comparisons": comparisons(arrays, segments, seed),
    }
    report.update(legacy_keys(summaries))
    report["targets"] = targets(report)
    return report


def legacy_keys(variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The flat keys of earlier reports: ``segmented`` and ``baseline`` (= the unsegmented variant)."""
    out: dict[str, Any] = {"diversity": {}, "details": {}}
    for old, name in ((SEGMENTED, SEGMENTED), ("baseline", UNSEGMENTED)):
        if name not in variants:
            continue
        v = variants[name]
        out[f"style_match_{old}"] = v["style_match"]["rate"]
        out[f"style_match_{old}_per_segment"] = {s: r["rate"] for s, r in v["style_match"]["per_segment"].items()}
        out[f"fact_consistency_{old}"] = v["fact_consistency"]["rate"]
        out[f"relevance_{old}"] = v["relevance"]["rate"]
        out["diversity"][old] = {k: v[k] for k in DIVERSITY}
        out["details"][old] = {
            "style_match": {"overall": v["style_match"]["rate"], "n": v["n"],
                            "per_segment": out[f"style_match_{old}_per_segment"]},
            "fact_consistency": {"rate": v["fact_consistency"]["rate"], "claims_per_email": v["claims_per_email"],
                                 "with_claims": v["with_claims"], "n": v["n"]},
            "diversity": out["diversity"][old],
        }
    return out


def targets(report: dict[str, Any]) -> dict[str, bool]:
    """Pass/fail of the issue's targets (the significant ones need the paired test to agree)."""
    out: dict[str, bool] = {}
    if "style_match_segmented" in report:
        out["style_match_segmented>=0.95"] = report["style_match_segmented"] >= STYLE_TARGET
        out["fact_consistency_segmented>=0.95"] = report["fact_consistency_segmented"] >= FACT_TARGET
    if "style_match_segmented" in report and "style_match_baseline" in report:
        out["style_match_segmented>baseline"] = report["style_match_segmented"] > report["style_match_baseline"]
        out["distinct2_segmented>=baseline"] = (report["diversity"]["segmented"]["distinct2"]
                                                >= report["diversity"]["baseline"]["distinct2"])
    for (a, b), rate in (((SEGMENTED, SINGLE_STRATEGY), "relevance"), ((SEGMENTED, UNSEGMENTED), "style_match")):
        key = f"{a}_vs_{b}"
        if key in report["comparisons"]:
            out[f"{rate}_{a}>{b} (significant)"] = report["comparisons"][key][rate]["verdict"] == f"{a} better"
    return out
