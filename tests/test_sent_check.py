"""Reading a campaign's emails back: every count from rows with a known truth."""

from __future__ import annotations

from genemail.evaluation.sent import check_sent
from genemail.generation.prompts import CustomerProfile
from genemail.generation.strategies import load_strategies
from training.check_campaign import main

BOOK = load_strategies()
PROFILES = {"1": CustomerProfile("1", recency=12, favourite_category="wines", income=90_000.0),
            "2": CustomerProfile("2", recency=40, children=0),
            "3": CustomerProfile("3", recency=5, favourite_category="meat", tenure_days=800)}
ROWS = [
    {"customer_id": "1", "email": "您好：距离您上次光临已有12天，您喜爱的葡萄酒到了。了解更多。", "qa_status": "passed", "qa_attempts": 1,
     "baseline_email": "您好：距离您上次光临已有99天。了解更多。", "baseline_qa_status": "fallback", "baseline_qa_attempts": 3},
    {"customer_id": "2", "email": "您好：{{recency}}。了解更多。", "qa_status": None, "qa_attempts": None},
    {"customer_id": "3", "email": "您好：距离您上次光临已有5天，感谢您2年来的陪伴。了解更多。", "qa_status": "passed", "qa_attempts": 2},
]


def test_every_count_matches_the_rows() -> None:
    out = check_sent(ROWS, PROFILES, BOOK)
    seg, base = out["segmented"], out["baseline"]
    assert out["rows"] == 3 and seg["emails"] == 3 and seg["distinct"] == 3
    assert seg["false_fact"]["k"] == 0 and base["false_fact"]["k"] == 1  # 99 days, the customer has 12
    assert seg["merge_tag_or_brace_left"]["k"] == 1 and seg["no_verdict"]["k"] == 1
    assert seg["first_attempt"]["k"] == 1 and base["fallback"] == {**base["fallback"], "k": 1, "n": 1}
    assert seg["two_true_facts"]["n"] == 2 and seg["two_true_facts"]["k"] == 2  # customers 1 and 3 have >= 2 facts
    low, high = seg["false_fact"]["ci"]
    assert low == 0.0 and 0 < high < 1


def test_the_command_refuses_a_customer_missing_from_the_file(tmp_path, capsys) -> None:
    import json

    from genemail.data import write_synthetic

    data = write_synthetic(20, 1, tmp_path / "customers.csv")
    emails = tmp_path / "emails.jsonl"
    emails.write_text(json.dumps({"customer_id": "nobody", "email": "x"}) + "\n", encoding="utf-8")
    assert main(["--emails", str(emails), "--data", str(data)]) == 2
    assert "not in the customer file" in capsys.readouterr().err
