"""Hand labels: the store (idempotent, validated), the queue (coverage, borderline, overlap), the evaluation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from genemail.errors import DataError
from genemail.labels.evaluate import agreement, consensus, read_labels
from genemail.labels.queue import OVERLAP_EVERY, next_customer
from genemail.labels.store import Label, LabelsStore, new_submission_id
from genemail.taxonomy import DORMANT, HIGHVALUE_ACTIVE, PARENT_ACTIVE


def _label(**kwargs) -> Label:
    values = {"submission_id": new_submission_id(), "rater": "ann", "customer_id": "C1", "l1": "High",
              "l2": HIGHVALUE_ACTIVE}
    return Label(**{**values, **kwargs})


def test_labels_are_validated_and_stored_once(tmp_path: Path) -> None:
    store = LabelsStore(tmp_path / "labels.sqlite")
    label = _label(note="clear case")
    first = store.add(label)
    assert store.add(label) == first and store.count() == 1  # a retry stores nothing new
    with pytest.raises(DataError, match="different l2"):
        store.add(Label(**{**label.__dict__, "l2": DORMANT}))
    for bad, match in [({"l2": "VIP"}, "l2"), ({"l1": "Top"}, "l1"), ({"rater": " "}, "rater"),
                       ({"submission_id": "x"}, "submission_id")]:
        with pytest.raises(DataError, match=match):
            _label(**bad)
    row = store.all().iloc[0]
    assert (row["customer_id"], row["l2"], row["note"]) == ("C1", HIGHVALUE_ACTIVE, "clear case")
    assert [r["label_id"] for r in store.iter_since(0)] == [first] and list(store.iter_since(first)) == []


def _scores() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(6)],
                         "segment": [HIGHVALUE_ACTIVE, HIGHVALUE_ACTIVE, DORMANT, DORMANT, PARENT_ACTIVE, PARENT_ACTIVE],
                         "margin": [0.9, 0.1, 0.8, 0.05, 0.7, 0.3]})


def _labels(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["rater", "customer_id", "l2"])


def test_queue_covers_segments_then_borderline_then_overlaps() -> None:
    empty = _labels([])
    assert next_customer(_scores(), empty, "ann") == "C3"  # no label anywhere yet: the smallest margin of all
    # HighValue and Dormant have a label each: Parent_Active (none yet) comes next, its borderline customer first
    seen = _labels([("bob", "C1", HIGHVALUE_ACTIVE), ("bob", "C3", DORMANT)])
    assert next_customer(_scores(), seen, "ann") == "C5"
    # ann's fifth label goes to a customer someone else labelled, to measure agreement
    mine = _labels([("ann", f"C{i}", "x") for i in (0, 2, 4, 5)][: OVERLAP_EVERY - 1] + [("bob", "C1", "y")])
    assert next_customer(_scores(), mine, "ann") == "C1"
    done = _labels([("ann", f"C{i}", "x") for i in range(6)])
    with pytest.raises(DataError, match="every customer"):
        next_customer(_scores(), done, "ann")


def test_consensus_ignores_unsure_and_counts_ties() -> None:
    labels = pd.DataFrame({"customer_id": ["A", "A", "A", "B", "B", "C"],
                           "l2": [DORMANT, DORMANT, "unsure", DORMANT, HIGHVALUE_ACTIVE, "unsure"]})
    truth, disputed = consensus(labels, "l2")
    assert truth == {"A": DORMANT} and disputed == 1  # B is tied; C has only "unsure"


def test_agreement_matches_known_values() -> None:
    from sklearn.metrics import cohen_kappa_score

    a = [DORMANT, DORMANT, HIGHVALUE_ACTIVE, HIGHVALUE_ACTIVE, PARENT_ACTIVE, PARENT_ACTIVE]
    b = [DORMANT, HIGHVALUE_ACTIVE, HIGHVALUE_ACTIVE, HIGHVALUE_ACTIVE, PARENT_ACTIVE, DORMANT]
    rows = [("ann", f"C{i}", x) for i, x in enumerate(a)] + [("bob", f"C{i}", x) for i, x in enumerate(b)]
    result = agreement(_labels(rows))
    # 4 of 6 agree; chance agreement from the marginals (2,2,2)x(2,3,1)/36 = 12/36; kappa = (4/6-1/3)/(1-1/3)
    assert result["cohen_kappa"] == pytest.approx(0.5)
    assert result["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b))
    assert result["kappa_n"] == 6 and result["alpha_n"] == 6 and 0 < result["krippendorff_alpha"] < 1
    perfect = agreement(_labels([("ann", f"C{i}", x) for i, x in enumerate(a)] +
                                [("bob", f"C{i}", x) for i, x in enumerate(a)]))
    assert perfect["cohen_kappa"] == pytest.approx(1.0) and perfect["krippendorff_alpha"] == pytest.approx(1.0)


def test_read_labels_names_the_line_of_a_bad_label(tmp_path: Path) -> None:
    good = tmp_path / "labels.csv"
    good.write_text(f"customer_id,rater,l1,l2\nC1,ann,High,{HIGHVALUE_ACTIVE}\nC2,ann,,{DORMANT}\n", encoding="utf-8")
    frame = read_labels(good)
    assert list(frame["l1"]) == ["High", "unsure"] and list(frame["rater"]) == ["ann", "ann"]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"customer_id,rater,l2\nC1,ann,{DORMANT}\nC2,ann,VIP\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3.*not a label"):
        read_labels(bad)
    missing = tmp_path / "missing.csv"
    missing.write_text("customer_id,rater\nC1,ann\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing l2"):
        read_labels(missing)


@pytest.mark.integration
def test_labels_are_exported_to_a_hub_dataset(tmp_path: Path, hub_api, repo_name) -> None:
    import json

    from huggingface_hub import hf_hub_download

    from genemail.exports.labels import start_labels_export

    store = LabelsStore(tmp_path / "labels.sqlite")
    repo_id = repo_name("labels")
    scheduler = start_labels_export(store, repo_id, tmp_path / "export", every=60, hf_api=hub_api)
    try:
        ids = [store.add(_label(customer_id=f"C{i}", note="日本語も")) for i in range(3)]
        scheduler.trigger().result(timeout=60)
        pushed = Path(hf_hub_download(repo_id, f"data/{scheduler.jsonl_path.name}", repo_type="dataset",
                                      token=hub_api.token, cache_dir=tmp_path / "cache"))
        rows = [json.loads(line) for line in pushed.read_text(encoding="utf-8").splitlines()]
        assert [r["label_id"] for r in rows] == ids and rows[0]["note"] == "日本語も"
    finally:
        scheduler.stop()
