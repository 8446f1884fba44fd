"""Preference-tune segment adapters from outcome pairs with TRL's DPO trainer (the loop's learning step).

Each segment's adapter is tuned **from its current revision**: the parent adapter folder is loaded
into a ``PeftModel`` as the trainable ``default`` adapter, and TRL's ``DPOTrainer`` (given no
``ref_model``) copies it into a frozen ``ref`` adapter, so the DPO reference policy is the parent
adapter itself, not the bare base model. Only ``default`` is saved, flat, in the PEFT layout the
generator loads (``adapter_config.json`` + ``adapter_model.safetensors``), with a
``training_metrics.json`` and a card that records the lineage: parent adapter repo and commit, the
preference dataset (Hub repo and commit, or a local folder's content digest) and the experiment.

:func:`prepare_next_artifacts` writes the next release's artifacts folder: everything of the parent
folder (segmenter, base, corpus, strategies, untuned adapters) plus the tuned adapters and
``lineage.json``, so ``genemail publish`` makes the next release from it. The parent's ``eval/`` is
left out: it measured the parent's adapters, not these.

The Hub is not touched here (this stage sits before the Hub layer): ``training/train_preference.py``
resolves a Hub dataset reference and verifies the parent adapters, then calls this module.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from genemail.errors import ArtifactError, ConfigError, DataError, config_error
from genemail.generation.modeling import tied_head_lora
from genemail.training.trainer import check_positive, jsonable, render_card
from genemail.taxonomy import L2_SEGMENTS

LINEAGE_FILE = "lineage.json"
ADAPTER_FILES: tuple[str, ...] = ("adapter_config.json", "adapter_model.safetensors")
# What `genemail publish` makes a release from; the parent's eval/ is left out (it measured other adapters).
RELEASE_ENTRIES: tuple[str, ...] = ("segmenter", "base", "corpus", "adapters", "strategies.yaml", "base_model.json")


@dataclass(frozen=True)
class PreferenceTrainConfig:
    """How to DPO-tune (validated). Defaults measured on the embedded model (docs/LOOP.md)."""

    beta: float = 0.1
    learning_rate: float = 1e-3
    epochs: float = 4.0
    max_steps: int | None = None
    batch_size: int = 8
    max_length: int = 384
    warmup_ratio: float = 0.1
    seed: int = 0
    segments: tuple[str, ...] | None = None  # default: every segment the preference data has
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("beta", "learning_rate", "epochs", "batch_size", "max_length"):
            check_positive(name, getattr(self, name))
        if self.max_steps is not None:
            check_positive("max_steps", self.max_steps)
        if not 0 <= self.warmup_ratio < 1:
            raise config_error("warmup_ratio", self.warmup_ratio, "a fraction in [0, 1)")
        if self.segments is not None:
            unknown = [s for s in self.segments if s not in L2_SEGMENTS]
            if unknown or not self.segments:
                raise config_error("segments", list(self.segments), f"names from {list(L2_SEGMENTS)}")


@dataclass(frozen=True)
class PreferenceSource:
    """Where the pairs came from: a Hub dataset commit or a local folder (then only its digest)."""

    path: Path
    repo_id: str | None = None
    sha: str | None = None
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form for lineage files and cards (no local path: it means nothing elsewhere)."""
        if self.repo_id:
            return {"repo_id": self.repo_id, "repo_type": "dataset", "sha": self.sha}
        return {"repo_id": None, "local_digest": self.digest}


@dataclass
class TunedAdapter:
    """One tuned segment adapter: where it was written and what it came from."""

    segment: str
    path: Path
    parent: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)


def dpo_args(cfg: PreferenceTrainConfig, out_dir: str, n_pairs: int) -> Any:
    """``trl.DPOConfig`` for CPU fp32 training with no checkpoints and no reporting."""
    import math

    from trl import DPOConfig

    steps = cfg.max_steps or max(1, math.ceil(math.ceil(n_pairs / cfg.batch_size) * cfg.epochs))
    return DPOConfig(
        output_dir=out_dir, max_steps=steps, per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, lr_scheduler_type="cosine", warmup_steps=int(steps * cfg.warmup_ratio),
        beta=cfg.beta, max_length=cfg.max_length, logging_steps=max(1, steps // 10), save_strategy="no",
        eval_strategy="no", report_to=[], use_cpu=True, bf16=False, fp16=False, seed=cfg.seed, data_seed=cfg.seed,
        # Checkpointing trades compute for memory; on a CPU and a small model it only costs time.
        activation_checkpointing=False, disable_tqdm=not cfg.progress, dataloader_num_workers=0,
    )


def tune_adapter(base_model: str | Path, parent_dir: Path, pairs: list[dict[str, Any]], out_dir: Path,
                 cfg: PreferenceTrainConfig) -> dict[str, Any]:
    """DPO-tune the adapter in ``parent_dir`` on ``pairs``; save it flat to ``out_dir``; return metrics."""
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOTrainer

    from genemail.generation.modeling import load_base_model, load_tokenizer

    if not (parent_dir / "adapter_config.json").is_file():
        raise ArtifactError("no adapter_config.json: not a PEFT adapter", where=str(parent_dir),
                            fix="pass the artifacts folder of the release that sent the experiment")
    if not pairs:
        raise DataError("no preference pairs", where=str(parent_dir), fix="build pairs from an experiment first")
    tokenizer = load_tokenizer(base_model)
    torch.manual_seed(cfg.seed)
    with tied_head_lora():
        model = PeftModel.from_pretrained(load_base_model(base_model, tokenizer), str(parent_dir), is_trainable=True)
    head_targets = freeze_head_lora(model)
    dataset = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])
    with tempfile.TemporaryDirectory(prefix="genemail-dpo-") as scratch:
        # No ref_model: TRL copies the loaded adapter into a frozen "ref" adapter, so DPO's reference
        # policy is the parent adapter (read trl.trainer.dpo_trainer: "create a 'ref' adapter").
        trainer = DPOTrainer(model=model, args=dpo_args(cfg, scratch, len(pairs)), train_dataset=dataset,
                             processing_class=tokenizer)
        if "ref" not in model.peft_config:
            raise ArtifactError("TRL did not create the frozen reference adapter", where=str(parent_dir),
                                fix="use trl==1.16.0 (requirements.txt), which copies the loaded adapter as 'ref'")
        result = trainer.train()
        history = trainer.state.log_history
    model.delete_adapter("ref")
    model.eval()
    save_flat(model, out_dir)
    if head_targets is not None:
        restore_head_lora(parent_dir, out_dir, head_targets)
    return {"train_loss": round(float(result.training_loss), 4), "steps": int(result.global_step),
            "seconds": round(float(result.metrics.get("train_runtime", 0.0)), 1), "pairs": len(pairs),
            **_last_logged(history)}


def freeze_head_lora(model: Any) -> list[str] | None:
    """Fold a LoRA on ``lm_head`` into a frozen, untied copy of the head; return the adapter's targets.

    TRL computes DPO's log-probabilities from ``lm_head.weight`` directly, so it refuses a model whose head
    carries a LoRA. The embedded model's adapters do (docs/MODELS.md), so DPO tunes the other projections
    with the parent's head LoRA folded in: policy and reference both see exactly the parent's head, and
    :func:`restore_head_lora` puts the parent's head tensors back into the tuned adapter. Returns None
    when the head has no LoRA (nothing to do).
    """
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer

    head = model.get_output_embeddings()
    if not isinstance(head, BaseTunerLayer):
        return None
    config = model.peft_config["default"]
    targets = sorted(config.target_modules)
    weight = head.get_base_layer().weight.detach() + head.get_delta_weight("default").detach()
    folded = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    folded.weight = torch.nn.Parameter(weight.clone(), requires_grad=False)  # untied from the embedding
    base = model.get_base_model()
    base.set_output_embeddings(folded)
    base.config.tie_word_embeddings = False
    config.target_modules = {t for t in targets if t != "lm_head"}
    return targets


def restore_head_lora(parent_dir: Path, out_dir: Path, targets: list[str]) -> None:
    """Copy the parent's ``lm_head`` LoRA tensors into the tuned adapter and list ``lm_head`` again."""
    from safetensors.torch import load_file, save_file

    weights = out_dir / "adapter_model.safetensors"
    tensors = load_file(weights)
    tensors.update({k: v for k, v in load_file(parent_dir / "adapter_model.safetensors").items() if ".lm_head." in k})
    save_file(tensors, weights, metadata={"format": "pt"})
    config_path = out_dir / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["target_modules"] = targets
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_flat(model: Any, out_dir: Path) -> None:
    """Save only the ``default`` adapter into ``out_dir`` itself (PEFT puts other names in sub-folders)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), selected_adapters=["default"], save_embedding_layers=False)
    missing = [name for name in ADAPTER_FILES if not (out_dir / name).is_file()]
    if missing:
        raise ArtifactError(f"PEFT did not write {missing}", where=str(out_dir),
                            fix="check the installed peft version (requirements.txt)")


def _last_logged(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of the DPO diagnostics over the last logged steps (reward accuracy and margin, log-probs)."""
    keys = ("rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected", "logps/chosen",
            "logps/rejected")
    rows = [h for h in history if any(k in h for k in keys)]
    tail = rows[-max(1, len(rows) // 3):] if rows else []
    out: dict[str, Any] = {}
    for key in keys:
        values = [h[key] for h in tail if key in h]
        if values:
            out[key.replace("/", "_")] = round(sum(values) / len(values), 4)
    first = next((h for h in rows if "rewards/accuracies" in h), None)
    if first is not None:
        out["rewards_accuracies_first_log"] = round(float(first["rewards/accuracies"]), 4)
    return out


# --- the next release's artifacts folder ----------------------------------------------------------
def base_model_of(artifacts: Path) -> str | Path:
    """The base model an artifacts folder's adapters sit on (``base/`` or ``base_model.json``'s id)."""
    named = artifacts / "base_model.json"
    if named.is_file():
        return json.loads(named.read_text(encoding="utf-8"))["id"]
    if (artifacts / "base" / "config.json").is_file():
        return artifacts / "base"
    raise ArtifactError("no base model (base/ or base_model.json)", where=str(artifacts),
                        fix="pass the artifacts folder `make train` built")


def copy_parent(artifacts: Path, out: Path) -> None:
    """Copy what a release is made of (:data:`RELEASE_ENTRIES`) from the parent folder into ``out``.

    Hard links where possible: the parent's files are never rewritten, so sharing them is safe. Only
    those entries are copied, so ``out`` may live inside the parent folder (``artifacts/loop/...``)
    and the parent's other folders (evaluation, experiments, the loop's own files) stay behind.
    """
    import os

    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out} exists and is not empty", where="--out",
                          fix="pass a new folder for the next release's artifacts (or delete that one)")
    if out.resolve() == artifacts.resolve():
        raise ConfigError(f"--out {out} is the parent folder itself", where="--out",
                          fix="write the next release's artifacts into a new folder")

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    out.mkdir(parents=True, exist_ok=True)
    for name in RELEASE_ENTRIES:
        source = artifacts / name
        if source.is_dir():
            shutil.copytree(source, out / name, copy_function=link)
        elif source.is_file():
            link(str(source), str(out / name))


def write_card(out_dir: Path, segment: str, base_model_id: str, parent: dict[str, Any],
               source: PreferenceSource, info: dict[str, Any], metrics: dict[str, Any],
               cfg: PreferenceTrainConfig) -> None:
    """``training_metrics.json`` and the tuned adapter's card (``tuned_adapter_card.md``)."""
    from huggingface_hub import ModelCardData

    lineage = {"parent": parent, "preferences": source.to_dict(), "experiment": info.get("experiment"),
               "release": info.get("release"), "method": "dpo"}
    record = {**metrics, "segment": segment, "lineage": lineage, "config": jsonable(asdict(cfg))}
    (out_dir / "training_metrics.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
    datasets = [source.repo_id] if source.repo_id else None
    card_data = ModelCardData(library_name="peft", base_model=base_model_id, pipeline_tag="text-generation",
                              license="apache-2.0", datasets=datasets,
                              tags=["genemail", "lora", "peft", "marketing-email", "dpo", "trl", segment],
                              genemail_lineage=lineage)
    render_card("tuned_adapter_card.md", card_data, name=segment, metrics=metrics, lineage=lineage,
                base_model_id=base_model_id, cfg=asdict(cfg), segment_info=info["segments"].get(segment, {})
                ).save(out_dir / "README.md")


def release_lineage(info: dict[str, Any], source: PreferenceSource, tuned: list[TunedAdapter]) -> dict[str, Any]:
    """``lineage.json`` of the next artifacts folder: what ``genemail publish`` writes into the manifest."""
    parent = (info.get("release") or [{}])[0]
    return {
        "parent_release": {k: parent.get(k) for k in ("repo_id", "revision", "sha")},
        "experiment": info.get("experiment"),
        "preferences": source.to_dict(),
        "adapters": {t.segment: {"parent_repo": t.parent.get("repo_id"), "parent_sha": t.parent.get("sha"),
                                 "method": "dpo", "pairs": t.metrics.get("pairs")} for t in tuned},
    }


def tune_segments(artifacts: Path, out: Path, source: PreferenceSource, info: dict[str, Any],
                  records: dict[str, list[dict[str, Any]]], parents: dict[str, dict[str, Any]],
                  cfg: PreferenceTrainConfig, base_model_id: str | None = None) -> list[TunedAdapter]:
    """Write ``out`` = the parent artifacts + every tuned adapter + ``lineage.json``; return the tuned ones.

    ``parents[segment]`` names the parent adapter (``repo_id``, ``sha``, ``verified``); ``records`` are
    the pairs per segment (:func:`genemail.experiments.preferences.read_preferences`).
    """
    base = base_model_of(artifacts)
    wanted = [s for s in (cfg.segments or sorted(records)) if records.get(s)]
    missing = [s for s in wanted if not (artifacts / "adapters" / s / "adapter_config.json").is_file()]
    if missing:
        raise ArtifactError(f"no adapter for segment(s) {missing}", where=str(artifacts / "adapters"),
                            fix="pass the artifacts folder of the release that sent the experiment")
    if not wanted:
        raise DataError("the preference data has no segment with pairs", where=str(source.path),
                        fix="run a larger experiment, or lower --min-pairs when building the pairs")
    copy_parent(artifacts, out)
    tuned = []
    for segment in wanted:
        print(f"[preference] DPO on {segment!r}: {len(records[segment])} pairs", flush=True)
        target = out / "adapters" / segment
        shutil.rmtree(target)  # the copied parent: replaced by its tuned child
        metrics = tune_adapter(base, artifacts / "adapters" / segment, records[segment], target, cfg)
        parent = parents.get(segment, {})
        write_card(target, segment, base_model_id or str(base), parent, source, info, metrics, cfg)
        tuned.append(TunedAdapter(segment, target, parent, metrics))
    (out / LINEAGE_FILE).write_text(json.dumps(release_lineage(info, source, tuned), indent=2) + "\n",
                                    encoding="utf-8")
    return tuned
