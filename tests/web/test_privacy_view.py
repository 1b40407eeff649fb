"""The explorer and the report over runs made with `kura run --privacy strict|off`.

The runs here are copies of a real run of the pipeline (tests/web/conftest.py: 100 OpenAssistant
chats) made "strict" by writing their run.json config and a privacy.json of the documented shape,
with a name planted in some conversations' raw text. This tests what the explorer does with a
strict run directory; the proof that a real `--privacy strict` run leaks nothing planted lives
with the privacy layers (the planted-data test of issue 10).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from webtools import REPO, LiveServer, shoot, wait_for_map

#: Planted in the raw text of the first conversations; never in a summary or a cluster name.
PLANTED = "Zebulon Quartermaine"
PLANTED_IN = 3

STRICT_REPORT = {
    "profile": "strict",
    "scrubbed": {"summaries": {"NAME": 3, "EMAIL": 1}, "clusters": {"NAME": 1}},
    "min_conversations": 10,
    "min_users": 5,
    "user_field": "user_id",
    "users_known": True,
    "merged": {"clusters": 12, "conversations": 57},
    "audit": {
        "model": "local",
        "threshold": 3,
        "audited": 40,
        "failed": 0,
        "withheld": [{"cluster_id": "c-withheld", "rating": 2, "conversations": 14}],
    },
    "withheld": {"clusters": 2, "conversations": 20},
    "raw_text_kept": True,
}


def copy_run(source: Path, dest: Path, *, privacy: str | None, report: dict | None, raw: str) -> Path:
    """A copy of ``source`` recorded as made with ``--privacy privacy`` (None: before the option).

    ``raw``: "planted" (the raw text kept, with PLANTED in the first conversations) or "dropped"
    (messages and metadata emptied, as a strict run without --keep-raw writes them)."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("cache.sqlite*", "run.lock"))
    if privacy is not None:
        meta = json.loads((dest / "run.json").read_text(encoding="utf-8"))
        meta["config"]["privacy"] = privacy
        (dest / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    if report is not None:
        (dest / "privacy.json").write_text(json.dumps(report), encoding="utf-8")
    lines = (dest / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    for i, record in enumerate(records):
        if raw == "dropped":
            record["messages"], record["metadata"] = [], {}
        elif i < PLANTED_IN:
            record["messages"][0]["content"] += f" By the way, my name is {PLANTED}."
    (dest / "conversations.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records), encoding="utf-8"
    )
    return dest


@pytest.fixture(scope="module")
def privacy_root(runs_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("privacy-runs")
    source = runs_root / "oasst"
    copy_run(source, root / "strict", privacy="strict", report=STRICT_REPORT, raw="planted")
    dropped = {**STRICT_REPORT, "raw_text_kept": False}
    copy_run(source, root / "strict-dropped", privacy="strict", report=dropped, raw="dropped")
    copy_run(source, root / "off", privacy="off", report={"profile": "off"}, raw="planted")
    copy_run(source, root / "legacy", privacy=None, report=None, raw="planted")
    copy_run(source, root / "strict-unreported", privacy="strict", report={"profile": "off"}, raw="planted")
    damaged = copy_run(source, root / "damaged", privacy="strict", report=None, raw="planted")
    (damaged / "privacy.json").write_text('{"profile": "str', encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def guarded_server(privacy_root: Path) -> Iterator[LiveServer]:
    """`kura serve` as started by default."""
    with LiveServer(privacy_root) as live:
        yield live


@pytest.fixture(scope="module")
def guarded(guarded_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def allowed_server(privacy_root: Path) -> Iterator[LiveServer]:
    """`kura serve --allow-raw-text`."""
    with LiveServer(privacy_root, allow_raw_text=True) as live:
        yield live


@pytest.fixture(scope="module")
def allowed(allowed_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=allowed_server.url, timeout=30) as client:
        yield client


def chat_ids(root: Path, run: str) -> list[str]:
    with open(root / run / "conversations.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["chat_id"] for line in f]


# -- the API ------------------------------------------------------------------------------------------
def test_the_overview_carries_the_privacy_report(guarded, allowed):
    strict = guarded.get("api/runs/strict").json()
    assert strict["privacy"] == STRICT_REPORT
    assert strict["raw_text"] is False
    assert allowed.get("api/runs/strict").json()["raw_text"] is True
    for run in ("off", "legacy"):  # no privacy.json: the profile run.json records, or off
        body = guarded.get(f"api/runs/{run}").json()
        assert body["privacy"] == {"profile": "off"} and body["raw_text"] is True


def test_run_json_saying_strict_wins_over_a_report_that_does_not(guarded, privacy_root: Path):
    assert guarded.get("api/runs/strict-unreported").json()["privacy"] == {"profile": "strict"}
    chat_id = chat_ids(privacy_root, "strict-unreported")[0]
    assert guarded.get("api/runs/strict-unreported/conversation", params={"id": chat_id}).status_code == 403


def test_a_strict_runs_conversation_is_refused_with_one_line(guarded, privacy_root: Path):
    chat_id = chat_ids(privacy_root, "strict")[0]
    response = guarded.get("api/runs/strict/conversation", params={"id": chat_id})
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "\n" not in detail and "--privacy strict" in detail and "kura serve --allow-raw-text" in detail
    assert PLANTED not in response.text


def test_the_flag_serves_a_strict_runs_conversation(allowed, privacy_root: Path):
    chat_id = chat_ids(privacy_root, "strict")[0]
    body = allowed.get("api/runs/strict/conversation", params={"id": chat_id}).json()
    assert PLANTED in body["messages"][0]["content"]
    assert body["summary"]["chat_id"] == chat_id
    # A strict run that did not keep its raw text has none to serve, even when allowed.
    dropped = chat_ids(privacy_root, "strict-dropped")[0]
    assert allowed.get("api/runs/strict-dropped/conversation", params={"id": dropped}).json()["messages"] == []


def test_off_runs_serve_conversations_as_before(guarded, privacy_root: Path):
    for run in ("off", "legacy"):
        chat_id = chat_ids(privacy_root, run)[0]
        response = guarded.get(f"api/runs/{run}/conversation", params={"id": chat_id})
        assert response.status_code == 200 and PLANTED in response.json()["messages"][0]["content"]


def test_search_never_looks_into_raw_text_it_may_not_show(guarded, allowed, privacy_root: Path):
    query = {"q": PLANTED.split()[1]}
    assert guarded.get("api/runs/strict/search", params=query).json()["count"] == 0
    assert guarded.get("api/runs/strict/summaries", params=query).json()["total"] == 0
    assert allowed.get("api/runs/strict/search", params=query).json()["count"] == PLANTED_IN
    assert guarded.get("api/runs/off/search", params=query).json()["count"] == PLANTED_IN
    # The scrubbed summaries stay searchable.
    word = max(
        guarded.get("api/runs/strict/summaries", params={"rows": "0"}).json()["rows"][0]["summary"].split(), key=len
    )
    assert guarded.get("api/runs/strict/search", params={"q": word}).json()["count"] >= 1


def test_no_response_about_a_strict_run_holds_its_raw_text(guarded, privacy_root: Path):
    ids = chat_ids(privacy_root, "strict")
    answered = [
        guarded.get(path, params=params)
        for path, params in [
            ("api/runs", {}),
            ("api/runs/strict", {}),
            ("api/runs/strict/columns", {}),
            ("api/runs/strict/summaries", {"offset": 0, "limit": 200}),
            ("api/runs/strict/summaries", {"id": ids[0]}),
            ("api/runs/strict/search", {"q": "python"}),  # (a search answer repeats its query)
            ("api/runs/strict/trends", {}),
            ("api/runs/strict/outcomes", {}),
        ]
    ]
    refused = [guarded.get("api/runs/strict/conversation", params={"id": chat_id}) for chat_id in ids[:PLANTED_IN]]
    assert [r.status_code for r in answered] == [200] * len(answered)
    assert [r.status_code for r in refused] == [403] * PLANTED_IN
    assert all(PLANTED not in r.text for r in answered + refused)


def test_one_summary_row_by_conversation_id(guarded, privacy_root: Path):
    chat_id = chat_ids(privacy_root, "strict")[5]
    (row,) = guarded.get("api/runs/strict/summaries", params={"id": chat_id}).json()["rows"]
    assert row["chat_id"] == chat_id and row["summary"]
    missing = guarded.get("api/runs/strict/summaries", params={"id": "no-such-chat"})
    assert missing.status_code == 404 and "no-such-chat" in missing.json()["detail"]


def test_a_damaged_privacy_report_is_one_clear_line(guarded):
    response = guarded.get("api/runs/damaged")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert re.search(r"damaged/privacy\.json: unreadable .*kura run", detail) and "\n" not in detail
    assert str(REPO) not in detail  # no local folder in an answer


@pytest.mark.parametrize("flags", [[], ["--allow-raw-text"]])
def test_kura_serve_takes_the_flag(privacy_root: Path, flags: list[str]):
    process = subprocess.Popen(
        [sys.executable, "-m", "kura.cli", "serve", str(privacy_root), "--port", "0", *flags],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "500"},  # one line each, however long the folder's path
    )
    try:
        said = ""
        while "runs from" not in said and process.poll() is None:  # the warnings come after this line
            said += process.stderr.readline()
        url = re.search(r"(http://\S+/)", said).group(1)
        if flags:
            warning = process.stderr.readline()
            assert "--allow-raw-text: the conversation text of --privacy strict runs is served too" in warning
        chat_id = chat_ids(privacy_root, "strict")[0]
        response = httpx.get(url + "api/runs/strict/conversation", params={"id": chat_id}, timeout=60)
        assert response.status_code == (200 if flags else 403)
    finally:
        process.terminate()
        process.wait(10)


# -- the report -------------------------------------------------------------------------------------------
def write_report(run: Path, out: Path, *flags: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "kura.cli", "report", str(run), "-o", str(out), *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out.read_text(encoding="utf-8"), done.stderr


def embedded(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="kura-data">(.*?)</script>', html, re.S).group(1))


@pytest.fixture(scope="module")
def strict_report(privacy_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("privacy-report") / "strict.html"
    _, said = write_report(privacy_root / "strict", out)
    return out, said


def test_a_strict_report_states_the_profile_and_leaves_raw_text_out(strict_report, privacy_root: Path, tmp_path):
    out, said = strict_report
    html = out.read_text(encoding="utf-8")
    data = embedded(html)
    assert data["overview"]["privacy"] == STRICT_REPORT and data["overview"]["raw_text"] is False
    assert data["messages"] == [None] * 100
    assert PLANTED not in html
    assert "Privacy-filtered (kura run --privacy strict): conversation text left out" in said
    html, said = write_report(privacy_root / "strict", tmp_path / "with-text.html", "--allow-raw-text")
    assert PLANTED in html and "conversation text included" in said
    html, said = write_report(privacy_root / "off", tmp_path / "off.html")
    assert PLANTED in html and embedded(html)["overview"]["privacy"] == {"profile": "off"}
    assert "Privacy filter off" in said


# -- the page ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page_url(guarded_server: LiveServer) -> str:
    return guarded_server.url


def open_run(page, url: str, run: str) -> None:
    page.goto(f"{url}#run={run}")
    wait_for_map(page)


def test_a_strict_run_shows_its_badge_counts_and_no_raw_text(page_url, page, privacy_root: Path):
    open_run(page, page_url, "strict")
    badge = page.locator("#run-info .privacy-badge")
    assert badge.inner_text().strip().startswith("Privacy-filtered · strict")
    assert page.locator(".privacy-note").count() == 0
    panel = page.locator(".privacy-panel")
    assert not panel.is_visible()
    badge.click()
    panel.wait_for(state="visible")
    text = panel.inner_text()
    assert "4 values: [NAME] 3 · [EMAIL] 1" in text  # scrubbed in summaries
    assert "10 conversations and 5 distinct users (by user_id)" in text
    assert "12 small clusters (57 conversations) into larger ones" in text
    assert "40 clusters rated by local, 1 cluster below 3 withheld" in text
    assert "2 clusters (20 conversations) not shown" in text
    assert "kura serve --allow-raw-text" in text
    assert "c-withheld" not in page.content()  # counts only, never a withheld cluster
    shoot(page, "privacy-strict-panel")
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    badge.click()
    panel.wait_for(state="visible")
    page.locator("#tree").click()  # a click elsewhere closes it too
    panel.wait_for(state="hidden")
    assert page.locator(".search-input").get_attribute("placeholder") == "Search summaries…"

    item = page.locator(".conversation-item").first
    summary = item.locator(".conversation-summary").inner_text()
    item.click()
    note = page.locator(".privacy-withheld")
    note.wait_for()
    assert "raw text not available: run made with --privacy strict" in note.inner_text().lower()
    assert page.locator(".conversation-title").inner_text() == summary
    assert page.locator(".bubble").count() == 0 and page.locator(".error-note").count() == 0
    # Its clusters, from the tree alone, are the path the run recorded.
    conv = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('conv')")
    table = pq.read_table(privacy_root / "strict" / "conversations.parquet").to_pydict()
    clusters = pq.read_table(privacy_root / "strict" / "clusters.parquet").to_pydict()
    name_of = dict(zip(clusters["id"], clusters["name"]))
    path = [name_of[c] for c in table["cluster_path"][table["chat_id"].index(conv)]]
    crumbs = page.locator(".conversation-top + .breadcrumb .crumb").evaluate_all("(els) => els.map((e) => e.title)")
    assert crumbs == path and path
    shoot(page, "privacy-strict-conversation")

    # Opened from a link (nothing cached): the same, from the summary row alone.
    page.goto("about:blank")
    page.goto(f"{page_url}#run=strict&conv={conv}")
    page.locator(".privacy-withheld").wait_for()
    assert page.locator(".conversation-title").inner_text() == summary


def test_an_off_run_shows_a_discreet_note_and_its_conversations(page_url, page):
    open_run(page, page_url, "off")
    note = page.locator("#run-info .privacy-note")
    assert note.inner_text() == "privacy filter off"
    assert "--privacy off (the default)" in note.get_attribute("title")
    assert page.locator(".privacy-badge").count() == 0
    assert page.locator(".search-input").get_attribute("placeholder") == "Search summaries and conversations…"
    shoot(page, "privacy-off")
    page.locator(".conversation-item").first.click()
    page.wait_for_selector(".bubble.user")
    assert page.locator(".privacy-withheld").count() == 0


def test_with_the_flag_a_strict_runs_conversations_are_shown(allowed_server, page, privacy_root: Path):
    planted = chat_ids(privacy_root, "strict")[0]
    open_run(page, allowed_server.url, f"strict&conv={planted}")
    page.wait_for_selector(".bubble.user")
    page.locator(".privacy-badge").click()
    assert "shown: the server was started with --allow-raw-text" in page.locator(".privacy-panel").inner_text()
    assert PLANTED in page.locator(".bubble.user .bubble-text").first.inner_text()
    assert page.locator(".privacy-withheld").count() == 0


def test_the_strict_report_shows_the_badge_and_the_note(strict_report, page):
    out, _ = strict_report
    page.goto(out.as_uri())
    wait_for_map(page)
    page.locator(".privacy-badge").click()
    assert "left out of this report" in page.locator(".privacy-panel").inner_text()
    page.keyboard.press("Escape")
    page.locator(".conversation-item").first.click()
    note = page.locator(".privacy-withheld")
    note.wait_for()
    assert "kura report --allow-raw-text" in note.inner_text()
    shoot(page, "privacy-report-conversation")
