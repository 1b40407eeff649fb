"""The explorer end to end in headless Chromium, against a real server over real runs.

Each test leaves screenshots in test-artifacts/ (looked at by a person, not only asserted on).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import httpx
import pytest
from webtools import shoot, wait_for_map


def state(page) -> dict[str, list[str]]:
    """The explorer's state as kept in the URL fragment.

    Read from the page itself: Playwright's ``page.url`` learns of a pushState from a browser
    event that can arrive after the click returns, and then shows the previous state."""
    return parse_qs(page.evaluate("location.hash").lstrip("#"))


def open_run(page, server, run: str = "clinc") -> None:
    page.goto(f"{server.url}#run={run}")
    wait_for_map(page)


def label_centre(page) -> dict:
    """The centre of a cluster name drawn on the map (not the selected cluster's), in canvas pixels."""
    return page.evaluate(
        "(() => { const b = App.map.labelBoxes.find((b) => b.c !== App.map.selectedCluster);"
        " return {x: (b.x0 + b.x1) / 2, y: (b.y0 + b.y1) / 2, c: b.c}; })()"
    )


def name_drawn_at(page, x: float, y: float) -> int:
    """The cluster whose name the last frame drew at (x, y), topmost first; -1 for none."""
    return page.evaluate(
        f"(() => {{ const hit = App.map.labelBoxes.filter((b) => {x} >= b.x0 && {x} <= b.x1 && {y} >= b.y0 && {y} <= b.y1);"
        " return hit.length ? hit[hit.length - 1].c : -1; })()"
    )


def next_frames(page) -> None:
    """Until the page has drawn two more frames (a resize is observed, then drawn)."""
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def test_runs_are_listed_and_one_opens(page, server):
    page.goto(server.url)
    page.wait_for_selector(".run-card")
    assert sorted(page.locator(".run-card-name").all_inner_texts()) == ["clinc", "oasst"]
    shoot(page, "01-runs")
    page.get_by_role("button", name=re.compile("^oasst")).click()
    wait_for_map(page)
    assert state(page)["run"] == ["oasst"]
    assert page.locator(".tree-summary").inner_text() == "100 conversations in " + page.evaluate(
        "App.run.nc + ' clusters'"
    )
    assert "Extractive" in page.locator("#run-info").inner_text()
    # Facets a language model would fill are named as missing, not shown as empty charts.
    assert "not computed in extractive mode" in page.locator(".notice").inner_text()
    assert page.locator('.breakdown[data-field="concerning_score"]').count() == 0
    shoot(page, "02-overview")


def test_tree_map_detail_and_conversation_work_together(page, server):
    open_run(page, server)
    roots = page.locator(".tree-row.root")
    assert roots.count() == page.evaluate("App.run.roots.length") >= 2
    # Largest first, with counts and shares that add up.
    counts = [int(c.replace(",", "")) for c in page.locator(".tree-row.root .tree-count b").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and sum(counts) == 750

    # Expand a branch with its caret: children appear, nothing is selected yet.
    first = roots.nth(0)
    first.locator(".caret").click()
    assert first.get_attribute("aria-expanded") == "true"
    children = page.locator('.tree-row[aria-level="2"]')
    assert children.count() == page.evaluate("App.run.children[App.run.levelNames[0][0]].length")
    assert "cluster" not in state(page)

    # Click a child: it is selected in the URL, the detail panel and on the map.
    child = children.nth(0)
    name = child.locator(".tree-name").inner_text()
    child.click()
    cluster_id = state(page)["cluster"][0]
    assert child.get_attribute("data-cluster-id") == cluster_id
    assert page.locator(".detail-title").inner_text() == name
    assert page.evaluate("App.run.cluster.id[App.map.selectedCluster]") == cluster_id
    members = page.evaluate("App.run.cluster.count[App.map.selectedCluster]")
    dimmed = page.evaluate("Array.from(App.map.state).filter((s) => s === 1).length")
    assert dimmed == 750 - members  # every other conversation is dimmed on the map
    assert page.locator(".tree-row.selected").get_attribute("data-cluster-id") == cluster_id
    shoot(page, "03-cluster-selected")

    # The detail panel breaks the cluster down by metadata (CLINC's intent label).
    label_card = page.locator('.breakdown[data-field="label"]')
    assert label_card.count() == 1
    while label_card.locator(".more").count():  # six values at first, then twenty more a click
        label_card.locator(".more").click()
    assert sum(int(t.replace(",", "")) for t in label_card.locator(".bar-count").all_inner_texts()) == members

    # Map -> tree: hover a cluster name on the map (the map says which), click: that one is selected.
    page.wait_for_function("() => !App.map.animating")
    box = label_centre(page)
    canvas = page.locator(".map-canvas").bounding_box()
    page.mouse.move(canvas["x"] + box["x"], canvas["y"] + box["y"])
    hovered = page.evaluate("App.map.hoverCluster")
    assert hovered >= 0, "the map reports no cluster name under the pointer"
    hovered_id = page.evaluate(f"App.run.cluster.id[{hovered}]")
    page.mouse.click(canvas["x"] + box["x"], canvas["y"] + box["y"])
    assert state(page)["cluster"] == [hovered_id]
    assert page.locator(".tree-row.selected").get_attribute("data-cluster-id") == hovered_id

    # Map -> conversation: hover a dot (its cluster path shows), click it (it opens).
    page.wait_for_function("() => !App.map.animating")  # the map glides to the selected cluster
    point = page.evaluate(
        """(() => {
        const free = (x, y) => !App.map.labelBoxes.some((b) => x > b.x0 - 12 && x < b.x1 + 12 && y > b.y0 - 12 && y < b.y1 + 12);
        for (const i of App.run.rowsWhere(App.map.state.map((s) => s === 2 ? 1 : 0))) {
          const [x, y] = App.map.toScreen(App.run.x[i], App.run.y[i]);
          if (x > 20 && y > 20 && x < App.map.width - 60 && y < App.map.height - 20 && free(x, y)) return {x, y};
        }
      })()"""
    )
    page.mouse.move(canvas["x"] + point["x"], canvas["y"] + point["y"])
    page.wait_for_function(
        "() => document.querySelector('.tip-summary') && document.querySelector('.tip-summary').textContent !== '…'"
    )
    assert page.locator(".map-tooltip").is_visible()
    shoot(page, "04-map-hover")
    page.mouse.click(canvas["x"] + point["x"], canvas["y"] + point["y"])
    page.wait_for_selector(".bubble.user")
    assert state(page)["conv"]
    assert page.evaluate("App.map.marked") >= 0

    # A conversation from the list: bubbles, summary, metadata, cluster path.
    page.go_back()
    page.wait_for_selector(".conversation-item")
    item = page.locator(".conversation-item").first
    summary = item.locator(".conversation-summary").inner_text()
    item.click()
    page.wait_for_selector(".bubble.user")
    assert page.locator(".conversation-title").inner_text() == summary
    assert page.locator(".bubble.user .bubble-text").first.inner_text() == summary
    assert page.locator(".definitions dt", has_text="label").count() == 1
    assert page.locator(".conversation-top + .breadcrumb .crumb").count() == page.evaluate("App.run.maxLevel + 1")
    shoot(page, "05-conversation")
    page.keyboard.press("Escape")
    page.wait_for_selector(".detail-title")
    assert "conv" not in state(page)


def test_a_map_click_picks_what_the_hover_shows_after_the_map_re_lays_out(page, server):
    # The map moves under a still pointer when its panel changes size: the hover must follow the
    # new layout, and the click must pick what the hover now shows (it once picked another cluster).
    open_run(page, server)
    box = label_centre(page)
    canvas = page.locator(".map-canvas").bounding_box()
    x, y = canvas["x"] + box["x"], canvas["y"] + box["y"]
    page.mouse.move(x, y)
    assert page.evaluate("App.map.hoverCluster") == box["c"]
    page.set_viewport_size({"width": 1100, "height": 900})  # the map narrows: every name moves
    page.wait_for_function(f"() => App.map.width < {canvas['width']} - 100")
    next_frames(page)
    canvas = page.locator(".map-canvas").bounding_box()
    px, py = x - canvas["x"], y - canvas["y"]
    under = name_drawn_at(page, px, py)
    assert page.evaluate("App.map.hoverCluster") == under
    before = state(page).get("cluster")
    page.mouse.click(x, y)
    if under >= 0:
        assert state(page)["cluster"] == [page.evaluate(f"App.run.cluster.id[{under}]")]
    elif page.evaluate("App.map.hoverRow") < 0:
        assert state(page).get("cluster") == before  # nothing under the pointer: nothing picked


def test_search_and_filters_narrow_tree_map_and_lists_and_live_in_the_url(page, server):
    open_run(page, server)
    expected = httpx.get(f"{server.url}api/runs/clinc/search", params={"q": "credit card"}).json()["count"]
    page.fill(".search-input", "credit card")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.querySelector('.tree-summary').textContent.startsWith('{expected} conversations match')"
    )
    assert state(page)["q"] == ["credit card"]
    assert page.locator(".filter-chip").first.inner_text().startswith("Search: “credit card”")
    assert page.evaluate("Array.from(App.map.state).filter((s) => s === 2).length") == expected
    assert (
        sum(int(c.replace(",", "")) for c in page.locator(".tree-row.root .tree-count b").all_inner_texts()) == expected
    )
    page.wait_for_selector(".conversation-item")
    items = page.locator(".conversation-item .conversation-summary").all_inner_texts()
    assert items and all("credit" in t.lower() and "card" in t.lower() for t in items)
    shoot(page, "06-search")

    # Filter by a metadata value from the Filter menu: tree, map and lists narrow together.
    page.get_by_role("button", name="Filter").click()
    menu = page.locator('.menu-field[data-field="label"]')
    menu.locator(".menu-find").fill("apr")  # 150 labels: find one
    menu.locator(".menu-value", has_text="apr").locator("input").check()
    page.wait_for_function("() => location.hash.includes('f.label=apr')")
    shoot(page, "07-filter-menu")
    page.keyboard.press("Escape")
    both = page.evaluate("Array.from(App.map.state).filter((s) => s === 2).length")
    assert 0 < both <= expected
    assert f"{both} of 750" in page.locator(".match-count").inner_text()
    labels = page.locator('.breakdown[data-field="label"] .bar-row:not(.unset) .bar-label').all_inner_texts()
    assert labels == ["apr"]

    # Click a bar of a breakdown to add its value (values of one field: any of them).
    page.locator(".filter-chip", has_text="Label: apr").click()
    page.wait_for_function("() => !location.hash.includes('f.label=')")
    page.wait_for_selector('.breakdown[data-field="label"]')
    page.locator('.breakdown[data-field="label"] .bar-row').first.click()
    page.wait_for_function("() => location.hash.includes('f.label=')")

    # The whole state survives a reload (it is the URL) and the back button steps through it.
    url = page.evaluate("location.href")
    page.reload()
    wait_for_map(page)
    page.wait_for_selector(".filter-chip")
    assert page.evaluate("location.href") == url
    chips = page.locator(".filter-chip").all_inner_texts()
    assert len(chips) == 2 and any(c.startswith("Label: ") for c in chips)
    assert page.input_value(".search-input") == "credit card"
    page.go_back()
    page.wait_for_function("() => !location.hash.includes('f.label=')")
    assert page.locator(".filter-chip").count() == 1  # Back undid the label filter, not the search
    page.locator(".filter-chip").click()
    page.wait_for_function("() => !location.hash.includes('q=') && !location.hash.includes('f.')")
    assert page.locator("#filter-bar").is_hidden()


def test_a_histogram_bar_filters_a_range(page, server):
    open_run(page, server, "oasst")
    card = page.locator('.breakdown[data-field="conversation_turns"]')
    bars = card.locator(".hist-bar")
    assert bars.count() >= 2
    label = bars.first.get_attribute("aria-label")  # "2: 31"
    value, count = (int(x.replace(",", "")) for x in label.split(": "))
    bars.first.click()
    page.wait_for_function(f"() => location.hash.includes('r.conversation_turns={value}..{value}')")
    assert page.locator(".match-count").inner_text().startswith(f"{count} of 100")
    assert page.locator(".filter-chip").inner_text().startswith(f"Conversation turns: {value}")
    shoot(page, "08-histogram-filter")


def test_colour_by_a_field_and_sort_the_tree(page, server):
    open_run(page, server)
    page.select_option(".map-toolbar select", "field:label")
    page.wait_for_function("() => location.hash.includes('colour=field%3Alabel')")
    legend = page.locator(".map-legend .legend-label").all_inner_texts()
    assert legend[0] in page.evaluate("App.run.fieldByKey.get('label').values")
    assert legend[-1] == "140 other values"  # ten colours, the rest grey
    shoot(page, "09-colour-by-field")
    open_run(page, server, "oasst")
    page.select_option(".map-toolbar select", "field:conversation_turns")
    assert page.locator(".legend-gradient").is_visible()
    page.get_by_role("button", name="A–Z").click()
    names = page.locator(".tree-row.root .tree-name").all_inner_texts()
    assert names == sorted(names, key=str.lower) or names == sorted(names)
    assert state(page)["sort"] == ["name"]


def test_the_map_zooms_and_pans(page, server):
    open_run(page, server)
    before = page.evaluate("({...App.map.view})")
    box = page.locator(".map-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"() => App.map.view.scale > {before['scale']} * 1.5")
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 60, steps=5)
    page.mouse.up()
    after = page.evaluate("({...App.map.view})")
    assert after["cx"] < before["cx"] and after["cy"] > before["cy"]
    assert "cluster" not in state(page)  # a drag is not a click
    shoot(page, "10-zoomed")
    page.get_by_role("button", name="Show everything").click()
    page.wait_for_function(f"() => Math.abs(App.map.view.scale - {before['scale']}) < 1e-6 * {before['scale']} + 1e-9")


@pytest.mark.parametrize("width,height", [(1280, 720), (1920, 1080)])
def test_layout_has_no_overlapping_text(page, server, width, height):
    page.set_viewport_size({"width": width, "height": height})
    open_run(page, server)
    page.locator(".tree-row.root").first.click()
    overlaps = page.evaluate(
        """() => {
        const boxes = [...document.querySelectorAll('.topbar > *, .map-toolbar > *, .stat, .tree-row.root .tree-name, .tree-row.root .tree-count')]
          .map((el) => [el, el.getBoundingClientRect()]).filter(([, r]) => r.width && r.height);
        const out = [];
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
          const [a, r] = boxes[i], [b, s] = boxes[j];
          if (a.contains(b) || b.contains(a)) continue;
          if (r.left < s.right - 1 && s.left < r.right - 1 && r.top < s.bottom - 1 && s.top < r.bottom - 1) out.push(a.className + ' / ' + b.className);
        }
        return out;
      }"""
    )
    assert overlaps == []
    shoot(page, f"11-layout-{width}x{height}")
