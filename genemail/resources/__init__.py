"""Files shipped inside the package: the strategies file and the Hub card templates.

They are package data, so a regular (non-editable) install can build a corpus, render cards and
publish without the source checkout.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent
CARDS_DIR = RESOURCES_DIR / "cards"


def card_template(name: str) -> Path:
    """The card template ``name`` (e.g. ``adapter_card.md``) shipped with the package."""
    return CARDS_DIR / name
