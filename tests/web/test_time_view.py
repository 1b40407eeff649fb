"""The explorer's time view and its API, against a real server over a run with timestamps.

The run is 1,500 CLINC150 queries spread over 12 weeks with `translate` placed increasingly
late (`kura_testdata.timed_clinc`). Screenshots go to test-artifacts/time-*.png.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote

import httpx
import numpy as np
import pytest
from kura_testdata import timed_clinc
from webtools import HOSTILE_RUN, PAYLOADS, LiveServer, make_hostile_run, make_run, shoot, wait_for_map

from kura.analysis.trends import trends


@pytest.fixture(scope="module")
def timed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("timed")
    source = root.parent / "timed.jsonl"
    rows = timed_clinc(10, rising="translate", rising_rows=150, undated=5, seed=0)
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    make_run(source, root / "timed")
    return root


@pytest.fixture(scope="module")
def timed_server(timed_root: Path) -> Iterator[LiveServer]:
    with LiveServer(timed_root) as live:
        yield live


@pytest.fixture(scope="module")
def client(timed_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=timed_server.url, timeout=30) as c:
        yield c


def state(page) -> dict[str, list[str]]:
    return parse_qs(page.evaluate("location.hash").lstrip("#"))


def wait_for_time_view(page) -> None:
    page.wait_for_selector('.time-view[data-state="ready"]')


def packed(mask: np.ndarray) -> str:
    return base64.b64encode(np.packbits(mask, bitorder="little").tobytes()).decode()


# -- the API ---------------------------------------------------------------------------------------------------
def test_the_api_answers_with_the_runs_analysis(client, timed_root: Path):
    body = client.get("api/runs/timed/trends", params={"level": 0}).json()
    report = trends(timed_root / "timed", level=0)
    assert body["periods"] == report.periods and body["totals"] == report.totals.tolist()
    assert body["rising"] == [c.id for c in report.rising] and len(body["rising"]) >= 1
    assert body["selected"] is None


def test_the_api_counts_only_the_rows_of_the_mask(client):
    size = client.get("api/runs/timed").json()["size"]
    mask = np.zeros(size, dtype=bool)
    mask[::3] = True
    answer = client.post(
        "api/runs/timed/trends", json={"level": 0, "mask": packed(mask)}, headers={"x-kura-request": "1"}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["conversations"] == int(mask.sum())
    assert sum(body["totals"]) + body["undated"] + body["unclustered"] == int(mask.sum())


def test_the_api_gives_the_selected_clusters_own_series(client):
    overview = client.get("api/runs/timed").json()["clusters"]
    base = max(range(len(overview["id"])), key=lambda i: (overview["level"][i], overview["count"][i]))
    body = client.get("api/runs/timed/trends", params={"level": 0, "cluster": overview["id"][base]}).json()
    selected = body["selected"]
    assert selected["id"] == overview["id"][base] and selected["level"] == overview["level"][base]
    assert len(selected["counts"]) == len(body["periods"])


@pytest.mark.parametrize(
    "request_args, status, message",
    [
        (dict(method="POST", json={"by": "week"}), 403, "missing header x-kura-request"),
        (dict(method="POST", json={"mask": "not base64!"}, headers={"x-kura-request": "1"}), 422, "mask is not base64"),
        (dict(method="POST", json={"mask": "AAAA"}, headers={"x-kura-request": "1"}), 422, "mask has 24 bits"),
        (dict(method="GET", params={"by": "year"}), 422, "by 'year' is unknown: use day, week or month"),
        (dict(method="GET", params={"level": 9}), 422, "level 9 is not in this run's tree"),
        (dict(method="GET", params={"cluster": "nope"}), 422, "no cluster 'nope' in this run"),
    ],
)
def test_the_api_refuses_bad_requests_in_one_line(client, request_args, status, message):
    method = request_args.pop("method")
    answer = client.request(method, "api/runs/timed/trends", **request_args)
    assert answer.status_code == status and message in answer.json()["detail"]


# -- the page --------------------------------------------------------------------------------------------------
def test_the_heatmap_shows_the_rising_cluster_and_a_click_selects_it_in_the_tree(page, timed_server, client):
    page.goto(f"{timed_server.url}#run=timed")
    wait_for_map(page)
    page.get_by_role("button", name="Time", exact=True).click()
    wait_for_time_view(page)
    assert state(page)["view"] == ["time"]
    rows = page.locator(".heat-row")
    assert rows.count() == page.evaluate("App.run.roots.length")
    rising = client.get("api/runs/timed/trends", params={"level": 0}).json()["rising"]
    row = page.locator(f'.heat-row[data-cluster-id="{rising[0]}"]')
    assert "rising" in row.get_attribute("class") and row.locator(".heat-trend").inner_text() == "▲"
    assert row.locator(".heat-cell").count() == 12
    shoot(page, "time-01-heatmap")

    name = row.locator(".heat-name").inner_text()
    row.click()
    page.wait_for_selector(f'.heat-row.selected[data-cluster-id="{rising[0]}"]')
    wait_for_time_view(page)
    assert state(page)["cluster"] == [rising[0]]
    assert page.locator(".tree-row.selected").get_attribute("data-cluster-id") == rising[0]
    assert page.locator(".detail-title").inner_text() == name
    assert page.locator(".time-chart-title").inner_text() == name
    assert page.locator(".time-chart-stat b").inner_text() == "▲ Rising"
    assert page.locator(".line-chart .dot").count() == 12
    shoot(page, "time-02-selected")

    # Back to the map: the time view hides, the map is still drawn and keeps the selection.
    page.get_by_role("button", name="Map", exact=True).click()
    page.wait_for_selector(".time-view", state="hidden")
    wait_for_map(page)
    assert "view" not in state(page) and state(page)["cluster"] == [rising[0]]


def test_the_time_view_counts_what_the_filters_leave(page, timed_server):
    page.goto(f"{timed_server.url}#run=timed&view=time&f.label=translate")
    wait_for_time_view(page)
    # Conversations the page's own filter keeps that have a creation time, counted in the page.
    expected = page.evaluate(
        """(() => { const mask = App.run.filterMask(App.state.filters, App.state.ranges);
           const times = App.run.fieldByKey.get('created_at').numbers;
           let n = 0; for (let i = 0; i < App.run.n; i++) if (mask[i] && isFinite(times[i])) n++;
           return n; })()"""
    )
    assert 140 <= expected <= 150  # the 150 translate rows, less any of the 5 without a time
    totals = [int(t.replace(",", "")) for t in page.locator(".heat-row .heat-total").all_inner_texts()]
    assert sum(totals) == expected
    assert page.locator(".time-summary").inner_text().startswith(f"{expected} conversations")
    shoot(page, "time-03-filtered")

    # Down to the base clusters from the level menu: the state keeps it, rows are base clusters.
    deepest = page.evaluate("App.run.maxLevel")
    page.select_option('.time-head select[aria-label="Clusters at level"]', str(deepest))
    page.wait_for_function(f"() => new URLSearchParams(location.hash.slice(1)).get('tlevel') === '{deepest}'")
    wait_for_time_view(page)
    ids = page.locator(".heat-row").evaluate_all("(els) => els.map((e) => e.dataset.clusterId)")
    assert ids and page.evaluate(f"{json.dumps(ids)}.every((id) => App.run.isBase(App.run.indexOf.get(id)))")

    # By month: three columns.
    page.get_by_role("button", name="Month", exact=True).click()
    page.wait_for_function("() => new URLSearchParams(location.hash.slice(1)).get('by') === 'month'")
    wait_for_time_view(page)
    assert page.locator(".heat-row").first.locator(".heat-cell").count() == 3


def test_cluster_names_in_the_time_view_stay_text(page, tmp_path: Path):
    """Cluster names full of script payloads are shown as text in the heatmap and the chart."""
    root = tmp_path / "runs"
    root.mkdir()
    make_hostile_run(root)
    with LiveServer(root) as live:
        page.goto(f"{live.url}#run={quote(HOSTILE_RUN)}&view=time")
        wait_for_time_view(page)
        page.locator(".heat-row").first.click()
        page.wait_for_selector(".heat-row.selected")
        wait_for_time_view(page)
        page.select_option('.time-head select[aria-label="Clusters at level"]', str(page.evaluate("App.run.maxLevel")))
        page.wait_for_selector(".heat-row:not(.selected) >> nth=3")
        wait_for_time_view(page)
        names = page.locator(".heat-name").all_inner_texts()
        assert sum(any(n.startswith(p) for p in PAYLOADS) for n in names) >= 4  # shown literally
        # Under the selected top-level cluster: its own base clusters, and its line above them.
        selected = page.locator(".tree-row.selected .tree-name").inner_text()
        assert page.locator(".time-chart-title").inner_text() == selected
        assert page.locator(".heat-head .heat-label").inner_text() == f"In {selected}"
        assert page.evaluate("() => window.__pwned") is None
        injected = page.evaluate(
            """() => ({img: document.querySelectorAll('img').length,
               svg: [...document.querySelectorAll('svg')].filter((s) => !s.matches('.brand-mark, .line-chart')).length,
               handlers: [...document.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length})"""
        )
        assert injected == {"img": 0, "svg": 0, "handlers": 0}
