"""The user vector as one Hub artifact: ``model.safetensors`` + ``config.json`` + ``metrics.json`` + card.

``model.safetensors`` holds the encoder and projector weights and the feature standardization;
``config.json`` the :class:`~genemail.user_vector.encoder.UserVectorConfig` (with its format
version); ``metrics.json`` the training metrics and the ablation; ``README.md`` the model card
rendered from ``hub_cards/user_vector_card.md``. Loading checks every file and says
what to do when one is missing or does not fit; no pickle is ever read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genemail.errors import ArtifactError, ConfigError
from genemail.resources import card_template
from genemail.user_vector.encoder import UserVectorConfig, UserVectorModel

WEIGHTS, CONFIG, METRICS, CARD = "model.safetensors", "config.json", "metrics.json", "README.md"
ARTIFACT_FILES: tuple[str, ...] = (WEIGHTS, CONFIG, METRICS, CARD)
TEMPLATE = card_template("user_vector_card.md")
REPO_NAME = "genemail-user-vector"  # <namespace>/genemail-user-vector on the Hub


def render_card(config: UserVectorConfig, metrics: dict[str, Any], base_model_id: str) -> str:
    """The artifact's model card (metadata in the YAML front matter, the ablation in the body)."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(license="apache-2.0", library_name="genemail", base_model=base_model_id,
                         tags=["genemail", "user-embedding", "soft-prompt", "fr-13"])
    card = ModelCard.from_template(data, template_path=str(TEMPLATE), config=config.to_dict(), metrics=metrics,
                                   ablation=metrics.get("ablation"), base_model_id=base_model_id)
    return str(card)


def save_user_vector(model: UserVectorModel, out: Path, metrics: dict[str, Any], base_model_id: str) -> Path:
    """Write the artifact folder ``out`` (created); returns it."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": "pt", "genemail": "user_vector"})
    (out / CONFIG).write_text(json.dumps(model.config.to_dict(), indent=2), encoding="utf-8")
    (out / METRICS).write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / CARD).write_text(render_card(model.config, metrics, base_model_id), encoding="utf-8")
    return out


def load_user_vector(path: Path | str, lm_hidden_size: int | None = None) -> UserVectorModel:
    """Load the artifact folder ``path`` (eval mode). ``lm_hidden_size``: refuse an encoder made for
    a language model of another width (its tokens would not fit the embedding table)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    for name in (WEIGHTS, CONFIG):
        if not (path / name).is_file():
            raise ArtifactError(f"no {name}: not a user-vector artifact", where=str(path),
                                fix="pass the folder written by training.train_user_vector (or pulled from the Hub)")
    try:
        config = UserVectorConfig.from_dict(json.loads((path / CONFIG).read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, ConfigError) as exc:
        raise ArtifactError(f"invalid {CONFIG}: {exc}", where=str(path), fix="retrain the user vector (make train)") from exc
    if lm_hidden_size is not None and config.lm_hidden_size != lm_hidden_size:
        raise ArtifactError(f"the user vector makes tokens of width {config.lm_hidden_size}, the language model "
                            f"embeds in {lm_hidden_size}", where=str(path),
                            fix="use the user vector trained on this base model (same release)")
    model = UserVectorModel(config)
    try:
        model.load_state_dict(load_file(str(path / WEIGHTS)))
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise ArtifactError(f"{WEIGHTS} does not fit {CONFIG}: {exc}", where=str(path),
                            fix="retrain the user vector (make train)") from exc
    return model.eval()


def read_metrics(path: Path | str) -> dict[str, Any]:
    """The artifact's ``metrics.json`` (empty when absent)."""
    file = Path(path) / METRICS
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
