"""Model and dataset cards rendered at publish time from the templates in ``hub_cards/``.

Metadata goes into the YAML front matter through ``huggingface_hub``'s card data classes
(``ModelCardData`` + ``EvalResult`` for the segmenter's ``model-index``), so the Hub indexes it;
the Markdown body is a Jinja template. Rendering is deterministic (no timestamps, sorted keys): an
unchanged artifact renders the same bytes, so re-publishing it makes no commit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail import taxonomy
from genemail.errors import ArtifactError
from genemail.resources import card_template

if TYPE_CHECKING:
    from genemail.hub.manifest import ReleaseManifest

SEGMENTER_TEMPLATE = card_template("segmenter_card.md")
RELEASE_TEMPLATE = card_template("release_card.md")
LICENSE = "apache-2.0"

_CONFUSION_KEYS = ("confusion_matrix", "confusion")
# Settings, not results: never shown as metrics (the card would read as if params were scores).
_NOT_RESULTS = frozenset({"params", "config", "tier_centroids", "plots", "seed"})
# A numeric value whose last name part holds one of these is an evaluation result (model-index).
_METRIC_WORDS = ("accuracy", "f1", "precision", "recall", "silhouette", "auc", "loss")
_SEGMENTER_TASK = "tabular-classification"


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ArtifactError(f"invalid JSON ({err.msg}, line {err.lineno})", where=str(path),
                            fix="re-run the training step that writes this file") from None


def _format(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def numeric_items(data: Any, prefix: str = "", depth: int = 2) -> list[tuple[str, float]]:
    """Flatten numeric scalars of a JSON object into sorted ``(dotted.name, value)`` pairs.

    Nested objects are followed ``depth`` levels deep (``per_segment.Dormant.f1``); lists (such as a
    confusion matrix) are skipped: they are rendered separately.
    """
    if not isinstance(data, dict):
        return []
    out: list[tuple[str, float]] = []
    for key in sorted(data, key=str):
        value, name = data[key], f"{prefix}{key}"
        if isinstance(value, bool) or key in _NOT_RESULTS:
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            out.append((name, value))
        elif isinstance(value, dict) and depth > 0 and key not in (*_CONFUSION_KEYS, *_NOT_RESULTS):
            out.extend(numeric_items(value, f"{name}.", depth - 1))
    return out


def is_metric(name: str) -> bool:
    """True for evaluation results (``l2_accuracy``, ``per_class.Dormant.f1``), not counts or settings."""
    last = name.rsplit(".", 1)[-1].lower()
    return not last.startswith("best_") and any(word in last for word in _METRIC_WORDS)


def confusion_markdown(metrics: Any) -> str | None:
    """The confusion matrix of ``metrics.json`` as a Markdown table, or None when absent.

    Accepts ``{"labels": [...], "matrix": [[...]]}`` or a bare list of rows (labels then are indices).
    """
    if not isinstance(metrics, dict):
        return None
    raw = next((metrics[k] for k in _CONFUSION_KEYS if k in metrics), None)
    labels: list[str] | None = None
    if isinstance(raw, dict):
        labels, raw = raw.get("labels"), raw.get("matrix", raw.get("values"))
    if not (isinstance(raw, list) and raw and all(isinstance(r, list) for r in raw)):
        return None
    labels = [str(x) for x in (labels or metrics.get("labels") or range(len(raw)))]
    if len(labels) != len(raw):
        labels = [str(i) for i in range(len(raw))]
    lines = ["| true \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(str(v) for v in row) + " |" for label, row in zip(labels, raw)]
    return "\n".join(lines)


def _pick_plot(plots: list[str], words: tuple[str, ...]) -> str | None:
    return next((p for p in plots if any(w in Path(p).name.lower() for w in words)), None)


def segmenter_trusted_types(skops_file: Path) -> list[str]:
    """The exact types ``skops.io.load`` must be told to trust for this file (sorted)."""
    import skops.io as sio

    try:
        return sorted(sio.get_untrusted_types(file=skops_file))
    except Exception as err:  # skops raises several types for a corrupt archive
        raise ArtifactError(f"cannot be read by skops ({err})", where=str(skops_file),
                            fix="re-train the segmenter: python -m training.train_segmenter --out DIR") from None


def render_segmenter_card(segmenter_dir: Path, repo_id: str, files: list[str], trusted_types: list[str]) -> str:
    """README.md of the segmenter repo: eval results in ``model-index``, metrics, confusion matrix, plots."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    metrics = _read_json(segmenter_dir / "metrics.json") or {}
    clusters = _read_json(segmenter_dir / "clusters.json") or {}
    metric_rows = numeric_items(metrics)
    counts = [(n, v) for n, v in metric_rows if n.startswith("n_") and "." not in n]
    metric_rows = [(n, v) for n, v in metric_rows if is_metric(n)]
    eval_results = [
        EvalResult(task_type=_SEGMENTER_TASK, task_name="Customer segmentation",
                   dataset_type="genemail-customers", dataset_name="GenEmail held-out customers",
                   dataset_split="test", metric_type=name, metric_name=name, metric_value=value)
        for name, value in metric_rows
    ]
    data = ModelCardData(
        library_name="sklearn", license=LICENSE, pipeline_tag=_SEGMENTER_TASK,
        tags=["genemail", "skops", "sklearn", "tabular-classification", "customer-segmentation"],
        model_name=repo_id.split("/")[-1], eval_results=eval_results or None,
        model_format="skops", model_file="segmenter.skops",
    )
    plots = sorted(f for f in files if f.startswith("plots/"))
    confusion_plot = _pick_plot(plots, ("confusion",))
    cluster_plot = _pick_plot(plots, ("cluster", "projection", "pca", "tsne", "umap"))
    card = ModelCard.from_template(
        data, template_path=str(SEGMENTER_TEMPLATE), repo_id=repo_id, files=sorted(files),
        metric_rows=[(n, _format(v)) for n, v in [*metric_rows, *counts]],
        cluster_rows=[(n, _format(v)) for n, v in numeric_items(clusters, depth=1)],
        confusion_table=confusion_markdown(metrics), confusion_plot=confusion_plot, cluster_plot=cluster_plot,
        other_plots=[p for p in plots if p not in (confusion_plot, cluster_plot)],
        trusted_types=trusted_types, l1_tiers=taxonomy.L1_TIERS, l2_segments=taxonomy.L2_SEGMENTS,
        cold_start=taxonomy.COLD_START,
    )
    return str(card)


def render_adapter_card(adapter_dir: Path, segment: str, base_model_id: str) -> str:
    """The adapter's own card with ``base_model`` rewritten to the published base repo id.

    The adapter card written at training time names the base model as it was then (often a local
    folder); on the Hub it must name the base repo, so that the Hub links adapter and base.
    """
    from huggingface_hub import ModelCard, ModelCardData

    readme = adapter_dir / "README.md"
    if readme.is_file():
        card = ModelCard(readme.read_text(encoding="utf-8"), ignore_metadata_errors=True)
    else:  # a bare PEFT folder: give it at least the metadata the Hub needs
        card = ModelCard.from_template(
            ModelCardData(), template_str="---\n{{ card_data }}\n---\n\n# GenEmail adapter: {{ segment }}\n",
            segment=segment,
        )
    old_base = card.data.get("base_model")
    card.data.base_model = base_model_id
    card.data.library_name = "peft"
    tags = list(card.data.tags or [])
    for tag in ("genemail", "lora", "peft", f"segment:{segment}"):
        if tag not in tags:
            tags.append(tag)
    card.data.tags = tags
    card.data.segment = card.data.get("segment") or segment
    if isinstance(old_base, str) and old_base and old_base != base_model_id:
        card.text = card.text.replace(old_base, base_model_id)
    return str(card)


def check_dataset_card(readme: Path) -> None:
    """Refuse a corpus README.md whose front matter does not parse (the Hub would reject it)."""
    from huggingface_hub import DatasetCard

    try:
        DatasetCard(readme.read_text(encoding="utf-8"))
    except Exception as err:  # yaml / card data errors
        raise ArtifactError(f"invalid dataset card front matter ({err})", where=str(readme),
                            fix="re-build the corpus (python -m training.build_corpus) to re-render its card") from None


@dataclass(frozen=True)
class _Row:
    name: str
    repo_id: str
    repo_type: str
    sha: str
    url: str


def tree_url(endpoint: str, repo_id: str, repo_type: str, sha: str) -> str:
    """``{endpoint}/[datasets/]{repo}/tree/{sha}``: the Hub page of one pinned commit."""
    prefix = "datasets/" if repo_type == "dataset" else ""
    return f"{endpoint.rstrip('/')}/{prefix}{repo_id}/tree/{sha}"


def render_release_card(manifest: "ReleaseManifest", repo_id: str, endpoint: str) -> str:
    """README.md of the release repo: every pinned artifact with a link to its pinned commit."""
    from huggingface_hub import ModelCard, ModelCardData

    rows = [_Row(name, p.repo_id, p.repo_type, p.sha, tree_url(endpoint, p.repo_id, p.repo_type, p.sha))
            for name, p in manifest.pins().items()]
    data = ModelCardData(license=LICENSE, tags=["genemail", "genemail-release"])
    card = ModelCard.from_template(
        data, template_path=str(RELEASE_TEMPLATE), repo_id=repo_id, artifacts=rows,
        format_version=manifest.format_version, created_at=manifest.created_at,
        strategies=manifest.strategies, base_model=manifest.base_model,
        eval_path=manifest.eval.path if manifest.eval else None,
        lineage=manifest.lineage.to_dict() if manifest.lineage else None,
    )
    return str(card)
