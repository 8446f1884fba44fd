"""The ablation that decides whether the user vector is worth it.

On held-out customers, one fact (the favourite product category) is hidden from the text prompt and
made available only through the user vector. Each customer's segmented email is written three ways,
greedy, through its segment adapter:

    (a) text_with_fact               the normal prompt (the fact is in it)
    (b) text_without_fact            the prompt without the fact
    (c) without_fact_with_embedding  (b) plus the customer's soft-prompt tokens

and the outcome is whether the email states the customer's *true* value (:mod:`genemail.evaluation.metrics`'
fixed fact forms). The embedding carries information if (c) is clearly above (b): the paired
difference (c) - (b) gets a bootstrap interval and McNemar's test (:func:`genemail.evaluation.stats.compare`).
Style match (the corpus's style judge) and fact consistency are reported for all three.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from genemail.evaluation.stats import compare, wilson_interval

if TYPE_CHECKING:
    from genemail.generation.generator import EmailGenerator, GenerationConfig
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import StrategyBook
    from genemail.user_vector.encoder import UserVectorModel

CONDITIONS: tuple[str, ...] = ("text_with_fact", "text_without_fact", "without_fact_with_embedding")
FACT_CLAIM = {"favourite_category": "category"}  # profile field -> the claim kind that states it


@dataclass(frozen=True)
class HeldOut:
    """One held-out customer: true profile, segment, encoder features (F,)."""

    profile: "CustomerProfile"
    segment: str
    features: np.ndarray


def states_truth(email: str, profile: "CustomerProfile", fact: str, lang: str) -> bool:
    """Does ``email`` state ``profile``'s true value of ``fact`` (in the fixed fact form)?"""
    from genemail.evaluation.metrics import _truth, extract_claims

    kind = FACT_CLAIM[fact]
    return any(c.kind == kind and c.value == _truth(profile, kind) for c in extract_claims(email, lang))


def _rate(outcomes: Sequence[bool]) -> dict[str, Any]:
    n = len(outcomes)
    count = int(sum(outcomes))
    return {"rate": round(count / n, 4) if n else 0.0, "ci": wilson_interval(count, n), "count": count}


def _write(gen: "EmailGenerator", book: "StrategyBook", customers: Sequence[HeldOut], fact: str,
           config: "GenerationConfig", soft: Sequence[Any] | None, hide: bool,
           batch_size: int) -> tuple[list[str], float]:
    from genemail.user_vector.training import hide_fact

    profiles = [hide_fact(c.profile, fact) if hide else c.profile for c in customers]
    strategies = [book.for_segment(c.segment) for c in customers]
    t0 = time.perf_counter()
    out = gen.generate(profiles, strategies, config, batch_size=batch_size, only=["segmented"] * len(customers),
                       soft_prompts=soft)
    return [e.email or "" for e in out], time.perf_counter() - t0


def measure_latency(gen: "EmailGenerator", book: "StrategyBook", customers: Sequence[HeldOut], soft: Sequence[Any],
                    config: "GenerationConfig", fact: str, n_tokens: int = 32, repeats: int = 3) -> dict[str, Any]:
    """Per-email cost of the soft prompt on one batch, every email forced to ``n_tokens`` new tokens.

    The same batch is written with and without the soft prompts, alternating, ``repeats`` times; the
    medians of wall time and of this process's CPU time are reported (CPU time is less disturbed by
    other jobs on a shared machine). The ablation's own timings differ also by email length.
    """
    from dataclasses import replace as dc_replace

    forced = dc_replace(config, max_new_tokens=n_tokens, min_new_tokens=n_tokens)
    walls: dict[str, list[float]] = {"without": [], "with": []}
    cpus: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(repeats):
        for name, prompts in (("without", None), ("with", soft)):
            w0, c0 = time.perf_counter(), time.process_time()
            _write(gen, book, customers, fact, forced, prompts, True, len(customers))
            walls[name].append(time.perf_counter() - w0)
            cpus[name].append(time.process_time() - c0)
    n = len(customers)

    def per_email_ms(values: dict[str, list[float]]) -> float:
        return round(1000 * (float(np.median(values["with"])) - float(np.median(values["without"]))) / n, 3)

    return {"batch": n, "new_tokens": n_tokens, "repeats": repeats,
            "wall_ms_per_email": {k: round(1000 * float(np.median(v)) / n, 3) for k, v in walls.items()},
            "cpu_ms_per_email": {k: round(1000 * float(np.median(v)) / n, 3) for k, v in cpus.items()},
            "extra_wall_ms_per_email": per_email_ms(walls), "extra_cpu_ms_per_email": per_email_ms(cpus)}


def probe(uv: "UserVectorModel", train_x: np.ndarray, train_y: Sequence[str], test_x: np.ndarray,
          test_y: Sequence[str]) -> dict[str, Any]:
    """Is the fact in the vector at all? A logistic-regression probe from user vectors to the fact.

    Fitted on the training customers' vectors, scored on the held-out ones: if it reads the fact well
    while (c) stays near (b), the information is in the vector and the language model does not use it.
    """
    import torch
    from sklearn.linear_model import LogisticRegression

    with torch.inference_mode():
        a = uv.embed(torch.from_numpy(np.asarray(train_x, dtype=np.float32))).numpy()
        b = uv.embed(torch.from_numpy(np.asarray(test_x, dtype=np.float32))).numpy()
    model = LogisticRegression(max_iter=1000).fit(a, list(train_y))
    hits = [p == t for p, t in zip(model.predict(b), test_y)]
    return {"accuracy": _rate(hits), "n_train": len(a), "n_test": len(b)}


def verdict(diff: dict[str, Any]) -> str:
    """One sentence on (c) vs (b) from the paired comparison."""
    low, high = diff["ci"]
    if low > 0 and diff["p_value"] < 0.05:
        return (f"the embedding carries the hidden fact: (c) is above (b) by {diff['diff']:+.3f} "
                f"[{low:+.3f}, {high:+.3f}], p={diff['p_value']:.2g}")
    if high < 0 and diff["p_value"] < 0.05:
        return f"the embedding hurts: (c) is below (b) by {diff['diff']:+.3f} [{low:+.3f}, {high:+.3f}]"
    return (f"no clear difference: (c) - (b) = {diff['diff']:+.3f} [{low:+.3f}, {high:+.3f}], "
            f"p={diff['p_value']:.2g}, inside the noise")


def run_ablation(gen: "EmailGenerator", book: "StrategyBook", uv: "UserVectorModel", customers: Sequence[HeldOut],
                 judge: Any, config: "GenerationConfig", *, fact: str = "favourite_category",
                 batch_size: int = 32, seed: int = 0) -> dict[str, Any]:
    """The ``user_embedding_ablation`` block of eval.json (rates with 95% Wilson intervals)."""
    from genemail.evaluation.metrics import fact_consistency
    from genemail.user_vector.training import soft_prompts_for

    lang = config.lang
    t0 = time.perf_counter()
    soft = soft_prompts_for(uv, np.stack([c.features for c in customers]))
    encode_s = time.perf_counter() - t0
    emails, seconds = {}, {}
    for name, hide, prompts in (("text_with_fact", False, None), ("text_without_fact", True, None),
                                ("without_fact_with_embedding", True, soft)):
        emails[name], seconds[name] = _write(gen, book, customers, fact, config, prompts, hide, batch_size)
    truth = {n: [states_truth(e, c.profile, fact, lang) for e, c in zip(emails[n], customers)] for n in CONDITIONS}
    segments = [c.segment for c in customers]
    style = {n: [p == s for p, s in zip(judge.predict(emails[n]), segments)] for n in CONDITIONS}
    facts = {n: [fact_consistency(e, c.profile, lang).consistent for e, c in zip(emails[n], customers)]
             for n in CONDITIONS}
    diff = compare(np.array(truth["without_fact_with_embedding"], dtype=float),
                   np.array(truth["text_without_fact"], dtype=float), seed=seed)
    n = len(customers)
    extra = seconds["without_fact_with_embedding"] - seconds["text_without_fact"] + encode_s
    batch = list(customers[:min(batch_size, n)])
    forced = measure_latency(gen, book, batch, soft[:len(batch)], config, fact)
    majority = max(np.unique([c.profile.favourite_category for c in customers], return_counts=True)[1]) / n
    return {
        "fact": fact, "n": n, **{name: _rate(truth[name]) for name in CONDITIONS},
        "embedding_vs_without": diff, "verdict": verdict(diff),
        "majority_value_share": round(float(majority), 4),  # a constant guess of the commonest value
        "style_match": {name: _rate(style[name]) for name in CONDITIONS},
        "fact_consistency": {name: _rate(facts[name]) for name in CONDITIONS},
        "decoding": {"greedy": not config.do_sample, "max_new_tokens": config.max_new_tokens, "batch_size": batch_size},
        "latency": {"seconds": {k: round(v, 3) for k, v in seconds.items()}, "encode_seconds": round(encode_s, 4),
                    "encode_ms_per_email": round(1000 * encode_s / max(n, 1), 4),
                    "ablation_extra_ms_per_email": round(1000 * extra / max(n, 1), 2),
                    "forced_length": forced,
                    "extra_ms_per_email": forced["extra_cpu_ms_per_email"],
                    "note": "CPU ms per email of the soft prompt, batches forced to equal length (median of "
                            f"{forced['repeats']}); the encoder adds {round(1000 * encode_s / max(n, 1), 4)} ms"},
        "examples": [{"customer_id": c.profile.customer_id, "segment": c.segment, "truth": c.profile.favourite_category,
                      **{name: emails[name][i] for name in CONDITIONS}} for i, c in enumerate(customers[:3])],
    }
