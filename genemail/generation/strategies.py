"""Communication strategies (FR-11, FR-12): one validated, immutable record per segment.

The strategies live in one versioned YAML file (default: ``genemail/resources/strategies.yaml``).
:func:`load_strategies` reads and validates it on every call and returns a *new* frozen
:class:`StrategyBook`, so a running app switches strategies by loading again, without a restart.

Validation is strict on purpose: a typo in a template placeholder would otherwise surface as a
``KeyError`` deep inside a campaign run. Every error names the record, the language, the field
and what to do.
"""

from __future__ import annotations

import string
from functools import lru_cache
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from genemail.errors import StrategyError
from genemail.generation.slots import FactWording
from genemail.resources import RESOURCES_DIR
from genemail.taxonomy import BASELINE, COLD_START, L2_SEGMENTS, LANGS

DEFAULT_LANG = "zh"
TEXT_FIELDS: tuple[str, ...] = (
    "display_name", "tone", "greeting", "focus", "call_to_action", "prompt_template",
)
VARIANT_PARTS: tuple[str, ...] = ("greeting", "body", "call_to_action")
MIN_VARIANTS = 8
# Every record the file must contain: the L2 segments, the default (cold start) and the baseline.
REQUIRED_RECORDS: tuple[str, ...] = (*L2_SEGMENTS, COLD_START, BASELINE)
ADAPTER_NAMES: tuple[str, ...] = (*L2_SEGMENTS, BASELINE)

# Placeholders a prompt template may use. Strategy placeholders carry segment information, so the
# baseline record may not use them; profile placeholders are filled by genemail.generation.prompts.
STRATEGY_PLACEHOLDERS: frozenset[str] = frozenset(
    {"segment", "display_name", "tone", "greeting", "focus", "call_to_action"}
)
PROFILE_PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "profile", "customer_id", "age", "children", "kid_age", "marital_status", "family_size",
        "income_band", "recency", "favourite_category", "tenure_years",
    }
)
# Placeholders an email body may use: each renders one fixed, regex-checkable fact form.
FACT_PLACEHOLDERS: frozenset[str] = frozenset(
    {"recency_fact", "children_fact", "category_fact", "income_fact", "tenure_fact"}
)


@dataclass(frozen=True)
class EmailVariants:
    """The interchangeable parts a reference email is assembled from (greeting + body + CTA)."""

    greeting: tuple[str, ...]
    body: tuple[str, ...]
    call_to_action: tuple[str, ...]


@dataclass(frozen=True)
class StrategyText:
    """One language's texts of a strategy."""

    display_name: str
    tone: str
    greeting: str
    focus: str
    call_to_action: str
    prompt_template: str
    variants: EmailVariants | None = None
    # Phrases this segment's emails must never contain (the quality gate's segment-fit check).
    must_not_say: tuple[str, ...] = ()


@dataclass(frozen=True)
class Strategy:
    """A segment's communication strategy; its texts are per language (``strategy.text(lang)``)."""

    segment: str
    adapter: str
    texts: Mapping[str, StrategyText]

    def text(self, lang: str) -> StrategyText:
        """This strategy's texts in ``lang``; :class:`StrategyError` if the file has none."""
        try:
            return self.texts[lang]
        except KeyError:
            raise StrategyError(
                f"strategy {self.segment!r} has no texts for language {lang!r}",
                where=f"strategies.{self.segment}",
                fix=f"add a '{lang}:' block to the record or use one of {sorted(self.texts)}",
            ) from None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.texts)


@dataclass(frozen=True)
class Guards:
    """What no email may say to some customers, whatever its segment (the gate's segment-fit check).

    ``active`` phrases (win-back wording) are refused for a customer who visited within ``active_days``;
    ``no_children`` phrases (parent wording) for a customer without children. Per language.
    """

    active_days: int
    active: Mapping[str, tuple[str, ...]]
    no_children: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class StrategyBook:
    """All strategies of one versioned file. Immutable: load again to switch.

    ``facts`` is each language's wording of the merge-tag facts; ``guards`` what no email may say to
    some customers. A file without these blocks takes the packaged file's.
    """

    version: str
    strategies: Mapping[str, Strategy]
    source: Path | None = None
    facts: Mapping[str, FactWording] = field(default_factory=lambda: MappingProxyType({}))
    guards: Guards | None = None

    def wording(self, lang: str) -> FactWording:
        """How ``lang`` states each fact; :class:`StrategyError` if the file has no such block."""
        try:
            return self.facts[lang]
        except KeyError:
            raise StrategyError(f"no fact wording for language {lang!r}", where=f"{self.source or 'strategies'}: facts",
                                fix=f"add 'facts: {{{lang}: ...}}' to the strategies file") from None

    @property
    def segments(self) -> tuple[str, ...]:
        """Every record name in file order (the L2 segments, Cold_Start, baseline)."""
        return tuple(self.strategies)

    @property
    def default(self) -> Strategy:
        """The default strategy, used for cold-start customers."""
        return self.strategies[COLD_START]

    @property
    def baseline(self) -> Strategy:
        return self.strategies[BASELINE]

    def for_segment(self, name: str) -> Strategy:
        """The strategy of segment ``name``; :class:`StrategyError` for an unknown name."""
        try:
            return self.strategies[name]
        except KeyError:
            raise StrategyError(
                f"no strategy for segment {name!r}",
                where=str(self.source or "strategies"),
                fix=f"use one of {list(self.strategies)}",
            ) from None


def default_strategies_path() -> Path:
    """The strategies file shipped with the package."""
    return RESOURCES_DIR / "strategies.yaml"


@lru_cache(maxsize=1)
def packaged_strategies() -> "StrategyBook":
    """The packaged strategies file, loaded once (for callers that were handed no book)."""
    return load_strategies()


def default_wording(lang: str) -> FactWording:
    """The packaged strategies file's wording of the facts in ``lang``."""
    return packaged_strategies().wording(lang)


def load_strategies(path: Path | str | None = None) -> StrategyBook:
    """Read and validate a strategies file (default: the packaged one); a new book every call."""
    import yaml

    source = Path(path) if path is not None else default_strategies_path()
    if not source.is_file():
        raise StrategyError(
            "strategies file not found", where=str(source),
            fix="pass an existing YAML file, or omit the path to use the packaged strategies",
        )
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StrategyError(f"not valid YAML ({exc})", where=str(source), fix="fix the YAML syntax") from None
    return parse_strategies(data, source=source)


def parse_strategies(data: Any, source: Path | None = None) -> StrategyBook:
    """Validate an already-parsed strategies mapping and build the immutable book."""
    where = str(source or "strategies")
    if not isinstance(data, Mapping):
        raise StrategyError("top level is not a mapping", where=where, fix="start the file with 'version:' and 'strategies:'")
    version = data.get("version")
    if version in (None, "") or isinstance(version, (bool, Mapping, list)):
        raise StrategyError(
            f"missing or invalid top-level 'version' ({version!r})", where=where,
            fix="add a top-level line such as version: \"1.0\"",
        )
    records = data.get("strategies")
    if not isinstance(records, Mapping) or not records:
        raise StrategyError("missing 'strategies' mapping", where=where, fix="add 'strategies:' with one record per segment")
    for name in records:
        if name not in REQUIRED_RECORDS:
            raise StrategyError(
                f"unknown segment {name!r}", where=f"{where}: strategies.{name}",
                fix=f"rename the record to one of {list(REQUIRED_RECORDS)} (names come from genemail.taxonomy)",
            )
    missing = [name for name in REQUIRED_RECORDS if name not in records]
    if missing:
        raise StrategyError(
            f"missing records {missing}", where=f"{where}: strategies",
            fix="add a record for every L2 segment, Cold_Start and baseline",
        )
    book = {name: _parse_record(name, records[name], where) for name in records}
    facts, guards = _parse_facts(data, where), _parse_guards(data, where)
    return StrategyBook(version=str(version), strategies=MappingProxyType(book), source=source,
                        facts=MappingProxyType(facts), guards=guards)


def _packaged_block(key: str) -> Any:
    """The packaged strategies file's ``key`` block (for files that leave it out)."""
    import yaml

    data = yaml.safe_load(default_strategies_path().read_text(encoding="utf-8"))
    return data[key]


def _parse_facts(data: Mapping[str, Any], where: str) -> dict[str, FactWording]:
    block = data.get("facts")
    if block is None:
        block, where = _packaged_block("facts"), str(default_strategies_path())
    if not isinstance(block, Mapping) or DEFAULT_LANG not in block:
        raise StrategyError("'facts' has no zh block", where=f"{where}: facts",
                            fix="give 'facts:' a block per language with the fact wordings")
    unknown = [lang for lang in block if lang not in LANGS]
    if unknown:
        raise StrategyError(f"unknown languages {unknown}", where=f"{where}: facts", fix=f"use {list(LANGS)}")
    return {lang: FactWording.parse(block[lang], f"{where}: facts.{lang}") for lang in block}


def _parse_guards(data: Mapping[str, Any], where: str) -> Guards:
    block = data.get("guards")
    if block is None:
        block, where = _packaged_block("guards"), str(default_strategies_path())
    here = f"{where}: guards"
    days = block.get("active_days") if isinstance(block, Mapping) else None
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise StrategyError(f"active_days is {days!r}", where=f"{here}.active_days",
                            fix="give the number of days within which a customer counts as active (e.g. 30)")
    lists: dict[str, dict[str, tuple[str, ...]]] = {"active": {}, "no_children": {}}
    for lang in LANGS:
        lang_block = block.get(lang, {})
        for key in lists:
            words = lang_block.get(key, []) if isinstance(lang_block, Mapping) else None
            if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                raise StrategyError(f"{key} is not a list of phrases", where=f"{here}.{lang}.{key}",
                                    fix="give a YAML list of non-empty phrases")
            lists[key][lang] = tuple(words)
    return Guards(days, MappingProxyType(lists["active"]), MappingProxyType(lists["no_children"]))


def _parse_record(name: str, record: Any, where: str) -> Strategy:
    here = f"{where}: strategies.{name}"
    if not isinstance(record, Mapping):
        raise StrategyError("record is not a mapping", where=here, fix="give the record 'adapter:' and per-language blocks")
    adapter = record.get("adapter")
    allowed = (BASELINE,) if name == BASELINE else ADAPTER_NAMES
    if adapter not in allowed:
        raise StrategyError(
            f"field 'adapter' is {adapter!r}", where=f"{here}.adapter", fix=f"set it to one of {list(allowed)}",
        )
    unknown = [key for key in record if key != "adapter" and key not in LANGS]
    if unknown:
        raise StrategyError(
            f"unknown keys {unknown}", where=here, fix=f"use only 'adapter' and language blocks {list(LANGS)}",
        )
    if DEFAULT_LANG not in record:
        raise StrategyError(
            f"missing the '{DEFAULT_LANG}' block", where=here, fix=f"add '{DEFAULT_LANG}:' with {list(TEXT_FIELDS)}",
        )
    texts = {lang: _parse_text(name, lang, record[lang], f"{here}.{lang}") for lang in LANGS if lang in record}
    return Strategy(segment=name, adapter=str(adapter), texts=MappingProxyType(texts))


def _parse_text(name: str, lang: str, block: Any, here: str) -> StrategyText:
    if not isinstance(block, Mapping):
        raise StrategyError("language block is not a mapping", where=here, fix=f"give it the fields {list(TEXT_FIELDS)}")
    values: dict[str, str] = {}
    for field in TEXT_FIELDS:
        value = block.get(field)
        if not isinstance(value, str) or not value.strip():
            raise StrategyError(
                f"missing or empty field {field!r}", where=f"{here}.{field}", fix=f"give {field!r} a non-empty text",
            )
        values[field] = value
    allowed = PROFILE_PLACEHOLDERS if name == BASELINE else PROFILE_PLACEHOLDERS | STRATEGY_PLACEHOLDERS
    used = _placeholders(values["prompt_template"], f"{here}.prompt_template")
    _check_placeholders(used, allowed, f"{here}.prompt_template")
    if not used & PROFILE_PLACEHOLDERS:
        raise StrategyError(
            "prompt_template uses no profile placeholder, so every customer would get the same prompt",
            where=f"{here}.prompt_template", fix="include {profile} (or single fields such as {age})",
        )
    variants = _parse_variants(name, block.get("variants"), f"{here}.variants")
    banned = block.get("must_not_say", [])
    if not isinstance(banned, list) or not all(isinstance(w, str) and w.strip() for w in banned):
        raise StrategyError("must_not_say is not a list of phrases", where=f"{here}.must_not_say",
                            fix="give a YAML list of non-empty phrases, or leave the field out")
    return StrategyText(**values, variants=variants, must_not_say=tuple(banned))


def _parse_variants(name: str, block: Any, here: str) -> EmailVariants | None:
    # Only L2 segments have reference emails; Cold_Start and baseline may omit variants.
    if block is None and name not in L2_SEGMENTS:
        return None
    if not isinstance(block, Mapping):
        raise StrategyError(
            "missing 'variants'", where=here, fix=f"add 'variants:' with {list(VARIANT_PARTS)} (>= {MIN_VARIANTS} each)",
        )
    parts: dict[str, tuple[str, ...]] = {}
    for part in VARIANT_PARTS:
        items = block.get(part)
        where = f"{here}.{part}"
        if not isinstance(items, list) or len(items) < MIN_VARIANTS:
            count = len(items) if isinstance(items, list) else 0
            raise StrategyError(
                f"{count} variants, need at least {MIN_VARIANTS}", where=where, fix=f"add more distinct {part} texts",
            )
        if not all(isinstance(item, str) and item.strip() for item in items) or len(set(items)) != len(items):
            raise StrategyError("variants must be distinct non-empty texts", where=where, fix="remove empty or duplicate entries")
        allowed = FACT_PLACEHOLDERS if part == "body" else frozenset()
        for index, item in enumerate(items):
            _check_placeholders(_placeholders(item, f"{where}[{index}]"), allowed, f"{where}[{index}]")
        parts[part] = tuple(items)
    if all(_placeholders(body, here) for body in parts["body"]):
        raise StrategyError(
            "every body needs profile facts, so a customer with missing data gets no email",
            where=f"{here}.body", fix="keep at least one body without {..._fact} placeholders",
        )
    return EmailVariants(**parts)


def _placeholders(template: str, where: str) -> frozenset[str]:
    """Field names in a ``str.format`` template; malformed braces raise :class:`StrategyError`."""
    try:
        return frozenset(field for _, field, _, _ in string.Formatter().parse(template) if field is not None)
    except ValueError as exc:
        raise StrategyError(
            f"malformed template ({exc})", where=where, fix="balance the braces; write a literal brace as {{ or }}",
        ) from None


def _check_placeholders(used: frozenset[str], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(used - allowed)
    if unknown:
        raise StrategyError(
            f"placeholders {unknown} cannot be filled from the customer profile",
            where=where, fix=f"use only {sorted(allowed) or 'plain text (no placeholders)'}",
        )
