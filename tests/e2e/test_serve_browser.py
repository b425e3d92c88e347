"""The web page in headless Chromium: draw a digit on the canvas, predict, see the bar chart."""

from __future__ import annotations

import shutil

import pytest
from serve_helpers import running_server, trained_runs

from kerasforge.serve.app import create_app
from kerasforge.serve.registry import ModelRegistry

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def page_server(tmp_path_factory):
    runs = trained_runs(tmp_path_factory.getbasetemp())
    registry = ModelRegistry.from_paths([str(runs["fashion_onnx"]), str(runs["reviews"])])
    with running_server(create_app(registry)) as url:
        yield url


@pytest.mark.browser
def test_draw_a_digit_and_see_the_top_classes(page_server):
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_server + "/")
            page.wait_for_selector("body[data-ready=true]")
            assert page.locator("#model option").count() == 2
            assert page.is_visible("#canvas")

            box = page.locator("#canvas").bounding_box()
            x0, y0 = box["x"], box["y"]
            page.mouse.move(x0 + 140, y0 + 40)  # a "1": one vertical stroke
            page.mouse.down()
            for step in range(1, 21):
                page.mouse.move(x0 + 140, y0 + 40 + step * 10)
            page.mouse.up()
            page.click("#predict")
            page.wait_for_selector("#chart .bar")
            assert page.locator("#chart .bar").count() == 5

            page.select_option("#topk", "1000")
            page.click("#predict")
            page.wait_for_function("document.querySelectorAll('#chart .bar').length === 10")
            labels = page.locator("#chart .bar .label").all_inner_texts()
            assert "Trouser" in labels and len(set(labels)) == 10
            widths = page.locator("#chart .bar .fill").evaluate_all("els => els.map(e => parseFloat(e.style.width))")
            assert widths == sorted(widths, reverse=True) and 99 <= sum(widths) <= 101
            assert page.text_content("#error") == ""

            page.select_option("#model", "reviews")  # a text model: the text box replaces the canvas
            assert page.is_visible("#text") and not page.is_visible("#canvas")
            page.fill("#text", "a wonderful film, a masterpiece, I loved it")
            page.click("#predict")
            page.wait_for_function("document.querySelectorAll('#chart .bar').length === 2")
            assert page.locator("#chart .bar .label").first.inner_text() == "pos"
            assert problems == []
        finally:
            browser.close()
