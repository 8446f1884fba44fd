"""What every tab shares: the error guard, the model queue, and Markdown renderers of service results.

The guard is the one place where exceptions become what the page shows: a GenEmailError becomes
a ``gr.Error`` carrying its "what / where / fix" message; anything else is logged with its
traceback on the server and the page gets a short, generic message (never a traceback).
"""

import functools
import html
import logging
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from genemail.errors import ArtifactError, ConfigError, DataError, GenEmailError, HubError, StrategyError
from genemail.generation.compose import ComposeResult, SegmentView, StrategyCard
from genemail.app_ui.i18n import SEGMENT_NAMES, lang_of, reason_text, t, tier_name
from genemail.service import GenEmailService, GenerationOptions

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


# A message is for a marketer, not a developer: server paths become file names, command lines and
# doc references become "ask whoever runs the app", and an echoed value is cut to a readable length.
LONG_TOKEN = 48  # characters; a longer run without spaces (an ID, a hash, pasted junk) is shortened
_PATH = re.compile(r"(?<![\w:/.])(?:/[^\s/'\"`,;()]+)+/([^\s/'\"`,;()]+)")
_DOC = re.compile(r"\s*\((?:see )?(?:docs/)?[A-Z_]+\.md[^)]*\)|\s*(?:see )?docs/[\w./#-]+")
_COMMAND = re.compile(r"`(?:genemail|python|make|hf)\b[^`]*`|\bpython -m [\w.]+|\s--[a-z][\w-]*(?:\s+[A-Z][A-Z_]*)?")
_SCHEMA = (  # the loader's schema names, as a marketer would say them
    (re.compile(r"\s+for the (?:prd|kaggle) schema", re.IGNORECASE), ""),
    (re.compile(r"the PRD schema needs", re.IGNORECASE), "a customer file needs"),
    (re.compile(r"the Kaggle schema needs its raw columns", re.IGNORECASE), "an unchanged Kaggle export works too"),
    (re.compile(r"\b(?:the )?(?:prd|kaggle) schema\b", re.IGNORECASE), "the customer-file format"),
)
_TOKEN = re.compile(r"[^\s'\"`]{%d,}" % (LONG_TOKEN + 1))


def shorten(text: str, limit: int = LONG_TOKEN) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis and its full length (an echoed ID stays readable)."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 12]}…{text[-6:]} ({len(text):,} characters)"


def checked_upload(service: GenEmailService, path: str | None, kind: str, ok_text: str,
                   lang: str) -> tuple[Any, str]:
    """(file component update, status line) for a file just dropped on the page.

    A file the app cannot use is taken off the page at once with the reason beside it, so nobody finds
    out only when they press Run; ``kind`` is the service's upload kind ("customers", "outcomes").
    """
    if not path:
        return gr.skip(), ""
    try:
        service.check_upload(path, kind)
    except GenEmailError as err:
        message = plain_message(str(err))
        gr.Warning(message, title=t("Check the file", lang))
        return None, "⚠️ " + html.escape(message, quote=False)
    return gr.skip(), ok_text


def plain_message(text: str) -> str:
    """A user error in the user's words: no server paths, command lines, doc files or schema names."""
    text = _PATH.sub(r"\1", str(text))
    text = _DOC.sub("", text)
    text = _COMMAND.sub(lambda m: " " if m.group(0).startswith((" ", "\t")) else "the command-line tool", text)
    for pattern, words in _SCHEMA:
        text = pattern.sub(words, text)
    text = _TOKEN.sub(lambda m: shorten(m.group(0)), text)
    return re.sub(r"[ \t]{2,}", " ", text).replace(" .", ".").replace(" ,", ",").strip()


class FieldError(DataError):
    """A user error about one field of the page, in the page's language: "field: what. Fix: what to do"."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None, lang: str = "en") -> None:
        self.lang = lang_of(lang)
        super().__init__(what, where=where, fix=fix)

    def render(self) -> str:
        if getattr(self, "lang", "en") != "zh":
            return super().render()
        return f"{self.where}：{self.what}。" + (f"办法：{self.fix}。" if self.fix else "")


def field_error(field: str, problem: str, fix: str, lang: Any = "en") -> DataError:
    """A user error about one field of the page, named as the page names it, in the page's language."""
    return FieldError(problem, where=field, fix=fix, lang=lang_of(lang))


def number_field(value: Any, field: str, *, low: float | None = None, high: float | None = None,
                 whole: bool = False, required: bool = True, lang: Any = "en") -> float | int | None:
    """``value`` from a number widget, checked against its field's range; the error names the field.

    Widgets carry no minimum or maximum of their own (Gradio's check would not name the field, and its
    slider would clamp silently): this is the one place a number is refused, and it says why.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise field_error(field, t("is empty", lang), t("enter a number for {field}", lang, field=field), lang)
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise field_error(field, t("{value} is not a number", lang, value=repr(shorten(str(value)))),
                          t("enter a number for {field}", lang, field=field), lang) from None
    lo, hi = _fmt_bound(low), _fmt_bound(high)
    span = (t("from {low} to {high}", lang, low=lo, high=hi) if low is not None and high is not None
            else t("of at least {low}", lang, low=lo) if low is not None else t("of at most {high}", lang, high=hi))
    if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
        raise field_error(field, t("{value} is out of range", lang, value=_fmt_bound(number)),
                          t("enter a number {span}", lang, span=span), lang)
    if whole:
        if number != int(number):
            raise field_error(field, t("{value} is not a whole number", lang, value=_fmt_bound(number)),
                              t("enter a whole number {span}", lang, span=span), lang)
        return int(number)
    return number


def _fmt_bound(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return str(value)
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


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
            raise gr.Error(html.escape(plain_message(str(err)), quote=False), title=error_title(err),
                           print_exception=False) from None
        except Exception as err:  # a bug: full traceback to the server log, a plain message to the page
            logger.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(
                f"Unexpected error ({type(err).__name__}) in {fn.__name__}. It was logged on the server; "
                "retry, and report it if it happens again.", print_exception=False,
            ) from None

    return wrapper  # type: ignore[return-value]


# The decoding controls as the page names them, with the ranges the page accepts.
LENGTH_FIELD, LENGTH_RANGE = "Email length", (8, 512)
TEMPERATURE_FIELD, TEMPERATURE_RANGE = "Variety", (0.0, 2.0)
SEED_FIELD, SEED_RANGE = "Seed", (0, 2**31 - 1)


def options(max_new_tokens: Any, temperature: Any, seed: Any, lang: Any = "en") -> GenerationOptions:
    """Decoding options from widget values, each checked with its field's name (numbers arrive as floats)."""
    length = number_field(max_new_tokens, t(LENGTH_FIELD, lang), low=LENGTH_RANGE[0], high=LENGTH_RANGE[1],
                          whole=True, lang=lang)
    temp = number_field(temperature, t(TEMPERATURE_FIELD, lang), low=TEMPERATURE_RANGE[0],
                        high=TEMPERATURE_RANGE[1], lang=lang)
    seed_value = number_field(0 if seed is None else seed, t(SEED_FIELD, lang), low=SEED_RANGE[0],
                              high=SEED_RANGE[1], whole=True, lang=lang)
    return GenerationOptions(max_new_tokens=int(length), temperature=float(temp), seed=int(seed_value))


def pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def segment_label(service: GenEmailService, segment: str, lang: Any) -> str:
    """A segment as the page names it: the strategies' display name in ``lang``, else the built-in one."""
    lang = lang_of(lang)
    return service.segment_name(segment, lang) or SEGMENT_NAMES[lang].get(str(segment), str(segment))


def segment_markdown(view: SegmentView, service: GenEmailService, lang: Any = "en") -> str:
    """Value tier and segment in words, how sure the model is, and the plain-language reasons."""
    lines = [
        t("### Customer {id}", lang, id=html.escape(shorten(view.customer_id))),
        t("**Segment:** {segment} ({p} sure) · **Value tier:** {tier} ({q} sure)", lang,
          segment=html.escape(segment_label(service, view.l2, lang)), p=pct(view.l2_proba),
          tier=tier_name(view.l1, lang), q=pct(view.l1_proba)),
    ]
    if view.cold_start_reason:
        lines.append("> " + t("New customer: {reason}. The default strategy is used.", lang,
                              reason=html.escape(reason_text(view.cold_start_reason, lang))))
    lines.append("\n" + t("**Why this segment:**", lang))
    name = functools.partial(segment_label, service, lang=lang)
    lines += [f"- {html.escape(reason_text(r, lang, name))}" for r in view.reasons] \
        or ["- " + t("(no reasons available)", lang)]
    return "\n".join(lines)


def strategy_markdown(card: StrategyCard, service: GenEmailService | None = None, lang: Any = "en") -> str:
    """The strategy card in the page's language: tone, greeting, focus, call to action.

    The strategies book has every segment's texts in both languages; when the page's language is
    not the one the emails are written in, the card says so (the greeting in the email is the
    other language's). The adapter is in the Advanced fold.
    """
    lang = lang_of(lang)
    text = service.strategy_text(card.segment, lang) if service is not None else None
    values = (text.tone, text.greeting, text.focus, text.call_to_action) if text is not None else \
        (card.tone, card.greeting, card.focus, card.call_to_action)
    rows = zip((t("Tone", lang), t("Greeting", lang), t("Focus", lang), t("Call to action", lang)), values)
    body = "\n".join(f"- **{k}:** {html.escape(v)}" for k, v in rows)
    name = segment_label(service, card.segment, lang) if service is not None else card.display_name
    out = t("### Strategy: {name}", lang, name=html.escape(name)) + f"\n{body}"
    email_lang = service.config.lang if service is not None else lang
    if text is not None and email_lang != lang:
        words = {"en": "English", "zh": "Chinese"}
        out += "\n\n" + t("(strategy texts in {page}; the emails are written in {email})", lang,
                           page=t(words[lang], lang), email=t(words[email_lang], lang))
    return out


CHECK_NAMES = {"slots": "merge tags", "structure": "structure", "fluency": "fluency", "facts": "facts",
               "segment_fit": "segment fit", "language": "language"}


def qa_markdown(qa: dict[str, Any] | None, lang: Any = "en") -> str:
    """The quality gate's verdict on one email, in a sentence."""
    if not qa:
        return ""
    failed = ", ".join(t(CHECK_NAMES.get(c, c), lang) for c in qa.get("failed", []))
    noted = ", ".join(t(CHECK_NAMES.get(c, c), lang) for c in qa.get("reported", []))
    note = " " + t("Noted, not enforced for this email: {checks}.", lang, checks=noted) if noted else ""
    if qa.get("status") == "passed" and qa.get("attempts") == 1:
        return t("✅ Quality check passed on the first draft.", lang) + note
    if qa.get("status") == "passed":
        return t("✅ Quality check passed on draft {n} (earlier drafts failed: {checks}).", lang,
                 n=qa["attempts"], checks=failed) + note
    return t("⚠️ All {n} drafts failed the quality check ({checks}), so the strategy's template email is shown, "
             "with the customer's facts filled in.", lang, n=qa.get("attempts"), checks=failed) + note


def latency_markdown(result: ComposeResult, variant: str, lang: Any = "en") -> str:
    """The quality check's verdict, then how long the email took (technical detail is in the Advanced fold)."""
    # Both emails come from one mixed batch: the time is that batch's, shown on both sides.
    if variant == "segmented":
        return (qa_markdown(getattr(result, "qa", None), lang) + "\n\n"
                + t("Written in {s} s.", lang, s=f"{result.latency_s:.2f}"))
    return (qa_markdown(getattr(result, "baseline_qa", None), lang) + "\n\n"
            + t("Written in {s} s.", lang, s=f"{result.baseline_latency_s:.2f}"))


def technical_markdown(result: ComposeResult, lang: Any = "en") -> str:
    """What produced both emails, for whoever supports the app: adapters, token counts, user embedding."""
    lines = [t("- Segmented email: {n} new tokens, adapter `{ref}`", lang, n=result.new_tokens,
               ref=result.view.strategy.adapter_ref),
             t("- Baseline email: {n} new tokens, adapter `baseline`", lang, n=result.baseline_new_tokens)]
    if getattr(result, "user_embedding", False):
        lines.append(t("- With the user embedding (+{ms} ms to encode)", lang, ms=f"{result.embedding_ms:.1f}"))
    return "\n".join(lines)


def banner_markdown(service: GenEmailService, lang: Any = "en") -> str:
    """The status line above the tabs: the loaded release, or what failed and how to fix it."""
    if not service.ready:
        reason = html.escape(plain_message(service.load_error or t("not loaded yet", lang)), quote=False)
        return (t("## No release is loaded", lang) + "\n" + t("**What failed:** {reason}", lang, reason=reason)
                + "\n\n" + t("**What to do:** ask whoever runs the app to publish a release, or load one in the "
                              "Models tab.", lang)
                + "\n\n" + t("The Compose, Rate, Segments and Campaign tabs need a release.", lang))
    snap = service.snapshot
    mutable = t(" (a branch: it can change)", lang) if snap.is_mutable else ""
    warn = "".join(f"\n> ⚠ {html.escape(plain_message(w), quote=False)}" for w in snap.warnings)
    return t("Release **{rev}**{mutable} · loaded {at}", lang, rev=html.escape(str(snap.revision)), mutable=mutable,
             at=str(snap.loaded_at)[:16].replace("T", " ")) + warn
