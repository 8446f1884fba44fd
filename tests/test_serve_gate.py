"""A campaign through `--backend openai` against a server that writes wrong or broken emails.

The server is a real HTTP server speaking the OpenAI completions API (FastAPI + uvicorn on a free
loopback port) whose every completion is a bad email: a wrong fact, a doubled greeting, garbled text, an
unknown merge tag, a foreign sentence. The campaign must write only checked or template emails, and say
how many fell back.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from genemail.cli import run
from genemail.generation.gate import QualityGate
from genemail.generation.prompts import profile_from_row
from genemail.generation.strategies import load_strategies
from tests.fixtures.net import serving_in_thread

pytestmark = pytest.mark.integration

BAD = ("亲爱的会员，许久未见：距离您上次光临已有999天。最后机会，立即激活账户领取大礼！",  # a wrong fact
       "尊敬的贵宾，您好：尊敬的贵宾，您好：本季臻选新品已到店。即刻预约您的专属顾问，尊享私人礼遇！",  # doubled greeting
       "来来来来来来来来来来",  # garbled
       "嗨，朋友：{{shoe_size}}本周好物清单更新啦。快来逛逛本周好物吧！",  # unknown merge tag
       "您好：Please check our new arrivals today.了解更多。")  # a foreign sentence


@pytest.fixture(scope="module")
def broken_server(app_release) -> Iterator[str]:
    from fastapi import FastAPI

    app = FastAPI()
    texts = itertools.cycle(BAD)
    models = ["HighValue_Active", "Parent_Active", "Regular_Active", "Need_Reengagement", "Dormant", "baseline"]

    @app.get("/v1/models")
    def list_models() -> dict:
        return {"object": "list", "data": [{"id": "base", "object": "model", "owned_by": "test"}]
                + [{"id": m, "object": "model", "owned_by": "test", "parent": "base"} for m in models]}

    @app.post("/v1/completions")
    def completions(body: dict) -> dict:
        return {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "text": next(texts), "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22}}

    with serving_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}/v1"


def test_a_broken_server_sends_only_checked_or_template_emails(broken_server: str, app_release,
                                                               tmp_path: Path, capsys) -> None:
    from genemail.data import load_customers, write_synthetic

    data = write_synthetic(40, 5, tmp_path / "customers.csv")
    frame = load_customers(data).frame
    out = tmp_path / "remote.jsonl"
    assert run(["campaign", "--release", app_release.repo_id, "--revision", "v1", "--data", str(data),
                "--out", str(out), "--backend", "openai", "--base-url", broken_server]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed[printed.index("{"):])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(frame) > 30
    # every email fell back to its template, and the summary says so
    assert {r["qa_status"] for r in rows} == {"fallback"} and {r["baseline_qa_status"] for r in rows} == {"fallback"}
    assert summary["qa"]["segmented"]["fallback"] == len(rows) and summary["qa"]["segmented"]["first_attempt"] == 0
    book = load_strategies()
    gate = QualityGate(book, "zh")
    profiles = {str(r["customer_id"]): profile_from_row(r) for r in frame.to_dict("records")}
    capsys.readouterr()
    for row in rows:
        assert "999" not in row["email"] and "{" not in row["email"] and "Please" not in row["email"]
        failed = set(row["qa_failed"].split(","))
        assert failed & {"facts", "structure", "fluency", "slots", "language"}  # why the drafts were refused
        # what was sent passes the gate: the segment's template, or (when that does not fit the customer,
        # e.g. win-back wording to an active customer) the single strategy's generic one
        checks = [gate.check(row["email_template"], profiles[row["customer_id"]], strategy, variant)
                  for strategy, variant in ((book.for_segment(row["l2"]), "segmented"), (book.baseline, "single_strategy"))]
        assert any(v.passed and rendered == row["email"] for v, rendered in checks)
