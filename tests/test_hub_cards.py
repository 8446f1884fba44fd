"""The card templates: one copy each, in the top-level hub_cards/, each saying what it renders and what it receives."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from genemail import resources
from tests.conftest import REPO_ROOT

HUB_CARDS = REPO_ROOT / "hub_cards"
# Folders that hold build outputs, environments and run outputs, not the project's own files.
_NOT_SOURCE = {"build", "dist", "artifacts", "out", "__pycache__", "node_modules"}


def _templates() -> list[Path]:
    return sorted(HUB_CARDS.glob("*.md"))


def _source_files() -> list[Path]:
    """Every file of the checkout outside hidden folders (.git, .venv, .hub, ...) and build outputs."""
    found = []
    for folder, dirs, files in os.walk(REPO_ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _NOT_SOURCE and not d.endswith(".egg-info")]
        found += [Path(folder) / f for f in files]
    return found


def test_hub_cards_holds_one_template_per_artifact_kind() -> None:
    names = {p.name for p in _templates()}
    assert {"segmenter_card.md", "release_card.md", "adapter_card.md", "tuned_adapter_card.md", "base_model_card.md",
            "corpus_card.md", "preferences_card.md", "results_card.md", "user_vector_card.md"} <= names


def test_no_template_exists_in_two_places() -> None:
    """A card template lives in hub_cards/ only: no copy by name or by content anywhere else in the tree."""
    templates = {p.name: p.read_bytes() for p in _templates()}
    contents = set(templates.values())
    offenders = []
    for path in _source_files():
        if path.parent == HUB_CARDS:
            continue
        if path.name in templates or path.name.endswith("_card.md"):
            offenders.append(str(path.relative_to(REPO_ROOT)))
        elif path.suffix == ".md" and path.stat().st_size < 1_000_000 and path.read_bytes() in contents:
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == [], f"card templates belong in hub_cards/ only; also found: {offenders}"


def test_the_library_reads_the_templates_from_hub_cards() -> None:
    assert resources.cards_dir() == HUB_CARDS
    assert resources.card_template("release_card.md") == HUB_CARDS / "release_card.md"


def test_a_wheels_packaged_folder_comes_before_a_checkouts(tmp_path: Path, monkeypatch) -> None:
    """Inside the package (a wheel) first, beside it (a checkout) otherwise, the wheel's place if neither."""
    package = tmp_path / "site" / "genemail"
    (package / "resources").mkdir(parents=True)
    monkeypatch.setattr(resources, "RESOURCES_DIR", package / "resources")
    try:
        resources.cards_dir.cache_clear()
        assert resources.cards_dir() == package / "hub_cards"  # neither: named in the renderer's error
        (tmp_path / "site" / "hub_cards").mkdir()
        resources.cards_dir.cache_clear()
        assert resources.cards_dir() == tmp_path / "site" / "hub_cards"
        (package / "hub_cards").mkdir()
        resources.cards_dir.cache_clear()
        assert resources.cards_dir() == package / "hub_cards"
    finally:
        resources.cards_dir.cache_clear()


@pytest.mark.parametrize("template", _templates(), ids=lambda p: p.name)
def test_every_template_names_its_artifact_and_every_field_it_uses(template: Path) -> None:
    import jinja2
    import jinja2.meta

    text = template.read_text(encoding="utf-8")
    header = re.match(r"\{#-(.*?)-#\}\n---\n", text, re.DOTALL)
    assert header, f"{template.name}: starts with a {{#- ... -#}} comment, then the front matter"
    assert "Renders: README.md of" in header.group(1)
    listed = re.search(r"Receives: (.*?)\.\n", header.group(1), re.DOTALL)
    assert listed, f"{template.name}: the header says which fields it receives"
    names = set(re.findall(r"[a-z_][a-z0-9_]*", listed.group(1)))
    used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(text))
    assert used <= names, f"{template.name} uses fields its header does not list: {sorted(used - names)}"


def test_the_header_is_not_part_of_a_rendered_card() -> None:
    from huggingface_hub import DatasetCard, DatasetCardData

    card = DatasetCard.from_template(DatasetCardData(pretty_name="x"), template_path=str(HUB_CARDS / "results_card.md"),
                                     repo_id="demo/genemail-results", experiments=[])
    text = str(card)
    assert text.startswith("---\n") and card.data.pretty_name == "x"
    assert "Renders:" not in text and "Receives:" not in text and "# GenEmail experiment results" in text
