"""Offline evaluation (O3, KR1/KR2): four variants of every held-out customer's email, side by side.

Customers come from the corpus's *test* split: never seen in adapter training, at least
``min_test`` per segment (synthesized where the table is short; see
:mod:`genemail.training.topup`), their profiles rebuilt from the corpus records, so the segmenter is
not needed. With ``source="model"`` the base model in ``artifacts/base`` and every adapter in
``artifacts/adapters/*`` and ``artifacts/comparators/*`` write each customer's email in each variant
(:mod:`genemail.evaluation.variants`: segmented, unsegmented, single strategy, segment as prompt),
once per decoding seed. ``source="references"`` puts reference emails in the variants' places
(:func:`~genemail.evaluation.variants.reference_variants`), which checks the metrics themselves.

:func:`run_evaluation` returns the report (``eval.json``, built by :mod:`genemail.evaluation.report`)
and one row per customer and seed; :func:`write_outputs` writes them with the plots;
:func:`format_table` prints the headline numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genemail.errors import ConfigError
from genemail.evaluation.report import FACT_TARGET, STYLE_TARGET, Customer, build_report
from genemail.evaluation.variants import VARIANT_NAMES

SOURCES = ("model", "references")
LABEL = 26  # width of format_table's first column
__all__ = ["FACT_TARGET", "STYLE_TARGET", "SOURCES", "format_table", "run_evaluation", "select_customers",
           "write_outputs", "write_plots"]


def select_customers(customers: Sequence[Customer], n: int | None, seed: int = 0) -> list[Customer]:
    """Up to ``n`` customers, interleaved across segments (seeded) so every segment is represented."""
    import numpy as np

    if n is None or n >= len(customers):
        return list(customers)
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Customer]] = {}
    for customer in customers:
        groups.setdefault(customer[1], []).append(customer)
    queues = [[group[i] for i in rng.permutation(len(group))] for _, group in sorted(groups.items())]
    picked: list[Customer] = []
    while len(picked) < n:
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return picked


def decoding(temperature: float, seed: int, lang: str, max_new_tokens: int = 160) -> Any:
    """Greedy decoding at temperature 0, else seeded sampling (every variant decodes the same way)."""
    from genemail.generation.generator import GenerationConfig

    if temperature < 0:
        raise ConfigError(f"temperature={temperature!r} is invalid", fix="pass --temperature 0 (greedy) or above")
    if temperature == 0:
        return GenerationConfig(do_sample=False, lang=lang, seed=seed, max_new_tokens=max_new_tokens)
    return GenerationConfig(do_sample=True, temperature=temperature, lang=lang, seed=seed,
                            max_new_tokens=max_new_tokens)


def covering_max_new_tokens(tokenizer: Any, references: Sequence[str]) -> tuple[int, dict[str, int]]:
    """A ``max_new_tokens`` that covers the reference emails: 1.5 x the longest, plus the EOS, and
    the token lengths it was read from (p50, p95, max)."""
    import numpy as np

    lengths = np.array([len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in references if text])
    if not lengths.size:
        return 160, {}
    longest = int(lengths.max())
    stats = {"p50": int(np.percentile(lengths, 50)), "p95": int(np.percentile(lengths, 95)), "max": longest}
    return max(16, min(512, math.ceil(1.5 * longest) + 1)), stats


def run_evaluation(artifacts: Path, n_customers: int | None = None, batch_size: int = 32, source: str = "model",
                   seed: int = 0, temperature: float = 0.0, seeds: Sequence[int] | None = None,
                   variants: Sequence[str] | None = None, max_new_tokens: int | None = None,
                   progress: bool = True, workers: int | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Evaluate and return (report, per-customer-and-seed rows); writes nothing.

    ``seeds`` are the decoding seeds of sampled decoding (default ``[seed]``); greedy decoding is
    deterministic, so it runs once. ``seed`` also picks the customers (``n_customers``) and the
    bootstrap resamples. ``workers`` processes write the batches (:mod:`genemail.parallel`; default:
    one per core for a small base model); the emails do not depend on it.
    """
    from genemail.evaluation.judge import judge_report, train_style_judge
    from genemail.evaluation.variants import check_variants, reference_variants, variants as variant_table
    from genemail.training.corpus import generic_references, held_out_customers, load_corpus, load_corpus_info

    if source not in SOURCES:
        raise ConfigError(f"source={source!r} is invalid", fix=f"pass --source as one of {list(SOURCES)}")
    if n_customers is not None and n_customers < 1:
        raise ConfigError(f"n_customers={n_customers!r} is invalid", fix="pass --n-customers as a positive integer")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} is invalid", fix="pass --batch-size as a positive integer")
    names = check_variants(variants or VARIANT_NAMES)
    seeds = _seeds(seeds, seed, temperature)
    corpus_dir = artifacts / "corpus"
    corpus, info = load_corpus(corpus_dir), load_corpus_info(corpus_dir)
    judge = train_style_judge(corpus)
    customers = select_customers(held_out_customers(corpus), n_customers, seed)
    generic = generic_references(corpus)
    generation: dict[str, Any] = {"seeds": list(seeds), "temperature": temperature,
                                  "decoding": "greedy" if temperature == 0 else "sampling"}
    qa = None
    if source == "references":
        emails = reference_variants(customers, generic, names, seed)
        generation = {"seeds": [seed], "decoding": "references"}
    else:
        emails, generation = _model_emails(artifacts, customers, names, info["lang"], temperature, seeds, batch_size,
                                           max_new_tokens, generation, progress, workers)
        qa = generation.pop("qa")
    descriptions = {name: v.description for name, v in variant_table().items()}
    report = build_report(emails, customers, judge, judge_report(judge, corpus), info["lang"], source, seed,
                          descriptions, qa)
    report["strategies_version"] = info["strategies_version"]
    report["generation"] = generation
    return report, _rows(customers, generic, emails, generation["seeds"])


def _seeds(seeds: Sequence[int] | None, seed: int, temperature: float) -> list[int]:
    chosen = list(seeds) if seeds else [seed]
    if any(not isinstance(s, int) or s < 0 for s in chosen) or len(set(chosen)) != len(chosen):
        raise ConfigError(f"seeds={chosen!r} are invalid", fix="pass --seeds as distinct non-negative integers, e.g. 0,1,2")
    return chosen[:1] if temperature == 0 else chosen


def _model_emails(artifacts: Path, customers: Sequence[Customer], names: list[str], lang: str, temperature: float,
                  seeds: list[int], batch_size: int, max_new_tokens: int | None, generation: dict[str, Any],
                  progress: bool, workers: int | None) -> tuple[dict[str, list[list[str]]], dict[str, Any]]:
    from genemail.evaluation.variants import available, generate_variants, load_generator, strategies_file
    from genemail.generation.strategies import load_strategies
    from genemail.parallel import model_workers

    book = load_strategies(strategies_file(artifacts))
    generator = load_generator(artifacts)
    names, skipped = available(generator, names, [c[1] for c in customers], book)
    if not names:
        raise ConfigError(f"no variant can be written: {skipped}", where=str(artifacts),
                          fix="train the adapters first (make train)")
    lengths: dict[str, int] = {}
    if max_new_tokens is None:
        max_new_tokens, lengths = covering_max_new_tokens(generator.tokenizer, [c[2] for c in customers])
    config = decoding(temperature, seeds[0], lang, max_new_tokens)
    n_batches = len(seeds) * math.ceil(len(customers) / batch_size)
    n_parameters = sum(p.numel() for p in generator.model.parameters())
    emails, throughput = generate_variants(generator, [(c[0], c[1]) for c in customers], names, book, config, seeds,
                                           batch_size, progress, artifacts,
                                           model_workers(workers, n_batches, n_parameters))
    generation.update(adapters=list(generator.adapter_names), variants=names, skipped_variants=skipped,
                      max_new_tokens=max_new_tokens, reference_tokens=lengths, batch_customers=batch_size,
                      top_p=config.top_p if config.do_sample else None, **throughput)
    return emails, generation


def _rows(customers: Sequence[Customer], generic: dict[str, str], emails: dict[str, list[list[str]]],
          seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One row per (seed, customer): every variant's email, the reference and the generic reference."""
    rows = []
    for s, seed in enumerate(seeds):
        for i, (profile, segment, reference) in enumerate(customers):
            row: dict[str, Any] = {"customer_id": profile.customer_id, "segment": segment, "seed": seed}
            row.update({name: per_seed[s][i] for name, per_seed in emails.items()})
            if "unsegmented" in emails:
                row["baseline"] = row["unsegmented"]  # the name earlier files used
            row.update(reference=reference, generic_reference=generic.get(profile.customer_id, ""))
            rows.append(row)
    return rows


def write_plots(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """The report's figures (see :mod:`genemail.evaluation.plots`)."""
    from genemail.evaluation.plots import write_plots as plots

    return plots(report, out_dir)


def write_outputs(report: dict[str, Any], rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """eval.json, emails.jsonl, results.md (the tables in Markdown) and the plots; returns the paths written."""
    from genemail.evaluation.markdown import results_markdown

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    with (out_dir / "emails.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (out_dir / "results.md").write_text(results_markdown(report), encoding="utf-8")
    return [out_dir / "eval.json", out_dir / "emails.jsonl", out_dir / "results.md", *write_plots(report, out_dir)]


def _cell(rate: dict[str, Any], with_sd: bool) -> str:
    sd = f"±{rate['sd']:.3f}" if with_sd else ""
    return f"{rate['rate']:.3f}{sd} [{rate['ci'][0]:.3f},{rate['ci'][1]:.3f}]"


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table: each variant's rates with 95% intervals, diversity, and the paired verdicts."""
    variants = report.get("variants")
    if not variants:  # a report from before the variants
        return _legacy_table(report)
    names = list(variants)
    seeds = report.get("generation", {}).get("seeds", [0])
    with_sd = len(seeds) > 1
    width = 32 if with_sd else 26
    decoding = report.get("generation", {}).get("decoding", "?")
    if decoding == "sampling":
        decoding += f" T={report['generation'].get('temperature')}, seeds {','.join(map(str, seeds))} (mean±sd)"
    per_segment = ", ".join(f"{s} {n}" for s, n in report["per_segment_n"].items())
    lines = [f"source={report['source']}  n={report['n']} ({per_segment})  decoding: {decoding}",
             f"judge accuracy on held-out references={report['judge_accuracy']:.3f}"
             + (f", single-strategy references={report['judge']['generic_accuracy']:.3f}"
                if report["judge"].get("generic_accuracy") is not None else ""),
             f"{'metric':<{LABEL}}" + "".join(f"{n:>{width}}" for n in names)]
    for rate, title in (("style_match", "style match"), ("fact_consistency", "fact consistency"),
                        ("relevance", "relevance")):
        lines.append(f"{title:<{LABEL}}" + "".join(f"{_cell(variants[n][rate], with_sd):>{width}}" for n in names))
    for key, title in (("distinct2", "distinct-2"), ("self_bleu", "self-BLEU (lower=div.)")):
        cells = [f"{variants[n][key]:.3f}" + (f"±{variants[n][key + '_sd']:.3f}" if with_sd else "") for n in names]
        lines.append(f"{title:<{LABEL}}" + "".join(f"{c:>{width}}" for c in cells))
    for segment in report["per_segment_n"]:
        cells = [f"{variants[n]['style_match']['per_segment'][segment]['rate']:.3f}" for n in names]
        lines.append(f"{'  style ' + segment:<{LABEL}}" + "".join(f"{c:>{width}}" for c in cells))
    lines.append("paired comparisons (bootstrap 95% interval of the difference; McNemar, Holm-adjusted):")
    for key, comparison in report["comparisons"].items():
        parts = [f"{rate.replace('_', ' ')} {c['diff']:+.3f} [{c['ci'][0]:+.3f},{c['ci'][1]:+.3f}] "
                 f"p={c['p_value_holm']:.2g} -> {c['verdict']}"
                 for rate, c in ((r, comparison[r]) for r in ("style_match", "fact_consistency", "relevance"))]
        lines.append(f"  {comparison['a']} vs {comparison['b']}: " + "; ".join(parts))
    lines += [f"target {name}: {'met' if met else 'NOT met'}" for name, met in report["targets"].items()]
    return "\n".join(lines)


def _legacy_table(report: dict[str, Any]) -> str:
    seg, base = report["diversity"]["segmented"], report["diversity"]["baseline"]
    rows = [("style match", report["style_match_segmented"], report["style_match_baseline"]),
            ("fact consistency", report["fact_consistency_segmented"], report["fact_consistency_baseline"]),
            ("distinct-2", seg["distinct2"], base["distinct2"]), ("self-BLEU", seg["self_bleu"], base["self_bleu"])]
    lines = [f"source={report['source']}  n={report['n']}", f"{'metric':<30}{'segmented':>10}{'baseline':>10}"]
    return "\n".join(lines + [f"{name:<30}{a:>10.3f}{b:>10.3f}" for name, a, b in rows])
