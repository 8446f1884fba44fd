"""What every tab shares: the error guard, the model queue, and Markdown renderers of service results.

The guard is the one place where exceptions become what the page shows: a GenEmailError becomes
a ``gr.Error`` carrying its "what / where / fix" message; anything else is logged with its
traceback on the server and the page gets a short, generic message (never a traceback).
"""

import functools
import html
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from genemail.errors import ArtifactError, ConfigError, DataError, GenEmailError, HubError, StrategyError
from genemail.generation.compose import ComposeResult, SegmentView, StrategyCard
from genemail.service import NO_RELEASE_FIX, GenEmailService, GenerationOptions

logger = logging.getLogger("genemail.app")

# Every event that runs the language model shares this queue. Generation already uses every CPU
# core, so running two at once only makes both slower; one at a time keeps latency predictable.
MODEL_QUEUE = "model"
MODEL_CONCURRENCY = 1
# How many customer IDs the searchable dropdown lists; any other ID of the table can be typed.
MAX_LISTED_CUSTOMERS = 1000

_TITLES: tuple[tuple[type[GenEmailError], str], ...] = (
    (DataError, "Check the input"),
    (HubError, "Hub problem"),
    (ArtifactError, "Model problem"),
    (StrategyError, "Strategy problem"),
    (ConfigError, "Check the setting"),
)

F = TypeVar("F", bound=Callable[..., Any])


def error_title(err: GenEmailError) -> str:
    """A short modal title for the kind of error."""
    return next((title for kind, title in _TITLES if isinstance(err, kind)), "Something went wrong")


def guard(fn: F) -> F:
    """Turn exceptions raised by an event handler into ``gr.Error`` messages for the page."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except GenEmailError as err:
            logger.info("user error in %s: %s", fn.__name__, err)
            raise gr.Error(html.escape(str(err), quote=False), title=error_title(err), print_exception=False) from None
        except Exception as err:  # a bug: full traceback to the server log, a plain message to the page
            logger.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(
                f"Unexpected error ({type(err).__name__}) in {fn.__name__}. It was logged on the server; "
                "retry, and report it if it happens again.", print_exception=False,
            ) from None

    return wrapper  # type: ignore[return-value]


def options(max_new_tokens: float, temperature: float, seed: float) -> GenerationOptions:
    """Decoding options from widget values (numbers arrive as floats)."""
    try:
        return GenerationOptions(max_new_tokens=int(max_new_tokens), temperature=float(temperature),
                                 seed=int(seed or 0))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"decoding settings are not numbers ({exc})", fix="set length, temperature and seed") from None


def pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def segment_markdown(view: SegmentView) -> str:
    """L1 / L2 with probabilities and the plain-language reasons."""
    lines = [
        f"### Customer `{html.escape(view.customer_id)}`",
        f"**Value tier (L1):** {view.l1} ({pct(view.l1_proba)}) &nbsp; "
        f"**Segment (L2):** {view.l2} ({pct(view.l2_proba)})",
    ]
    if view.cold_start_reason:
        lines.append(f"> Cold start: {html.escape(view.cold_start_reason)}. The default strategy is used.")
    lines.append("\n**Why:**")
    lines += [f"- {html.escape(r)}" for r in view.reasons] or ["- (no reasons available)"]
    return "\n".join(lines)


def strategy_markdown(card: StrategyCard) -> str:
    """The strategy card: tone, greeting, focus, call to action, adapter repo@short-sha."""
    rows = [("Tone", card.tone), ("Greeting", card.greeting), ("Focus", card.focus),
            ("Call to action", card.call_to_action)]
    body = "\n".join(f"- **{k}:** {html.escape(v)}" for k, v in rows)
    return (f"### Strategy: {html.escape(card.display_name)} (`{card.segment}`)\n{body}\n"
            f"- **Adapter:** `{card.adapter_ref}`")


CHECK_NAMES = {"slots": "merge tags", "structure": "structure", "fluency": "fluency", "facts": "facts",
               "segment_fit": "segment fit", "language": "language"}


def qa_markdown(qa: dict[str, Any] | None) -> str:
    """The quality gate's verdict on one email, in a sentence."""
    if not qa:
        return ""
    failed = ", ".join(CHECK_NAMES.get(c, c) for c in qa.get("failed", []))
    noted = ", ".join(CHECK_NAMES.get(c, c) for c in qa.get("reported", []))
    note = f" Noted, not enforced for this email: {noted}." if noted else ""
    if qa.get("status") == "passed" and qa.get("attempts") == 1:
        return f"✅ Quality check passed on the first draft.{note}"
    if qa.get("status") == "passed":
        return f"✅ Quality check passed on draft {qa['attempts']} (earlier drafts failed: {failed}).{note}"
    return (f"⚠️ All {qa.get('attempts')} drafts failed the quality check ({failed}), so the strategy's "
            f"template email is shown, with the customer's facts filled in.{note}")


def latency_markdown(result: ComposeResult, variant: str) -> str:
    """The quality check's verdict, then ``0.42 s, 37 new tokens`` for one side of the comparison."""
    # Both emails come from one mixed batch: the time is that batch's, shown on both sides.
    if variant == "segmented":
        text = f"{result.latency_s:.2f} s, {result.new_tokens} new tokens, adapter `{result.view.strategy.adapter_ref}`"
        if getattr(result, "user_embedding", False):
            text += f", with the user embedding (+{result.embedding_ms:.1f} ms to encode)"
        return qa_markdown(getattr(result, "qa", None)) + "\n\n" + text
    return (qa_markdown(getattr(result, "baseline_qa", None)) + "\n\n"
            + f"{result.baseline_latency_s:.2f} s, {result.baseline_new_tokens} new tokens, adapter `baseline`")


def banner_markdown(service: GenEmailService) -> str:
    """The status line above the tabs: the loaded release, or what failed and how to fix it."""
    if not service.ready:
        reason = html.escape(service.load_error or "not loaded yet", quote=False)
        fix = html.escape(NO_RELEASE_FIX, quote=False)
        return (f"## No release is loaded\n**What failed:** {reason}\n\n**What to do:** {fix}."
                "\n\nThe Compose, Rate, Segments and Campaign tabs need a release; the Models tab can load one.")
    snap = service.snapshot
    mutable = " (a branch: not reproducible, pin a tag)" if snap.is_mutable else ""
    warn = "".join(f"\n> ⚠ {html.escape(w, quote=False)}" for w in snap.warnings)
    return (f"Release **{snap.repo_id}@{snap.revision}**{mutable} · commit `{snap.release_sha[:12]}` · "
            f"loaded {snap.loaded_at} in {snap.load_seconds:.1f} s{warn}")
