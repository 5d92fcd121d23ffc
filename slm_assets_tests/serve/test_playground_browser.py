"""The playground in headless Chromium: enter the key and a question, ask, both panes answer."""

from pathlib import Path

import pytest

from slm_assets_tests.serve.helpers import API_KEY, TUNED

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install -y chromium); playwright's own browsers are not used"),
]


def test_playground_asks_base_and_tuned_side_by_side(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(server + "/")
            page.fill("#api-key", API_KEY)
            page.fill("#question", "What is the difference between AC and DC charging?")
            page.fill("#max-tokens", "12")
            page.click("#ask")

            left, right = page.locator("#pane-left"), page.locator("#pane-right")
            for pane in (left, right):
                expect(pane).to_have_attribute("data-state", "done", timeout=60_000)
            assert page.locator("#model-left").input_value() == "base"
            assert page.locator("#model-right").input_value() == TUNED
            for pane in (left, right):
                assert pane.locator(".answer").inner_text().strip()
                assert " ms" in pane.locator(".meta").inner_text() and "12 tokens" in pane.locator(".meta").inner_text()
            shot = tmp_path / "playground.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    data = shot.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_playground_reports_a_wrong_key(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(server + "/")
            page.fill("#api-key", "wrong-key")
            page.fill("#question", "hello?")
            page.click("#ask")
            expect(page.locator("#status")).to_contain_text("403", timeout=30_000)
        finally:
            browser.close()
