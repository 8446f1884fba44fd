"""The evaluation report as Markdown tables (``eval/results.md``), ready for the README.

Every rate is written ``mean ± sd [95% Wilson interval]`` (no ``± sd`` for a single decoding); every
comparison as the paired difference with its bootstrap interval and the verdict, which says plainly
when a comparator wins or when the difference is within noise.
"""

from __future__ import annotations

from typing import Any

TITLES = {"segmented": "segmented", "unsegmented": "unsegmented model", "single_strategy": "single strategy",
          "segment_prompt": "segment as prompt"}
RATES = {"style_match": "style match", "fact_consistency": "fact consistency", "relevance": "content relevance"}
QA_RATES = {"first_attempt_pass": "gate: passed on the first attempt", "fallback": "gate: template sent (fallback)"}


def _rate(r: dict[str, Any], with_sd: bool) -> str:
    sd = f" ± {r['sd']:.3f}" if with_sd else ""
    return f"{r['rate']:.3f}{sd} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"


def _diff(c: dict[str, Any]) -> str:
    verdict = c["verdict"] if c["verdict"] == "within noise" else f"**{c['verdict']}**"
    return f"{c['diff']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}], {verdict}"


def results_markdown(report: dict[str, Any]) -> str:
    """The headline table, the paired comparisons and the per-segment rates, as Markdown."""
    variants = report["variants"]
    names = list(variants)
    gen = report.get("generation", {})
    seeds = gen.get("seeds", [0])
    with_sd = len(seeds) > 1
    decoding = (f"sampled (T={gen.get('temperature')}, top-p {gen.get('top_p')}), seeds {', '.join(map(str, seeds))}:"
                " mean ± sd over seeds" if gen.get("decoding") == "sampling" else gen.get("decoding", "?"))
    per_segment = ", ".join(f"{s} {n}" for s, n in report["per_segment_n"].items())
    lines = [f"n = {report['n']} held-out customers ({per_segment}); decoding {decoding}; "
             f"[95% Wilson interval]. Style judge: held-out accuracy {report['judge_accuracy']:.3f} on segment "
             f"references" + (f", {report['judge']['generic_accuracy']:.3f} on single-strategy references."
                               if report["judge"].get("generic_accuracy") is not None else "."), "",
             "| metric | " + " | ".join(TITLES.get(n, n) for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for key, title in (*RATES.items(), *QA_RATES.items()):
        if all(key in variants[n] for n in names):
            lines.append(f"| {title} | " + " | ".join(_rate(variants[n][key], with_sd) for n in names) + " |")
    for key, title in (("distinct_emails_per_customer", "distinct emails per customer"), ("distinct2", "distinct-2"),
                       ("self_bleu", "self-BLEU (lower = more diverse)")):
        cells = [f"{variants[n][key]:.3f}" + (f" ± {variants[n][key + '_sd']:.3f}" if with_sd else "") for n in names]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines += ["", "Paired differences (bootstrap 95% interval; McNemar per seed, largest p, Holm-adjusted over "
              "all comparisons and rates):", "",
              "| comparison | " + " | ".join(RATES.values()) + " |", "|---|" + "---|" * len(RATES)]
    for c in report["comparisons"].values():
        label = f"{TITLES.get(c['a'], c['a'])} − {TITLES.get(c['b'], c['b'])}"
        lines.append(f"| {label} | " + " | ".join(_diff(c[key]) for key in RATES) + " |")
    lines += ["", "Per segment (rate [95% Wilson interval]):", "",
              "| segment (n) | rate | " + " | ".join(TITLES.get(n, n) for n in names) + " |",
              "|---|---|" + "---:|" * len(names)]
    for segment, n in report["per_segment_n"].items():
        for key, title in RATES.items():
            cells = [variants[v][key]["per_segment"][segment] for v in names]
            lines.append(f"| {segment} ({n}) | {title} | "
                         + " | ".join(f"{c['rate']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]" for c in cells) + " |")
    return "\n".join(lines) + "\n"
