"""All environment-driven settings, read in one place (as ``huggingface_hub.constants`` does).

Nothing else in GenEmail reads ``os.environ`` directly. ``HF_ENDPOINT`` and ``HF_TOKEN`` are
read by ``huggingface_hub`` itself; they are mirrored here only for display and for the app.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RELEASE_REPO = "demo/genemail-release"
DEFAULT_HUB_PORT = 8765


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """Process-wide settings; build with :meth:`from_env`."""

    hf_endpoint: str | None = None
    hf_token: str | None = field(default=None, repr=False)  # never printed
    release_repo: str = DEFAULT_RELEASE_REPO
    release_revision: str = "main"
    artifacts_dir: Path = Path("artifacts")
    hub_root: Path = Path(".hub")
    hub_port: int = DEFAULT_HUB_PORT
    real_data_path: Path | None = None
    ratings_db: Path = Path("ratings.sqlite")
    ratings_repo: str | None = None
    customers_path: Path | None = None
    labels_db: Path = Path("labels.sqlite")
    labels_repo: str | None = None
    results_db: Path = Path("results.sqlite")
    results_repo: str | None = None
    mixed_lora: str = "gathered"  # how mixed-adapter batches run: "gathered" (stacked LoRA) or "peft" (its loop)
    retrain_preset: str = "full"  # how much the strategy studio's retraining jobs train ("micro": tests)

    @classmethod
    def from_env(cls) -> "Settings":
        """Read every ``GENEMAIL_*`` variable (and the Hub's) once."""
        real = _env("GENEMAIL_REAL_DATA")
        return cls(
            hf_endpoint=_env("HF_ENDPOINT"),
            hf_token=_env("HF_TOKEN"),
            release_repo=_env("GENEMAIL_RELEASE_REPO", DEFAULT_RELEASE_REPO),
            release_revision=_env("GENEMAIL_RELEASE_REVISION", "main"),
            artifacts_dir=Path(_env("GENEMAIL_ARTIFACTS", "artifacts")),
            hub_root=Path(_env("GENEMAIL_HUB_ROOT", ".hub")),
            hub_port=int(_env("GENEMAIL_HUB_PORT", str(DEFAULT_HUB_PORT))),
            real_data_path=Path(real) if real else None,
            ratings_db=Path(_env("GENEMAIL_RATINGS_DB", "ratings.sqlite")),
            ratings_repo=_env("GENEMAIL_RATINGS_REPO"),
            customers_path=Path(c) if (c := _env("GENEMAIL_CUSTOMERS")) else None,
            labels_db=Path(_env("GENEMAIL_LABELS_DB", "labels.sqlite")),
            labels_repo=_env("GENEMAIL_LABELS_REPO"),
            results_db=Path(_env("GENEMAIL_RESULTS_DB", "results.sqlite")),
            results_repo=_env("GENEMAIL_RESULTS_REPO"),
            mixed_lora=_env("GENEMAIL_MIXED_LORA", "gathered"),
            retrain_preset=_env("GENEMAIL_RETRAIN_PRESET", "full"),
        )


def real_data_path() -> Path | None:
    """The real Kaggle file: ``$GENEMAIL_REAL_DATA`` or ``../shared/data/marketing_campaign.csv``."""
    configured = Settings.from_env().real_data_path
    candidates = [configured] if configured else []
    here = Path(__file__).resolve().parent.parent
    candidates.append(here.parent / "shared" / "data" / "marketing_campaign.csv")
    for path in candidates:
        if path is not None and path.is_file():
            return path
    return None
