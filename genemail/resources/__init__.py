"""Files the library reads at run time: the strategies file, the demo truth and the Hub card templates.

The YAML files are package data here. The card templates live in the repository's top-level
``hub_cards/`` folder, where the project layout puts them, and the build maps that folder into the
package as ``genemail/hub_cards/`` (see ``setup.py``), so a regular (non-editable) install can render
cards and publish without the source checkout. :func:`cards_dir` finds them in either place.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent
CARDS_FOLDER = "hub_cards"


@lru_cache(maxsize=1)
def cards_dir() -> Path:
    """The card templates folder: inside the installed package (a wheel), else beside it (a checkout).

    A checkout and an editable install import ``genemail`` from the checkout, whose ``hub_cards/``
    sits beside the package; a wheel carries the same files as ``genemail/hub_cards/``. When neither
    exists (a broken install) the wheel's place is returned, and the renderer's "card template
    missing" error names it; nothing raises here, because modules resolve their template at import.
    """
    packaged = RESOURCES_DIR.parent / CARDS_FOLDER
    beside = RESOURCES_DIR.parent.parent / CARDS_FOLDER
    return beside if not packaged.is_dir() and beside.is_dir() else packaged


def card_template(name: str) -> Path:
    """The card template ``name`` (e.g. ``adapter_card.md``) from :func:`cards_dir`."""
    return cards_dir() / name
