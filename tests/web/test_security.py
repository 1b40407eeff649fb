"""Script payloads in every field of a run never run, in the served app or the static report.

The browser context ignores the Content-Security-Policy here (``bypass_csp``), so what is
proved is the escaping itself: every text is rendered as text. The policy is a second wall,
checked in test_api.py and test_report.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from webtools import HOSTILE_KEY, HOSTILE_RUN, PAYLOADS, LiveServer, make_hostile_run, shoot, wait_for_map

from kura.server.fields import label_of


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    make_hostile_run(root)
    return root


@pytest.fixture
def unprotected(browser):
    """A page with the CSP switched off: only the page's own escaping stands in the way."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


def assert_nothing_ran(page) -> None:
    assert page.evaluate("() => window.__pwned") is None
    assert page.title() != "pwned"
    assert page.dialogs == []
    injected = page.evaluate(
        """() => ({
        img: document.querySelectorAll('img').length,
        svg: [...document.querySelectorAll('svg')].filter((s) => !s.classList.contains('brand-mark')).length,
        script: [...document.scripts].filter((s) => s.type !== 'application/json' && s.textContent.includes('__pwned')).length,
        links: document.querySelectorAll('a[href]').length,
        handlers: [...document.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
      })"""
    )
    assert injected == {"img": 0, "svg": 0, "script": 0, "links": 0, "handlers": 0}


def visit_every_view(page) -> None:
    """Tree (every branch), detail of each cluster, filters, colouring, hover, conversations, search."""
    wait_for_map(page)
    for _ in range(6):
        carets = page.locator(".caret:not(.open)")
        if not carets.count():
            break
        carets.first.click()
    texts = page.locator("body").inner_text()
    for payload in PAYLOADS[:6]:
        assert payload.split("\n")[0][:30] in texts  # shown literally, as text
    rows = page.locator(".tree-row")
    for i in range(min(rows.count(), 8)):
        rows.nth(i).click()
        page.wait_for_selector(".conversation-item")
    assert_nothing_ran(page)
    page.get_by_role("button", name="Filter").click()
    assert label_of(HOSTILE_KEY) in page.locator(".menu-field-title").evaluate_all(
        "(els) => els.map((e) => e.textContent)"
    )
    page.locator(".menu-value input").first.check()
    page.keyboard.press("Escape")
    for option in page.locator(".map-toolbar select option").all():
        page.select_option(".map-toolbar select", option.get_attribute("value"))
    box = page.locator(".map-canvas").bounding_box()
    for i in range(3):
        point = page.evaluate(
            f"(() => {{ const [x, y] = App.map.toScreen(App.run.x[{i}], App.run.y[{i}]); return {{x, y}}; }})()"
        )
        page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    page.locator(".conversation-item").first.click()
    page.wait_for_selector(".bubble.assistant")
    assert page.locator(".bubble.user pre.code").count() == 1
    assert any(p in page.locator(".transcript").inner_text() for p in PAYLOADS)
    shoot(page, f"security-{page.url.split(':')[0]}")
    page.fill(".search-input", "<script>")
    page.keyboard.press("Enter")
    page.wait_for_selector(".filter-chip >> text=Search: “<script>”")
    assert_nothing_ran(page)


def test_payloads_never_run_in_the_served_app(unprotected, hostile_root: Path):
    with LiveServer(hostile_root) as live:
        unprotected.goto(f"{live.url}#run={quote(HOSTILE_RUN)}")
        visit_every_view(unprotected)
        assert unprotected.locator(".run-select option", has_text=HOSTILE_RUN).count() == 1
        # Payloads in the URL itself (a shared link) are data too.
        unprotected.goto(
            f"{live.url}#run={quote(HOSTILE_RUN)}&cluster={quote(PAYLOADS[1])}&conv={quote(PAYLOADS[0])}"
            f"&q={quote(PAYLOADS[3])}&f.{quote(HOSTILE_KEY)}={quote(PAYLOADS[1])}&colour={quote('field:' + PAYLOADS[0])}"
        )
        unprotected.wait_for_selector(".error-note")  # no such conversation: said as text
        assert_nothing_ran(unprotected)


def test_payloads_never_run_in_the_static_report(unprotected, hostile_root: Path, tmp_path: Path):
    from kura.report import build_report

    report = build_report(hostile_root / HOSTILE_RUN, tmp_path / "hostile.html")
    html = report.read_text(encoding="utf-8")
    data = re.search(r'<script type="application/json" id="kura-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in data and "\u2028" not in data  # nothing can close the element early
    assert json.loads(data)["overview"]["name"] == HOSTILE_RUN
    unprotected.goto(report.as_uri())
    visit_every_view(unprotected)
