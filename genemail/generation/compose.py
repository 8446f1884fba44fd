"""One customer, one pass through the stages: segment -> strategy -> segmented and baseline emails.

:func:`describe` segments customers and attaches each one's strategy (looked up once);
:func:`compose` then writes that customer's segmented email and the baseline email in one mixed
batch with :meth:`EmailGenerator.generate`, the same call a campaign makes. The app's Compose and
Rate tabs use these two functions and nothing else to go from a customer row to an email.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from genemail.generation.generator import EmailGenerator, GenerationConfig
    from genemail.generation.strategies import Strategy, StrategyBook


class Models(Protocol):
    """What composing needs: a segmenter, the strategies and the generator (a loaded system)."""

    segmenter: Any
    strategies: StrategyBook
    generator: EmailGenerator


@dataclass(frozen=True)
class StrategyCard:
    """A strategy as shown to users, with the adapter it runs on pinned to a commit."""

    segment: str
    display_name: str
    tone: str
    greeting: str
    focus: str
    call_to_action: str
    adapter: str
    adapter_repo: str | None
    adapter_sha: str | None

    @property
    def adapter_ref(self) -> str:
        """``repo@short-sha`` (or the adapter name when it was not pulled from a Hub)."""
        if not self.adapter_repo:
            return self.adapter
        return f"{self.adapter_repo}@{(self.adapter_sha or '?')[:7]}"


@dataclass(frozen=True)
class SegmentView:
    """One customer's L1/L2 segment, probabilities, plain-language reasons and strategy."""

    customer_id: str
    l1: str
    l1_proba: float
    l2: str
    l2_proba: float
    cold_start_reason: str | None
    reasons: tuple[str, ...]
    strategy: StrategyCard

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["strategy"]["adapter_ref"] = self.strategy.adapter_ref
        out["reasons"] = list(self.reasons)
        return out


@dataclass(frozen=True)
class ComposeResult:
    """The segmented and baseline emails for one customer, and what produced them.

    Both emails come from one batch, so both latencies are that batch's wall time.
    """

    view: SegmentView
    email: str
    baseline_email: str
    latency_s: float
    baseline_latency_s: float
    new_tokens: int
    baseline_new_tokens: int
    release: dict[str, str]
    user_embedding: bool = False  # the segmented email was written with the customer's user vector (FR-13)
    embedding_ms: float = 0.0  # time to turn the customer's events into soft-prompt tokens
    qa: dict[str, Any] | None = None  # the quality gate's verdict on each email (QA.to_dict())
    baseline_qa: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "view"}
        return {**self.view.to_dict(), **out}


def strategy_card(strategy: Strategy, generator: EmailGenerator, lang: str) -> StrategyCard:
    """``strategy``'s texts in ``lang`` and the repo and commit of the adapter it runs on."""
    text = strategy.text(lang)
    ref = generator.adapter_ref(strategy.adapter) if strategy.adapter in generator.adapter_names else None
    return StrategyCard(strategy.segment, text.display_name, text.tone, text.greeting, text.focus,
                        text.call_to_action, strategy.adapter, ref.repo_id if ref else None,
                        ref.revision if ref else None)


def describe(models: Models, frame: pd.DataFrame, lang: str) -> list[tuple[SegmentView, Strategy]]:
    """Segment every row of ``frame`` (internal schema) and attach its strategy, looked up once."""
    scored = models.segmenter.segment_and_explain(frame, top_k=3, probabilities=False)
    out = []
    for row in scored.itertuples(index=False):
        cold = None if _missing(row.cold_start_reason) else str(row.cold_start_reason)
        reasons = tuple(r for r in str(row.reasons).split(" | ") if r)
        if cold:
            reasons = (f"Too little data for a segment: {cold}; the default strategy is used.", *reasons)
        strategy = models.strategies.for_segment(str(row.l2))
        view = SegmentView(str(row.customer_id), str(row.l1), float(row.l1_proba), str(row.l2),
                           float(row.l2_proba), cold, reasons, strategy_card(strategy, models.generator, lang))
        out.append((view, strategy))
    return out


def compose(models: Models, frame: pd.DataFrame, config: GenerationConfig,
            release: dict[str, str] | None = None, soft_prompt: Any = None, embedding_ms: float = 0.0) -> ComposeResult:
    """The first row's segment, strategy, segmented email and baseline email (one mixed batch).

    ``soft_prompt`` (the customer's user-vector tokens, or None) goes beside the segment adapter on
    the segmented row; the baseline email never sees it.
    """
    from genemail.generation.prompts import profile_from_row

    view, strategy = describe(models, frame.head(1), config.lang)[0]
    soft = None if soft_prompt is None else [soft_prompt]
    written = models.generator.generate([profile_from_row(frame.iloc[0])], [strategy], config, batch_size=1,
                                        soft_prompts=soft, book=models.strategies)[0]
    return ComposeResult(view, written.email or "", written.baseline_email or "", written.latency_s,
                         written.latency_s, written.new_tokens, written.baseline_new_tokens, dict(release or {}),
                         written.user_embedding, round(embedding_ms, 2),
                         written.qa.to_dict() if written.qa else None,
                         written.baseline_qa.to_dict() if written.baseline_qa else None)


def _missing(value: object) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))
