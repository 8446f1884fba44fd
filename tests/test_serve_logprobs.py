"""Token log-probabilities through `genemail serve` and the OpenAI backend, over real HTTP.

`genemail serve`'s app (the same ``build_app`` + micro-batcher ``serve`` runs) listens on a free loopback
port with the micro model trained in tests/test_gate_likelihood.py; :class:`OpenAIGenerator` connects to it
as a campaign does. The server returns each written token's log-probability in the OpenAI completions
format when asked; the client asks exactly when its gate checks by likelihood, which it picks from the
base model's size on the server's model card (none listed, as vLLM lists none: a real model).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from genemail.generation.generator import BASE_ROW, EmailGenerator, GenerationConfig
from genemail.generation.likelihood import LIKELIHOOD, VOICE
from genemail.generation.writer import Row, write_checked
from genemail.serving.batcher import BatcherConfig, MicroBatcher
from genemail.serving.client import OpenAIBackendConfig, OpenAIGenerator
from genemail.serving.server import ServedModels, build_app
from tests.fixtures.models import train_tiny_lm
from tests.fixtures.net import serving_in_thread
from tests.test_gate_likelihood import EMAILS, GATE, PROFILE, PROMPT, STRATEGY

pytestmark = pytest.mark.integration
SCORED = GenerationConfig(max_new_tokens=80, logprobs=True)


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> EmailGenerator:
    return EmailGenerator.load(train_tiny_lm(EMAILS, tmp_path_factory.mktemp("served") / "model", PROMPT), [])


@contextmanager
def running(gen: EmailGenerator, models: ServedModels) -> Iterator[str]:
    """``genemail serve``'s app for ``gen`` on a free port, in a thread; yields its /v1 URL."""

    with MicroBatcher(gen.complete, BatcherConfig(max_wait_ms=5)) as batcher, \
            serving_in_thread(build_app(gen, models, batcher)) as port:
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def served(gen: EmailGenerator) -> Iterator[str]:
    with running(gen, ServedModels.of(SimpleNamespace(generator=gen, manifest=None))) as url:
        yield url


@contextmanager
def connected(url: str) -> Iterator[OpenAIGenerator]:
    remote = OpenAIGenerator.connect(OpenAIBackendConfig(base_url=url), [])
    try:
        yield remote
    finally:
        remote.close()


def test_the_server_returns_the_generators_log_probabilities(served: str, gen: EmailGenerator) -> None:
    import httpx

    body = httpx.post(f"{served}/completions", json={"model": gen.base_model_id, "prompt": [PROMPT, PROMPT],
                                                     "max_tokens": 80, "temperature": 0, "logprobs": 1}).json()
    local = gen.complete([PROMPT], [BASE_ROW], SCORED)[0]
    for choice in body["choices"]:
        scores = choice["logprobs"]
        assert scores["token_logprobs"] == pytest.approx(list(local.logprobs), abs=1e-5)
        assert "".join(scores["tokens"]) == gen.tokenizer.decode(list(local.token_ids), skip_special_tokens=True)
        assert "".join(scores["tokens"]).strip() == choice["text"] == local.text
        assert not any("\ufffd" in t for t in scores["tokens"])
        assert scores["text_offset"][0] == 0 and scores["text_offset"] == sorted(scores["text_offset"])
    assert body["usage"]["completion_tokens"] == 2 * (local.new_tokens + (choice["finish_reason"] == "stop"))
    plain = httpx.post(f"{served}/completions", json={"model": gen.base_model_id, "prompt": PROMPT, "max_tokens": 8,
                                                      "temperature": 0}).json()
    assert plain["choices"][0]["logprobs"] is None  # only when asked
    refused = httpx.post(f"{served}/completions", json={"model": gen.base_model_id, "prompt": PROMPT,
                                                        "logprobs": 5})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "logprobs"


def test_the_openai_backend_carries_them_and_picks_the_check_by_the_servers_model(served: str,
                                                                                 gen: EmailGenerator) -> None:
    with connected(served) as remote:
        assert remote.base_parameters() == gen.base_parameters()  # the server lists its base model's size
        assert remote.fluency_mode == VOICE  # ... which is the embedded kind
        sampled = GenerationConfig(max_new_tokens=80, do_sample=True, temperature=0.7, logprobs=True)
        for config in (SCORED, sampled):
            here = gen.complete([PROMPT] * 3, [BASE_ROW] * 3, config, row_seeds=[1, 2, 3])
            there = remote.complete([PROMPT] * 3, [BASE_ROW] * 3, config, row_seeds=[1, 2, 3])
            assert [r.text for r in there] == [r.text for r in here]
            for a, b in zip(there, here):
                assert a.new_tokens == b.new_tokens and a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
        assert remote.complete([PROMPT], [BASE_ROW], GenerationConfig(max_new_tokens=8))[0].logprobs is None


def test_a_server_that_lists_no_size_gets_the_likelihood_check_end_to_end(gen: EmailGenerator) -> None:
    unsized = ServedModels(gen.base_model_id, {})  # as vLLM lists a model: no parameter count
    rows = [Row(PROMPT, BASE_ROW, PROFILE, STRATEGY, "segmented")] * 3
    config = GenerationConfig(max_new_tokens=100, do_sample=True, temperature=0.7, seed=2)
    with running(gen, unsized) as url, connected(url) as remote:
        assert remote.base_parameters() is None and remote.fluency_mode == LIKELIHOOD
        written = write_checked(remote, rows, config, GATE)
    assert [w.qa.status for w in written] == ["passed"] * 3  # logprobs came over HTTP and read as fluent
    gen.fluency = LIKELIHOOD
    try:
        assert [w.text for w in write_checked(gen, rows, config, GATE)] == [w.text for w in written]
    finally:
        gen.fluency = None


def test_a_server_without_logprobs_support_gets_no_email_through(gen: EmailGenerator) -> None:
    """vLLM-compatible servers without logprobs answer with ``logprobs: null``: every draft fails fluency."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": "real/model", "object": "model", "owned_by": "test"}]}

    @app.post("/v1/completions")
    def completions(body: dict) -> dict:
        return {"id": "c", "object": "text_completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "text": EMAILS[0], "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 40, "total_tokens": 43}}

    with serving_in_thread(app) as port, connected(f"http://127.0.0.1:{port}/v1") as remote:
        written = write_checked(remote, [Row(PROMPT, BASE_ROW, PROFILE, STRATEGY, "segmented")],
                                GenerationConfig(max_new_tokens=80), GATE)
    assert written[0].qa.status == "fallback" and written[0].qa.failed == ("fluency",)
    assert "no token log-probabilities" in written[0].qa.reasons[0]
