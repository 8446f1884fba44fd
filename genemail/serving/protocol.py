"""The OpenAI completions API as GenEmail speaks it: request and response bodies, and errors.

The subset vLLM, SGLang and TGI serve and the campaign client uses: ``GET /v1/models`` and
``POST /v1/completions`` with text prompts, ``max_tokens``, ``temperature`` (0 = greedy), ``top_p``,
``seed``, vLLM's ``min_tokens`` and ``logprobs`` 0 or 1 (each written token's log-probability under the
model's raw distribution, in ``choices[i].logprobs.token_logprobs``, as vLLM returns them; the gate's
likelihood check reads them). Unknown fields are ignored, as vLLM does; features GenEmail does not
implement (streaming, ``n > 1``, ``stop``, ``logprobs`` above 1, ``echo``, token-id prompts) are refused
with a 400 that names the field, never silently dropped.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from genemail.generation.generator import MAX_NEW_TOKENS


class CompletionRequest(BaseModel):
    """``POST /v1/completions`` body (OpenAI's fields; defaults as OpenAI documents them)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int = Field(default=16, ge=1, le=MAX_NEW_TOKENS)
    temperature: float = Field(default=1.0, ge=0.0, le=5.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0)
    min_tokens: int = Field(default=0, ge=0)  # vLLM's extension, forwarded by the OpenAI client's extra_body
    n: int = 1
    stream: bool = False
    echo: bool = False
    stop: str | list[str] | None = None
    logprobs: int | None = None
    user: str | None = None

    def unsupported(self) -> tuple[str, str] | None:
        """``(field, message)`` for the first requested feature GenEmail does not serve, else None."""
        if self.stream:
            return "stream", "streaming is not supported; send stream=false"
        if self.n != 1:
            return "n", "only n=1 is supported; send one request per completion"
        if self.echo:
            return "echo", "echo is not supported"
        if self.stop:
            return "stop", "stop sequences are not supported; generation stops at the model's EOS or max_tokens"
        if self.logprobs is not None and not 0 <= self.logprobs <= 1:
            return "logprobs", ("only logprobs=0 or 1 is supported "
                                "(each written token's log-probability; no alternatives)")
        if self.min_tokens > self.max_tokens:
            return "min_tokens", f"min_tokens={self.min_tokens} exceeds max_tokens={self.max_tokens}"
        if isinstance(self.prompt, list) and any(not isinstance(p, str) for p in self.prompt):
            return "prompt", "token-id prompts are not supported; send the prompt text"
        if isinstance(self.prompt, list) and not self.prompt:
            return "prompt", "the prompt list is empty"
        return None

    def prompts(self) -> list[str]:
        """The prompt(s) as a list of strings (call after :meth:`unsupported` returned None)."""
        return [self.prompt] if isinstance(self.prompt, str) else [str(p) for p in self.prompt]


class Logprobs(BaseModel):
    """OpenAI's completions ``logprobs``: each written token, its log-probability and its text offset.

    ``top_logprobs`` (the most likely alternatives at each step) is not served: null.
    """

    tokens: list[str]
    token_logprobs: list[float]
    text_offset: list[int]
    top_logprobs: None = None


class Choice(BaseModel):
    """One completion: the text after the prompt, cut at EOS, and why it ended (and its tokens' logprobs)."""

    index: int
    text: str
    logprobs: Logprobs | None = None
    finish_reason: Literal["stop", "length"]


class Usage(BaseModel):
    """Token counts; ``completion_tokens`` counts the EOS token when generation stopped at it (as vLLM does)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionResponse(BaseModel):
    """``POST /v1/completions`` answer."""

    id: str = Field(default_factory=lambda: f"cmpl-{uuid.uuid4().hex}")
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``: the base model (no parent) or an adapter (parent = base)."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=lambda: int(time.time()))
    owned_by: str = "genemail"
    root: str
    parent: str | None = None
    max_model_len: int | None = None
    # GenEmail's extension (vLLM lists none): the base model's size, from which a client picks the gate's
    # fluency check (genemail.generation.likelihood.fluency_for_parameters).
    parameters: int | None = None


class ModelList(BaseModel):
    """``GET /v1/models`` answer."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


def error_body(message: str, *, kind: str, param: str | None = None, code: int = 400) -> dict[str, Any]:
    """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
