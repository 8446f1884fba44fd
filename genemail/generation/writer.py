"""Every email through the gate: write, check, write again with a new seed, or send the template.

:func:`write_checked` is the one way GenEmail turns prompts into emails that may be shown or sent.
It takes any backend with the small :class:`Backend` interface (the local PEFT generator, the OpenAI
client of ``genemail serve`` / vLLM / SGLang / TGI), so a new backend cannot skip the gate:

1. every row is completed once (greedy, or sampled from the row's own seed), batch by batch;
2. each email is rendered (merge tags filled from the record) and checked by the
   :class:`~genemail.generation.gate.QualityGate`, in the backend's fluency mode (``voice`` for the
   embedded default, ``likelihood`` for a real model, which then returns its tokens' log-probabilities);
3. the rows that failed are sampled again, with new seeds, up to ``max_attempts`` in all: the failures
   of every batch together, so a campaign pays for one small redraw per call, not one per batch (a
   batch of one failed row costs a decoding loop nearly as long as a full batch);
4. a row that still fails gets the strategy's template email, rendered and checked the same way.

Each result carries its :class:`~genemail.generation.gate.QA`: passed on attempt k, or fell back, and
which checks failed on the way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
                  batches: Sequence[int] | None = None,
                  on_batch: Callable[[int], None] | None = None) -> list[Written]:
    """Write, check, resample and fall back (see the module doc); one result per row, in order.

    ``batches`` are the sizes of the first attempt's consecutive batches (default: all rows in one);
    redraws pool the failed rows of every batch, in batches no larger than the largest of them.
    ``on_batch(k)`` is called after first-attempt batch ``k`` is written and checked (progress).
    """
    if not rows:
        return []
    sizes = list(batches) if batches else [len(rows)]
    if sum(sizes) != len(rows) or any(n < 1 for n in sizes):
        raise ValueError(f"batch sizes {sizes[:5]}... do not cover the {len(rows)} rows")
    state = _State(len(rows))
    fluency = backend.fluency_mode
    config = replace(config, logprobs=fluency == LIKELIHOOD)  # scored only when the check reads the scores
    start = 0
    for k, size in enumerate(sizes):
        _attempt(backend, rows, list(range(start, start + size)), config, gate, 1, state, fluency)
        start += size
        if on_batch is not None:
            on_batch(k)
    widest = max(sizes)
    for attempt in range(2, gate.config.max_attempts + 1):
        pending = state.pending()
        for at in range(0, len(pending), widest):
            _attempt(backend, rows, pending[at:at + widest], config, gate, attempt, state, fluency)
    for i in state.pending():
        row = rows[i]
        template, rendered, verdict = gate.fallback(row.profile, row.strategy, row.variant)
        state.results[i] = Written(rendered, template, state.tokens[i],
                                   QA(FALLBACK, gate.config.max_attempts, _ordered(state.failed[i]),
                                      state.reported.get(i, ()), state.reasons[i]))
    return [r for r in state.results if r is not None]


class _State:
    """Where each row of one :func:`write_checked` call stands."""

    def __init__(self, n: int) -> None:
        self.results: list[Written | None] = [None] * n
        self.failed: dict[int, set[str]] = {i: set() for i in range(n)}
        self.reasons: dict[int, tuple[str, ...]] = {}
        self.reported: dict[int, tuple[str, ...]] = {}
        self.tokens = [0] * n

    def pending(self) -> list[int]:
        return [i for i, r in enumerate(self.results) if r is None]


def _attempt(backend: Backend, rows: Sequence[Row], which: list[int], config: "GenerationConfig",
             gate: QualityGate, attempt: int, state: _State, fluency: str) -> None:
    """Complete rows ``which`` (one backend call) as attempt ``attempt``, check each, record the outcome."""
    if not which:
        return
    done = _complete(backend, [rows[i] for i in which], _attempt_config(config, attempt),
                     [row_seed(config.seed, rows[i].profile.customer_id, rows[i].variant, attempt) for i in which])
    for i, completion in zip(which, done):
        row = rows[i]
        state.tokens[i] = completion.new_tokens  # the last attempt's
        verdict, rendered = gate.check(completion.text, row.profile, row.strategy, row.variant,
                                       fluency=fluency, logprobs=completion.logprobs)
        state.reported[i] = verdict.reported
        if verdict.passed:
            state.results[i] = Written(rendered, completion.text, state.tokens[i],
                                       QA(PASSED, attempt, _ordered(state.failed[i]), verdict.reported,
                                          state.reasons.get(i, ())))
        else:
            state.failed[i] |= set(verdict.failed)
            state.reasons[i] = verdict.reasons


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
