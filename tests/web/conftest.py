"""Fixtures for the explorer: real runs, a real uvicorn server on 127.0.0.1, headless Chromium.

The browser is Debian's Chromium (scripts/install-chromium.sh), driven by Playwright with its
networking features off. In CI (CI=true) a missing browser fails the tests instead of skipping.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from webtools import CHROMIUM, CHROMIUM_ARGS, DEMO_DATA, LiveServer, clinc_rows, make_run, shoot


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two real runs: the 100 OpenAssistant chats, and 750 CLINC150 queries."""
    root = tmp_path_factory.mktemp("runs")
    make_run(DEMO_DATA, root / "oasst", clusters_per_group=8)
    clinc = root.parent / "clinc750.jsonl"
    with open(clinc, "w", encoding="utf-8") as f:
        for row in clinc_rows(every=30):
            f.write(json.dumps(row) + "\n")
    make_run(clinc, root / "clinc", clusters_per_group=10)
    return root


@pytest.fixture(scope="session")
def server(runs_root: Path) -> Iterator[LiveServer]:
    with LiveServer(runs_root) as live:
        yield live


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run `bash scripts/install-chromium.sh` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh page; JavaScript errors fail the test, and a screenshot is kept on failure."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        shoot(page, f"FAILED-{request.node.name}")
    context.close()
    assert not errors, f"the page reported errors: {errors}"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
