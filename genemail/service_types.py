"""The app service's value types: its configuration and the results it hands to the UI.

All frozen dataclasses, validated on creation; :mod:`genemail.service` does the work.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError, config_error

if TYPE_CHECKING:
    import pandas as pd

    from genemail.generation.generator import GenerationConfig
    from genemail.settings import Settings

LANGS: tuple[str, ...] = ("zh", "en")


# ----------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class ServiceConfig:
    """Where the service gets its release, customers and ratings from; validated on creation.

    Args:
        release_repo: release repo id (``namespace/genemail-release``).
        revision: tag, branch or commit of the release to load first.
        token: Hub token (``None``: huggingface_hub reads ``HF_TOKEN`` itself).
        hf_endpoint: the Hub URL, for links only (huggingface_hub reads ``HF_ENDPOINT`` itself).
        customers_path: demo customer file; ``None`` means ``n_demo_customers`` synthetic ones.
        ratings_db: SQLite file of the ratings store.
        ratings_repo: dataset repo the ratings are exported to; ``None`` keeps them local.
        work_dir: where campaign outputs and the export folder go (``None``: a temp folder).
        lang: language of the prompts and strategy texts (``zh`` or ``en``).
        max_campaign_rows: largest campaign run from the app.
        batch_size: rows per generation batch in campaigns.
        pair_cache_size: rating pairs (per release) kept so raters of one customer share one generation.
    """

    release_repo: str
    revision: str = "main"
    token: str | None = field(default=None, repr=False)
    hf_endpoint: str | None = None
    customers_path: Path | None = None
    n_demo_customers: int = 500
    demo_seed: int = 0
    ratings_db: Path = Path("ratings.sqlite")
    ratings_repo: str | None = None
    work_dir: Path | None = None
    lang: str = "zh"
    max_campaign_rows: int = 2000
    batch_size: int = 8
    pair_cache_size: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.release_repo, str) or self.release_repo.count("/") != 1:
            raise config_error("release_repo", self.release_repo, "'namespace/name' (GENEMAIL_RELEASE_REPO)")
        if not isinstance(self.revision, str) or not self.revision.strip():
            raise config_error("revision", self.revision, "a tag, branch or commit (GENEMAIL_RELEASE_REVISION)")
        for name in ("n_demo_customers", "max_campaign_rows", "batch_size", "pair_cache_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise config_error(name, value, "a positive integer")
        if self.lang not in LANGS:
            raise config_error("lang", self.lang, f"one of {LANGS}")
        if self.customers_path is not None and not Path(self.customers_path).is_file():
            raise ConfigError(f"customers_path={str(self.customers_path)!r} does not exist",
                              fix="pass an existing CSV/Parquet customer file, or none for synthetic customers")

    @classmethod
    def from_settings(cls, settings: "Settings", **overrides: Any) -> "ServiceConfig":
        """Defaults from :class:`genemail.settings.Settings`; ``overrides`` (CLI flags) win when not None."""
        values: dict[str, Any] = {
            "release_repo": settings.release_repo, "revision": settings.release_revision,
            "token": settings.hf_token, "hf_endpoint": settings.hf_endpoint,
            "ratings_db": settings.ratings_db, "ratings_repo": settings.ratings_repo,
            # GENEMAIL_CUSTOMERS: used once genemail.settings exposes it (see docs/APP.md).
            "customers_path": getattr(settings, "customers_path", None),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class GenerationOptions:
    """The Compose tab's decoding controls. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 96
    temperature: float = 0.0
    seed: int = 0
    top_p: float = 0.95

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) \
                or not 1 <= self.max_new_tokens <= 1024:
            raise config_error("max_new_tokens", self.max_new_tokens, "a whole number from 1 to 1024")
        if not isinstance(self.temperature, (int, float)) or not 0 <= self.temperature <= 5:
            raise config_error("temperature", self.temperature, "a number from 0 (greedy) to 5")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise config_error("seed", self.seed, "a whole number >= 0")

    def generation_config(self, lang: str) -> "GenerationConfig":
        """The generator's config (sampling only when ``temperature > 0``)."""
        from genemail.generation.generator import GenerationConfig

        sample = self.temperature > 0
        return GenerationConfig(max_new_tokens=self.max_new_tokens, do_sample=sample,
                                temperature=float(self.temperature) if sample else 1.0,
                                top_p=self.top_p, seed=self.seed, lang=lang)


# ----------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StrategyCard:
    """A strategy as shown to users, with the adapter it runs on pinned to a commit."""

    segment: str
    display_name: str
    tone: str
    greeting: str
    focus: str
    call_to_action: str
    adapter: str
    adapter_repo: str | None
    adapter_sha: str | None

    @property
    def adapter_ref(self) -> str:
        """``repo@short-sha`` (or the adapter name when it was not pulled from a Hub)."""
        if not self.adapter_repo:
            return self.adapter
        return f"{self.adapter_repo}@{(self.adapter_sha or '?')[:7]}"


@dataclass(frozen=True)
class SegmentView:
    """One customer's L1/L2 segment, probabilities, plain-language reasons and strategy."""

    customer_id: str
    l1: str
    l1_proba: float
    l2: str
    l2_proba: float
    cold_start_reason: str | None
    reasons: tuple[str, ...]
    strategy: StrategyCard

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["strategy"]["adapter_ref"] = self.strategy.adapter_ref
        out["reasons"] = list(self.reasons)
        return out


@dataclass(frozen=True)
class ComposeResult:
    """The segmented and baseline emails for one customer, and what produced them."""

    view: SegmentView
    email: str
    baseline_email: str
    latency_s: float
    baseline_latency_s: float
    new_tokens: int
    baseline_new_tokens: int
    release: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "view"}
        return {**self.view.to_dict(), **out}


@dataclass(frozen=True)
class RatingPair:
    """A blind pair shown to a rater; the variants and shas stay on the server (in session state)."""

    submission_id: str
    customer_id: str
    segment: str
    strategy: StrategyCard
    left_variant: str
    right_variant: str
    left_email: str
    right_email: str
    release_repo: str
    release_revision: str
    release_sha: str
    adapter_sha: str
    baseline_adapter_sha: str


@dataclass(frozen=True)
class CampaignResult:
    """Files and summaries of one campaign run."""

    jsonl_path: Path
    csv_path: Path
    n_customers: int
    preview: "pd.DataFrame"
    counts: "pd.DataFrame"
    seconds: float
    report: str = ""


@dataclass(frozen=True)
class ReleaseSnapshot:
    """One loaded release; never mutated (a switch builds a new one)."""

    repo_id: str
    revision: str
    release_sha: str
    is_mutable: bool
    manifest: Any  # genemail.hub.manifest.ReleaseManifest
    segmenter: Any  # genemail.segmentation.HierarchicalSegmenter
    strategies: Any  # genemail.generation.strategies.StrategyBook
    generator: Any  # genemail.generation.generator.EmailGenerator
    segmenter_dir: Path | None
    loaded_at: str
    load_seconds: float
    _pairs: OrderedDict = field(default_factory=OrderedDict, repr=False, compare=False)
    _pairs_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _overview: dict = field(default_factory=dict, repr=False, compare=False)
    warnings: tuple[str, ...] = ()

    def adapter_sha(self, name: str) -> str | None:
        """The pinned commit of adapter ``name`` (from the manifest, the source of truth)."""
        pin = self.manifest.adapters.get(name)
        return pin.sha if pin is not None else None

    def adapter_repo(self, name: str) -> str | None:
        pin = self.manifest.adapters.get(name)
        return pin.repo_id if pin is not None else None

    def info(self) -> dict[str, str]:
        return {"repo": self.repo_id, "revision": self.revision, "sha": self.release_sha}


def utc_timestamp() -> str:
    """Now, as the app displays it (UTC, to the second)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


