"""Load a whole GenEmail system (segmenter, strategies, generator) from a release or a local folder.

Used by the ``genemail campaign`` command; a release is pulled and verified by
``genemail.hub.release.pull_release``, a local folder is the layout ``make train`` writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genemail.errors import ArtifactError, ConfigError, ReleaseError


@dataclass
class LoadedSystem:
    """Everything needed to segment customers and write their emails."""

    segmenter: Any
    strategies: Any
    generator: Any
    release_info: dict[str, str] | None = None  # repo_id, revision, sha (None for a local folder)
    warnings: list[str] = field(default_factory=list)
    pulled: Any = None  # the genemail.hub.release.PulledRelease it came from (None for a local folder)


def load_release_system(repo_id: str, revision: str, *, token: str | None = None) -> LoadedSystem:
    """Pull ``repo_id@revision`` (every artifact at its pinned sha) and load the models it pins."""
    from genemail.generation.generator import AdapterRef, EmailGenerator
    from genemail.generation.strategies import load_strategies
    from genemail.hub.release import pull_release

    pulled = pull_release(repo_id, revision, token=token)
    strategies = load_strategies(pulled.strategies)
    base = pulled.base_model_path or (pulled.base_model.id if pulled.base_model else None)
    if base is None:
        raise ReleaseError("the release pins no base model", where=f"{repo_id}@{revision}",
                           fix="re-publish it from an artifacts folder with base/ or base_model.json")
    refs = {n: AdapterRef(n, a.path, a.repo_id, a.revision) for n, a in pulled.adapters.items()}
    generator = EmailGenerator.load(base, refs, strategies)
    info = {"repo_id": repo_id, "revision": revision, "sha": pulled.release_sha}
    return LoadedSystem(pulled.segmenter, strategies, generator, info, list(pulled.warnings), pulled)


def load_local_system(artifacts: Path) -> LoadedSystem:
    """Load from a local artifacts folder (``make train``'s layout), without a Hub."""
    from genemail.generation.generator import AdapterRef, EmailGenerator
    from genemail.generation.strategies import load_strategies
    from genemail.segmentation import load_segmenter

    if not (artifacts / "segmenter" / "segmenter.skops").is_file():
        raise ArtifactError("no segmenter found", where=str(artifacts / "segmenter"),
                            fix="run `make train` (or pass the folder it wrote)")
    named = artifacts / "base_model.json"
    base: str | Path = json.loads(named.read_text())["id"] if named.is_file() else artifacts / "base"
    adapters_dir = artifacts / "adapters"
    refs = [AdapterRef(p.name, p) for p in sorted(adapters_dir.iterdir())
            if (p / "adapter_config.json").is_file()] if adapters_dir.is_dir() else []
    if not refs:
        raise ArtifactError("no adapters found", where=str(adapters_dir), fix="run `make train` first")
    strategies_file = artifacts / "strategies.yaml"
    strategies = load_strategies(strategies_file if strategies_file.is_file() else None)
    generator = EmailGenerator.load(base, refs, strategies)
    return LoadedSystem(load_segmenter(artifacts / "segmenter" / "segmenter.skops"), strategies, generator)


def load_system(*, artifacts: Path | None, release: str | None, revision: str,
                token: str | None = None) -> LoadedSystem:
    """Exactly one of ``artifacts`` (local folder) or ``release`` (Hub repo id) must be given."""
    if (artifacts is None) == (release is None):
        raise ConfigError("pass exactly one of --artifacts or --release",
                          fix="e.g. --release demo/genemail-release --revision v1, or --artifacts artifacts")
    if release is not None:
        return load_release_system(release, revision, token=token)
    return load_local_system(artifacts)  # type: ignore[arg-type]
