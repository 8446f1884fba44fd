"""The page's two languages: English and Chinese, switchable in the page.

Every text the page shows is written in English in the tab modules and looked up here by that
English text (as gettext does), so a missing translation shows English instead of a key. Static
texts (labels, buttons, headings) are registered with :class:`Texts` when a widget is made; the
language switch returns one update per registered widget. Texts the server writes (segment cards,
results, messages) take the session's language from the ``lang`` state the switch sets.

Gradio's own ``gr.I18n`` translates only static texts, by the browser's locale, and the server
never learns which language the page shows; segment names, result sentences and error messages are
written on the server, so the page keeps the language in its session instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from genemail.app_ui.zh import ZH

UI_LANGS: tuple[str, ...] = ("en", "zh")
LANG_CHOICES: tuple[tuple[str, str], ...] = (("English", "en"), ("中文", "zh"))
TIER_NAMES = {"en": {"High": "High value", "Mid": "Mid value", "Low": "Low value"},
              "zh": {"High": "高价值", "Mid": "中价值", "Low": "低价值"}}
# Segment names when the loaded strategies have no text in the language (or no release is loaded).
SEGMENT_NAMES = {
    "en": {"HighValue_Active": "High value, active", "Parent_Active": "Parents, active",
           "Regular_Active": "Regular, active", "Need_Reengagement": "Needs re-engagement",
           "Dormant": "Dormant, win back", "Cold_Start": "New customer (too little data)", "unsure": "Unsure"},
    "zh": {"HighValue_Active": "高价值-活跃型", "Parent_Active": "亲子-活跃型", "Regular_Active": "普通-活跃型",
           "Need_Reengagement": "待唤回型", "Dormant": "沉睡-挽回型", "Cold_Start": "新客户（数据不足）",
           "unsure": "不确定"},
}


# The segmenter's reasons (genemail.segmentation.explain) in Chinese, pattern by pattern; a reason no
# pattern knows stays in English rather than being guessed at.
_RANK = ((re.compile(r"top (\d+)% of customers"), r"位于前 \1%"),
         (re.compile(r"bottom (\d+)% of customers"), r"位于后 \1%"), (re.compile(r"about average"), "接近平均"))
_REASONS = (
    (re.compile(r"^Last purchase (\d+) days ago \(≤ (\d+)\): active$"), r"上次购买在 \1 天前（≤ \2）：活跃"),
    (re.compile(r"^Last purchase (\d+) days ago \(> (\d+), ≤ (\d+)\): cooling off, worth re-engaging$"),
     r"上次购买在 \1 天前（> \2，≤ \3）：开始冷淡，值得唤回"),
    (re.compile(r"^Last purchase (\d+) days ago \(> (\d+)\): lapsed$"), r"上次购买在 \1 天前（> \2）：已沉睡"),
    (re.compile(r"^[Ss]pends (\S+) a year, (.+)$"), r"年消费 \1，\2"),
    (re.compile(r"^[Hh]ousehold income (\S+), (.+)$"), r"家庭收入 \1，\2"),
    (re.compile(r"^(\d+) purchases, (.+)$"), r"购买 \1 次，\2"),
    (re.compile(r"^(\d+) child(?:ren)? at home: parent$"), r"家中有 \1 个孩子：亲子客户"),
    (re.compile(r"^Past spending counts (\d+)% after (\d+) quiet days \(half-life (\d+) days\)$"),
     r"过往消费按 \1% 计入（已 \2 天未购买，半衰期 \3 天）"),
    (re.compile(r"^Cold start \((.+)\): default strategy until we know more$"), r"新客户（\1）：在了解更多之前使用默认策略"),
    (re.compile(r"^Too little data for a segment: (.+); the default strategy is used\.$"), r"数据不足，无法分群：\1；使用默认策略。"),
)
_TIER_LEAD = re.compile(r"^(High|Mid|Low) value tier: (.+)$")
_BORDERLINE = re.compile(r"^Borderline: (\d+)% confident in (\S+)$")


def reason_text(reason: str, lang: Any, segment_name: Callable[[str], str] | None = None) -> str:
    """One of the segmenter's reasons in ``lang`` (Chinese by pattern; unknown wording stays English)."""
    if lang_of(lang) != "zh":
        return reason
    lead = _TIER_LEAD.match(reason)
    if lead:
        return f"{TIER_NAMES['zh'][lead.group(1)]}层级：" + reason_text(lead.group(2), lang, segment_name)
    borderline = _BORDERLINE.match(reason)
    if borderline:
        name = segment_name(borderline.group(2)) if segment_name else borderline.group(2)
        return f"处于边界：归入{name}的把握为 {borderline.group(1)}%"
    for pattern, words in _REASONS:
        if pattern.match(reason):
            text = pattern.sub(words, reason)
            for rank, rank_words in _RANK:
                text = rank.sub(rank_words, text)
            return text
    return reason


def lang_of(lang: Any) -> str:
    """A known UI language (anything else, e.g. an API caller's empty state, is English)."""
    return lang if lang in UI_LANGS else "en"


def t(text: str, lang: Any = "en", **values: Any) -> str:
    """``text`` in ``lang`` (English is the key), with ``{name}`` placeholders filled from ``values``."""
    out = ZH.get(text, text) if lang_of(lang) == "zh" else text
    return out.format(**values) if values else out


def tier_name(tier: str, lang: Any) -> str:
    """An L1 tier as the page says it (``High`` -> ``High value`` / ``高价值``)."""
    return TIER_NAMES[lang_of(lang)].get(str(tier), str(tier))


@dataclass
class Texts:
    """Widgets whose static texts follow the language switch: (widget, attribute -> English text)."""

    items: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    lang: str = "en"  # the language the page is built in

    def add(self, widget: Any, **texts: Any) -> Any:
        """Register ``widget``'s ``label``/``info``/``value``/``placeholder``/``choices`` texts; return it."""
        self.items.append((widget, texts))
        return widget

    def make(self, factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``factory(*args, **kwargs)`` with its texts in the page's language, registered for the switch."""
        # An input's value is the user's, never reset by a language switch: only static texts follow it.
        static = factory.__name__ in ("Markdown", "Button")
        texts = {k: v for k, v in kwargs.items() if k in TRANSLATED and v is not None and (k != "value" or static)}
        shown = {k: render(k, v, self.lang) for k, v in texts.items()}
        if args and factory.__name__ in ("Markdown", "Button") and (isinstance(args[0], str) or callable(args[0])):
            texts["value"], args = args[0], (render("value", args[0], self.lang), *args[1:])
        return self.add(factory(*args, **{**kwargs, **shown}), **texts)

    @property
    def widgets(self) -> list[Any]:
        return [widget for widget, _ in self.items]

    def updates(self, lang: Any) -> list[Any]:
        """One ``gr.update`` per registered widget, its texts in ``lang``."""
        import gradio as gr

        return [gr.update(**{k: render(k, v, lang) for k, v in texts.items()}) for _, texts in self.items]


TRANSLATED = ("label", "info", "placeholder", "choices", "value")


def render(attr: str, value: Any, lang: Any) -> Any:
    """A registered text in ``lang``: strings translated, ``choices`` as (translated label, value) pairs."""
    if callable(value):  # a text made from data (e.g. with a count), in the language asked
        return value(lang_of(lang))
    if attr == "choices":
        return [(t(c[0], lang), c[1]) if isinstance(c, tuple) else c for c in value]
    return t(value, lang) if isinstance(value, str) else value


def each(lang: Any, texts: Iterable[str]) -> list[str]:
    """Several texts in ``lang``."""
    return [t(x, lang) for x in texts]
