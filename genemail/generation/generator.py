"""EmailGenerator: one base model, every segment's LoRA adapter, mixed-batch generation.

The base model is loaded once; each adapter is loaded into one ``PeftModel`` under its name (a
segment name or ``baseline``). A batch mixes customers of different segments *and* their
baseline rows: PEFT's ``adapter_names=[...]`` routes each row through its own adapter inside one
forward pass, so a campaign runs in batches rather than one customer (or one segment) at a time.

Adapters can be added, replaced or removed while the generator lives (a new release swaps
adapters, no restart); a lock keeps that from racing a running batch.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ArtifactError, ConfigError, config_error
from genemail.generation.gate import QA, QualityGate
from genemail.generation.gathered_lora import mixed_batch
from genemail.generation.likelihood import FLUENCY_MODES, fluency_for_parameters
from genemail.generation.modeling import count_parameters, tied_head_lora
from genemail.generation.prompts import build_baseline_prompt, build_prompt
from genemail.generation.strategies import StrategyBook, packaged_strategies
from genemail.generation.writer import Row, write_checked
from genemail.taxonomy import BASELINE, LANGS

if TYPE_CHECKING:
    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import Strategy

BASE_ROW = "__base__"  # PEFT's name for "no adapter" in adapter_names
MAX_NEW_TOKENS = 4096  # GenerationConfig's bound; the servers' request models validate against it too


@dataclass(frozen=True)
class AdapterRef:
    """Where an adapter lives locally, and (when pulled from a Hub) which repo and commit it came from."""

    name: str
    path: Path
    repo_id: str | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or self.name == BASE_ROW:
            raise config_error("name", self.name, f"a non-empty adapter name other than {BASE_ROW!r}")
        object.__setattr__(self, "path", Path(self.path))


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings. Greedy by default; ``do_sample`` uses ``temperature``/``top_p`` seeded by ``seed``."""

    max_new_tokens: int = 160
    do_sample: bool = False
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    min_new_tokens: int = 0  # > 0 only for benchmarks: forces equal token counts across methods
    lang: str = "zh"
    # Return each written token's log-probability (Completion.logprobs): only the gate's likelihood mode
    # asks, so the embedded default's generation does no extra work.
    logprobs: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise config_error("max_new_tokens", self.max_new_tokens, f"an integer in [1, {MAX_NEW_TOKENS}]")
        if not isinstance(self.min_new_tokens, int) or not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise config_error("min_new_tokens", self.min_new_tokens, f"an integer in [0, {self.max_new_tokens}]")
        if not isinstance(self.temperature, (int, float)) or not 0 < self.temperature <= 5:
            raise config_error("temperature", self.temperature, "a number in (0, 5]")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise config_error("top_p", self.top_p, "a number in (0, 1]")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise config_error("seed", self.seed, "a non-negative integer")
        if self.lang not in LANGS:
            raise config_error("lang", self.lang, f"one of {LANGS}")
        if not isinstance(self.logprobs, bool):
            raise config_error("logprobs", self.logprobs, "True or False")

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``model.generate`` (sampling knobs only when sampling)."""
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = self.min_new_tokens
        elif self.do_sample:  # a sampled EOS as the first token would send an empty email (seen: 17 of 7,350)
            kwargs["min_new_tokens"] = 1
        if self.do_sample:
            kwargs.update(temperature=float(self.temperature), top_p=float(self.top_p))
        else:  # silence "temperature is set but do_sample=False" from models whose config sets them
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if self.logprobs:  # the raw logits of each step, before any temperature, top-p or row sampler
            kwargs.update(output_logits=True, return_dict_in_generate=True)
        return kwargs


@dataclass(frozen=True)
class Completion:
    """One generated row of a batch: the text after the prompt (cut at EOS) and its token count.

    With ``GenerationConfig.logprobs``, also the ids of the ``new_tokens`` tokens written and the model's
    log-probability of each under its raw distribution (not temperature-scaled), for the gate's
    likelihood check; None otherwise (and from a server that does not return them).
    """

    text: str
    new_tokens: int
    logprobs: tuple[float, ...] | None = None
    token_ids: tuple[int, ...] | None = None


SEGMENTED = "segmented"  # a customer's email from its segment's adapter
BASELINE_VARIANT = "baseline"  # the same customer's email from the one-size-fits-all adapter
# The single strategy: the base model alone on the baseline prompt. The embedded base model is trained
# on the generic (single-strategy) emails only, so this is one email style for everyone.
SINGLE_STRATEGY_VARIANT = "single_strategy"
VARIANTS: tuple[str, ...] = (SEGMENTED, BASELINE_VARIANT, SINGLE_STRATEGY_VARIANT)


@dataclass(frozen=True)
class GeneratedEmail:
    """A customer's segmented and/or baseline email, written in one batch, and where they came from.

    ``email`` is None when only the baseline was asked for, ``baseline_email`` when only the segmented
    one was. ``latency_s`` is the wall time of one batch of the ``generate`` call that wrote them: the
    call's time, redraws included, over its batches (one customer's Compose: the whole call).
    """

    customer_id: str
    segment: str
    strategy: str
    email: str | None
    baseline_email: str | None
    adapter: str
    adapter_repo: str | None
    adapter_revision: str | None
    latency_s: float
    new_tokens: int
    baseline_new_tokens: int = 0
    single_strategy_email: str | None = None  # only when asked for (``only=[..."single_strategy"...]``)
    single_strategy_new_tokens: int = 0
    user_embedding: bool = False  # the segmented email was written with the customer's soft prompt (FR-13)
    # The quality gate's verdict on each email written (None for an email not asked for).
    qa: QA | None = None
    baseline_qa: QA | None = None
    single_strategy_qa: QA | None = None
    # Each email as written, merge tags unfilled (what preference tuning learns from).
    email_template: str | None = None
    baseline_template: str | None = None


@dataclass
class EmailGenerator:
    """Base model + named LoRA adapters in one ``PeftModel``; build with :meth:`load`."""

    model: Any  # PreTrainedModel, or PeftModel once an adapter is loaded
    tokenizer: Any
    base_model_id: str
    # The gate's fluency mode (voice | likelihood); None: chosen from the base model (see fluency_mode).
    fluency: str | None = None
    _refs: dict[str, AdapterRef] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _gates: dict[tuple[int, str], QualityGate] = field(default_factory=dict, repr=False)
    _parameters: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.fluency is not None and self.fluency not in FLUENCY_MODES:
            raise config_error("fluency", self.fluency, f"one of {FLUENCY_MODES}, or None to choose by the base model")

    @classmethod
    def load(cls, base_model: str | Path,
             adapters: Mapping[str, AdapterRef] | Sequence[AdapterRef]) -> "EmailGenerator":
        """Load the base model once (fp32, eval) and every adapter under its name."""
        from genemail.generation.modeling import load_base_model, load_tokenizer

        tokenizer = load_tokenizer(base_model)
        gen = cls(load_base_model(base_model, tokenizer), tokenizer, str(base_model))
        refs = adapters.values() if isinstance(adapters, Mapping) else adapters
        for ref in refs:
            gen.add_adapter(ref)
        return gen

    # ------------------------------------------------------------------ the gate's fluency mode

    @property
    def fluency_mode(self) -> str:
        """The gate's fluency check for this generator's emails: the ``fluency`` override, else ``voice`` for
        the embedded default base model and ``likelihood`` for a real one (by :meth:`base_parameters`)."""
        return self.fluency or fluency_for_parameters(self.base_parameters())

    def base_parameters(self) -> int | None:
        """The base model's parameter count (adapters not counted), counted once."""
        if self._parameters is None and self.model is not None:
            from peft import PeftModel

            base = self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model
            self._parameters = count_parameters(base) - sum(
                p.numel() for n, p in base.named_parameters() if "lora_" in n)  # LoRA layers live in the base
        return self._parameters

    # ------------------------------------------------------------------ adapters at run time

    @property
    def adapter_names(self) -> tuple[str, ...]:
        """Names of the loaded adapters, sorted."""
        return tuple(sorted(self._refs))

    def adapter_ref(self, name: str) -> AdapterRef:
        """The :class:`AdapterRef` loaded under ``name``."""
        try:
            return self._refs[name]
        except KeyError:
            raise self._missing(name) from None

    def add_adapter(self, ref: AdapterRef) -> None:
        """Load ``ref`` under ``ref.name``; an adapter already loaded under that name is replaced."""
        from peft import PeftModel

        if not (ref.path / "adapter_config.json").is_file():
            raise ArtifactError("no adapter_config.json: not a PEFT adapter folder", where=str(ref.path),
                                fix="pass the folder written by training.train_adapters (or pulled from the Hub)")
        with self._lock:
            if ref.name in self._refs:
                self.remove_adapter(ref.name)
            try:
                with tied_head_lora():
                    if isinstance(self.model, PeftModel):
                        self.model.load_adapter(str(ref.path), adapter_name=ref.name)
                    else:
                        self.model = PeftModel.from_pretrained(self.model, str(ref.path), adapter_name=ref.name)
            except (RuntimeError, ValueError, KeyError, OSError) as exc:
                raise ArtifactError(
                    f"adapter {ref.name!r} does not fit base model {self.base_model_id!r}: {exc}",
                    where=str(ref.path), fix="use adapters trained on this --base-model",
                ) from exc
            self.model.eval()
            self._refs[ref.name] = ref

    def remove_adapter(self, name: str) -> None:
        """Unload adapter ``name``; the last one removed leaves the plain base model."""
        with self._lock:
            if name not in self._refs:
                raise self._missing(name)
            if len(self._refs) == 1:
                self.model = self.model.unload().eval()  # drop LoRA layers entirely
            else:
                with warnings.catch_warnings():  # "active adapter deleted": we never rely on the active one
                    warnings.simplefilter("ignore", UserWarning)
                    self.model.delete_adapter(name)
            del self._refs[name]

    def _missing(self, name: str) -> ArtifactError:
        return ArtifactError(f"no adapter named {name!r} is loaded (loaded: {list(self.adapter_names)})",
                             fix=f"load artifacts/adapters/{name} (or the release's adapter) first")

    # ------------------------------------------------------------------ generation

    def complete(self, prompts: Sequence[str], adapters: Sequence[str], config: GenerationConfig,
                 soft_prompts: Sequence[Any] | None = None, row_seeds: Sequence[int] | None = None) -> list[Completion]:
        """One mixed batch: row ``i`` continues ``prompts[i]`` through adapter ``adapters[i]``.

        ``__base__`` as an adapter name means the base model without any adapter. ``soft_prompts[i]``
        (a ``(k, H)`` tensor, or None) is prepended to row ``i`` as virtual tokens through
        ``inputs_embeds`` (:mod:`genemail.generation.soft_prompts`); a batch where every row has None runs
        exactly as without the argument. With ``row_seeds`` a sampling config draws each row from its
        own seeded stream (:mod:`genemail.generation.sampling`), so a row's text does not depend on the
        rest of the batch; without them the batch shares one stream seeded by ``config.seed``.
        """
        from genemail.generation.soft_prompts import build_inputs_embeds, has_soft_prompts

        import torch

        if len(prompts) != len(adapters):
            raise ConfigError(f"{len(prompts)} prompts but {len(adapters)} adapter names",
                              fix="pass one adapter name per prompt")
        if not prompts:
            return []
        for name in set(adapters) - {BASE_ROW}:
            self.adapter_ref(name)  # readable error for an unknown name
        enc = self.tokenizer(list(prompts), return_tensors="pt", padding=True)  # left padding
        kwargs = config.generate_kwargs()
        if config.do_sample and row_seeds is not None:
            from transformers import LogitsProcessorList

            from genemail.generation.sampling import RowSampler

            if len(row_seeds) != len(prompts):
                raise ConfigError(f"{len(row_seeds)} row seeds for {len(prompts)} prompts", fix="pass one seed per prompt")
            # Greedy over per-row Gumbel-perturbed logits is sampling, row by row (see sampling.py).
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None,
                          logits_processor=LogitsProcessorList([RowSampler(row_seeds, config.temperature, config.top_p)]))
        with_soft = has_soft_prompts(soft_prompts)
        with self._lock, torch.inference_mode():
            if self._refs:
                kwargs["adapter_names"] = list(adapters)
            elif set(adapters) != {BASE_ROW}:
                raise self._missing(next(a for a in adapters if a != BASE_ROW))
            if config.do_sample:
                torch.manual_seed(config.seed)
            inputs: dict[str, Any] = dict(enc)
            if with_soft:  # only new tokens come back when generating from inputs_embeds alone
                embeds, mask = build_inputs_embeds(self.model.get_input_embeddings(), enc["input_ids"],
                                                   enc["attention_mask"], soft_prompts, self.tokenizer.pad_token_id)
                inputs = {"inputs_embeds": embeds, "attention_mask": mask}
            with mixed_batch(self.model, kwargs):  # stacked LoRA product instead of PEFT's per-adapter loop
                out = self.model.generate(**inputs, pad_token_id=self.tokenizer.pad_token_id, **kwargs)
            sequences = out.sequences if config.logprobs else out
            new = sequences if with_soft else sequences[:, enc["input_ids"].shape[1]:]
            scored = _chosen_logprobs(out.logits, new) if config.logprobs else [None] * len(new)
        return [self._decode(row, lps) for row, lps in zip(new.tolist(), scored)]

    def _decode(self, ids: list[int], logprobs: list[float] | None = None) -> Completion:
        stops = self._eos_ids()
        cut = next((i for i, t in enumerate(ids) if t in stops), len(ids))
        text = self.tokenizer.decode(ids[:cut], skip_special_tokens=True).strip()
        if logprobs is None:
            return Completion(text=text, new_tokens=cut)
        return Completion(text=text, new_tokens=cut, logprobs=tuple(logprobs[:cut]), token_ids=tuple(ids[:cut]))

    def _eos_ids(self) -> set[int]:
        # A real model's generation config may list several EOS ids (Qwen3: <|im_end|>, <|endoftext|>).
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        ids.add(self.tokenizer.eos_token_id)
        return ids

    def generate(self, customers: Sequence["CustomerProfile"], strategies: Sequence["Strategy"],
                 config: GenerationConfig | None = None, batch_size: int = 16, with_baseline: bool = True,
                 progress: bool = False, only: Sequence[str] | None = None,
                 soft_prompts: Sequence[Any] | None = None, book: StrategyBook | None = None,
                 gate: QualityGate | None = None,
                 on_progress: Callable[[int], None] | None = None) -> list[GeneratedEmail]:
        """Write each customer's email with its strategy's adapter and, beside it, the baseline email.

        Customers of different segments share batches: each batch is one ``generate`` call whose rows
        are the segmented prompts followed by the same customers' baseline prompts. ``only[i]``
        (``"segmented"``, ``"baseline"`` or ``"single_strategy"``: the base model alone, one generic
        email for everyone) asks for just that one of customer ``i``'s emails (an experiment sends
        one variant per customer); otherwise ``with_baseline`` decides. ``soft_prompts[i]`` (or None)
        is customer ``i``'s user-embedding tokens, used beside its segment adapter on the segmented
        row only (the baseline stays the one-size-fits-all email).

        Every email passes the quality gate (:mod:`genemail.generation.writer`): ``gate``, or one built
        from ``book`` (the strategies the customers' strategies come from; default: the packaged file).
        ``on_progress(n)``: the first ``n`` customers' drafts are written and checked (redraws come after
        every batch's first drafts, together).
        """
        from tqdm.auto import tqdm

        config = config or GenerationConfig()
        if gate is None or gate.lang != config.lang:
            gate = self._gate_for(book or (gate.book if gate else packaged_strategies()), config.lang)
        if len(customers) != len(strategies):
            raise ConfigError(f"{len(customers)} customers but {len(strategies)} strategies",
                              fix="pass one strategy per customer")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise config_error("batch_size", batch_size, "a positive integer")
        if soft_prompts is not None and len(soft_prompts) != len(customers):
            raise ConfigError(f"{len(soft_prompts)} soft prompts for {len(customers)} customers",
                              fix="pass one soft prompt (or None) per customer")
        wanted = self._wanted(len(customers), with_baseline, only)
        needed = {s.adapter for s, w in zip(strategies, wanted) if SEGMENTED in w}
        needed |= {BASELINE} if any(BASELINE_VARIANT in w for w in wanted) else set()
        for name in sorted(needed):
            self.adapter_ref(name)  # fail before any work, not halfway through a campaign
        # Batch by batch, each batch's segmented rows then its baseline rows; one gate call for them all,
        # so the drafts it refuses are drawn again together, not batch by batch.
        rows: list[Row] = []
        row_of: dict[tuple[int, str], int] = {}
        sizes, starts = [], list(range(0, len(customers), batch_size))
        for start in starts:
            before = len(rows)
            self._add_rows(rows, row_of, customers, strategies, wanted, range(start, min(start + batch_size, len(customers))),
                           config, soft_prompts)
            if len(rows) > before:
                sizes.append(len(rows) - before)
        with tqdm(total=len(customers), desc="emails", unit="email", disable=not progress) as bar:
            t0 = time.perf_counter()
            def batch_done(k: int) -> None:
                done = min(starts[k] + batch_size, len(customers))
                bar.update(done - starts[k])
                if on_progress is not None:
                    on_progress(done)

            written = write_checked(self, rows, config, gate, sizes, on_batch=batch_done)
            # Each email's latency is its share of the call: the mean time of one batch, redraws included.
            latency = round((time.perf_counter() - t0) / max(len(sizes), 1), 4)
        return [self._email(i, c, st, {v: written[row_of[(i, v)]] for v in VARIANTS if (i, v) in row_of},
                            config, latency, soft_prompts)
                for i, (c, st) in enumerate(zip(customers, strategies))]

    @staticmethod
    def _wanted(n: int, with_baseline: bool, only: Sequence[str] | None) -> list[frozenset[str]]:
        if only is None:
            return [frozenset({SEGMENTED, BASELINE_VARIANT} if with_baseline else {SEGMENTED})] * n
        if len(only) != n or any(v not in VARIANTS for v in only):
            raise ConfigError(f"only={list(only)[:5]}... must give one of {VARIANTS} per customer",
                              fix="pass one variant per customer, or only=None for both")
        return [frozenset({v}) for v in only]

    def _gate_for(self, book: StrategyBook, lang: str) -> QualityGate:
        """The gate of ``book`` in ``lang``, built once per book (its voices are worth keeping)."""
        key = (id(book), lang)
        if key not in self._gates:
            if len(self._gates) >= 8:  # a long-lived app switches strategies now and then
                self._gates.clear()
            self._gates[key] = QualityGate(book, lang)  # the gate holds the book, so its id stays its own
        return self._gates[key]

    @staticmethod
    def _add_rows(rows: list[Row], row_of: dict[tuple[int, str], int], customers: Sequence["CustomerProfile"],
                  strategies: Sequence["Strategy"], wanted: Sequence[frozenset[str]], batch: range,
                  config: GenerationConfig, soft_prompts: Sequence[Any] | None) -> None:
        """Append one batch's rows: its segmented prompts, then its baseline prompts; remember whose they are."""
        for i in batch:
            if SEGMENTED in wanted[i]:
                c, st = customers[i], strategies[i]
                row_of[(i, SEGMENTED)] = len(rows)
                rows.append(Row(build_prompt(c, st, lang=config.lang), st.adapter, c, st, SEGMENTED,
                                None if soft_prompts is None else soft_prompts[i]))
        for variant, adapter in ((BASELINE_VARIANT, BASELINE), (SINGLE_STRATEGY_VARIANT, BASE_ROW)):
            for i in batch:
                if variant in wanted[i]:
                    row_of[(i, variant)] = len(rows)
                    rows.append(Row(build_baseline_prompt(customers[i], lang=config.lang), adapter, customers[i],
                                    strategies[i], variant))

    def _email(self, i: int, c: "CustomerProfile", st: "Strategy", written: dict[str, Any], config: GenerationConfig,
               latency: float, soft_prompts: Sequence[Any] | None) -> GeneratedEmail:
        """Customer ``i``'s :class:`GeneratedEmail` from its checked rows (by variant)."""
        seg, base, single = (written.get(v) for v in (SEGMENTED, BASELINE_VARIANT, SINGLE_STRATEGY_VARIANT))
        ref = self._refs.get(st.adapter)
        return GeneratedEmail(
            customer_id=str(c.customer_id), segment=st.segment, strategy=st.text(config.lang).display_name,
            email=seg.text if seg else None, baseline_email=base.text if base else None,
            adapter=st.adapter, adapter_repo=ref.repo_id if ref else None,
            adapter_revision=ref.revision if ref else None, latency_s=latency,
            new_tokens=seg.new_tokens if seg else 0, baseline_new_tokens=base.new_tokens if base else 0,
            single_strategy_email=single.text if single else None,
            single_strategy_new_tokens=single.new_tokens if single else 0,
            user_embedding=bool(seg and soft_prompts is not None and soft_prompts[i] is not None),
            qa=seg.qa if seg else None, baseline_qa=base.qa if base else None,
            single_strategy_qa=single.qa if single else None,
            email_template=seg.template if seg else None, baseline_template=base.template if base else None,
        )


def _chosen_logprobs(step_logits: Sequence[Any], new_ids: Any) -> list[list[float]]:
    """Each row's log-probability of the token it wrote at each step, from ``generate``'s raw logits."""
    import torch

    rows = []
    for step, logits in enumerate(step_logits):  # one (batch, vocab) tensor per step: log-softmax it and let go
        chosen = new_ids[:, step].unsqueeze(1)
        rows.append(torch.log_softmax(logits.float(), dim=-1).gather(1, chosen).squeeze(1))
    if not rows:
        return [[] for _ in range(new_ids.shape[0])]
    return torch.stack(rows, dim=1).tolist()
