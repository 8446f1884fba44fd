"""`genemail serve`'s app in-process: the OpenAI completions API over the real tiny PEFT generator.

The batcher's scheduling (one mixed batch for concurrent requests of different adapters, settings kept
apart, big requests split) and the HTTP surface (models list, greedy completions equal to the generator's,
OpenAI-style errors, API key) are checked here; tests/test_serve_campaign.py drives a real server process.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from genemail.errors import ConfigError
from genemail.generation.generator import BASE_ROW, AdapterRef, Completion, EmailGenerator, GenerationConfig
from genemail.serving.batcher import BatcherConfig, MicroBatcher
from genemail.serving.server import ServedModels, build_app
from genemail.taxonomy import BASELINE, DORMANT, HIGHVALUE_ACTIVE, PARENT_ACTIVE
from tests.fixtures.models import FIXTURE_ADAPTERS

GREEDY = GenerationConfig(max_new_tokens=6)
PROMPTS = ["客户：45岁，已婚\n邮件：", "客户：30岁\n邮件：", "Customer: 52 y, married\nEmail:",
           "客户：61岁，2个孩子\n邮件："]


@pytest.fixture(scope="module")
def gen(tiny_base_model_dir: Path, tiny_adapters_dir: Path) -> EmailGenerator:
    refs = [AdapterRef(n, tiny_adapters_dir / n, repo_id=f"demo/{n}", revision=str(i) * 40)
            for i, n in enumerate(FIXTURE_ADAPTERS)]
    return EmailGenerator.load(tiny_base_model_dir, refs)


class Recorder:
    """A ``complete`` function that records each call (to check the batcher's scheduling alone)."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str], GenerationConfig]] = []

    def __call__(self, prompts: list[str], names: list[str], config: GenerationConfig) -> list[Completion]:
        self.calls.append((prompts, names, config))
        return [Completion(text=f"{n}:{p}", new_tokens=len(p)) for p, n in zip(prompts, names)]


def _concurrently(batcher: MicroBatcher, jobs: list[tuple[list[str], str, GenerationConfig]]) -> list:
    results: list = [None] * len(jobs)

    def one(i: int) -> None:
        results[i] = batcher.submit(*jobs[i]).result(timeout=120)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_batcher_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="max_batch_size"):
        BatcherConfig(max_batch_size=0)
    with pytest.raises(ConfigError, match="max_wait_ms"):
        BatcherConfig(max_wait_ms=-1)


def test_concurrent_requests_share_one_call_and_settings_stay_apart() -> None:
    record = Recorder()
    other = GenerationConfig(max_new_tokens=9)
    with MicroBatcher(record, BatcherConfig(max_batch_size=8, max_wait_ms=400)) as batcher:
        jobs = [(["a", "b"], "x", GREEDY), (["c"], "y", GREEDY), (["d"], "z", other), (["e"], "x", GREEDY)]
        results = _concurrently(batcher, jobs)
    for (prompts, name, _), result in zip(jobs, results):  # every request gets its own rows, in order
        assert [c.text for c in result] == [f"{name}:{p}" for p in prompts]
    greedy_calls = [c for c in record.calls if c[2] == GREEDY]
    assert len(greedy_calls) == 1 and sorted(greedy_calls[0][0]) == ["a", "b", "c", "e"]  # one mixed batch
    assert set(greedy_calls[0][1]) == {"x", "y"}
    assert [c[0] for c in record.calls if c[2] == other] == [["d"]]


def test_big_requests_are_split_and_errors_reach_every_waiter() -> None:
    record = Recorder()
    with MicroBatcher(record, BatcherConfig(max_batch_size=3, max_wait_ms=0)) as batcher:
        out = batcher.submit([str(i) for i in range(7)], "x", GREEDY).result(timeout=30)
    assert [c.text for c in out] == [f"x:{i}" for i in range(7)]
    assert all(len(c[0]) <= 3 for c in record.calls)

    def broken(prompts, names, config):  # noqa: ANN001, ANN202
        raise ConfigError("bad settings", fix="send good ones")

    with MicroBatcher(broken, BatcherConfig(max_wait_ms=0)) as batcher:
        with pytest.raises(ConfigError, match="bad settings"):
            batcher.submit(["p"], "x", GREEDY).result(timeout=30)
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(["p"], "x", GREEDY)


def test_run_calls_the_function_on_the_worker_thread_between_batches() -> None:
    record = Recorder()
    with MicroBatcher(record, BatcherConfig(max_wait_ms=200)) as batcher:
        rows = batcher.submit(["a"], "x", GREEDY)
        where = batcher.run(lambda: (threading.current_thread().name, len(record.calls)))
        assert where.result(timeout=30) == ("genemail-batcher", 1)  # after the batch it arrived beside
        assert [c.text for c in rows.result(timeout=30)] == ["x:a"]

        def fails() -> None:
            raise ConfigError("no model")

        with pytest.raises(ConfigError, match="no model"):
            batcher.run(fails).result(timeout=30)
        assert batcher.submit(["b"], "y", GREEDY).result(timeout=30)[0].text == "y:b"  # the thread lives on
    with pytest.raises(RuntimeError, match="closed"):
        batcher.run(lambda: None)


@pytest.mark.integration
def test_a_mixed_batch_of_concurrent_adapters_equals_each_alone(gen: EmailGenerator) -> None:
    names = [HIGHVALUE_ACTIVE, PARENT_ACTIVE, DORMANT, BASELINE]
    with MicroBatcher(gen.complete, BatcherConfig(max_batch_size=32, max_wait_ms=500)) as batcher:
        results = _concurrently(batcher, [([p], n, GREEDY) for p, n in zip(PROMPTS, names)])
        mix = list(batcher.stats.adapter_mix)
    assert mix == [tuple(sorted(names))]  # all four adapters in one generate call
    for prompt, name, result in zip(PROMPTS, names, results):
        assert result == gen.complete([prompt], [name], GREEDY)


@pytest.fixture(scope="module")
def client(gen: EmailGenerator):
    from fastapi.testclient import TestClient

    models = ServedModels("demo/genemail-base", {n: f"demo/{n}@{'0' * 40}" for n in gen.adapter_names}, 512)
    with MicroBatcher(gen.complete, BatcherConfig(max_wait_ms=5)) as batcher:
        with TestClient(build_app(gen, models, batcher, api_key="sk-test")) as http:
            http.headers["Authorization"] = "Bearer sk-test"
            yield http


@pytest.mark.integration
def test_models_lists_the_base_and_one_model_per_adapter(client, gen: EmailGenerator) -> None:
    data = client.get("/v1/models").json()["data"]
    assert data[0]["id"] == "demo/genemail-base" and data[0]["parent"] is None
    adapters = {m["id"]: m for m in data[1:]}
    assert set(adapters) == set(gen.adapter_names)
    assert all(m["parent"] == "demo/genemail-base" and m["object"] == "model" for m in adapters.values())
    assert client.get("/health").json() == {"status": "ok"}


@pytest.mark.integration
def test_greedy_completions_equal_the_generator(client, gen: EmailGenerator) -> None:
    body = client.post("/v1/completions", json={"model": DORMANT, "prompt": PROMPTS[:2], "max_tokens": 6,
                                                "temperature": 0}).json()
    direct = gen.complete(PROMPTS[:2], [DORMANT, DORMANT], GREEDY)
    assert [c["text"] for c in body["choices"]] == [d.text for d in direct]
    stopped = [d.new_tokens < 6 for d in direct]
    assert [c["finish_reason"] for c in body["choices"]] == ["stop" if s else "length" for s in stopped]
    assert body["usage"]["completion_tokens"] == sum(d.new_tokens + s for d, s in zip(direct, stopped))
    assert body["usage"]["prompt_tokens"] == sum(len(gen.tokenizer(p)["input_ids"]) for p in PROMPTS[:2])
    base = client.post("/v1/completions", json={"model": "demo/genemail-base", "prompt": PROMPTS[0],
                                                "max_tokens": 6, "temperature": 0}).json()
    assert base["choices"][0]["text"] == gen.complete([PROMPTS[0]], [BASE_ROW], GREEDY)[0].text


@pytest.mark.integration
@pytest.mark.parametrize(("body", "status", "param"), [
    ({"model": "Whales", "prompt": "x"}, 404, "model"),
    ({"model": DORMANT, "prompt": "x", "stream": True}, 400, "stream"),
    ({"model": DORMANT, "prompt": "x", "n": 2}, 400, "n"),
    ({"model": DORMANT, "prompt": "x", "stop": ["\n"]}, 400, "stop"),
    ({"model": DORMANT, "prompt": [1, 2, 3]}, 400, "prompt"),
    ({"model": DORMANT, "prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
    ({"model": DORMANT, "prompt": "x", "temperature": -1}, 400, "temperature"),
    ({"prompt": "x"}, 400, "model"),
])
def test_errors_have_the_openai_shape_and_name_the_field(client, body: dict, status: int, param: str) -> None:
    answer = client.post("/v1/completions", json=body)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["param"] == param and error["message"] and error["code"] == status


@pytest.mark.integration
def test_the_api_key_is_required(client) -> None:
    answer = client.get("/v1/models", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401 and "API key" in answer.json()["error"]["message"]
    assert client.get("/health", headers={"Authorization": ""}).status_code == 200  # health stays open


@pytest.mark.integration
def test_sampling_is_seeded(client) -> None:
    ask = {"model": DORMANT, "prompt": PROMPTS[0], "max_tokens": 8, "temperature": 0.9, "seed": 3}
    first = client.post("/v1/completions", json=ask).json()["choices"][0]["text"]
    assert client.post("/v1/completions", json=ask).json()["choices"][0]["text"] == first


def test_the_client_refuses_an_adapter_the_server_does_not_serve(tiny_adapters_dir: Path) -> None:
    from genemail.errors import ServingError
    from genemail.serving.client import OpenAIBackendConfig, OpenAIGenerator, backend_config

    backend = OpenAIBackendConfig(base_url="http://127.0.0.1:9/v1")
    remote = OpenAIGenerator(model=None, tokenizer=None, base_model_id="demo/base", backend=backend,
                             served={"demo/base": None, DORMANT: "demo/base"})
    remote.add_adapter(AdapterRef(DORMANT, tiny_adapters_dir / DORMANT))
    with pytest.raises(ServingError, match="serve-args"):
        remote.add_adapter(AdapterRef(BASELINE, tiny_adapters_dir / BASELINE))
    assert remote.adapter_names == (DORMANT,)
    assert OpenAIBackendConfig(base_url="http://h:8000").api_url == "http://h:8000/v1"
    assert backend_config("peft", None) is None
    with pytest.raises(ConfigError, match="--backend openai"):
        backend_config("peft", "http://h:8000/v1")
    with pytest.raises(ConfigError, match="--base-url"):
        backend_config("openai", None)
