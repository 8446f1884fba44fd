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
    expect(page.get_by_text("Release bob/genemail-release@v1")).to_be_visible()

    # Choose a customer by typing in the searchable dropdown and picking the match.
    customer = app_service.customer_ids(2)[1]
    box = page.locator("#customer-id input")
    box.click()
    box.fill(customer)
    page.get_by_role("option", name=customer, exact=True).click()
    expect(page.locator("#segment-info")).to_contain_text(f"Customer {customer}")
    expect(page.locator("#strategy-card")).to_contain_text("Adapter")

    page.locator("#generate").click()
    segmented, baseline = "#segmented-email textarea", "#baseline-email textarea"
    page.wait_for_function(
        "([a, b]) => document.querySelector(a).value.trim() && document.querySelector(b).value.trim()",
        arg=[segmented, baseline])
    assert _value(page, segmented).strip() and _value(page, baseline).strip()
    expect(page.locator("#segment-info")).to_contain_text("Segment (L2)")
    assert _shot(page, tmp_path, "compose.png").stat().st_size > 10_000

    # Rate one blind pair.
    before = app_service.store.count()
    page.get_by_role("tab", name="Rate").click()
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
    expect(page.get_by_text("Release bob/genemail-release@v1")).to_be_visible()
    before = app_service.labels.store.count()
    page.get_by_role("tab", name="Label").click()
    page.locator("#labeler textarea, #labeler input").first.fill("browser-labeler")
    page.locator("#next-label").click()
    expect(page.locator("#label-header")).to_contain_text("Customer")
    page.locator("#label-l1").get_by_text("Mid", exact=True).click()
    page.locator("#label-l2").get_by_text("Dormant", exact=True).click()
    page.locator("#save-label").click()
    expect(page.locator("#label-status")).to_contain_text("Saved as label #")
    assert app_service.labels.store.count() == before + 1
    _shot(page, tmp_path, "label.png")

    page.get_by_role("tab", name="Results").click()
    expect(page.locator("#show-results")).to_be_visible()
    _shot(page, tmp_path, "results.png")
    assert page.locator("text=Traceback").count() == 0
