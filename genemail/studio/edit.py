"""A segment's strategy as the studio edits it: the edit applied, its diff, and the file it is saved as.

The studio edits the texts the emails are written in (tone, greeting, focus, call to action) and what
the segment must never be told. :func:`edited_yaml` writes the edit into the strategies file's own
text, line by line, so the saved revision differs from the one before exactly where the operator
changed something (comments and layout stay); a file whose layout the line edit does not recognise is
written out whole instead, and both are checked to read back as exactly the edited strategies.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from genemail.errors import DataError
from genemail.generation.strategies import StrategyBook, StrategyText

# What the studio lets an operator edit (besides the phrases a segment must not be told).
STUDIO_TEXTS: tuple[str, ...] = ("tone", "greeting", "focus", "call_to_action")
# What an adapter learned: the prompt carries these texts and the reference emails are written from
# the variants, so a change to any of them is a change of the segment's voice. The phrases a segment
# must not be told and the facts' wording are read by the quality gate and the renderer when an email
# is written: changing them needs no retraining.
VOICE_FIELDS: tuple[str, ...] = ("display_name", "tone", "greeting", "focus", "call_to_action", "prompt_template",
                                 "variants")


def parse_phrases(text: str) -> tuple[str, ...]:
    """Comma-, Chinese-comma- or line-separated phrases, stripped, blanks and repeats dropped."""
    parts = str(text).replace("，", ",").replace("、", ",").replace("\n", ",").split(",")
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))


def apply_edits(text: StrategyText, edits: Mapping[str, Any]) -> StrategyText:
    """``text`` with ``edits`` applied (``None`` keeps a field); an emptied text names its field."""
    changes: dict[str, Any] = {k: str(edits[k]).strip() for k in STUDIO_TEXTS if edits.get(k) is not None}
    for name in STUDIO_TEXTS:
        if name in changes and not changes[name]:
            raise DataError("is empty", where=name.replace("_", " "), fix="write the text, or keep the old one")
    if edits.get("must_not_say") is not None:
        changes["must_not_say"] = parse_phrases(edits["must_not_say"])
    return dataclasses.replace(text, **changes)


def edited_book(book: StrategyBook, segment: str, lang: str, edited: StrategyText) -> StrategyBook:
    """A copy of ``book`` whose ``segment`` has ``edited`` as its ``lang`` texts (``book`` is not touched)."""
    strategy = book.for_segment(segment)
    trial = dataclasses.replace(strategy, texts=MappingProxyType({**strategy.texts, lang: edited}))
    return dataclasses.replace(book, strategies=MappingProxyType({**book.strategies, segment: trial}))


def studio_lines(text: StrategyText) -> list[str]:
    """A strategy's editable texts as ``name: value`` lines (what the studio's diff compares)."""
    lines = [f"{name}: {getattr(text, name)}" for name in STUDIO_TEXTS]
    return [*lines, f"must_not_say: {', '.join(text.must_not_say)}"]


def unified_diff(before: list[str], after: list[str], old_label: str, new_label: str) -> str:
    """The change as a unified diff ("" when nothing changed)."""
    return "\n".join(difflib.unified_diff(before, after, old_label, new_label, lineterm=""))


def voice_changed(before: StrategyText, after: StrategyText) -> bool:
    """Did anything the segment's adapter learned change (see :data:`VOICE_FIELDS`)?"""
    return any(getattr(before, name) != getattr(after, name) for name in VOICE_FIELDS)


# ------------------------------------------------------------------------------ the saved file

def _scalar(value: Any) -> str:
    """``value`` as a one-line YAML scalar or flow list (quoted only where YAML needs it)."""
    import yaml

    if isinstance(value, (list, tuple)):
        return yaml.safe_dump(list(value), allow_unicode=True, default_flow_style=True, width=10**9).strip()
    return yaml.safe_dump([value], allow_unicode=True, default_flow_style=True, width=10**9).strip()[1:-1]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _find(lines: list[str], start: int, end: int, indent: int, key: str) -> int | None:
    """The line of ``key:`` at exactly ``indent`` between ``start`` and ``end``."""
    pattern = re.compile(rf"^ {{{indent}}}{re.escape(key)}:(\s|$)")
    return next((i for i in range(start, end) if pattern.match(lines[i])), None)


def _block_end(lines: list[str], at: int) -> int:
    """The end (exclusive) of the value that starts on line ``at`` (every later line indented deeper)."""
    indent, i = _indent(lines[at]), at + 1
    while i < len(lines) and (not _is_content(lines[i]) or _indent(lines[i]) > indent):
        i += 1
    while i > at + 1 and not _is_content(lines[i - 1]):  # trailing blank lines and comments stay outside
        i -= 1
    return i


def _set(lines: list[str], path: tuple[str, ...], value: Any, after: str | None = None) -> bool:
    """Set the value of ``path`` (keys at indents 0, 2, 4, ...) in place; False when the layout is not found."""
    start, end = 0, len(lines)
    for depth, key in enumerate(path[:-1]):
        at = _find(lines, start, end, 2 * depth, key)
        if at is None:
            return False
        start, end = at + 1, _block_end(lines, at)
    indent = 2 * (len(path) - 1)
    new = f"{' ' * indent}{path[-1]}: {_scalar(value)}\n"
    at = _find(lines, start, end, indent, path[-1])
    if at is not None:
        if isinstance(value, str) and lines[at].split(":", 1)[1].strip().startswith('"'):
            new = f"{' ' * indent}{path[-1]}: {json.dumps(value, ensure_ascii=False)}\n"  # the file's quoting
        lines[at:_block_end(lines, at)] = [new]
        return True
    anchor = _find(lines, start, end, indent, after) if after else None
    if anchor is None:
        return False
    lines.insert(_block_end(lines, anchor), new)
    return True


def edited_yaml(source: str, segment: str | None, lang: str, edited: StrategyText | None, *, version: str,
                active_days: int | None = None) -> str:
    """The strategies file ``source`` with ``segment``'s ``lang`` texts set to ``edited``, a new ``version``
    and (when given) the guards' active window, as the text of the file to save."""
    import yaml

    from genemail.generation.strategies import parse_strategies

    data = yaml.safe_load(source)
    expected = copy.deepcopy(data)
    edits: list[tuple[tuple[str, ...], Any, str | None]] = [(("version",), version, None)]
    if segment is not None and edited is not None:
        block = expected["strategies"][segment][lang]
        for name in STUDIO_TEXTS:
            if block.get(name) != getattr(edited, name):
                edits.append((("strategies", segment, lang, name), getattr(edited, name), None))
        if tuple(block.get("must_not_say", [])) != edited.must_not_say:
            edits.append((("strategies", segment, lang, "must_not_say"), list(edited.must_not_say), "call_to_action"))
    if active_days is not None and isinstance(expected.get("guards"), dict):
        edits.append((("guards", "active_days"), int(active_days), None))
    for path, value, _ in edits:
        target = expected
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    ok = all(_set(lines, path, value, after) for path, value, after in edits)
    text = "".join(lines)
    if not ok or yaml.safe_load(text) != expected:  # a layout the line edit does not know: write it whole
        text = yaml.safe_dump(expected, allow_unicode=True, sort_keys=False, width=10**9)
    parse_strategies(yaml.safe_load(text))  # what is saved must load
    return text


def next_version(version: str, tag: str) -> str:
    """The strategies version of a studio save: the file's own version with the release tag it is saved in."""
    return f"{str(version).split('+', 1)[0]}+{tag}"
