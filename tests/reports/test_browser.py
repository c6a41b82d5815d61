"""The report page in a real headless Chromium: no console errors, no network, charts and tables shown,
nothing a post carries ever runs, and it fits a phone's screen (390 px) as well as a desktop's (1280 px).
Full-page screenshots go to test-artifacts/ for a person to look at."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reports import write_report
from tests.reports.fixtures import at, fill, link, post
from tests.reports.test_rollups import NOW, W47, config_for
from tracker.connector import Page
from tracker.periods import IsoWeek
from tracker.record import Metrics
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
        rival = post(
            "reddit", f"t3_rival{index}", at(20, 10 + index),
            (link(f"https://rival.com/{index}?q={payload}", "rival.com", payload),),
            title=payload, community=f"r/{payload}",
        )  # fmt: skip
        store.write_page(
            connector="reddit",
            platform="reddit",
            run_id=None,
            page=Page("k"),
            mentions_to_store=[item],
            now=NOW,
        )
        store.write_page(
            connector=rival.platform, platform=rival.platform, run_id=None, page=Page("k"),
            mentions_to_store=[rival], now=NOW,
        )  # fmt: skip


def _at_width(driver: Any, width: int) -> int:
    """Lay the page out at ``width`` CSS pixels (a phone: touch, mobile viewport) and return the document height."""
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
    return height


def _screenshot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_the_report_renders_offline_and_never_runs_post_content(browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver: Any = browser
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}", competitors=("rival.com",))
    store = Store.open(config.database_url)
    hostile_store(store)
    store.close()
    page = write_report(config, week=W47, now=NOW).html

    driver.get_log("performance")  # drop the start page's own requests
    driver.get(page.as_uri())
    _at_width(driver, 390)
    _screenshot(driver, "report-hostile-phone.png")
    assert driver.execute_script("return window.__xss === undefined")

    console = driver.get_log("browser")
    errors = [e for e in console if e["level"] == "SEVERE"]
    assert errors == [], f"console errors: {console}"
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    assert requests, "the performance log recorded no request at all"
    assert [url for url in requests if not url.startswith("file://")] == [], f"requests: {requests}"

    charts = driver.find_elements(By.CSS_SELECTOR, ".chart")
    assert len(charts) == 3
    assert all(chart.is_displayed() and chart.size["height"] > 20 for chart in charts)
    sections = ("pages", "posts", "authors", "communities", "anchors", "coverage", "definitions", "share-of-voice",
                "community-gaps", "competitor-pages")  # fmt: skip
    for section in sections:
        table = driver.find_element(By.CSS_SELECTOR, f"#{section}")
        assert table.is_displayed()
    hrefs = [a.get_attribute("href") for a in driver.find_elements(By.TAG_NAME, "a")]
    assert hrefs
    assert all(href.startswith(("https://", "http://")) or "#" in href for href in hrefs)
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "<script>window.__xss = 'script'</script>" in body  # shown as text, not run

    index = page.parent.parent / "index.html"
    driver.get(index.as_uri())
    assert driver.find_element(By.LINK_TEXT, str(IsoWeek(2026, 47))).is_displayed()


def busy_store(store: Store) -> None:
    """A week as a reader meets it: long URLs, long titles, Markdown, several domains, many rows."""
    fill(store)
    for index in range(30):
        path = "/".join(f"section-{index}-with-a-long-name" for _ in range(4))
        url = f"https://example.com/{path}/an-article-title-that-goes-on-and-on-{index}?utm_source=x&ref=feed{index}"
        item = post(
            "reddit", f"t3_busy{index}", at(17 + index % 6, 8 + index % 12),
            (link(url, "example.com", f"**the** [article]({url}) number {index}"),),
            title=f"A rather long title for post {index} that keeps going to see how it wraps on a small screen",
            text=f"**Bold** and [a link]({url}) &amp; an entity, post {index}",
            author_handle=f"someone_with_a_long_handle_{index}", community=f"r/subreddit_number_{index % 7}",
            metrics=Metrics(score=index * 7, replies=index), community_size=120_000 + index,
        )  # fmt: skip
        rival_url = url.replace("example.com", "rival.com")
        rival = post(
            "hackernews" if index % 3 else "reddit", f"t3_rival{index}" if index % 3 == 0 else str(900 + index),
            at(17 + index % 6, 9), (link(rival_url, "rival.com"),),
            community=f"r/a_community_that_only_ever_links_the_competitor_{index}", metrics=Metrics(score=index),
        )  # fmt: skip
        store.write_page(
            connector="reddit",
            platform="reddit",
            run_id=None,
            page=Page("k"),
            mentions_to_store=[item],
            now=NOW,
        )
        store.write_page(
            connector=rival.platform, platform=rival.platform, run_id=None, page=Page("k"),
            mentions_to_store=[rival], now=NOW,
        )  # fmt: skip


@pytest.mark.parametrize("width", [390, 1280])
def test_nothing_is_wider_than_the_screen_and_chart_labels_stay_readable(
    browser: object, tmp_path: Path, width: int
) -> None:
    from selenium.webdriver.common.by import By

    driver: Any = browser
    config = config_for(tmp_path, f"sqlite:///{tmp_path / 'tracker.db'}", competitors=("rival.com",))
    store = Store.open(config.database_url)
    busy_store(store)
    store.close()
    page = write_report(config, week=W47, now=NOW).html
    driver.get(page.as_uri())
    _at_width(driver, width)
    _screenshot(driver, f"report-{width}.png")
    viewport = driver.execute_script("return window.innerWidth")
    assert viewport == width
    assert driver.execute_script("return document.documentElement.scrollWidth") <= viewport
    labels = driver.find_elements(By.CSS_SELECTOR, ".chart .label, .chart .count, ul.legend li")
    assert labels
    sizes = {float(label.value_of_css_property("font-size").removesuffix("px")) for label in labels}
    assert min(sizes) >= 11, sizes
    for element in driver.find_elements(
        By.CSS_SELECTOR, "main > *, section, .table-wrap, .chart"
    ):  # a wide table scrolls inside its .table-wrap
        box = driver.execute_script(
            "var r = arguments[0].getBoundingClientRect(); return [r.left, r.right]", element
        )
        assert box[0] >= 0 and box[1] <= viewport + 0.5, (
            element.tag_name,
            element.get_attribute("class"),
            box,
        )
    index = page.parent.parent / "index.html"
    driver.get(index.as_uri())
    _at_width(driver, width)
    assert driver.execute_script("return document.documentElement.scrollWidth") <= viewport


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
