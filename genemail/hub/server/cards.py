"""README front matter, read once and the same way for ``validate-yaml`` and for ``repo_info``'s ``cardData``.

YAML is richer than JSON and can be hostile, so :func:`parse_card` is bounded and total:

* **Aliases** are shared nodes after parsing; expanding them for JSON can grow without bound (a
  448-byte "billion laughs" README would become hundreds of MB). The node graph is measured with
  aliases expanded *before* anything is built: more than :data:`MAX_NODES` values or
  :data:`MAX_EXPANDED_BYTES` of text, or a recursive alias, is an error.
* **Types** JSON lacks are rendered as JSON: dates as ``YYYY-MM-DD``, timestamps as UTC
  ``YYYY-MM-DDTHH:MM:SS.mmmZ``, NaN and infinities as ``null`` (as ``JSON.stringify`` does on the
  Hub), ``!!binary`` as base64 text, sets as sorted lists, non-string keys as strings.
* Anything else that fails (bad syntax, unhashable keys, huge integers, deep nesting) is an error
  message, never an exception.

A README whose front matter has errors gets ``cardData: null`` in ``repo_info`` and a 400 listing the
errors from ``validate-yaml``: the two always agree.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

MAX_CARD_BYTES = 1_000_000  # READMEs larger than this are not parsed for cardData
MAX_NODES = 20_000  # values after alias expansion: real cards have a few hundred
MAX_EXPANDED_BYTES = 2_000_000  # scalar text after alias expansion
MAX_DEPTH = 64


@dataclass(frozen=True)
class Card:
    """A README's front matter: ``metadata`` (JSON-ready, None without front matter) or ``errors``."""

    metadata: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def front_matter(text: str) -> str | None:
    """The YAML between a first line ``---`` and the next ``---`` line; None if the README has none.

    Raises ``ValueError`` when the opening line has no closing one.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
    if end is None:
        raise ValueError("the YAML front matter has no closing '---' line")
    return "\n".join(lines[1:end])


def parse_card(text: str) -> Card:
    """Read a README's front matter into JSON-ready metadata, or say why it cannot be."""
    try:
        block = front_matter(text)
    except ValueError as err:
        return Card(errors=[str(err)])
    if block is None:
        return Card()
    try:
        meta = _load_bounded(block)
    except _CardProblem as err:
        return Card(errors=[str(err)])
    if meta is None:
        return Card(metadata={})
    if not isinstance(meta, dict):
        return Card(errors=["the YAML front matter must be a mapping (key: value)"])
    return Card(metadata=meta)


class _CardProblem(Exception):
    """Internal: the reason a front matter is refused."""


def _load_bounded(block: str) -> Any:
    import yaml

    loader = yaml.SafeLoader(block)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node)
        return to_json(loader.construct_document(node))
    except RecursionError:
        raise _CardProblem(f"the YAML front matter is nested more than {MAX_DEPTH} levels deep") from None
    except yaml.YAMLError as err:
        raise _CardProblem(f"invalid YAML front matter: {err}") from None
    except (ValueError, TypeError, OverflowError) as err:  # e.g. an integer of 5,000 digits
        raise _CardProblem(f"invalid value in the YAML front matter: {err}") from None
    finally:
        loader.dispose()


def _measure(root: Any) -> None:
    """Count values and scalar bytes with aliases expanded, without expanding them (memoized per node)."""
    import yaml

    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def visit(node: Any, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _CardProblem("the YAML front matter has a recursive alias (an anchor used inside itself)")
        if depth > MAX_DEPTH:
            raise _CardProblem(f"the YAML front matter is nested more than {MAX_DEPTH} levels deep")
        active.add(key)
        if isinstance(node, yaml.ScalarNode):
            total = (1, len(node.value))
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
            total = (1, 0)
            for child in children:
                count, size = visit(child, depth + 1)
                total = (total[0] + count, total[1] + size)
                if total[0] > MAX_NODES or total[1] > MAX_EXPANDED_BYTES:
                    raise _CardProblem(
                        f"the YAML front matter expands to more than {MAX_NODES} values or "
                        f"{MAX_EXPANDED_BYTES} bytes (aliases: *name) and is refused")
        active.discard(key)
        sizes[key] = total
        return total

    visit(root, 0)


def to_json(value: Any) -> Any:
    """Render what the YAML safe loader builds as JSON values (see the module docstring)."""
    if isinstance(value, dict):
        return {_json_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_json(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
                f"{value.second:02d}.{value.microsecond // 1000:03d}Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    rendered = to_json(key)
    return rendered if isinstance(rendered, str) else json.dumps(rendered)
