"""The campaign's OpenAI backend: the same emails, written by any OpenAI-compatible completions server.

:class:`OpenAIGenerator` is an :class:`~genemail.generation.generator.EmailGenerator` whose forward pass is
remote: prompt building, the segmented/baseline rows and the campaign rows are the local generator's own
code, and only :meth:`complete` differs. It sends the prompt strings :mod:`genemail.generation.prompts`
builds, one request per row (the server batches concurrent requests: ``genemail serve``'s micro-batcher,
vLLM's continuous batching), with ``model=<adapter name>``, ``temperature=0`` for greedy decoding and
``max_tokens``; the text comes back cut at EOS, as the local generator cuts it. Under greedy decoding the
emails equal the local backend's. When the gate checks fluency by likelihood (a real model: the server's
base model card lists no ``parameters`` below the embedded default's bound, as vLLM's never does) each
request also asks for ``logprobs=1`` and the completion carries ``choices[0].logprobs.token_logprobs``.

:func:`load_remote_system` builds the rest of a campaign's system locally (segmenter, strategies, the
release's adapter pins), without loading any model weights.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ConfigError, ServingError, config_error
from genemail.generation.generator import BASE_ROW, AdapterRef, Completion, EmailGenerator

if TYPE_CHECKING:
    from genemail.generation.generator import GenerationConfig
    from genemail.loading import LoadedSystem

DEFAULT_API_KEY = "EMPTY"  # what vLLM accepts when it runs without --api-key


@dataclass(frozen=True)
class OpenAIBackendConfig:
    """Where the server is and how hard to drive it."""

    base_url: str
    api_key: str = field(default=DEFAULT_API_KEY, repr=False)
    concurrency: int = 32  # requests in flight; the server batches them
    timeout_s: float = 600.0
    max_retries: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise config_error("base_url", self.base_url, "the server's URL, e.g. http://127.0.0.1:8000/v1")
        if not isinstance(self.concurrency, int) or not 1 <= self.concurrency <= 1024:
            raise config_error("concurrency", self.concurrency, "an integer in [1, 1024]")
        if not isinstance(self.timeout_s, (int, float)) or self.timeout_s <= 0:
            raise config_error("timeout_s", self.timeout_s, "a positive number of seconds")

    @property
    def api_url(self) -> str:
        """``base_url`` ending in ``/v1`` (both ``http://host:8000`` and ``http://host:8000/v1`` are accepted)."""
        url = self.base_url.rstrip("/")
        return url if url.endswith("/v1") else f"{url}/v1"


@dataclass
class OpenAIGenerator(EmailGenerator):
    """An :class:`EmailGenerator` whose completions come from an OpenAI-compatible server (no local weights)."""

    client: Any = None
    backend: OpenAIBackendConfig | None = None
    served: dict[str, str | None] = field(default_factory=dict)  # served model id -> parent (None: a base)
    served_parameters: int | None = None  # the base model's size, if the server says (genemail serve does)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def connect(cls, backend: OpenAIBackendConfig, adapters: Sequence[AdapterRef]) -> "OpenAIGenerator":
        """Ask the server which models it serves, and register ``adapters`` (each must be served)."""
        from openai import OpenAI

        client = OpenAI(base_url=backend.api_url, api_key=backend.api_key, timeout=backend.timeout_s,
                        max_retries=backend.max_retries)
        served, sizes = _served_models(client, backend)
        base = next((name for name, parent in served.items() if parent is None), None)
        gen = cls(model=None, tokenizer=None, base_model_id=base or "", client=client, backend=backend,
                  served=served, served_parameters=sizes.get(base) if base else None)
        for ref in adapters:
            gen.add_adapter(ref)
        return gen

    def base_parameters(self) -> int | None:
        """The served base model's size as the server lists it (``genemail serve`` does; vLLM does not: None)."""
        return self.served_parameters

    def add_adapter(self, ref: AdapterRef) -> None:
        """Register ``ref``; the server must list a model of that name (vLLM: ``--lora-modules NAME=PATH``)."""
        if ref.name not in self.served:
            raise ServingError(
                f"the server does not serve adapter {ref.name!r} (it serves: {sorted(self.served)})",
                where=self.backend.api_url if self.backend else None,
                fix="start it with every adapter of the release: `genemail serve --release ...`, or "
                    "`genemail release serve-args REPO --revision REV` for vLLM's command")
        with self._lock:
            self._refs[ref.name] = ref

    def remove_adapter(self, name: str) -> None:
        """Forget adapter ``name`` (the server keeps serving it)."""
        with self._lock:
            if name not in self._refs:
                raise self._missing(name)
            del self._refs[name]

    def complete(self, prompts: Sequence[str], adapters: Sequence[str], config: "GenerationConfig",
                 soft_prompts: Sequence[Any] | None = None, row_seeds: Sequence[int] | None = None) -> list[Completion]:
        """Row ``i`` continues ``prompts[i]`` through adapter ``adapters[i]`` on the server, rows in flight at once.

        A sampling config sends each row its own ``seed`` (``row_seeds[i]``, else ``config.seed``): one
        request per row, so a row's text never depends on the others.

        Soft prompts (the user vector) need the model's embedding layer, which a completions API does not
        expose: refused with a message (docs/USER_VECTOR.md describes vLLM's prompt-embeddings path).
        """
        if soft_prompts is not None and any(s is not None for s in soft_prompts):
            raise ServingError("a completions server cannot take user-embedding soft prompts",
                               where=self.backend.api_url if self.backend else None,
                               fix="write these emails with the local backend, or without the user embedding")
        if len(prompts) != len(adapters):
            raise ConfigError(f"{len(prompts)} prompts but {len(adapters)} adapter names",
                              fix="pass one adapter name per prompt")
        for name in set(adapters) - {BASE_ROW}:
            self.adapter_ref(name)  # readable error for an unknown name
        if BASE_ROW in adapters and not self.base_model_id:
            raise ServingError("the server lists no base model", where=self.backend.api_url if self.backend else None,
                               fix="serve the base model too (vLLM always does)")
        names = [self.base_model_id if a == BASE_ROW else a for a in adapters]
        seeds = list(row_seeds) if row_seeds is not None else [config.seed] * len(prompts)
        # Servers take 64-bit seeds at most; vLLM's and OpenAI's take any non-negative int below 2**63.
        return list(self._executor().map(lambda job: self._one(job[0], job[1], config, job[2]),
                                         zip(prompts, names, seeds)))

    def close(self) -> None:
        """Stop the request threads and close the HTTP connections."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        if self.client is not None:
            self.client.close()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                workers = self.backend.concurrency if self.backend else 8
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genemail-openai")
            return self._pool

    def _one(self, prompt: str, model: str, config: "GenerationConfig", seed: int) -> Completion:
        import openai

        kwargs: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": config.max_new_tokens}
        if config.do_sample:
            kwargs.update(temperature=float(config.temperature), top_p=float(config.top_p), seed=int(seed))
        else:
            kwargs.update(temperature=0.0)  # greedy, as the local generator decodes by default
        if config.min_new_tokens:
            kwargs["extra_body"] = {"min_tokens": config.min_new_tokens}  # vLLM's sampling extension
        if config.logprobs:
            kwargs["logprobs"] = 1  # the written token's, and (vLLM, OpenAI) the top alternative's
        try:
            answer = self.client.completions.create(**kwargs)
        except openai.APIStatusError as err:
            raise ServingError(f"the server answered {err.status_code} for model {model!r}: {_message(err)}",
                               where=self.backend.api_url if self.backend else None,
                               fix="check the server's log; the adapter names must match the release's") from None
        except openai.APIError as err:
            raise _unreachable(self.backend, err) from None
        choice = answer.choices[0]
        tokens = answer.usage.completion_tokens if answer.usage is not None else 0
        # The server counts the EOS token it stopped at; the local generator counts the tokens before it.
        new_tokens = max(tokens - 1, 0) if choice.finish_reason == "stop" else tokens
        return Completion(text=(choice.text or "").strip(), new_tokens=new_tokens,
                          logprobs=_token_logprobs(choice, new_tokens) if config.logprobs else None)


def _token_logprobs(choice: Any, new_tokens: int) -> tuple[float, ...] | None:
    """The written tokens' log-probabilities of a choice; None when the server sent none (the gate then fails it).

    A server that counts the EOS token it stopped at may score it too: only the first ``new_tokens`` count.
    """
    scores = getattr(getattr(choice, "logprobs", None), "token_logprobs", None)
    if not scores or any(s is None for s in scores):
        return None
    return tuple(float(s) for s in scores[:new_tokens or len(scores)])


def _served_models(client: Any, backend: OpenAIBackendConfig) -> tuple[dict[str, str | None], dict[str, int]]:
    import openai

    try:
        page = client.models.list()
    except openai.APIStatusError as err:
        raise ServingError(f"GET /v1/models answered {err.status_code}: {_message(err)}", where=backend.api_url,
                           fix="check the URL (it ends in /v1) and --api-key") from None
    except openai.APIError as err:
        raise _unreachable(backend, err) from None
    sizes = {m.id: size for m in page.data if isinstance(size := getattr(m, "parameters", None), int)}
    return {m.id: getattr(m, "parent", None) for m in page.data}, sizes


def _message(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(err)[:300]


def _unreachable(backend: OpenAIBackendConfig | None, err: Exception) -> ServingError:
    return ServingError(f"cannot reach the completions server ({type(err).__name__}: {str(err)[:200]})",
                        where=backend.api_url if backend else None,
                        fix="start it (`genemail serve --release ...`, or vLLM with `genemail release serve-args`) "
                            "and pass its URL as --base-url")


# ------------------------------------------------------------------------ a system without weights

def load_remote_system(backend: OpenAIBackendConfig, *, artifacts: Path | None, release: str | None,
                       revision: str, token: str | None = None) -> "LoadedSystem":
    """Segmenter, strategies and adapter pins from a release (or local folder); completions from ``backend``.

    The release is pulled and verified as for the local backend (so the rows record the same adapter shas),
    but no model weights are loaded: the server holds them.
    """
    from genemail.generation.strategies import load_strategies
    from genemail.loading import LoadedSystem, utc_timestamp
    from genemail.segmentation import load_segmenter

    if (artifacts is None) == (release is None):
        raise ConfigError("pass exactly one of --artifacts or --release",
                          fix="e.g. --release demo/genemail-release --revision v1, or --artifacts artifacts")
    if release is not None:
        from genemail.hub.release import pull_release

        pulled = pull_release(release, revision, token=token)
        refs = [AdapterRef(n, a.path, a.repo_id, a.revision) for n, a in pulled.adapters.items()]
        strategies = load_strategies(pulled.strategies)
        return LoadedSystem(
            segmenter=load_segmenter(pulled.segmenter_path), strategies=strategies,
            generator=OpenAIGenerator.connect(backend, refs), segmenter_dir=pulled.segmenter_path.parent,
            manifest=pulled.manifest, repo_id=release, revision=pulled.revision, release_sha=pulled.release_sha,
            is_mutable=pulled.is_mutable, warnings=tuple(pulled.warnings), loaded_at=utc_timestamp())
    folder = Path(artifacts)  # type: ignore[arg-type]
    segmenter_file = folder / "segmenter" / "segmenter.skops"
    adapters_dir = folder / "adapters"
    refs = [AdapterRef(p.name, p) for p in sorted(adapters_dir.iterdir())
            if (p / "adapter_config.json").is_file()] if adapters_dir.is_dir() else []
    strategies_file = folder / "strategies.yaml"
    return LoadedSystem(
        segmenter=load_segmenter(segmenter_file), strategies=load_strategies(
            strategies_file if strategies_file.is_file() else None),
        generator=OpenAIGenerator.connect(backend, refs), segmenter_dir=segmenter_file.parent,
        loaded_at=utc_timestamp())


BACKENDS: tuple[str, ...] = ("peft", "openai")


def backend_config(backend: str, base_url: str | None, *, api_key: str | None = None,
                   concurrency: int = 32) -> OpenAIBackendConfig | None:
    """The command line's ``--backend`` / ``--base-url`` as a config (None: the local PEFT generator)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is unknown", where="--backend",
                          fix=f"pass one of {', '.join(BACKENDS)}")
    if backend == "peft":
        if base_url is not None:
            raise ConfigError("--base-url needs --backend openai", where="--base-url",
                              fix="add --backend openai, or drop --base-url to generate here")
        return None
    if not base_url:
        raise ConfigError("--backend openai needs the server's URL", where="--base-url",
                          fix="pass --base-url http://HOST:PORT/v1 (genemail serve, or vLLM)")
    return OpenAIBackendConfig(base_url=base_url, api_key=api_key or DEFAULT_API_KEY, concurrency=concurrency)
