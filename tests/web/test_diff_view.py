"""The explorer's "Compare" view in headless Chromium: two real runs with planted changes,
a real server, and the table checked against the API's own answer. Screenshots go to
/tmp/shots/diff-*.png."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from webtools import HOSTILE_RUN, LiveServer, make_hostile_run, make_run, wait_for_map

from kura.store import RunStore
from kura.types import Cluster, ProjectedCluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from diff_planted import PER_INTENT, planted, write_jsonl  # noqa: E402

SHOTS = Path("/tmp/shots")


@pytest.fixture(scope="module")
def diff_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("diff-runs")
    rows_a, rows_b, _ = planted(shared_ids=True)
    sources = root.parent
    make_run(write_jsonl(rows_a, sources / "before.jsonl"), root / "before", clusters_per_group=PER_INTENT)
    make_run(write_jsonl(rows_b, sources / "after.jsonl"), root / "after", clusters_per_group=PER_INTENT)
    hostile = make_hostile_run(root)
    # The diff reads names from the tree (meta_clusters.jsonl): give it the hostile names too.
    store = RunStore(hostile)
    named = {c.id: c for c in store.read_models("dimensionality.jsonl", ProjectedCluster)}
    tree = [c.model_copy(update={"name": named[c.id].name}) for c in store.read_models("meta_clusters.jsonl", Cluster)]
    store.write_models("meta_clusters.jsonl", tree)
    shutil.copytree(hostile, root / "hostile-copy")
    with LiveServer(root) as live:
        yield live


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"diff-{name}.png"))


def open_compare(page, server: LiveServer, run: str, earlier: str) -> None:
    page.goto(f"{server.url}#run={httpx.QueryParams({'r': run})['r']}")
    wait_for_map(page)
    page.get_by_role("button", name="Compare").click()
    page.wait_for_selector("dialog.diff-dialog[open]")
    page.get_by_label("Earlier run").select_option(earlier)
    page.wait_for_selector(".diff-table")


def test_the_compare_view_shows_what_the_api_reports(page, diff_server: LiveServer) -> None:
    api = httpx.get(f"{diff_server.url}api/diff", params={"a": "before", "b": "after"}).json()
    open_compare(page, diff_server, "after", "before")
    assert "matched by the conversations both runs share" in page.locator(".diff-summary").inner_text()
    changed = [c for c in api["changes"] if c["status"] != "unchanged"]
    rows = page.locator(".diff-row")
    assert rows.count() == len(changed) >= 2
    assert page.locator(".diff-row").evaluate_all("rows => rows.map(r => r.dataset.status)") == [
        c["status"] for c in changed
    ]
    # The planted vanished intent and the planted new one are there whatever the clustering did.
    assert api["counts"]["vanished"] >= 1 and api["counts"]["new"] >= 1
    for status, n in api["counts"].items():
        badge = page.locator(f'.diff-counts [data-status="{status}"]')
        assert badge.count() == (1 if n else 0)
        if n:
            assert badge.inner_text() == f"{n} {status}"
    for k, change in enumerate(changed):
        cells = rows.nth(k).locator("td")
        assert cells.nth(3).inner_text() == f"{change['count_a']:,} → {change['count_b']:,}"
        assert cells.nth(1).inner_text() == " + ".join(s["name"] for s in (change["b"] or change["a"]))
    shot(page, "changes")

    # Unchanged clusters on request; then a cluster's name opens it in the explorer.
    page.locator(".diff-toggle").click()
    page.wait_for_function(f"() => document.querySelectorAll('.diff-row').length === {len(api['changes'])}")
    target = next(c for c in api["changes"] if c["status"] == "unchanged")["b"][0]
    page.locator('.diff-row[data-status="unchanged"] .diff-name button').first.click()
    page.wait_for_function("() => !document.querySelector('dialog.diff-dialog').open")
    page.wait_for_function(f"() => location.hash.includes('cluster={target['id']}')")
    assert page.locator(".detail-title").inner_text() == target["name"]
    shot(page, "selected")


def test_a_bad_level_is_a_clear_message_and_other_levels_compare(page, diff_server: LiveServer) -> None:
    open_compare(page, diff_server, "after", "before")
    page.get_by_label("Level").select_option("0")
    page.wait_for_function(
        "() => document.querySelector('.diff-summary') && !document.querySelector('.diff-body .empty-note')"
    )
    top = httpx.get(f"{diff_server.url}api/diff", params={"a": "before", "b": "after", "level": 0}).json()
    shown = page.locator(".diff-row").count()
    assert shown == sum(1 for c in top["changes"] if c["status"] != "unchanged")
    missing = httpx.get(f"{diff_server.url}api/diff", params={"a": "before", "b": "nope"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    too_deep = httpx.get(f"{diff_server.url}api/diff", params={"a": "before", "b": "after", "level": 9})
    assert too_deep.status_code == 422 and "--level 9" in too_deep.json()["detail"]
    assert "/" not in too_deep.json()["detail"].split(":")[0]  # no folder of the server's disk


def test_hostile_cluster_names_are_shown_as_text(page, diff_server: LiveServer) -> None:
    open_compare(page, diff_server, "hostile-copy", HOSTILE_RUN)
    page.locator(".diff-toggle").click()
    page.wait_for_selector(".diff-row")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".diff-table img, .diff-table svg, .diff-table script").count() == 0
    names = page.locator(".diff-name").all_inner_texts()
    assert any("<" in name for name in names)  # the payloads are there, as text
    shot(page, "hostile")
