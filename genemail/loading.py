"""Build a running GenEmail system (segmenter, strategies, generator) from a release or a local folder.

This is the one place that turns artifacts on disk into loaded models:

* :func:`build_system` takes a :class:`~genemail.hub.release.PulledRelease` (downloaded and verified by
  the Hub layer) and loads what it pins;
* :func:`load_release` pulls a release revision and builds it;
* :func:`load_local` builds from the artifacts folder ``make train`` writes, without a Hub.

The app, ``genemail campaign`` and every other caller go through these functions.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.clock import utc_now
from genemail.errors import ArtifactError, ConfigError, ReleaseError

if TYPE_CHECKING:
    from genemail.generation.generator import AdapterRef, EmailGenerator
    from genemail.generation.strategies import StrategyBook
    from genemail.hub.manifest import ReleaseManifest
    from genemail.hub.release import PulledRelease
    from genemail.segmentation import HierarchicalSegmenter


@dataclass(frozen=True)
class LoadedSystem:
    """Everything needed to segment customers and write their emails, and where it came from.

    Immutable: switching releases builds a new one. ``repo_id``/``revision``/``release_sha`` are None
    (and ``manifest`` is None) for a local artifacts folder.
    """

    segmenter: HierarchicalSegmenter
    strategies: StrategyBook
    generator: EmailGenerator
    segmenter_dir: Path
    manifest: ReleaseManifest | None = None
    repo_id: str | None = None
    revision: str | None = None
    release_sha: str | None = None
    is_mutable: bool = False
    warnings: tuple[str, ...] = ()
    loaded_at: str = ""
    load_seconds: float = 0.0
    user_vector: Any = None  # genemail.user_vector.encoder.UserVectorModel, when the release has one (FR-13)
    # The release's own segment thresholds (a RuleConfig; the strategy studio saves them). None: the
    # segmenter's, i.e. the thresholds it was trained with.
    rules: Any = None

    @property
    def rule_config(self) -> Any:
        """The segment thresholds of this release: its own file, else the ones the segmenter learned."""
        return self.rules if self.rules is not None else self.segmenter.rule_config

    @property
    def user_vector_sha(self) -> str | None:
        """The pinned commit of the user vector (None for a local folder or a release without one)."""
        pin = self.manifest.user_vector if self.manifest is not None else None
        return pin.sha if pin is not None else None

    @property
    def release_info(self) -> dict[str, str] | None:
        """``repo_id``, ``revision``, ``sha`` for the rows a campaign writes (None for a local folder)."""
        if self.repo_id is None:
            return None
        return {"repo_id": self.repo_id, "revision": str(self.revision), "sha": str(self.release_sha)}

    def adapter_sha(self, name: str) -> str | None:
        """The pinned commit of adapter ``name`` (None when it was not pulled from a Hub)."""
        pin = self.manifest.adapters.get(name) if self.manifest is not None else None
        return pin.sha if pin is not None else None

    def adapter_repo(self, name: str) -> str | None:
        """The repo adapter ``name`` was pulled from (None for a local folder)."""
        pin = self.manifest.adapters.get(name) if self.manifest is not None else None
        return pin.repo_id if pin is not None else None


def utc_timestamp() -> str:
    """Now, as the app displays it (UTC, to the second)."""
    return utc_now("display")


def build_system(pulled: PulledRelease, *, repo_id: str, load_started: float | None = None) -> LoadedSystem:
    """Load the segmenter, strategies and generator a pulled (already verified) release pins."""
    from genemail.generation.generator import AdapterRef
    from genemail.generation.strategies import load_strategies
    from genemail.segmentation import load_segmenter

    t0 = time.perf_counter() if load_started is None else load_started
    strategies = load_strategies(pulled.strategies)
    base = pulled.base_model_path or (pulled.base_model.id if pulled.base_model else None)
    if base is None:
        raise ReleaseError("the release pins no base model", where=f"{repo_id}@{pulled.revision}",
                           fix="re-publish it from an artifacts folder with base/ or base_model.json")
    refs = [AdapterRef(n, a.path, a.repo_id, a.revision) for n, a in pulled.adapters.items()]
    generator = _generator(base, refs)
    return LoadedSystem(
        segmenter=load_segmenter(pulled.segmenter_path), strategies=strategies, generator=generator,
        segmenter_dir=pulled.segmenter_path.parent, manifest=pulled.manifest, repo_id=repo_id,
        revision=pulled.revision, release_sha=pulled.release_sha, is_mutable=pulled.is_mutable,
        warnings=(*pulled.warnings, *_missing_adapters(strategies, generator)), loaded_at=utc_timestamp(),
        load_seconds=round(time.perf_counter() - t0, 2), user_vector=_user_vector(pulled.user_vector_path, generator),
        rules=_rules(pulled.rules),
    )


def _rules(path: Path | None) -> Any:
    """The release's segment thresholds file as a RuleConfig; None when it has none."""
    if path is None:
        return None
    from genemail.segmentation.rules import rules_from_json

    return rules_from_json(Path(path).read_bytes(), where=path.name)


def load_release(repo_id: str, revision: str, *, token: str | None = None) -> LoadedSystem:
    """Pull ``repo_id@revision`` (every artifact at its pinned sha, verified) and build its system."""
    from genemail.hub.release import pull_release

    t0 = time.perf_counter()
    return build_system(pull_release(repo_id, revision, token=token), repo_id=repo_id, load_started=t0)


def load_local(artifacts: Path) -> LoadedSystem:
    """Build from a local artifacts folder (``make train``'s layout), without a Hub."""
    from genemail.generation.generator import AdapterRef
    from genemail.generation.strategies import load_strategies
    from genemail.segmentation import load_segmenter

    t0 = time.perf_counter()
    artifacts = Path(artifacts)
    segmenter_file = artifacts / "segmenter" / "segmenter.skops"
    if not segmenter_file.is_file():
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
    generator = _generator(base, refs)
    return LoadedSystem(
        segmenter=load_segmenter(segmenter_file), strategies=strategies, generator=generator,
        segmenter_dir=segmenter_file.parent, warnings=tuple(_missing_adapters(strategies, generator)),
        loaded_at=utc_timestamp(), load_seconds=round(time.perf_counter() - t0, 2),
        user_vector=_user_vector(artifacts / "user_vector", generator),
    )


def load_system(*, artifacts: Path | None, release: str | None, revision: str,
                token: str | None = None) -> LoadedSystem:
    """Exactly one of ``artifacts`` (local folder) or ``release`` (Hub repo id) must be given."""
    if (artifacts is None) == (release is None):
        raise ConfigError("pass exactly one of --artifacts or --release",
                          fix="e.g. --release demo/genemail-release --revision v1, or --artifacts artifacts")
    if release is not None:
        return load_release(release, revision, token=token)
    return load_local(artifacts)  # type: ignore[arg-type]


def _generator(base: str | Path, refs: list[AdapterRef]) -> EmailGenerator:
    from genemail.generation.generator import EmailGenerator

    return EmailGenerator.load(base, refs)


def _user_vector(path: Path | None, generator: EmailGenerator) -> Any:
    """The user vector at ``path`` checked against the generator's embedding width; None when absent."""
    if path is None or not (Path(path) / "model.safetensors").is_file():
        return None
    from genemail.user_vector.artifact import load_user_vector

    hidden = generator.model.get_input_embeddings().weight.shape[1]
    return load_user_vector(path, lm_hidden_size=hidden)


def _missing_adapters(strategies: StrategyBook, generator: EmailGenerator) -> list[str]:
    """A warning when a strategy names an adapter the system lacks (those segments cannot be written)."""
    needed = {strategies.for_segment(s).adapter for s in strategies.segments}
    missing = sorted(needed - set(generator.adapter_names))
    if not missing:
        return []
    return [f"the release has no adapter for {missing}: emails for those segments cannot be written; "
            "publish a release with every adapter"]
