"""Would vLLM load this LoRA adapter? The checks vLLM applies, run before an adapter is published or served.

vLLM serves PEFT LoRA adapters as they are (``vllm serve BASE --enable-lora --lora-modules NAME=PATH``), but
refuses a few PEFT features and silently ignores others. This module mirrors its checks so that a release
never holds an adapter a serving engine will refuse, and says which field to change:

* ``vllm/lora/peft_helper.py`` (``PEFTHelper.__post_init__``, ``_validate_features``, ``validate_legal``):
  ``r`` a positive integer and, with ``rank_pattern``, at most ``--max-lora-rank``; ``bias`` ``"none"`` and no
  ``lora_bias``; no ``modules_to_save``; no DoRA (``use_dora``); ``init_lora_weights`` a plain init (not
  PiSSA, OLoRA, CorDA or LoftQ, which change the base weights); no aLoRA, ``layer_replication`` or QALoRA;
  no ``trainable_token_indices`` (vLLM caps them; GenEmail never trains tokens);
* ``vllm/config/lora.py`` (``MaxLoRARanks``): ``--max-lora-rank`` is one of 1, 8, 16, 32, 64, 128, 256, 320, 512;
* ``vllm/lora/lora_model.py`` (``from_local_checkpoint``, ``from_lora_tensors``): the tensors name only
  modules the model can wrap (its linear projections, and ``lm_head``, which vLLM serves through
  ``LogitsProcessorWithLoRA``), full ``embed_tokens`` / ``lm_head`` weights (resized embeddings) are
  skipped without a word, an embedding LoRA must have the base vocabulary size, and DoRA
  magnitude vectors are not loaded.

GenEmail adds what vLLM would only find at serving time or never: ``peft_type`` is ``LORA``, every tensor's
shape fits the base model's projection, no added tokens (``added_tokens.json``, ``new_embeddings``), and the
adapter's ``base_model_name_or_path`` / ``revision`` are the release's base model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genemail.errors import ArtifactError, config_error

VLLM_MAX_LORA_RANKS: tuple[int, ...] = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm/config/lora.py
# init_lora_weights values that only set the initial adapter weights (vllm PEFTHelper._init_is_supported)
PLAIN_INITS: tuple[str, ...] = ("gaussian", "eva", "orthogonal", "mica", "lora_ga")
# PEFT fields of features vLLM does not implement: field -> what it is
UNSUPPORTED_FEATURES: dict[str, str] = {
    "use_dora": "DoRA",
    "lora_bias": "a bias on lora_B (lora_bias)",
    "alora_invocation_tokens": "Activated LoRA (aLoRA)",
    "layer_replication": "layer_replication",
    "use_qalora": "QALoRA",
    "use_bdlora": "block-diagonal LoRA (BD-LoRA)",
    "trainable_token_indices": "trained token embeddings (trainable_token_indices)",
}
ADDED_TOKEN_FILES: tuple[str, ...] = ("added_tokens.json", "new_embeddings.safetensors", "new_embeddings.bin")
WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
LORA_PARTS = frozenset({"lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector"})
PEFT_PREFIX = "base_model.model."
_EMBEDDINGS = ("embed_tokens", "lm_head", "wte", "embed_in", "embed_out")
LORA_HEADS = ("lm_head",)  # output projections vLLM wraps with LogitsProcessorWithLoRA (LoRA A/B, never full weights)
RETRAIN = "retrain the adapter with python -m training.train_adapters (a plain LoRA: bias none, no DoRA)"


@dataclass(frozen=True)
class ServingLimits:
    """The serving engine's LoRA settings an adapter must fit (``vllm serve --max-lora-rank``)."""

    max_lora_rank: int = 64

    def __post_init__(self) -> None:
        if self.max_lora_rank not in VLLM_MAX_LORA_RANKS:
            raise config_error("max_lora_rank", self.max_lora_rank, f"one of vLLM's ranks {VLLM_MAX_LORA_RANKS}")


@dataclass(frozen=True)
class BaseModelInfo:
    """What the checks need of the base model: its id, revision, vocabulary and linear projections.

    ``linear`` None means the base model's config could not be read (offline, gated): the checks that need
    its shapes are skipped, and the report says so.
    """

    id: str | None
    revision: str | None
    vocab_size: int | None = None
    linear: Mapping[str, tuple[int, int]] | None = None  # module path (model.layers.0.self_attn.q_proj) -> (in, out)

    @property
    def projections(self) -> tuple[str, ...]:
        """Leaf names of the projections an adapter may target (q_proj, v_proj, ...), sorted."""
        return tuple(sorted({name.rsplit(".", 1)[-1] for name in self.linear or {}}))


@dataclass(frozen=True)
class Problem:
    """One reason vLLM would refuse (or silently mis-serve) an adapter: where, what, and the fix."""

    adapter: str
    file: str
    field: str
    value: str
    rule: str
    fix: str

    def render(self) -> str:
        """``adapter 'Dormant': adapter_config.json, field use_dora=true: <rule>; fix: <fix>``."""
        return f"adapter {self.adapter!r}: {self.file}, field {self.field}={self.value}: {self.rule}; fix: {self.fix}"


@dataclass(frozen=True)
class AdapterReport:
    """The checks' result for one adapter; ``rank`` is its largest LoRA rank (for ``--max-lora-rank``)."""

    name: str
    rank: int
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when vLLM would load the adapter as it is."""
        return not self.problems


# ------------------------------------------------------------------------------------- base model

def base_model_info(config_path: Path, *, model_id: str | None, revision: str | None) -> BaseModelInfo:
    """Read a base model's ``config.json`` and list its linear projections (built on the meta device: no weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(Path(config_path).parent))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(f"cannot read the base model's config to check the adapters: {exc}",
                            where=str(config_path), fix="publish a base folder with a transformers config.json")
    linear = {name: (m.in_features, m.out_features) for name, m in model.named_modules(remove_duplicate=False)
              if isinstance(m, torch.nn.Linear)
              and (name.rsplit(".", 1)[-1] not in _EMBEDDINGS or name.rsplit(".", 1)[-1] in LORA_HEADS)}
    vocab = model.get_input_embeddings().num_embeddings
    return BaseModelInfo(id=model_id, revision=revision, vocab_size=int(vocab), linear=linear)


# ----------------------------------------------------------------------------------------- checks

def check_adapter(name: str, config: Mapping[str, Any], weights: Path | None, files: Iterable[str],
                  base: BaseModelInfo | None, limits: ServingLimits = ServingLimits()) -> AdapterReport:
    """Every check on one adapter: its ``adapter_config.json`` (parsed), weights file and file names."""
    found: list[Problem] = []

    def problem(file: str, name_: str, value: Any, rule: str, fix: str) -> None:
        found.append(Problem(name, file, name_, json.dumps(value, ensure_ascii=False, default=str)[:80], rule, fix))

    rank = _check_config(config, base, limits, problem)
    notes: list[str] = []
    for added in sorted(set(files) & set(ADDED_TOKEN_FILES)):
        problem(added, "(file)", added, "the adapter adds tokens to the vocabulary; vLLM no longer serves LoRA "
                "adapters with extra vocabulary", "train without adding tokens (keep the base tokenizer)")
    if weights is None:
        problem(WEIGHTS_FILE, "(file)", None, "no adapter_model.safetensors: vLLM finds no tensors",
                "save the adapter with save_pretrained(safe_serialization=True)")
    else:
        rank = max(rank, _check_tensors(weights, base, limits, problem, notes))
    return AdapterReport(name, rank, tuple(found), tuple(notes))


def check_folder(name: str, folder: Path, base: BaseModelInfo | None,
                 limits: ServingLimits = ServingLimits()) -> AdapterReport:
    """:func:`check_adapter` on a PEFT adapter folder (what ``save_pretrained`` wrote, or a pulled snapshot)."""
    folder = Path(folder)
    config = read_config(folder / CONFIG_FILE, name)
    files = [p.name for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    weights = folder / WEIGHTS_FILE
    return check_adapter(name, config, weights if weights.is_file() else None, files, base, limits)


def read_config(path: Path | bytes, name: str) -> dict[str, Any]:
    """``adapter_config.json`` as a dict, or :class:`ArtifactError` naming the adapter and the file."""
    where = f"adapter {name!r}, {CONFIG_FILE}"
    try:
        data = json.loads(path if isinstance(path, bytes) else Path(path).read_bytes())
    except FileNotFoundError:
        raise ArtifactError("missing (not a PEFT adapter)", where=where, fix=RETRAIN) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(f"not valid JSON ({err})", where=where, fix=RETRAIN) from None
    if not isinstance(data, dict):
        raise ArtifactError("not a JSON object", where=where, fix=RETRAIN)
    return data


def _check_config(config: Mapping[str, Any], base: BaseModelInfo | None, limits: ServingLimits,
                  problem: Any) -> int:
    """The adapter_config.json rules; returns the largest rank it declares (0 when unreadable)."""
    cf = CONFIG_FILE
    if config.get("peft_type") != "LORA":
        problem(cf, "peft_type", config.get("peft_type"), "vLLM serves LoRA adapters only", RETRAIN)
    ranks = [config.get("r"), *dict(config.get("rank_pattern") or {}).values()]
    if not all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in ranks):
        problem(cf, "r", config.get("r"), "the LoRA rank must be a positive integer", RETRAIN)
        ranks = [0]
    elif max(ranks) > limits.max_lora_rank:
        problem(cf, "r", max(ranks), f"the rank exceeds the serving limit --max-lora-rank {limits.max_lora_rank} "
                f"(vLLM allows at most {VLLM_MAX_LORA_RANKS[-1]})",
                f"retrain with r <= {limits.max_lora_rank} (training.train_adapters --r)")
    if not isinstance(config.get("lora_alpha"), (int, float)) or isinstance(config.get("lora_alpha"), bool):
        problem(cf, "lora_alpha", config.get("lora_alpha"), "lora_alpha must be a number", RETRAIN)
    if config.get("bias", "none") != "none":
        problem(cf, "bias", config.get("bias"), "vLLM does not support adapter biases", "retrain with bias='none'")
    if config.get("modules_to_save"):
        problem(cf, "modules_to_save", config.get("modules_to_save"), "vLLM only loads LoRA weights, not fully "
                "trained modules", "retrain with modules_to_save=None (LoRA on the projections only)")
    for key, what in UNSUPPORTED_FEATURES.items():
        if config.get(key):
            problem(cf, key, config.get(key), f"vLLM does not support {what}", f"retrain without {key}")
    init = config.get("init_lora_weights", True)
    if isinstance(init, str) and init.lower() not in PLAIN_INITS:
        problem(cf, "init_lora_weights", init, "this init changes the base weights when PEFT loads the adapter, "
                "which vLLM does not do", "convert it to a plain LoRA (PEFT's path_initial_model_for_weight_"
                "conversion) or retrain with init_lora_weights=true")
    _check_targets(config.get("target_modules"), base, problem)
    _check_base(config, base, problem)
    return max(ranks)


def _check_targets(targets: Any, base: BaseModelInfo | None, problem: Any) -> None:
    if not targets:
        problem(CONFIG_FILE, "target_modules", targets, "the adapter targets no module", RETRAIN)
        return
    if base is None or base.linear is None:
        return
    if isinstance(targets, str):  # PEFT: a regex matched in full against module paths
        bad = [] if any(re.fullmatch(targets, m) for m in base.linear) else [targets]
    else:
        bad = sorted(set(targets) - set(base.projections))
    if bad:
        problem(CONFIG_FILE, "target_modules", bad, f"not linear projections of the base model "
                f"({', '.join(base.projections)})", "target only the base model's projections, e.g. q_proj,v_proj")


def _check_base(config: Mapping[str, Any], base: BaseModelInfo | None, problem: Any) -> None:
    if base is None or base.id is None:
        return
    named = config.get("base_model_name_or_path")
    if named != base.id:
        problem(CONFIG_FILE, "base_model_name_or_path", named, f"the release's base model is {base.id!r}",
                "train the adapter on the release's base model (genemail publish writes its id)")
    revision = config.get("revision")
    if revision not in (None, base.revision):
        pinned = (f"the release pins base revision {base.revision}" if base.revision else
                  "the release publishes its own base (artifacts/base), so no other base revision can match")
        problem(CONFIG_FILE, "revision", revision, pinned,
                "retrain on the release's base, or clear revision if it was trained on it")


def _check_tensors(weights: Path, base: BaseModelInfo | None, limits: ServingLimits, problem: Any,
                   notes: list[str]) -> int:
    """Tensor names and shapes (read from the safetensors header only); returns the largest tensor rank."""
    from safetensors import safe_open

    wf, rank = WEIGHTS_FILE, 0
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for a corrupt file
        problem(wf, "(file)", str(weights.name), f"unreadable safetensors file ({exc})", RETRAIN)
        return 0
    for key, shape in sorted(shapes.items()):
        module, kind, param = parse_key(key)
        if kind is None:
            if module.rsplit(".", 1)[-1] in _EMBEDDINGS or "trainable_tokens" in key:
                problem(wf, key, list(shape), "a full embedding or lm_head weight: the embeddings were resized "
                        "(tokens added); vLLM skips these tensors", "train without adding tokens or resizing")
            else:
                problem(wf, key, list(shape), "not a LoRA tensor (a fully trained module); vLLM does not load it",
                        "retrain with modules_to_save=None")
        elif kind == "lora_magnitude_vector":
            problem(wf, key, list(shape), "a DoRA magnitude vector; vLLM does not load DoRA",
                    "retrain without use_dora")
        elif kind.startswith("lora_embedding"):
            if base is not None and base.vocab_size and kind == "lora_embedding_A" and shape[-1] != base.vocab_size:
                problem(wf, key, list(shape), f"an embedding LoRA for {shape[-1]} tokens, but the base model has "
                        f"{base.vocab_size}", "train without resizing the embeddings")
            else:
                problem(wf, key, list(shape), "a LoRA on the token embeddings; vLLM serves LoRA on the linear "
                        "projections only", "target only the projections (q_proj, v_proj, ...)")
        elif param == "bias":
            problem(wf, key, list(shape), "a bias on a LoRA weight; vLLM does not support adapter biases",
                    "retrain with bias='none' and lora_bias=False")
        else:
            rank = max(rank, _check_lora_shape(key, module, kind, shape, base, problem))
    if rank > limits.max_lora_rank:
        problem(wf, "lora_A", rank, f"tensor rank {rank} exceeds --max-lora-rank {limits.max_lora_rank}",
                f"retrain with r <= {limits.max_lora_rank}")
    if base is None or base.linear is None:
        notes.append("base model config unavailable: target modules and tensor shapes were not checked against it")
    return rank


def parse_key(key: str) -> tuple[str, str | None, str | None]:
    """``base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`` -> (module path, kind, param).

    ``kind`` is the LoRA part (``lora_A``, ``lora_B``, ...) or None for a tensor that is no LoRA part;
    ``param`` is what follows it (``weight``, ``bias``) or None.
    """
    parts = key.removeprefix(PEFT_PREFIX).split(".")
    at = next((i for i, part in enumerate(parts) if part in LORA_PARTS), None)
    if at is None:
        return ".".join(parts[:-1]) or key, None, None
    return ".".join(parts[:at]), parts[at], parts[-1] if at + 1 < len(parts) else None


def _check_lora_shape(key: str, module: str, kind: str, shape: tuple[int, ...], base: BaseModelInfo | None,
                      problem: Any) -> int:
    """A ``lora_A`` is ``[r, in]`` and a ``lora_B`` is ``[out, r]`` of a base projection; returns r."""
    wf = WEIGHTS_FILE
    if len(shape) != 2:
        problem(wf, key, list(shape), "a LoRA weight must be a matrix", RETRAIN)
        return 0
    r = shape[0] if kind == "lora_A" else shape[1]
    if base is None or base.linear is None:
        return r
    dims = base.linear.get(module)
    if dims is None:
        problem(wf, key, list(shape), f"module {module!r} is not a linear projection of the base model",
                "target only the base model's projections, e.g. q_proj,v_proj")
        return r
    fan_in, fan_out = dims
    expected = (r, fan_in) if kind == "lora_A" else (fan_out, r)
    if shape != expected:
        problem(wf, key, list(shape), f"does not fit the base projection ({fan_in} -> {fan_out}): expected "
                f"{list(expected)}", "train the adapter on this release's base model")
    return r


# ------------------------------------------------------------------------------------- reporting

def serving_rank(reports: Sequence[AdapterReport]) -> int:
    """The smallest ``--max-lora-rank`` vLLM accepts that fits every adapter."""
    top = max((r.rank for r in reports), default=1)
    return next((r for r in VLLM_MAX_LORA_RANKS if r >= top), VLLM_MAX_LORA_RANKS[-1])


def problems_of(reports: Sequence[AdapterReport]) -> list[Problem]:
    """Every problem of every adapter, in adapter order."""
    return [p for r in reports for p in r.problems]


def refuse(reports: Sequence[AdapterReport], *, where: str, fix: str) -> None:
    """Raise :class:`ArtifactError` listing each problem (field, rule, fix) when any adapter has one."""
    found = problems_of(reports)
    if not found:
        return
    lines = "\n".join(f"  - {p.render()}" for p in found[:12])
    more = f"\n  - ... and {len(found) - 12} more" if len(found) > 12 else ""
    bad = sorted({p.adapter for p in found})
    raise ArtifactError(f"vLLM would refuse {len(bad)} adapter(s) ({', '.join(bad)}):\n{lines}{more}\n",
                        where=where, fix=fix)


# ------------------------------------------------------------------------- at publish and at pull

FORCE_FIX = ("fix the adapters as each line says, or publish anyway with `genemail publish --force` (the release "
             "records it; `genemail serve` still serves such adapters through PEFT, vLLM will not)")


def check_for_publish(api: Any, cfg: Any, plans: Sequence[Any], limits: ServingLimits = ServingLimits()) -> Any:
    """Check every planned adapter repo of ``genemail publish``; refuse unless ``cfg.force``.

    Returns the :class:`~genemail.hub.manifest.ServingCheck` the release records.
    """
    from genemail.hub.manifest import ServingCheck

    adapters = [p for p in plans if p.name.startswith("adapter:")]
    if not adapters:
        return ServingCheck(passed=True)
    base = _publish_base(api, cfg, plans)
    reports = [_check_plan(p, base, limits) for p in adapters]
    found = problems_of(reports)
    if found and not cfg.force:
        refuse(reports, where=str(cfg.artifacts / "adapters"), fix=FORCE_FIX)
    return ServingCheck(passed=not found, forced=bool(found), max_lora_rank=serving_rank(reports),
                        problems=tuple(p.render() for p in found))


def check_pulled(manifest: Any, adapters: Mapping[str, Path], base_path: Path | None, *,
                 token: str | None = None, limits: ServingLimits = ServingLimits()) -> list[str]:
    """Check a pulled release's adapters; refuse unless the release was forced at publish (then warn).

    Returns warnings for the pull report.
    """
    if not adapters:
        return []
    base = _pulled_base(manifest, base_path, token)
    reports = [check_folder(name, path, base, limits) for name, path in sorted(adapters.items())]
    found = problems_of(reports)
    warnings = [note for r in reports[:1] for note in r.notes]
    if not found:
        return warnings
    if manifest.serving is not None and manifest.serving.forced:
        return [*warnings, f"this release was published with --force past the vLLM adapter check: "
                f"{len(found)} problem(s), e.g. {found[0].render()}; vLLM will refuse those adapters"]
    refuse(reports, where="release adapters", fix="re-publish the release with fixed adapters (see each line), "
           "or with `genemail publish --force` to record that they only serve through PEFT")
    return warnings


def _check_plan(plan: Any, base: BaseModelInfo | None, limits: ServingLimits) -> AdapterReport:
    """:func:`check_adapter` on a planned adapter repo (its files may be rewritten bytes)."""
    import tempfile

    name = plan.name.split(":", 1)[1]
    if CONFIG_FILE not in plan.files:
        raise ArtifactError("missing (not a PEFT adapter)", where=f"adapter {name!r}, {CONFIG_FILE}", fix=RETRAIN)
    config = read_config(plan.blob(CONFIG_FILE), name)
    weights = plan.files.get(WEIGHTS_FILE)
    top_level = [path for path in plan.files if "/" not in path]
    if not isinstance(weights, bytes):
        return check_adapter(name, config, weights, top_level, base, limits)
    with tempfile.TemporaryDirectory(prefix="genemail-check-") as tmp:  # safetensors reads a file
        spilled = Path(tmp) / WEIGHTS_FILE
        spilled.write_bytes(weights)
        return check_adapter(name, config, spilled, top_level, base, limits)


def _publish_base(api: Any, cfg: Any, plans: Sequence[Any]) -> BaseModelInfo | None:
    """The base model the planned adapters must fit: the published ``base/`` or ``base_model.json``'s model."""
    from genemail.hub.publish import _base_model_ref

    base_plan = next((p for p in plans if p.name == "base"), None)
    if base_plan is not None and isinstance(base_plan.files.get("config.json"), Path):
        return base_model_info(base_plan.files["config.json"], model_id=base_plan.repo_id, revision=None)
    ref = _base_model_ref(api, cfg, {})
    return None if ref is None else _remote_base(ref.id, ref.revision, None)


def _pulled_base(manifest: Any, base_path: Path | None, token: str | None) -> BaseModelInfo | None:
    ref = manifest.base_model
    if ref is None:
        return None
    if base_path is not None and (Path(base_path) / "config.json").is_file():
        return base_model_info(Path(base_path) / "config.json", model_id=ref.id, revision=ref.revision)
    return _remote_base(ref.id, ref.revision, token)


def _remote_base(model_id: str, revision: str, token: str | None) -> BaseModelInfo:
    """A Hub base model's info from its ``config.json`` at ``revision`` (id and revision only when unreachable)."""
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(model_id, "config.json", revision=revision, token=token)
    except Exception:  # noqa: BLE001 - offline or gated: the checks that need the base are skipped (and said so)
        return BaseModelInfo(id=model_id, revision=revision)
    return base_model_info(Path(path), model_id=model_id, revision=revision)


# ------------------------------------------------------------------------------- vllm serve command

def adapter_rank(folder: Path) -> int:
    """The largest LoRA rank an adapter folder declares (``r`` and ``rank_pattern``)."""
    config = read_config(Path(folder) / CONFIG_FILE, Path(folder).name)
    ranks = [config.get("r"), *dict(config.get("rank_pattern") or {}).values()]
    return max(r for r in ranks if isinstance(r, int))


def vllm_serve_command(release: Any) -> list[str]:
    """``vllm serve BASE --enable-lora --max-loras K --max-lora-rank R --lora-modules NAME=PATH ...``.

    ``release`` is a :class:`~genemail.hub.release.PulledRelease`: BASE is the pinned base snapshot (or the
    base model id at its pinned ``--revision``), each PATH the adapter's pinned snapshot, K the number of
    adapters (a mixed batch may use them all) and R the smallest rank vLLM allows that fits them all.
    """
    if release.base_model is None and release.base_model_path is None:
        raise ArtifactError("the release pins no base model", where=str(release.release_path),
                            fix="re-publish it from an artifacts folder with base/ or base_model.json")
    if not release.adapters:
        raise ArtifactError("the release has no adapters to serve", where=str(release.release_path),
                            fix="publish a release with the adapters `make train` writes")
    cmd = ["vllm", "serve"]
    if release.base_model_path is not None:
        cmd.append(str(release.base_model_path))
    else:
        cmd += [release.base_model.id, "--revision", release.base_model.revision]
    ranks = [adapter_rank(a.path) for a in release.adapters.values()]
    rank = next((r for r in VLLM_MAX_LORA_RANKS if r >= max(ranks)), VLLM_MAX_LORA_RANKS[-1])
    cmd += ["--enable-lora", "--max-loras", str(len(release.adapters)), "--max-lora-rank", str(rank),
            "--lora-modules", *(f"{name}={a.path}" for name, a in sorted(release.adapters.items()))]
    return cmd
