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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from genemail.errors import StrategyError
from genemail.resources import RESOURCES_DIR
from genemail.taxonomy import BASELINE, COLD_START, L2_SEGMENTS

LANGS: tuple[str, ...] = ("zh", "en")
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
class StrategyBook:
    """All strategies of one versioned file. Immutable: load again to switch."""

    version: str
    strategies: Mapping[str, Strategy]
    source: Path | None = None

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
    return StrategyBook(version=str(version), strategies=MappingProxyType(book), source=source)


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
    return StrategyText(**values, variants=variants)


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
