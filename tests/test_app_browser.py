"""A real browser (Playwright + Debian's chromium) drives the app: compose, see both emails, rate a pair."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# Screenshots are also copied here, so a person can look at them after the run: one folder per user
# under the temporary folder ($TMPDIR), because another user's folder of the same name is not writable.
STABLE_DIR = Path(tempfile.gettempdir()) / f"genemail-app-screenshots-{os.getuid()}"
TIMEOUT_MS = 60_000


@pytest.fixture
def page():
    """A chromium page; skips (with the reason) when chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run this")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            # A fixed locale: Gradio translates its own labels to the browser's language, which
            # chromium takes from the machine's LANG.
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
            page.set_default_timeout(TIMEOUT_MS)
            # expect()'s own default is 5 s: on a loaded machine an upload or a compose took longer, and
            # the assertion failed although the page got there.
            sync_api.expect.set_options(timeout=TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    try:  # a convenience copy: a folder that cannot be written never fails the test
        STABLE_DIR.mkdir(parents=True, exist_ok=True)
        print(f"screenshot: {shutil.copy(path, STABLE_DIR / name)}")
    except OSError as err:
        print(f"screenshot: {path} (not copied to {STABLE_DIR}: {err.strerror})")
    return path


def _value(page, selector: str) -> str:
    return page.locator(selector).input_value()


def test_compose_and_rate_in_a_real_browser(page, app_url: str, app_service, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(app_url)
    expect(page.locator("#release-banner")).to_contain_text("Release v1")
    # The preselected customer's segment shows at once, before anything is picked.
    expect(page.locator("#segment-info")).to_contain_text(f"Customer {app_service.customer_ids(1)[0]}")

    # Choose a customer by typing in the searchable dropdown and picking the match.
    customer = app_service.customer_ids(2)[1]
    box = page.locator("#customer-id input")
    box.click()
    box.fill(customer)
    page.get_by_role("option").filter(has_text=customer).first.click()
    expect(page.locator("#segment-info")).to_contain_text(f"Customer {customer}")
    expect(page.locator("#strategy-card")).to_contain_text("Tone")

    page.locator("#generate").click()
    segmented, baseline = "#segmented-email textarea", "#baseline-email textarea"
    page.wait_for_function(
        "([a, b]) => document.querySelector(a).value.trim() && document.querySelector(b).value.trim()",
        arg=[segmented, baseline])
    assert _value(page, segmented).strip() and _value(page, baseline).strip()
    expect(page.locator("#segment-info")).to_contain_text("Segment:")
    assert _shot(page, tmp_path, "compose.png").stat().st_size > 10_000

    # Rate one blind pair.
    before = app_service.store.count()
    page.get_by_role("tab", name="Rate", exact=True).click()
    page.locator("#rater-name textarea, #rater-name input").first.fill("browser-rater")
    page.locator("#new-pair").click()
    page.wait_for_function("s => document.querySelector(s).value.trim()", arg="#email-a textarea")
    assert _value(page, "#email-b textarea").strip()
    page.locator("#rate-choice").get_by_text("A fits the target style better").click()
    page.locator("#submit-rating").click()
    expect(page.locator("#rate-status")).to_contain_text("Saved as rating #")
    expect(page.locator("#rate-stats")).to_contain_text("ratings by")
    assert app_service.store.count() == before + 1
    rater = app_service.store.all().iloc[-1]
    assert rater["rater"] == "browser-rater" and rater["choice"] == "A"
    _shot(page, tmp_path, "rate.png")
    assert page.locator("text=Traceback").count() == 0


def test_label_and_results_tabs_in_a_real_browser(page, app_url: str, app_service, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(app_url)
    expect(page.locator("#release-banner")).to_contain_text("Release v1")
    before = app_service.labels.store.count()
    page.get_by_role("tab", name="Label", exact=True).click()
    page.locator("#labeler textarea, #labeler input").first.fill("browser-labeler")
    page.locator("#next-label").click()
    expect(page.locator("#label-header")).to_contain_text("Customer")
    page.locator("#label-l1").get_by_text("Mid value", exact=True).click()
    page.locator("#label-l2").get_by_text(app_service.segment_name("Dormant", "en"), exact=True).click()
    page.locator("#save-label").click()
    expect(page.locator("#label-status")).to_contain_text("Saved as label #")
    assert app_service.labels.store.count() == before + 1
    _shot(page, tmp_path, "label.png")

    page.get_by_role("tab", name="Results", exact=True).click()
    expect(page.locator("#show-results")).to_be_visible()
    _shot(page, tmp_path, "results.png")
    assert page.locator("text=Traceback").count() == 0


# What a marketer must never meet on the page: developer names, Python literals, server paths.
RAW = ("kid_age", "purchase_frequency", "noise_fraction", "segmented_win_rate", "ci_low", "not_enough_data", "FR-13",
       "{'", "/tmp/", "HighValue_Active", "Need_Reengagement", "Parent_Active", "Regular_Active", "--experiment",
       "docs/", "schema", "Traceback", tempfile.gettempdir() + os.sep)


def _no_dead_end(page, step: str) -> None:
    """No red "Error" badge over any control, no raw internals in the visible text."""
    badges = [b for b in page.get_by_text("Error", exact=True).all()  # a message box may say "Error"; a control not
              if b.is_visible() and b.evaluate("e => !e.closest('[data-testid=\"toast-body\"], .toast-wrap, .sr-only')")]
    assert not badges, f"{step}: an 'Error' badge is visible: " + badges[0].evaluate(
        "e => e.outerHTML.slice(0, 300) + ' IN ' + e.parentElement.className")
    text = page.locator("body").inner_text()
    for fold in page.locator(".advanced").all():  # technical detail is allowed in the Advanced folds
        text = text.replace(fold.inner_text(), "")
    found = [raw for raw in RAW if raw in text]
    assert not found, f"{step}: raw internals on the page: {found}"


def _type(page, selector: str, text: str) -> None:
    """Type into a field and leave it, so the page has the value before the next click."""
    field = page.locator(selector).first
    field.fill(text)
    field.press("Tab")


def _toast(page, field: str) -> str:
    """The text of the message box that names ``field`` (Gradio's toast); fails when none comes."""
    toast = page.locator('[data-testid="toast-body"]').filter(has_text=field).last
    toast.wait_for()
    return toast.inner_text()


def test_errors_leave_every_control_usable_and_name_their_field(page, app_url: str, app_service,
                                                                tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(app_url)
    expect(page.locator("#release-banner")).to_contain_text("Release v1")
    _no_dead_end(page, "first screen")

    # An out-of-range setting is refused with its field's name; the field stays there to fix.
    page.get_by_text("Advanced").first.click()
    _type(page, "#temperature input", "7")
    page.locator("#regenerate").click()
    assert "0 to 2" in _toast(page, "Variety")
    page.wait_for_timeout(500)
    _no_dead_end(page, "refused variety")
    expect(page.locator("#temperature input")).to_be_editable()
    _type(page, "#temperature input", "0")
    _type(page, "#seed input", "-7")
    page.locator("#generate").click()
    message = _toast(page, "Seed")
    assert "-7" in message and "less than minimum" not in message
    _type(page, "#seed input", "0")

    # A blank and an absurd new-customer form get form messages, not file-import wording.
    page.get_by_text("New customer", exact=True).click()
    page.locator("#compose-new").click()
    message = _toast(page, "New customer")
    assert "empty" in message and "row 1" not in message
    _type(page, "#form-age textarea, #form-age input", "999")
    page.locator("#compose-new").click()
    message = _toast(page, "999")  # not "Age": the empty-form message above says "age" too (matching ignores case)
    assert "Age" in message and "column" not in message
    _no_dead_end(page, "new-customer form")

    # A 6,000-character ID is shortened in the message.
    box = page.locator("#customer-id input")
    box.fill("x" * 6000)
    box.press("Enter")
    page.locator("#generate").click()
    message = _toast(page, "6,000 characters")
    assert len(message) < 600

    # A junk upload is refused as it arrives, without the server's path.
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01junk" * 2000)
    page.get_by_role("tab", name="Campaign", exact=True).click()
    page.locator("#campaign-file input[type=file]").set_input_files(str(junk))
    expect(page.locator("#campaign-file-status")).to_contain_text("junk.csv")
    message = _toast(page, "junk.csv")
    assert "/tmp/" not in message and tempfile.gettempdir() not in message
    _no_dead_end(page, "junk upload")

    # An unknown release: confirmation first, then a message; the release in use keeps serving.
    page.get_by_role("tab", name="Models", exact=True).click()
    tags = page.locator("#release-tags input")
    expect(tags).to_have_value("v1")  # the tab has listed the releases (it selects the one in use)
    tags.fill("v404")
    tags.press("Enter")
    page.locator("#switch-release").click()
    expect(page.locator("#switch-confirm-text")).to_contain_text("everyone")
    expect(page.locator("#switch-confirm-text")).to_contain_text("v404")
    page.locator("#switch-confirm-yes").click()
    assert "Fix" in _toast(page, "v404")
    expect(page.locator("#release-banner")).to_contain_text("Release v1")
    expect(page.locator("#release-info")).to_contain_text("v1")
    assert app_service.snapshot.revision == "v1"
    _no_dead_end(page, "failed release switch")
    _shot(page, tmp_path, "errors.png")


# The page's words in each language, for the walk below.
WORDS = {
    "en": {"lang": "English", "release": "Release v1", "segment": "Segment:", "tabs": ("Compose", "Rate", "Label",
           "Campaign", "Results", "Models"), "empty": "empty", "age": "Age", "saved_rating": "Saved as rating #",
           "saved_label": "Saved as label #", "choice": "A fits the target style better", "tier": "Mid value",
           "experiment": "Experiment", "everyone": "everyone", "advanced": "Advanced", "new": "New customer",
           "studio": "Strategy studio", "unchanged": "unchanged",
           "moves": "would change segment", "name": "Your name"},
    "zh": {"lang": "中文", "release": "版本 v1", "segment": "客群：", "tabs": ("撰写", "评分", "标注", "营销活动",
           "实验结果", "模型版本"), "empty": "表单是空的", "age": "年龄", "saved_rating": "已保存为第",
           "saved_label": "已保存为第", "choice": "A 更符合目标风格", "tier": "中价值", "experiment": "实验",
           "everyone": "所有", "advanced": "高级", "new": "新客户", "studio": "策略工作室", "unchanged": "当前版本未改变",
           "moves": "会换客群", "name": "你的名字"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_marketers_day_in_both_languages(page, app_url: str, app_service, tmp_path: Path, lang: str) -> None:
    """Compose, forms, rate, label, a campaign as an experiment, its events, a reload, a release switch."""
    from playwright.sync_api import expect

    from genemail.experiments import simulate_events, write_events

    w = WORDS[lang]
    page.goto(app_url)
    expect(page.locator("#release-banner")).to_contain_text("Release v1")
    page.locator("#ui-lang").get_by_text(w["lang"], exact=True).click()
    expect(page.locator("#release-banner")).to_contain_text(w["release"])
    for tab in w["tabs"]:
        expect(page.get_by_role("tab", name=tab, exact=True)).to_be_visible()
    _no_dead_end(page, "language switch")

    # Compose for three customers: the preselected one, one found by its segment's name, one by ID.
    ids = app_service.customer_ids(6)
    expect(page.locator("#segment-info")).to_contain_text(w["segment"])
    page.locator("#generate").click()
    page.wait_for_function("s => document.querySelector(s).value.trim()", arg="#segmented-email textarea")
    box = page.locator("#customer-id input")
    picked: list[str] = [ids[0]]
    for query in (app_service.segment_name(app_service.segment(ids[2]).l2, lang), None):
        query = query or next(i for i in ids if i not in picked)
        box.click()
        box.fill(query)
        option = page.locator('[role=option][aria-selected="false"]').filter(has_text=query).first  # not the current
        chosen = option.inner_text().strip().splitlines()[-1].split(" · ")[0]
        option.click()
        picked.append(chosen)
        expect(page.locator("#segment-info")).to_contain_text(chosen)
        page.locator("#segmented-email textarea").evaluate("e => { e.value = ''; }")
        page.locator("#generate").click()
        page.wait_for_function("s => document.querySelector(s).value.trim()", arg="#segmented-email textarea")
        _no_dead_end(page, f"compose {query}")

    # A blank and an absurd new-customer form: form messages naming the form and the field.
    page.get_by_text(w["new"], exact=True).click()
    page.locator("#compose-new").click()
    assert w["empty"] in _toast(page, w["new"])
    _type(page, "#form-age textarea, #form-age input", "999")
    page.locator("#compose-new").click()
    assert _toast(page, "999").split("\n")[-1].startswith(w["age"])  # the message starts with its field
    _type(page, "#form-age textarea, #form-age input", "")
    _no_dead_end(page, "forms")

    # Rate two pairs.
    page.get_by_role("tab", name=w["tabs"][1], exact=True).click()
    page.locator("#rater-name textarea, #rater-name input").first.fill(f"day-{lang}")
    before = app_service.store.count()
    for k in range(2):
        page.locator("#email-a textarea").evaluate("e => { e.value = ''; }")  # so the wait sees the new pair
        page.locator("#new-pair").click()
        page.wait_for_function("s => document.querySelector(s).value.trim()", arg="#email-a textarea")
        expect(page.locator("#rate-status")).not_to_contain_text(w["saved_rating"])  # the new pair reset it
        page.locator("#rate-choice").get_by_text(w["choice"]).click()
        page.locator("#submit-rating").click()
        expect(page.locator("#rate-status")).to_contain_text(w["saved_rating"])
    assert app_service.store.count() == before + 2
    _no_dead_end(page, "rate")

    # Label two customers.
    page.get_by_role("tab", name=w["tabs"][2], exact=True).click()
    page.locator("#labeler textarea, #labeler input").first.fill(f"day-{lang}")
    before = app_service.labels.store.count()
    for _ in range(2):
        header = page.locator("#label-header").inner_text()
        page.locator("#next-label").click()
        expect(page.locator("#label-header")).not_to_have_text(header)  # the next customer has arrived
        expect(page.locator("#label-profile")).to_be_visible()
        page.locator("#label-l1").get_by_text(w["tier"], exact=True).click()
        page.locator("#label-l2").get_by_text(app_service.segment_name("Dormant", lang), exact=True).click()
        page.locator("#save-label").click()
        expect(page.locator("#label-status")).to_contain_text(w["saved_label"])
    assert app_service.labels.store.count() == before + 2
    _no_dead_end(page, "label")

    # The strategy studio: a changed tone, previewed on the segment's customers; the release stays.
    page.get_by_role("tab", name=w["studio"], exact=True).click()
    box = page.locator("#studio-segment input")
    box.click()
    page.get_by_role("option", name=app_service.segment_name("Dormant", lang), exact=True).click()
    expect(page.locator("#studio-tone textarea, #studio-tone input").first).not_to_have_value("")
    _type(page, "#studio-tone textarea, #studio-tone input", "轻松友好")
    page.locator("#studio-preview").click()
    expect(page.locator("#studio-status")).to_contain_text(w["unchanged"], timeout=120_000)  # 3 emails, a busy box
    expect(page.locator("#studio-emails")).to_be_visible()
    _no_dead_end(page, "strategy studio")
    # A threshold changed: how many customers would move, in words; saving without a name names the field.
    _type(page, "#studio-reengage input", "45")
    page.locator("#studio-count").click()
    expect(page.locator("#studio-moves")).to_contain_text(w["moves"], timeout=60_000)
    page.locator("#studio-save").click()
    assert w["name"] in _toast(page, w["name"])
    _no_dead_end(page, "strategy studio save")
    _shot(page, tmp_path, f"studio-{lang}.png")

    # A campaign of 100 customers as an experiment (the test table has about 110).
    name = f"day-{lang}"
    page.get_by_role("tab", name=w["tabs"][3], exact=True).click()
    _type(page, "#campaign-n input", "100")
    page.locator("#campaign-experiment").get_by_text(w["experiment"]).first.click()
    _type(page, "#experiment-name textarea, #experiment-name input", name)
    page.locator("#run-campaign").click()
    expect(page.locator("#campaign-status")).to_contain_text(name, timeout=240_000)
    _no_dead_end(page, "campaign")
    log = max((app_service.work_dir / "campaigns").glob("*/campaign.jsonl"), key=lambda p: p.stat().st_mtime)
    events = write_events(simulate_events(log, {"default": {"control": 0.05, "segmented": 0.1}}, seed=1),
                          tmp_path / "events.csv")

    # Ingest its events, reload, find the experiment (and the language) again.
    page.get_by_role("tab", name=w["tabs"][4], exact=True).click()
    page.locator("#send-log input[type=file]").set_input_files(str(log))
    page.locator("#events-file input[type=file]").set_input_files(str(events))
    page.wait_for_timeout(1000)
    page.locator("#ingest").click()
    expect(page.locator("#ingest-status")).to_contain_text(name)
    page.reload()
    expect(page.locator("#release-banner")).to_contain_text(w["release"])  # the language survives a reload
    page.get_by_role("tab", name=w["tabs"][4], exact=True).click()
    box = page.locator("#experiment input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name, exact=True).click()
    page.locator("#show-results").click()
    expect(page.locator("#results-summary")).to_contain_text(name)
    expect(page.locator("#results-table")).to_be_visible()
    _no_dead_end(page, "results after reload")

    # An unknown release, then back to v1; both ask first and say it applies to everyone.
    page.get_by_role("tab", name=w["tabs"][5], exact=True).click()
    expect(page.locator("#release-tags input")).to_have_value("v1")  # the tab has listed the releases
    for tag in ("v404", "v1"):
        tags = page.locator("#release-tags input")
        tags.fill(tag)
        tags.press("Enter")
        page.locator("#switch-release").click()
        expect(page.locator("#switch-confirm-text")).to_contain_text(w["everyone"])
        expect(page.locator("#switch-confirm-text")).to_contain_text(tag)
        page.locator("#switch-confirm-yes").click()
        if tag == "v404":
            assert "v404" in _toast(page, "v404")
        else:
            expect(page.locator("#switch-status")).to_contain_text("v1")
        expect(page.locator("#release-banner")).to_contain_text(w["release"])
        _no_dead_end(page, f"switch to {tag}")
    assert app_service.snapshot.revision == "v1"
    _shot(page, tmp_path, f"day-{lang}.png")
    page.locator("#ui-lang").get_by_text("English", exact=True).click()  # leave the browser storage in English
