"""Outcomes in the explorer, in headless Chromium against a real server: the per-cluster card,
sorting the tree and colouring the map by an outcome, and the API behind them.

The run is 750 real CLINC150 queries. Its outcome table follows a documented rule: the
conversations of the largest base cluster get feedback 1 or 2, every other conversation 3 to 5
(seeded RNG), so that one cluster is significantly worse than the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from webtools import LiveServer, clinc_rows, make_run, wait_for_map

from kura.server.packed import from_binary

SHOTS = Path("/tmp/shots")


@pytest.fixture(scope="module")
def outcome_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    from kura.analysis.outcomes import attach_outcomes
    from kura.store import RunStore
    from kura.types import Cluster
    from kura.types.tree import ClusterTree

    root = tmp_path_factory.mktemp("outcome-runs")
    source = root.parent / "clinc750-outcomes.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in clinc_rows(every=30)), encoding="utf-8")
    run = make_run(source, root / "feedback", clusters_per_group=10)
    tree = ClusterTree(RunStore(run).read_models("meta_clusters.jsonl", Cluster))
    planted = max(tree.leaves(), key=lambda c: (len(c.chat_ids), c.id))
    rng = np.random.default_rng(11)
    with open(root.parent / "feedback.csv", "w", encoding="utf-8") as f:
        f.write("chat_id,feedback,resolved\n")
        for leaf in tree.leaves():
            for chat_id in leaf.chat_ids:
                low = leaf.id == planted.id
                f.write(f"{chat_id},{rng.integers(1, 3) if low else rng.integers(3, 6)},{str(not low).lower()}\n")
    attach_outcomes(run, root.parent / "feedback.csv")
    with LiveServer(root) as live:
        yield live, planted.id


def test_the_api_gives_per_cluster_outcomes_in_cluster_order(outcome_server):
    server, planted = outcome_server
    body = httpx.get(server.url + "api/runs/feedback/outcomes").json()
    overview = httpx.get(server.url + "api/runs/feedback").json()
    ids = overview["clusters"]["id"]
    feedback = next(o for o in body["outcomes"] if o["key"] == "feedback")
    assert feedback["kind"] == "mean" and feedback["n"] == 750 and feedback["source"] == "outcome"
    assert len(feedback["clusters"]["value"]) == len(ids)
    at = ids.index(planted)
    assert feedback["clusters"]["flagged"][at] and feedback["clusters"]["value"][at] < 2.5
    resolved = next(o for o in body["outcomes"] if o["key"] == "resolved")
    assert resolved["kind"] == "rate" and resolved["clusters"]["value"][at] == 0
    # Outcome columns are also fields the page can filter by.
    columns = from_binary(httpx.get(server.url + "api/runs/feedback/columns").content)
    fields = {f["key"]: f for f in columns["schema"]}
    assert fields["feedback"]["source"] == "outcome" and fields["feedback"]["kind"] == "number"


def test_outcome_card_sort_and_map_colours(page, outcome_server):
    server, planted = outcome_server
    SHOTS.mkdir(exist_ok=True)
    page.goto(f"{server.url}#run=feedback&cluster={planted}")
    wait_for_map(page)
    card = page.locator('.outcome-card[data-outcome="feedback"]')
    card.wait_for()
    assert "significantly lower than the rest" in card.inner_text()
    value = page.evaluate(
        f"(() => {{ const o = App.run.outcomes.byKey.get('feedback'); return o.clusters.value[App.run.indexOf.get({json.dumps(planted)})]; }})()"
    )
    assert card.locator(".outcome-value").inner_text() == page.evaluate(f"fmtNumber({value})")
    assert "mean of" in card.inner_text() and "p = " in card.inner_text()
    page.locator(".detail-panel .outcomes").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "outcomes-card.png"))

    # Sort the tree by feedback, lowest first: the URL keeps it, the rows follow the values.
    page.select_option(".outcome-sort", "outcome:feedback:asc")
    page.wait_for_function("() => location.hash.includes('sort=outcome%3Afeedback%3Aasc')")
    page.locator(".tree-row .tree-outcome").first.wait_for()
    roots = page.locator(".tree-row.root")
    shown = [float(t.split()[0]) for t in roots.locator(".tree-outcome").all_inner_texts()]
    assert len(shown) == roots.count() >= 2 and shown == sorted(shown)
    expected = page.evaluate(
        "App.run.roots.map((c) => App.run.outcomes.byKey.get('feedback').clusters.value[c]).sort((a, b) => a - b)"
    )
    assert shown == pytest.approx(expected, abs=0.006)
    page.get_by_role("button", name="Size").click()
    page.wait_for_function("() => !location.hash.includes('sort=')")
    assert page.locator(".tree-outcome").count() == 0

    # Colour the map by the base clusters' feedback: the planted cluster's dots are "significantly below".
    page.select_option(".map-toolbar select", "outcome:feedback")
    page.wait_for_function("() => location.hash.includes('colour=outcome%3Afeedback')")
    assert page.locator(".legend-title").text_content() == "feedback by base cluster"
    wrong = page.evaluate(
        f"""(() => {{ const run = App.run, c = run.indexOf.get({json.dumps(planted)}), low = rgba32(OUTCOME_COLOURS.low);
        let wrong = 0, inside = 0;
        for (let i = 0; i < run.n; i++) if (run.base[i] === c) {{ inside++; if (App.map.colours[i] !== low) wrong++; }}
        return [wrong, inside]; }})()"""
    )
    assert wrong[0] == 0 and wrong[1] > 0
    page.select_option(".outcome-sort", "outcome:feedback:asc")
    page.wait_for_function("() => location.hash.includes('sort=outcome')")
    page.screenshot(path=str(SHOTS / "outcomes-sorted-and-coloured.png"))
    # With nothing selected, every cluster's dots carry its colour; most are not significant.
    page.get_by_role("button", name="All", exact=True).click()
    page.wait_for_function("() => !location.hash.includes('cluster=')")
    faint = page.evaluate(
        "(() => { const w = new Set([rgba32(OUTCOME_COLOURS.lowFaint), rgba32(OUTCOME_COLOURS.highFaint)]);"
        " return Array.from(App.map.colours).filter((c) => w.has(c)).length; })()"
    )
    assert faint > 375
    page.screenshot(path=str(SHOTS / "outcomes-map.png"))
