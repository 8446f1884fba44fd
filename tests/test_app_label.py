"""The app's Label tab through ``gradio_client``: blind customers to label, stored answers, statistics."""

from __future__ import annotations

import pytest

from genemail.taxonomy import DORMANT

pytestmark = pytest.mark.integration


@pytest.fixture
def client(app_url: str):
    from tests.fixtures.app import app_client

    return app_client(app_url)


def test_label_tab_shows_a_profile_without_the_answer_and_stores_the_label(client, app_service) -> None:
    before = app_service.labels.store.count()
    header, profile, *_ = client.predict("lena", "", api_name="/next_label")
    fields = {row[0]: row[1] for row in profile["value"]["data"]}
    customer_id = str(fields["Customer"])
    assert customer_id in header and "Age" in fields and "Purchases per month" in fields
    assert not any("_" in name for name in fields)  # field names in words, not column names
    assert len(fields["Purchases per month"].split(".")[-1]) <= 1  # rounded, not a long float
    assert not {"l1", "l2", "segment", "l2_proba", "Segment"} & set(fields)  # the model's answer is never shown
    status, stats = client.predict("lena", "Mid", DORMANT, "looks lapsed", api_name="/label")
    assert f"Saved as label #{app_service.labels.store.count()}." in status and "labels by" in stats
    assert "Dormant" not in stats.replace(app_service.segment_name(DORMANT, "en"), "")  # names, not codes
    assert app_service.labels.store.count() == before + 1
    row = app_service.labels.store.all().iloc[-1]
    assert (row["rater"], row["customer_id"], row["l1"], row["l2"]) == ("lena", customer_id, "Mid", DORMANT)
    assert row["model_l2"] and row["release_sha"] == app_service.snapshot.release_sha
    # the next customer for lena is another one
    header2, profile2, *_ = client.predict("lena", "", api_name="/next_label")
    assert customer_id not in header2


def test_label_tab_mistakes_are_messages(client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="no labeler name"):
        client.predict("", "", api_name="/next_label")
    client.predict("max", "", api_name="/next_label")
    with pytest.raises(AppError, match="Value tier: nothing picked"):
        client.predict("max", None, None, "", api_name="/label")
