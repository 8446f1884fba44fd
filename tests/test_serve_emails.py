"""`POST /v1/emails` on `genemail serve`: records in, checked emails out, over real HTTP.

Each server here is `build_app` as `genemail serve` builds it, run by uvicorn on a free loopback port, and
asked with httpx. On the test release the endpoint writes exactly what `genemail campaign` writes for the
same customers (it is the same generate call, so the same gate); a planted generator whose every
completion is a broken email gets only template emails back, each marked `fallback` and each passing the
gate; bad records are refused with OpenAI's error envelope naming the record and the field.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from genemail.generation.generator import Completion, EmailGenerator
from tests.fixtures.net import serving_in_thread

pytestmark = pytest.mark.integration
KEY = "sk-emails"
BROKEN = ("亲爱的会员，许久未见：距离您上次光临已有999天。最后机会，立即激活账户领取大礼！",  # a wrong fact
          "来来来来来来来来来来",  # garbled
          "嗨，朋友：{{shoe_size}}本周好物清单更新啦。快来逛逛本周好物吧！",  # unknown merge tag
          "您好：Please check our new arrivals today.了解更多。")  # a foreign sentence


class BrokenGenerator(EmailGenerator):
    """The release's generator, except that every completion is one of :data:`BROKEN`."""

    _texts = itertools.cycle(BROKEN)

    def complete(self, prompts, adapters, config, soft_prompts=None, row_seeds=None):  # noqa: ANN001, ANN201, D102
        return [Completion(next(self._texts), 12) for _ in prompts]


@contextmanager
def _serving(system: Any) -> Iterator[Any]:
    """``system`` served as `genemail serve` serves it (API key on); yields an httpx client for its URL."""
    import httpx

    from genemail.serving.batcher import BatcherConfig, MicroBatcher
    from genemail.serving.server import ServedModels, build_app

    with MicroBatcher(system.generator.complete, BatcherConfig(max_wait_ms=5)) as batcher:
        app = build_app(system.generator, ServedModels.of(system), batcher, KEY, system=system)
        with serving_in_thread(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300,
                                                          headers={"Authorization": f"Bearer {KEY}"}) as http:
            yield http


@pytest.fixture(scope="module")
def system(app_release) -> Any:
    from genemail.loading import load_release

    return load_release(app_release.repo_id, "v1")


@pytest.fixture(scope="module")
def http(system) -> Iterator[Any]:
    with _serving(system) as client:
        yield client


def _records(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """``n`` customers in the PRD schema, as JSON records (missing values as null)."""
    from genemail.data.synth import synthesize_prd

    frame = synthesize_prd(n, seed, dirty=False)
    return json.loads(frame.to_json(orient="records"))


def test_the_endpoint_writes_the_campaigns_checked_emails(http, app_release, tmp_path: Path) -> None:
    import pandas as pd

    from genemail.cli import run

    records = _records(14)
    pd.DataFrame(records).to_csv(tmp_path / "customers.csv", index=False)
    assert run(["campaign", "--release", app_release.repo_id, "--revision", "v1", "--data",
                str(tmp_path / "customers.csv"), "--out", str(tmp_path / "c.jsonl"), "--greedy",
                "--max-new-tokens", "8", "--batch-size", "16"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()]

    answer = http.post("/v1/emails", json={"customers": records, "max_new_tokens": 8})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["release"]["repo_id"] == app_release.repo_id and body["release"]["revision"] == "v1"
    assert [c["index"] for c in body["data"]] == list(range(14))
    ids = [c["customer_id"] for c in body["data"]]
    assert ids == [str(r["ID"]) for r in records] == [r["customer_id"] for r in rows]
    for customer, row in zip(body["data"], rows):  # the same customer, segment, emails and verdicts
        assert customer["l2"] == row["l2"] and customer["strategy"]["adapter"] == row["adapter"]
        seg, base = customer["emails"]["segmented"], customer["emails"]["baseline"]
        assert (seg["email"], seg["email_template"]) == (row["email"], row["email_template"])
        assert (base["email"], base["email_template"]) == (row["baseline_email"], row["baseline_email_template"])
        assert (seg["qa_status"], seg["qa_attempts"], seg["qa_failed"]) == \
            (row["qa_status"], row["qa_attempts"], row["qa_failed"])
        assert (base["qa_status"], base["qa_attempts"], base["qa_failed"]) == \
            (row["baseline_qa_status"], row["baseline_qa_attempts"], row["baseline_qa_failed"])
        assert "{{" not in seg["email"] and "{{" not in base["email"]  # facts filled
    for variant in ("segmented", "baseline"):
        counts = body["summary"][variant]
        statuses = [c["emails"][variant]["qa_status"] for c in body["data"]]
        assert counts["emails"] == 14 and counts["passed"] == statuses.count("passed")
        assert counts["fallback"] == statuses.count("fallback") == 14 - counts["passed"]


def test_one_variant_and_sampling_are_honoured(http) -> None:
    ask = {"customers": _records(3), "variants": ["baseline"], "temperature": 0.9, "seed": 5, "max_new_tokens": 8}
    first = http.post("/v1/emails", json=ask).json()
    assert set(first["summary"]) == {"baseline"} and first["summary"]["baseline"]["emails"] == 3
    assert all(set(c["emails"]) == {"baseline"} for c in first["data"])
    assert http.post("/v1/emails", json=ask).json()["data"] == first["data"]  # seeded: the same emails again


def test_a_broken_generator_gets_only_template_emails_back(system) -> None:
    from genemail.generation.gate import QualityGate
    from genemail.generation.prompts import profile_from_row
    from genemail.serving.emails import customers_frame

    gen = system.generator
    broken = dataclasses.replace(system, generator=BrokenGenerator(gen.model, gen.tokenizer, gen.base_model_id,
                                                                    _refs=dict(gen._refs)))
    records = _records(8, seed=4)
    with _serving(broken) as client:
        body = client.post("/v1/emails", json={"customers": records}).json()
    assert body["summary"]["segmented"]["fallback"] == 8 and body["summary"]["segmented"]["first_attempt"] == 0
    assert body["summary"]["baseline"]["fallback"] == 8
    gate = QualityGate(system.strategies, "zh")
    profiles = [profile_from_row(row) for row in customers_frame(records).to_dict("records")]
    for customer, profile in zip(body["data"], profiles):
        for variant, email in customer["emails"].items():
            assert email["qa_status"] == "fallback" and email["qa_attempts"] == 3
            assert set(email["qa_failed"].split(",")) & {"facts", "structure", "fluency", "slots", "language"}
            assert not any(part in email["email"] for part in ("999", "来来来", "{", "Please"))
            # what came back is a template email that passes the gate for this customer
            strategies = [(system.strategies.for_segment(customer["l2"]), variant),
                          (system.strategies.baseline, "single_strategy")]
            checks = [gate.check(email["email_template"], profile, strategy, v) for strategy, v in strategies]
            assert any(v.passed and rendered == email["email"] for v, rendered in checks)


PRD = {"ID": "c1", "Gender": "Female", "Age": 45, "Education": "Master", "Marital_Status": "Married",
       "Income": 72000, "KidAge": "young", "Familysize": 3, "Recency": 12}


@pytest.mark.parametrize(("body", "status", "param", "words"), [
    ({"customers": [PRD, {**PRD, "ID": "c2", "Income": "lots"}, {**PRD, "ID": "c3"}]}, 422,
     "customers[1], column Income", ("Income", "numbers")),
    ({"customers": [PRD, {**PRD, "ID": "c2", "Age": 300}]}, 422, "customers[1], column Age", ("Age",)),
    ({"customers": [PRD, {**PRD, "ID": None, "Age": 30}]}, 422, "customers[1], field ID", ("ID",)),
    ({"customers": [PRD, {**PRD, "ID": "c2"}]}, 422, "customers[1], field ID", ("earlier customer",)),
    ({"customers": [{k: v for k, v in PRD.items() if k != "Recency"}]}, 422, "customers[0], header", ("Recency",)),
    ({"customers": []}, 400, "customers", ("at least 1",)),
    ({"customers": [{**PRD, "Age": {"years": 45}}]}, 400, "customers.0.Age", ("Age",)),
    ({"customers": [PRD], "variants": ["single"]}, 400, "variants.0", ("segmented",)),
    ({"customers": [PRD], "max_new_tokens": 5000}, 400, "max_new_tokens", ("4096",)),
    ({"customers": [PRD], "temperature": -1}, 400, "temperature", ("temperature",)),
    ({"customers": [PRD], "varients": ["baseline"]}, 400, "varients", ("varients",)),
])
def test_bad_requests_name_the_record_and_field(http, body: dict, status: int, param: str,
                                                words: tuple[str, ...]) -> None:
    answer = http.post("/v1/emails", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["code"] == status
    assert all(w in error["message"] for w in words), error["message"]
    assert "Traceback" not in answer.text


def test_the_api_key_applies(http) -> None:
    answer = http.post("/v1/emails", json={"customers": [PRD]}, headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401 and answer.json()["error"]["type"] == "AuthenticationError"
