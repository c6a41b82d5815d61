"""The report page in a real headless Chromium: no console errors, no network, charts and tables shown,
and nothing a post carries ever runs."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reports import write_report
from tests.reports.fixtures import at, fill, link, post
from tests.reports.test_rollups import NOW, W47, config_for
from tracker.connector import Page
from tracker.periods import IsoWeek
from tracker.store import Store

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=420,900",
)  # fmt: skip
PAYLOADS = [
    "<script>window.__xss = 'script'</script>",
    "<img src=x onerror=\"window.__xss = 'img'\">",
    '"><svg onload="window.__xss = \'svg\'">',
    "javascript:window.__xss = 'link'",
    "</title><script>window.__xss = 'title'</script>",
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        reason = "Chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("TRACKER_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"TRACKER_REQUIRE_CHROMIUM=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def hostile_store(store: Store) -> None:
    fill(store)
    for index, payload in enumerate(PAYLOADS):
        item = post(
            "reddit", f"t3_x{index}", at(19, 10 + index),
            (link(f"https://example.com/{index}?q={payload}", "example.com", payload),),
            title=payload, text=payload, author_handle=payload, author_name=payload, community=payload,
        )  # fmt: skip
        store.write_page(
            connector="reddit",
            platform="reddit",
            run_id=None,
            page=Page("k"),
            mentions_to_store=[item],
            now=NOW,
        )


def test_the_report_renders_offline_and_never_runs_post_content(browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver: object = browser
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}")
    store = Store.open(config.database_url)
    hostile_store(store)
    store.close()
    page = write_report(config, week=W47, now=NOW).html

    driver.get_log("performance")  # type: ignore[attr-defined]  # drop the start page's own requests
    driver.get(page.as_uri())  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "report-phone.png"))  # type: ignore[attr-defined]
    assert driver.execute_script("return window.__xss === undefined")  # type: ignore[attr-defined]

    console = driver.get_log("browser")  # type: ignore[attr-defined]
    errors = [e for e in console if e["level"] == "SEVERE"]
    assert errors == [], f"console errors: {console}"
    requests = []
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    assert requests, "the performance log recorded no request at all"
    assert [url for url in requests if not url.startswith("file://")] == [], f"requests: {requests}"

    charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")  # type: ignore[attr-defined]
    assert len(charts) == 3
    assert all(chart.is_displayed() and chart.size["height"] > 20 for chart in charts)
    for section in ("pages", "posts", "authors", "communities", "anchors", "coverage"):
        table = driver.find_element(By.CSS_SELECTOR, f"#{section}")  # type: ignore[attr-defined]
        assert table.is_displayed()
    hrefs = [a.get_attribute("href") for a in driver.find_elements(By.TAG_NAME, "a")]  # type: ignore[attr-defined]
    assert hrefs
    assert all(href.startswith(("https://", "http://")) for href in hrefs)
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "<script>window.__xss = 'script'</script>" in body  # shown as text, not run

    driver.set_window_size(1200, 1600)  # type: ignore[attr-defined]
    driver.save_screenshot(str(ARTIFACTS / "report-desktop.png"))  # type: ignore[attr-defined]
    index = page.parent.parent / "index.html"
    driver.get(index.as_uri())  # type: ignore[attr-defined]
    assert driver.find_element(By.LINK_TEXT, str(IsoWeek(2026, 47))).is_displayed()  # type: ignore[attr-defined]


def test_only_http_links_become_hrefs() -> None:
    from reports.html import safe_href

    assert safe_href("https://example.com/a") == "https://example.com/a"
    assert safe_href(" http://example.com ") == "http://example.com"
    for bad in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<b>",
        "vbscript:x",
        "//example.com",
        "",
        None,
        5,
    ):
        assert safe_href(bad) is None
