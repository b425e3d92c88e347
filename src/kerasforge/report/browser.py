"""Open a report in headless Chromium (Playwright) to check it renders, or take a screenshot of it.

Needs the ``playwright`` Python package and a Chromium (Debian's ``/usr/bin/chromium`` by default,
``$KFORGE_CHROMIUM`` to choose another); nothing is downloaded.

Example:
    >>> check = render_report("runs/x/report.html", screenshot="docs/report-screenshot.png")  # doctest: +SKIP
    >>> check["broken_images"], check["console_errors"]                                     # doctest: +SKIP
    ([], [])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def render_report(path: str | Path, *, screenshot: str | Path | None = None, width: int = 1400,
                  height: int = 900, max_height: int | None = None, timeout_ms: int = 30_000) -> dict[str, Any]:
    """Load ``path`` (a local HTML file) and report what a reader would see; with ``screenshot``, save
    a PNG of the page (at most ``max_height`` pixels from the top).

    Returns ``{"images": n, "broken_images": [alt...], "console_errors": [...], "page_errors": [...],
    "requests": [non-file URLs], "ids": [element ids], "title": ...}``.
    """
    from playwright.sync_api import sync_playwright

    url = Path(path).resolve().as_uri()
    console_errors: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("KFORGE_CHROMIUM", CHROMIUM),
                                    args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto(url, wait_until="load", timeout=timeout_ms)
            page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=timeout_ms)
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({alt: e.alt, width: e.naturalWidth, src: e.src.slice(0, 22)}))")
            ids = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
            title = page.title()
            if screenshot is not None:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                tall = page.evaluate("document.documentElement.scrollHeight")
                clip = {"x": 0, "y": 0, "width": width, "height": min(tall, max_height or tall)}
                page.screenshot(path=str(screenshot), full_page=True, clip=clip)
        finally:
            browser.close()
    return {"images": len(images), "broken_images": [i["alt"] for i in images if not i["width"] > 0],
            "image_sources": [i["src"] for i in images], "console_errors": console_errors,
            "page_errors": page_errors, "requests": requests, "ids": ids, "title": title}
