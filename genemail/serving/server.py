"""``genemail serve``: the release's PEFT generator behind the OpenAI-compatible completions API.

``GET /v1/models`` lists the base model and one model per adapter (``parent`` = the base), as vLLM lists
``--lora-modules``; ``POST /v1/completions`` with ``model=<adapter>`` continues the prompt through that
adapter (``model=<base>``: no adapter). Concurrent requests are collected for a few milliseconds and run as
one mixed batch (:mod:`genemail.serving.batcher`). It is the CPU deployment for small sites and speaks the
API the GPU engines speak, so ``genemail campaign --backend openai`` works against either.

``/v1/completions`` is the raw engine API: its text has not been checked (a campaign through it checks on
the client side). ``POST /v1/emails`` (:mod:`genemail.serving.emails`) is the checked path: customer
records in, emails that passed the quality gate (or the template email) out, with their verdicts.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genemail.errors import GenEmailError, config_error
from genemail.serving.batcher import BatcherConfig, MicroBatcher
from genemail.serving.emails import add_email_route
from genemail.serving.protocol import (
    Choice,
    CompletionRequest,
    CompletionResponse,
    Logprobs,
    ModelCard,
    ModelList,
    Usage,
    error_body,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from genemail.generation.generator import EmailGenerator, GenerationConfig
    from genemail.loading import LoadedSystem

logger = logging.getLogger("genemail.serve")


@dataclass(frozen=True)
class ServeConfig:
    """Where to listen and how to batch. ``api_key`` set: every ``/v1`` call needs ``Authorization: Bearer``."""

    host: str = "127.0.0.1"
    port: int = 8000
    batcher: BatcherConfig = field(default_factory=BatcherConfig)
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise config_error("port", self.port, "a TCP port in [0, 65535]")
        if not isinstance(self.host, str) or not self.host:
            raise config_error("host", self.host, "an address such as 127.0.0.1 (or 0.0.0.0 for every interface)")


@dataclass(frozen=True)
class ServedModels:
    """The names clients use: the base model's id and each adapter's, with where each came from."""

    base_id: str
    adapter_roots: Mapping[str, str]  # adapter name -> repo@sha (or local path)
    max_model_len: int | None = None
    parameters: int | None = None  # the base model's, listed on its card

    @classmethod
    def of(cls, system: "LoadedSystem") -> "ServedModels":
        """Names for a loaded release (base id from the manifest) or local folder (base path)."""
        gen = system.generator
        manifest = system.manifest
        base_id = manifest.base_model.id if manifest is not None and manifest.base_model else str(gen.base_model_id)
        roots = {}
        for name in gen.adapter_names:
            ref = gen.adapter_ref(name)
            roots[name] = f"{ref.repo_id}@{ref.revision}" if ref.repo_id else str(ref.path)
        length = getattr(gen.model.config, "max_position_embeddings", None)
        return cls(base_id, roots, int(length) if length else None, gen.base_parameters())

    def cards(self) -> ModelList:
        """The ``/v1/models`` list: base first, then adapters by name."""
        cards = [ModelCard(id=self.base_id, root=self.base_id, max_model_len=self.max_model_len,
                           parameters=self.parameters)]
        cards += [ModelCard(id=name, root=root, parent=self.base_id, max_model_len=self.max_model_len)
                  for name, root in sorted(self.adapter_roots.items())]
        return ModelList(data=cards)


def generation_config(request: CompletionRequest) -> "GenerationConfig":
    """Request -> decoding settings: ``temperature=0`` is greedy; otherwise seeded sampling."""
    from genemail.generation.generator import GenerationConfig

    sample = request.temperature > 0
    return GenerationConfig(max_new_tokens=request.max_tokens, min_new_tokens=request.min_tokens, do_sample=sample,
                            temperature=request.temperature if sample else GenerationConfig.temperature,
                            top_p=request.top_p, seed=request.seed or 0, logprobs=request.logprobs is not None)


def build_app(generator: "EmailGenerator", models: ServedModels, batcher: MicroBatcher,
              api_key: str | None = None, on_ready: Callable[[ServedModels], None] | None = None,
              system: "LoadedSystem | None" = None) -> "FastAPI":
    """The FastAPI app (the batcher must be started; the caller closes it); ``on_ready`` runs at start-up.

    With ``system`` (whose generator is ``generator``) it also serves ``POST /v1/emails``.
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from genemail.generation.generator import BASE_ROW

    # Usage counts need the tokenizer, but the batcher thread's calls switch its padding on and off: a HF
    # fast tokenizer used from two threads at once fails ("Already borrowed"), so the handlers get a copy.
    counter = copy.deepcopy(generator.tokenizer)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_ready is not None:
            on_ready(models)
        yield

    app = FastAPI(title="GenEmail completions", version="1", docs_url=None, redoc_url=None, lifespan=lifespan)

    def fail(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
        return JSONResponse(error_body(message, kind=kind, param=param, code=status), status_code=status)

    @app.middleware("http")
    async def check_key(request: Request, call_next: Any) -> Any:
        if api_key and request.url.path.startswith("/v1") and \
                request.headers.get("authorization") != f"Bearer {api_key}":
            return fail(401, "missing or wrong API key (Authorization: Bearer ...)", "AuthenticationError")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return fail(400, f"{param or 'body'}: {first.get('msg', 'invalid request')}", "BadRequestError", param)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def list_models() -> ModelList:
        return models.cards()

    @app.post("/v1/completions", response_model=None)
    async def completions(request: CompletionRequest) -> CompletionResponse | JSONResponse:
        """Raw completions, as vLLM serves them: unchecked text (checked emails: ``POST /v1/emails``)."""
        refused = request.unsupported()
        if refused is not None:
            return fail(400, refused[1], "BadRequestError", refused[0])
        if request.model != models.base_id and request.model not in models.adapter_roots:
            return fail(404, f"The model `{request.model}` does not exist.", "NotFoundError", "model")
        adapter = BASE_ROW if request.model == models.base_id else request.model
        prompts = request.prompts()
        try:
            config = generation_config(request)
            rows = await asyncio.wrap_future(batcher.submit(prompts, adapter, config))
        except GenEmailError as err:
            return fail(400, str(err), "BadRequestError")
        except Exception:  # noqa: BLE001 - a bug: logged with its traceback, the client gets a 500 without it
            logger.exception("completion failed")
            return fail(500, "internal error while generating; see the server log", "InternalServerError")
        return _response(request, prompts, rows, counter)

    if system is not None:
        add_email_route(app, system, batcher, system.release_info, fail)
    return app


def _response(request: CompletionRequest, prompts: list[str], rows: list[Any], tokenizer: Any) -> CompletionResponse:
    choices, completion_tokens = [], 0
    for i, row in enumerate(rows):
        stopped = row.new_tokens < request.max_tokens  # an EOS cut the row before max_tokens
        scores = _logprobs(row, tokenizer) if request.logprobs is not None else None
        choices.append(Choice(index=i, text=row.text, logprobs=scores, finish_reason="stop" if stopped else "length"))
        completion_tokens += row.new_tokens + (1 if stopped else 0)  # the EOS token counts, as in vLLM
    prompt_tokens = sum(len(ids) for ids in tokenizer(prompts)["input_ids"])
    return CompletionResponse(model=request.model, choices=choices,
                              usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                          total_tokens=prompt_tokens + completion_tokens))


def _logprobs(row: Any, tokenizer: Any) -> Logprobs:
    """A completion's tokens (EOS not included), their log-probabilities and where each starts in the text."""
    tokens = _token_texts(tokenizer, list(row.token_ids or ()))
    offsets, at = [], 0
    for token in tokens:  # offsets into the decoded (untrimmed) text
        offsets.append(at)
        at += len(token)
    return Logprobs(tokens=tokens, token_logprobs=list(row.logprobs or ()), text_offset=offsets)


def _token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each token's text, decoded in context as vLLM does: a character whose bytes span several tokens goes
    to its last one (the others get ""), so the tokens join to the decoded text, never to U+FFFD pieces."""
    texts, read = [], 0  # ids[:read] are in texts
    for i in range(len(ids)):
        context = max(0, read - 4)  # a few tokens before, for tokenizers whose decoding depends on them
        prefix = tokenizer.decode(ids[context:read], skip_special_tokens=True)
        full = tokenizer.decode(ids[context:i + 1], skip_special_tokens=True)
        if full.endswith("\ufffd") and i + 1 < len(ids):  # an unfinished character: wait for its last byte
            texts.append("")
            continue
        texts.append(full[len(prefix):])
        read = i + 1
    return texts


def serve(system: "LoadedSystem", config: ServeConfig, *,
          on_ready: Callable[[ServedModels], None] | None = None) -> None:
    """Serve ``system``'s generator until interrupted (blocking; uvicorn handles Ctrl-C)."""
    import uvicorn

    models = ServedModels.of(system)
    with MicroBatcher(system.generator.complete, config.batcher) as batcher:
        app = build_app(system.generator, models, batcher, config.api_key, on_ready, system=system)
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
