"""The launched app through ``gradio_client``: every endpoint named, compose, rate, campaign, release switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genemail.taxonomy import COLD_START, L2_SEGMENTS

pytestmark = pytest.mark.integration

ENDPOINTS = {"/segment", "/compose", "/regenerate", "/compose_new", "/next_pair", "/rate", "/stats", "/segments",
             "/segments_method", "/segments_drift", "/campaign", "/campaign_file", "/release", "/release_info", "/tags",
             "/status", "/results", "/ingest", "/experiments", "/outcome_file", "/next_label", "/label", "/label_stats",
             "/language", "/studio_strategy", "/studio_preview", "/studio_resegment", "/studio_save", "/studio_retrain",
             "/studio_job", "/studio_cancel", "/studio_publish"}


@pytest.fixture
def client(app_url: str):
    """A fresh client: its own session, so its own gr.State."""
    from tests.fixtures.app import app_client

    return app_client(app_url)


def _v(output):
    """The value of an output the app sent as an update (a table or file shown once it has data)."""
    return output["value"] if isinstance(output, dict) and output.get("__type__") == "update" else output


def _n_ratings(stats_md: str) -> int:
    return 0 if stats_md.startswith("No ratings") else int(stats_md.split("**")[1])


def test_every_event_has_an_explicit_api_name(client) -> None:
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert ENDPOINTS <= named
    assert not any(name.startswith("/lambda") or name.startswith("/on_") for name in named)


def test_compose_returns_segment_strategy_and_two_emails(client, app_service, app_release) -> None:
    cid = app_service.customer_ids(1)[0]
    details, segment_md, strategy_md, email, email_info, baseline, baseline_info, technical = client.predict(
        cid, 12, 0, 0, api_name="/compose")
    assert details["customer_id"] == cid and details["l2"] in (*L2_SEGMENTS, COLD_START)
    name = app_service.segment_name(details["l2"], "en")
    assert name in segment_md and name in strategy_md and details["l2"] not in segment_md  # words, not codes
    assert details["strategy"]["adapter_ref"] not in strategy_md  # technical detail: the Advanced fold
    assert details["strategy"]["adapter_ref"] in technical and "new tokens" in technical
    assert email.strip() and baseline.strip() and email == details["email"]
    assert "Written in" in email_info and "Written in" in baseline_info and "tokens" not in email_info
    assert details["release"]["sha"] == app_release.release_shas["v1"]


def test_compose_with_and_without_the_user_embedding(client, app_service) -> None:
    cid = app_service.customer_ids(1)[0]
    plain = client.predict(cid, 12, 0, 0, False, api_name="/compose")
    embedded = client.predict(cid, 12, 0, 0, True, api_name="/compose")
    assert plain[0]["user_embedding"] is False and embedded[0]["user_embedding"] is True
    assert "With the user embedding" in embedded[7] and "With the user embedding" not in plain[7]
    assert embedded[5] == plain[5]  # the one-size-fits-all baseline never uses the vector
    assert client.predict(cid, 12, 0, 0, api_name="/compose")[0]["user_embedding"] is False  # off by default
    regenerated = client.predict(cid, 12, 0.7, 0, True, api_name="/regenerate")
    assert regenerated[2]["user_embedding"] is True  # the switch holds for the next seed too


def test_segment_and_cold_start_form(client, app_service) -> None:
    cid = app_service.customer_ids(3)[2]
    details, segment_md, _ = client.predict(cid, api_name="/segment")
    assert details["l2"] == app_service.segment(cid).l2 and cid in segment_md
    out = client.predict(35, "", "", "", None, "", None, None, 8, 0, 0, api_name="/compose_new")
    assert out[0]["l2"] == COLD_START and "New customer" in out[1] and out[3].strip()


def test_user_mistakes_come_back_as_messages_not_tracebacks(client, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="unknown customer ID 'nope'") as err:
        client.predict("nope", 12, 0, 0, api_name="/compose")
    assert "Fix:" in str(err.value) and "Traceback" not in str(err.value)
    bad = tmp_path / "broken.csv"
    bad.write_text("just,some\n1,2\n", encoding="utf-8")
    with pytest.raises(AppError, match="broken.csv") as err:
        client.predict(handle_file(str(bad)), 5, 8, api_name="/campaign")
    assert "Traceback" not in str(err.value)
    with pytest.raises(AppError, match="no pair to rate"):
        client.predict("ann", "A", 4, 2, "", api_name="/rate")


def test_rate_stores_a_rating_and_the_statistics_change(client, app_service) -> None:
    before_md, _ = client.predict(api_name="/stats")
    before = app_service.store.count()
    target, email_a, email_b, *_ = client.predict(app_service.customer_ids(4)[3], api_name="/next_pair")
    assert "Target style" in target and email_a and email_b
    status = client.predict("api-tester", "B", 2, 5, "clear", api_name="/rate")
    assert f"Saved as rating #{app_service.store.count()} by api-tester" in status  # numbered without gaps
    after_md, table = client.predict(api_name="/stats")
    assert app_service.store.count() == before + 1 == _n_ratings(after_md) == _n_ratings(before_md) + 1
    assert table["value"]["headers"][:3] == ["segment", "measure", "email"] and table["value"]["data"]
    assert not any("_" in str(cell) for row in table["value"]["data"] for cell in row[:3])  # no raw names
    again = client.predict("api-tester", "B", 2, 5, "clear", api_name="/rate")  # a double click
    assert again == status and app_service.store.count() == before + 1


def test_campaign_returns_files_with_one_row_per_customer(client, app_service, tmp_path: Path) -> None:
    from gradio_client import handle_file

    status, counts, jsonl, csv, preview = client.predict(None, 6, 8, api_name="/campaign")
    jsonl, csv, counts = jsonl["value"], csv["value"], counts["value"]
    rows = [json.loads(line) for line in Path(jsonl).read_text(encoding="utf-8").splitlines()]
    assert [r["customer_id"] for r in rows] == app_service.customer_ids(6)
    assert len(Path(csv).read_text(encoding="utf-8-sig").strip().splitlines()) == 6 + 1  # header
    assert sum(row[-1] for row in counts["data"]) == 6 and "**6**" in status
    upload = tmp_path / "new_customers.csv"  # PRD schema, semicolon separated
    upload.write_text("ID;Gender;Age;Education;Marital_Status;Income;KidAge;Familysize;Recency\n"
                      "n1;F;34;Master;Married;61000;young;3;12\nn2;M;58;PhD;Single;88000;none;1;80\n"
                      "n3;F;27;Graduation;Together;30500;none;2;5\n", encoding="utf-8")
    _, _, jsonl, _, _ = client.predict(handle_file(str(upload)), 1, 8, api_name="/campaign")
    ids = [json.loads(line)["customer_id"] for line in Path(jsonl["value"]).read_text(encoding="utf-8").splitlines()]
    assert ids == ["n1", "n2", "n3"]


def test_segments_endpoint_shows_sizes_and_plots(client, app_service) -> None:
    sizes, projection, size_plot, summary, table, plot, profiles = map(_v, client.predict("KMeans",
                                                                                        api_name="/segments"))
    assert sum(row[-1] for row in sizes["data"]) == len(app_service.customers)
    assert projection and Path(projection).stat().st_size > 0 and "silhouette" in summary
    assert "KMeans" in summary and "separated" in summary or "overlapping" in summary  # the number, read
    assert table["data"] and profiles["data"]
    assert not any("_" in str(h) for h in [*sizes["headers"], *profiles["headers"]])  # columns in words
    assert not any("_" in str(cell) for row in sizes["data"] for cell in row[:2])  # segment names, not codes
    summary, table, _ = map(_v, client.predict("HDBSCAN", api_name="/segments_method"))
    assert "HDBSCAN" in summary and "leaves out" in summary and "{" not in summary


def test_segments_drift_shows_the_migration_matrix_of_two_snapshots(client, app_service, tmp_path: Path) -> None:
    from gradio_client import handle_file

    from genemail.data import synthesize
    from genemail.segmentation.drift import DriftSpec, synthesize_drift

    raw = synthesize(300, 5, dirty=False)
    later, returned = synthesize_drift(raw, DriftSpec(days=60, returning=0.3, seed=1))
    raw.to_csv(tmp_path / "before.csv", index=False)
    later.to_csv(tmp_path / "after.csv", index=False)
    verdict, counts, shares, psi = map(_v, client.predict(handle_file(str(tmp_path / "before.csv")),
                                                          handle_file(str(tmp_path / "after.csv")),
                                                          api_name="/segments_drift"))
    assert verdict.startswith("**Retrain recommended.**") and "changed segment" in verdict
    assert counts["headers"][0] == "before" and counts["headers"][-1] == "(gone)"
    assert sum(sum(row[1:]) for row in counts["data"]) == 300  # every customer, in both snapshots
    dormant = counts["headers"].index(app_service.segment_name("Dormant", "en"))
    assert sum(row[dormant] for row in counts["data"]) >= int((~returned).sum() * 0.9)  # the lapsed ones
    assert all(abs(sum(v for v in row[1:] if v == v) - 1) < 1e-2 for row in shares["data"] if any(row[1:]))
    assert psi["data"][0][0] in ("days since last purchase", "activity")  # the most drifted features first
    with pytest.raises(Exception, match="no later snapshot"):
        client.predict(None, None, api_name="/segments_drift")
    # The service alone: "before" empty means the demo customers.
    result = app_service.segment_drift(None, tmp_path / "after.csv")
    assert result["report"].n_before == len(app_service.customers)


def test_switching_release_changes_the_loaded_shas(client, app_service, app_release) -> None:
    tags = client.predict(api_name="/tags")
    assert [c[0] for c in tags["choices"]][:2] == ["v1", "v2"]
    _, table, _ = client.predict(api_name="/release_info")
    shas = {row[0]: row[3] for row in _v(table)["data"]}
    assert shas["release"] == app_release.release_shas["v1"]
    try:
        info, table, banner, _, status = client.predict("v2", api_name="/release")
        new = {row[0]: row[3] for row in _v(table)["data"]}
        assert "for everyone" in status
        assert new["release"] == app_release.release_shas["v2"] != shas["release"]
        assert new["adapter:Dormant"] == app_release.adapter_shas["v2"]["Dormant"] != shas["adapter:Dormant"]
        assert "v2" in banner and "v2" in info
        details = client.predict(app_service.customer_ids(1)[0], 8, 0, 0, api_name="/compose")[0]
        assert details["release"]["sha"] == app_release.release_shas["v2"]
        from gradio_client.exceptions import AppError

        with pytest.raises(AppError, match="v404"):
            client.predict("v404", api_name="/release")
        assert app_service.snapshot.revision == "v2"
    finally:
        client.predict("v1", api_name="/release")
    assert app_service.snapshot.release_sha == app_release.release_shas["v1"]
