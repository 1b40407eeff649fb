"""`kura report`: one HTML file that shows the same views from disk, with no network at all."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from webtools import REPO, shoot, wait_for_map


@pytest.fixture(scope="module")
def report(runs_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written by the real command line, as a user would."""
    out = tmp_path_factory.mktemp("report") / "oasst report.html"
    done = subprocess.run(
        [sys.executable, "-m", "kura.cli", "report", str(runs_root / "oasst"), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Wrote" in done.stderr and "MB" in done.stderr
    return out


def test_the_report_is_one_self_contained_file(report: Path):
    html = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no CDN, no remote anything
    assert "<script src=" not in html and '<link rel="stylesheet"' not in html  # every asset inline
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1)
    assert "connect-src 'none'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
    data = json.loads(re.search(r'<script type="application/json" id="kura-data">(.*?)</script>', html, re.S).group(1))
    assert data["overview"]["size"] == 100 and len(data["messages"]) == 100
    assert "<title>Kura report: oasst</title>" in html


def test_the_report_works_from_disk_without_any_request(page, report: Path):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    wait_for_map(page)
    assert requests == [report.as_uri()]  # the file itself, nothing else
    assert "Report ·" in page.locator("#run-info").inner_text()
    assert page.locator(".actions button").count() == 0  # no "New run" without a server

    page.locator(".tree-row.root .caret").first.click()
    page.locator('.tree-row[aria-level="2"]').first.click()
    cluster = page.evaluate("App.run.cluster.name[App.map.selectedCluster]")
    assert page.locator(".detail-title").inner_text() == cluster
    page.locator(".conversation-item").first.click()
    page.wait_for_selector(".bubble.assistant")
    shoot(page, "12-report-conversation")

    page.keyboard.press("Escape")
    page.fill(".search-input", "python")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('.tree-summary').textContent.includes('match')")
    count = lambda: int(page.locator(".match-count").inner_text().split(" of ")[0])  # noqa: E731
    matches = count()
    page.get_by_role("button", name="Filter").click()
    page.locator('.menu-field[data-field="languages"] .menu-value', has_text="python").locator("input").check()
    page.wait_for_function("() => location.hash.includes('f.languages=python')")
    page.keyboard.press("Escape")
    assert 0 < count() < matches
    shoot(page, "13-report-search-filter")
    assert requests == [report.as_uri()]


def test_the_report_search_agrees_with_the_server(page, report: Path, server):
    import httpx

    page.goto(report.as_uri())
    wait_for_map(page)
    for query in ["python", '"how do i"', "THE code", "zzzz-nothing"]:
        expected = httpx.get(f"{server.url}api/runs/oasst/search", params={"q": query}).json()["count"]
        got = page.evaluate(
            "async (q) => { const m = await App.source.search(App.run, q); return m ? m.reduce((a, b) => a + b, 0) : App.run.n; }",
            query,
        )
        assert got == expected, query


def test_a_folder_of_runs_is_refused_with_the_fix(runs_root: Path, tmp_path: Path):
    from kura.errors import KuraError
    from kura.report import build_report

    with pytest.raises(KuraError, match=r"holds several runs \(clinc, oasst\): pick one, e\.g\. `kura report .*clinc`"):
        build_report(runs_root, tmp_path / "x.html")
    with pytest.raises(KuraError, match="not a Kura run directory"):
        build_report(tmp_path, tmp_path / "x.html")
