"""The strategy studio: a segment's strategy edited and previewed through the quality gate, the release untouched."""

from __future__ import annotations

import pytest

from genemail.taxonomy import DORMANT

pytestmark = pytest.mark.integration


def test_studio_previews_an_edited_strategy_without_changing_the_release(app_url: str, app_service) -> None:
    from gradio_client.exceptions import AppError

    from tests.fixtures.app import app_client

    client = app_client(app_url)
    live = app_service.snapshot.strategies.for_segment(DORMANT).text(app_service.config.lang)
    tone, greeting, focus, cta, avoid = client.predict(DORMANT, api_name="/studio_strategy")
    assert (tone, greeting, focus, cta) == (live.tone, live.greeting, live.focus, live.call_to_action)
    status, emails, diff = client.predict(DORMANT, "轻松友好", greeting, focus, cta, "最后机会, 清仓",
                                          api_name="/studio_preview")
    segment_ids = [c for c, s in app_service.customer_segments().items() if s == DORMANT][:3]
    rows = emails["value"]["data"]
    assert [r[0] for r in rows] == segment_ids and all(r[1].strip() for r in rows)
    assert all(r[2].startswith(("✅", "⚠️")) for r in rows)  # every preview email has its quality-check verdict
    assert f"-tone: {live.tone}" in diff and "+tone: 轻松友好" in diff and "+must_not_say: 最后机会, 清仓" in diff
    assert "unchanged" in status
    after = app_service.snapshot.strategies.for_segment(DORMANT).text(app_service.config.lang)
    assert after.tone == live.tone  # the live release is untouched
    with pytest.raises(AppError, match="^tone: is empty"):
        client.predict(DORMANT, "  ", greeting, focus, cta, "", api_name="/studio_preview")
    with pytest.raises(AppError, match="^Segment: nothing picked"):
        client.predict(None, "x", greeting, focus, cta, "", api_name="/studio_preview")
