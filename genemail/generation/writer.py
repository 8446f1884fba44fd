"""Every email through the gate: write, check, write again with a new seed, or send the template.

:func:`write_checked` is the one way GenEmail turns prompts into emails that may be shown or sent.
It takes any backend with the small :class:`Backend` interface (the local PEFT generator, the OpenAI
client of ``genemail serve`` / vLLM / SGLang / TGI), so a new backend cannot skip the gate:

1. every row is completed once (greedy, or sampled from the row's own seed);
2. each email is rendered (merge tags filled from the record) and checked by the
   :class:`~genemail.generation.gate.QualityGate`, in the backend's fluency mode (``voice`` for the
   embedded default, ``likelihood`` for a real model, which then returns its tokens' log-probabilities);
3. the rows that failed are sampled again, with new seeds, up to ``max_attempts`` in all;
4. a row that still fails gets the strategy's template email, rendered and checked the same way.

Each result carries its :class:`~genemail.generation.gate.QA`: passed on attempt k, or fell back, and
which checks failed on the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from genemail.generation.gate import FALLBACK, PASSED, QA, CHECKS, QualityGate
from genemail.generation.likelihood import LIKELIHOOD
from genemail.generation.sampling import row_seed

if TYPE_CHECKING:
    from genemail.generation.generator import Completion, GenerationConfig
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import Strategy

RESAMPLE_TEMPERATURE = 0.7  # a greedy row that failed is sampled again at this temperature


class Backend(Protocol):
    """What writing emails needs of a model: one mixed batch of completions, and how to judge their fluency."""

    @property
    def fluency_mode(self) -> str: ...  # "voice" | "likelihood" (genemail.generation.likelihood)

    def complete(self, prompts: Sequence[str], adapters: Sequence[str], config: "GenerationConfig",
                 soft_prompts: Sequence[Any] | None = None,
                 row_seeds: Sequence[int] | None = None) -> list["Completion"]: ...


@dataclass(frozen=True)
class Row:
    """One email to write: its prompt and adapter, and whom and what it is for."""

    prompt: str
    adapter: str
    profile: "CustomerProfile"
    strategy: "Strategy"
    variant: str  # segmented | baseline | single_strategy
    soft_prompt: Any = None


@dataclass(frozen=True)
class Written:
    """One checked email: the text to send (facts filled), its slot form, the last model attempt's tokens and the QA."""

    text: str
    template: str
    new_tokens: int
    qa: QA


def write_checked(backend: Backend, rows: Sequence[Row], config: "GenerationConfig", gate: QualityGate,
                  ) -> list[Written]:
    """Write, check, resample and fall back (see the module doc); one result per row, in order."""
    results: list[Written | None] = [None] * len(rows)
    failed: dict[int, set[str]] = {i: set() for i in range(len(rows))}
    reasons: dict[int, tuple[str, ...]] = {}
    reported: dict[int, tuple[str, ...]] = {}
    tokens = [0] * len(rows)
    pending = list(range(len(rows)))
    fluency = backend.fluency_mode
    config = replace(config, logprobs=fluency == LIKELIHOOD)  # scored only when the check reads the scores
    for attempt in range(1, gate.config.max_attempts + 1):
        if not pending:
            break
        done = _complete(backend, [rows[i] for i in pending], _attempt_config(config, attempt),
                         [row_seed(config.seed, rows[i].profile.customer_id, rows[i].variant, attempt) for i in pending])
        still = []
        for i, completion in zip(pending, done):
            row = rows[i]
            tokens[i] = completion.new_tokens  # the last attempt's
            verdict, rendered = gate.check(completion.text, row.profile, row.strategy, row.variant,
                                           fluency=fluency, logprobs=completion.logprobs)
            reported[i] = verdict.reported
            if verdict.passed:
                results[i] = Written(rendered, completion.text, tokens[i],
                                     QA(PASSED, attempt, _ordered(failed[i]), verdict.reported, reasons.get(i, ())))
            else:
                failed[i] |= set(verdict.failed)
                reasons[i] = verdict.reasons
                still.append(i)
        pending = still
    for i in pending:
        row = rows[i]
        template, rendered, verdict = gate.fallback(row.profile, row.strategy, row.variant)
        results[i] = Written(rendered, template, tokens[i],
                             QA(FALLBACK, gate.config.max_attempts, _ordered(failed[i]), reported.get(i, ()), reasons[i]))
    return [r for r in results if r is not None]


def _ordered(checks: set[str]) -> tuple[str, ...]:
    return tuple(c for c in CHECKS if c in checks)


def _attempt_config(config: "GenerationConfig", attempt: int) -> "GenerationConfig":
    """The first attempt decodes as asked; later ones sample (a greedy retry would write the same email)."""
    if attempt == 1 or config.do_sample:
        return config
    return replace(config, do_sample=True, temperature=RESAMPLE_TEMPERATURE)


def _complete(backend: Backend, rows: Sequence[Row], config: "GenerationConfig", seeds: Sequence[int]) -> list["Completion"]:
    prompts, adapters = [r.prompt for r in rows], [r.adapter for r in rows]
    softs = [r.soft_prompt for r in rows]
    # Only what the call needs: a greedy call without soft prompts is the backend's plainest form.
    extra: dict[str, Any] = {"row_seeds": list(seeds)} if config.do_sample else {}
    if any(s is not None for s in softs):
        return backend.complete(prompts, adapters, config, softs, **extra)
    return backend.complete(prompts, adapters, config, **extra)
