"""The strategy studio: a segment's strategy edited and previewed through the quality gate, the release untouched;
thresholds with who would change segment; saving as a new release revision; retraining in the background."""

from __future__ import annotations

from pathlib import Path

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


# -- saving, thresholds and retraining: an app of its own on carol's release, so its new tags touch no other test --

STUDIO_NS = "carol"


@pytest.fixture(scope="module")
def studio_service(hub_server, app_release, session_tmp):
    """A service on ``carol/genemail-release@v1`` (the app test release, published again), micro retraining."""
    from genemail.service import GenEmailService, ServiceConfig
    from tests.fixtures.app import publish_tag

    token = hub_server.tokens[STUDIO_NS]
    result = publish_tag(app_release.artifacts, STUDIO_NS, "v1", token)
    folder = session_tmp / "studio"
    config = ServiceConfig(release_repo=result.release_repo, revision="v1", token=token,
                           hf_endpoint=hub_server.endpoint, n_demo_customers=120,
                           ratings_db=folder / "ratings.sqlite", results_db=folder / "results.sqlite",
                           labels_db=folder / "labels.sqlite", work_dir=folder / "work", retrain_preset="micro")
    service = GenEmailService(config).start()
    assert service.ready, service.load_error
    yield service
    service.close()


@pytest.fixture(scope="module")
def studio_url(studio_service):
    from app import build_demo, launch_kwargs
    from tests.fixtures.net import free_port

    demo = build_demo(studio_service)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                **launch_kwargs(studio_service))
    try:
        yield demo.local_url.rstrip("/") + "/"
    finally:
        demo.close()


def _text(answer: object) -> str:
    """The status line of an answer (buttons and session state are not returned to an API caller)."""
    return answer if isinstance(answer, str) else answer[0]  # type: ignore[index]


def _moved(text: str) -> int:
    import re

    if text.startswith("No loaded customer would change segment"):
        return 0
    found = re.match(r"\*\*(\d+)\*\* of the (\d+) loaded customers would change segment", text)
    assert found, text
    return int(found.group(1))


def test_threshold_changes_report_who_would_change_segment(studio_url: str, studio_service) -> None:
    from gradio_client.exceptions import AppError

    from tests.fixtures.app import app_client

    client = app_client(studio_url)
    rules = studio_service.snapshot.segmenter.rule_config
    assert _moved(client.predict(rules.dormant_days, rules.reengage_days, api_name="/studio_resegment")) == 0
    text = client.predict(75, 45, api_name="/studio_resegment")
    assert _moved(text) > 0 and " from " in text and "_" not in text  # segments by their names, not identifiers
    with pytest.raises(AppError, match=r"^Needs re-engagement after \(days without a purchase\): 70 days is not fewer"):
        client.predict(60, 70, api_name="/studio_resegment")
    with pytest.raises(AppError, match=r"^Dormant after \(days without a purchase\): -5 is out of range"):
        client.predict(-5, 30, api_name="/studio_resegment")


def test_save_makes_a_new_release_revision_and_retraining_runs_in_the_background(studio_url: str,
                                                                                  studio_service) -> None:
    import hashlib
    import time

    from gradio_client.exceptions import AppError
    from huggingface_hub import HfApi, hf_hub_download

    from genemail.hub.manifest import ReleaseManifest
    from tests.fixtures.app import app_client

    client = app_client(studio_url)
    repo = studio_service.config.release_repo
    api = HfApi(token=studio_service.config.token)
    live = studio_service.snapshot
    text = live.strategies.for_segment(DORMANT).text(studio_service.config.lang)
    edit = (DORMANT, "轻松友好", text.greeting, text.focus, text.call_to_action, "最后机会, 清仓")

    with pytest.raises(AppError, match="^Your name: is empty"):
        client.predict(*edit, 75, 45, "  ", api_name="/studio_save")
    with pytest.raises(AppError, match="^Save: nothing was changed"):
        client.predict(None, None, None, None, None, None, 60, 30, "Mei", api_name="/studio_save")
    assert studio_service.list_tags() == ["v1"]  # refused saves wrote nothing

    status = _text(client.predict(*edit, 75, 45, "Mei Chen", api_name="/studio_save"))
    assert studio_service.list_tags() == ["v1", "v2"] and "release **v2**" in status
    assert "Mei Chen" in status and "still serves **v1**" in status
    assert "Needs retraining" in status and "sorts customers into segments" in status
    # One commit of the release repo holds the new strategies, thresholds and the manifest pinning them.
    commit = api.list_repo_commits(repo)[0]
    assert "Mei Chen" in commit.title
    assert "+tone: 轻松友好" in commit.message and f"-tone: {text.tone}" in commit.message
    assert "+dormant_days: 75" in commit.message and "+reengage_days: 45" in commit.message
    manifest = ReleaseManifest.from_json(Path(hf_hub_download(repo, "release.json", revision="v2")).read_text())
    strategies = Path(hf_hub_download(repo, "strategies.yaml", revision="v2")).read_bytes()
    assert manifest.strategies.sha256 == hashlib.sha256(strategies).hexdigest()
    assert "tone: 轻松友好" in strategies.decode() and "must_not_say: [最后机会, 清仓]" in strategies.decode()
    rules = Path(hf_hub_download(repo, "segment_rules.json", revision="v2")).read_bytes()
    assert manifest.rules.sha256 == hashlib.sha256(rules).hexdigest()
    old = ReleaseManifest.from_json(Path(hf_hub_download(repo, "release.json", revision="v1")).read_text())
    assert manifest.adapters == old.adapters and manifest.segmenter == old.segmenter  # nothing retrained yet
    # The live release is unchanged until someone switches.
    assert studio_service.snapshot is live and live.revision == "v1"
    assert live.strategies.for_segment(DORMANT).text(studio_service.config.lang).tone == text.tone

    # A saved release loads with its own thresholds.
    from genemail.loading import load_release

    assert load_release(repo, "v2", token=api.token).rule_config.dormant_days == 75

    # Retraining: the segmenter (rules changed) and Dormant's adapter (its voice changed), in the background.
    progress = _text(client.predict("Mei Chen", api_name="/studio_retrain"))
    assert "step 1 of" in progress and "keeps serving **v1**" in progress
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        progress = _text(client.predict(api_name="/studio_job"))
        if not progress.startswith("⏳"):
            break
        time.sleep(2)
    assert progress.startswith("✅ Retraining for release **v2** finished"), progress
    assert studio_service.snapshot is live  # still serving v1
    job = studio_service.studio.job(None)
    assert (job.inputs.folder / "adapters" / DORMANT / "adapter_config.json").is_file()
    assert (job.inputs.folder / "segmenter" / "segmenter.skops").is_file()
    assert studio_service.segment_name(DORMANT, "en")  # other tabs keep answering meanwhile

    # The app restarts: a new studio on the same work folder still lists the finished job, and the page
    # (no job in its new session) shows it and publishes it.
    from genemail.studio.service import StudioService

    studio_service._studio = StudioService(studio_service)
    assert studio_service.studio.job(None) is not job and studio_service.studio.job(job.job_id).state == "finished"
    client = app_client(studio_url)
    assert _text(client.predict(api_name="/studio_job")).startswith("✅ Retraining for release **v2** finished")
    published = _text(client.predict("Mei Chen", api_name="/studio_publish"))
    assert "**v3**" in published
    # Published once: after another restart the job shows its tag, and publishing again makes no new release.
    studio_service._studio = StudioService(studio_service)
    assert studio_service.studio.job(job.job_id).published == "v3"
    assert "**v3**" in _text(client.predict("Mei Chen", api_name="/studio_publish"))
    assert studio_service.list_tags() == ["v1", "v2", "v3"]
    v3 = ReleaseManifest.from_json(Path(hf_hub_download(repo, "release.json", revision="v3")).read_text())
    assert v3.strategies == manifest.strategies and v3.rules == manifest.rules
    assert v3.adapters[DORMANT].sha != manifest.adapters[DORMANT].sha
    assert v3.segmenter.sha != manifest.segmenter.sha
    assert {k: v for k, v in v3.adapters.items() if k != DORMANT} == \
        {k: v for k, v in manifest.adapters.items() if k != DORMANT}
    assert studio_service.snapshot.revision == "v1"


def test_a_save_the_hub_refuses_says_so_in_words_and_changes_nothing(app_url: str, app_service) -> None:
    """The session app has no write token: the save is refused by the Hub, named, with no setting's name."""
    from gradio_client.exceptions import AppError

    from tests.fixtures.app import app_client

    tags = app_service.list_tags()
    with pytest.raises(AppError, match="^Save: the Hub did not let this app write") as refused:
        app_client(app_url).predict(None, None, None, None, None, None, 75, 45, "Mei", api_name="/studio_save")
    assert "HF_TOKEN" not in str(refused.value) and app_service.list_tags() == tags
