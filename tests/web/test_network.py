"""The explorer served beyond this machine: an access token on every API call, no New run unless
asked for, no local paths in any answer; and uploads that cannot leave half-made runs behind.

127.0.0.2 is a loopback address, but not one of the three spellings the server trusts without a
token, so these tests exercise the network rules without leaving this machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from webtools import DEMO_DATA, REPO, LiveServer, shoot, wait_for_map

from kura.errors import ConfigError
from kura.server import create_app

TOKEN = "test-token-3f9a"
SHARED = "127.0.0.2"
POST = {"X-Kura-Request": "1"}
FAST = {"embedder": "hashing", "projector": "pca"}
API_PATHS = ["api/runs", "api/runs/oasst", "api/runs/oasst/columns", "api/options", "api/jobs", "api/openapi.json"]


@pytest.fixture(scope="module")
def shared(runs_root: Path):
    with LiveServer(runs_root, host=SHARED, token=TOKEN) as live:
        yield live


@pytest.fixture
def empty_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


def test_every_api_call_needs_the_token(shared):
    with httpx.Client(base_url=shared.url, timeout=30) as c:
        for path in API_PATHS:
            for headers in ({}, {"X-Kura-Token": "wrong"}, {"X-Kura-Token": TOKEN[:-1]}):
                refused = c.get(path, headers=headers)
                assert refused.status_code == 401, path
                assert "access token" in refused.json()["detail"] and "\n" not in refused.text
            assert c.get(path, headers={"X-Kura-Token": TOKEN}).status_code == 200, path
        # The page and its scripts hold no data: they load, then ask the API with the token.
        assert c.get("").status_code == 200 and c.get("static/app.js").status_code == 200
        # Beyond loopback the token is the defence: any Host name is answered.
        assert c.get("api/runs", headers={"X-Kura-Token": TOKEN, "Host": "kura.example:8000"}).status_code == 200


def test_a_token_is_required_to_serve_beyond_loopback_and_optional_on_it(runs_root: Path):
    with pytest.raises(ConfigError, match="needs an access token"):
        create_app(runs_root, host="0.0.0.0")
    with LiveServer(runs_root, token=TOKEN) as live, httpx.Client(base_url=live.url, timeout=30) as c:
        assert c.get("api/runs").status_code == 401
        assert c.get("api/runs", headers={"X-Kura-Token": TOKEN}).status_code == 200
        assert c.get("api/options", headers={"X-Kura-Token": TOKEN}).json()["uploads"] is True


def test_new_runs_are_off_beyond_loopback_unless_allowed(shared, empty_root: Path):
    auth = {"X-Kura-Token": TOKEN}
    with httpx.Client(base_url=shared.url, timeout=30, headers=auth) as c:
        assert c.get("api/options").json()["uploads"] is False
        files = [("files", ("a.jsonl", DEMO_DATA.read_bytes(), "application/jsonl"))]
        refused = c.post("api/jobs", files=files, data=FAST, headers=POST)
        assert refused.status_code == 403 and "--allow-uploads" in refused.json()["detail"]
    with (
        LiveServer(empty_root, host=SHARED, token=TOKEN, uploads=True) as live,
        httpx.Client(base_url=live.url, timeout=30, headers=auth) as c,
    ):
        assert c.get("api/options").json()["uploads"] is True


def test_no_answer_names_a_local_folder(runs_root: Path, empty_root: Path):
    auth = {"X-Kura-Token": TOKEN}
    with (
        LiveServer(runs_root, host=SHARED, token=TOKEN, uploads=True) as live,
        httpx.Client(base_url=live.url, timeout=30, headers=auth) as c,
    ):
        options = c.get("api/options").json()
        assert options["new_runs_in"] == "in the served folder"
        for path in API_PATHS:
            assert str(runs_root) not in c.get(path).text, path
    (empty_root / "half").mkdir()
    (empty_root / "half" / "run.json").write_text("{}")
    with LiveServer(empty_root) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        unfinished = c.get("api/runs/half")
        assert unfinished.status_code == 409 and str(empty_root) not in unfinished.text
        files = [("files", ("notes.txt", b"just some text, not conversations\n", "text/plain"))]
        job = c.post("api/jobs", files=files, data=FAST, headers=POST).json()
        done = wait_for_job(c, job["id"])
        assert done["status"] == "failed" and "notes.txt" in done["error"]
        assert str(empty_root) not in json.dumps(done) and str(empty_root) not in c.get("api/jobs").text


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def test_no_request_without_the_token_starts_a_language_model_run(empty_root: Path, tmp_path: Path, monkeypatch):
    from kura.llm.fake_server import FakeOpenAIServer

    fake = FakeOpenAIServer().start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    small = tmp_path / "five.jsonl"
    small.write_text("".join(DEMO_DATA.read_text(encoding="utf-8").splitlines(keepends=True)[:5]))
    files = [("files", ("five.jsonl", small.read_bytes(), "application/jsonl"))]
    settings = {"model": "openai/gpt-4o-mini", "name": "spend", **FAST}
    try:
        with LiveServer(empty_root, host=SHARED, token=TOKEN, uploads=True) as live:
            with httpx.Client(base_url=live.url, timeout=60) as c:
                for headers in (POST, {**POST, "X-Kura-Token": "guess"}):
                    assert c.post("api/jobs", files=files, data=settings, headers=headers).status_code == 401
                assert c.get("api/jobs", headers={"X-Kura-Token": TOKEN}).json()["jobs"] == []
                assert fake.requests == 0 and list(empty_root.iterdir()) == []
                # The same request with the token does start the run, and it does reach the provider.
                started = c.post("api/jobs", files=files, data=settings, headers={**POST, "X-Kura-Token": TOKEN})
                assert started.status_code == 202, started.text
                c.headers["X-Kura-Token"] = TOKEN
                assert wait_for_job(c, started.json()["id"])["status"] == "done"
                assert fake.requests > 0
        calls = fake.requests
        with LiveServer(empty_root, host=SHARED, token=TOKEN) as live, httpx.Client(base_url=live.url) as c:
            refused = c.post("api/jobs", files=files, data=settings, headers={**POST, "X-Kura-Token": TOKEN})
            assert refused.status_code == 403
        assert fake.requests == calls
    finally:
        fake.stop()


@pytest.mark.parametrize(
    "files,words",
    [
        ([("files", ("empty.jsonl", b"", "application/jsonl"))], "empty.jsonl: is empty (0 bytes)"),
        (
            [
                ("files", ("good.jsonl", DEMO_DATA.read_bytes(), "application/jsonl")),
                ("files", ("empty.jsonl", b"", "application/jsonl")),
            ],
            "empty.jsonl: is empty (0 bytes)",
        ),
        ([("files", ("", b"", "application/octet-stream"))], "no files: choose one or more"),
    ],
)
def test_an_empty_upload_is_refused_and_leaves_no_folder(empty_root: Path, files: list, words: str):
    with LiveServer(empty_root) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        refused = c.post("api/jobs", files=files, data={"name": "nothing", **FAST}, headers=POST)
        assert refused.status_code == 422 and words in refused.json()["detail"], refused.text
        assert c.get("api/runs").json()["runs"] == []
    assert list(empty_root.iterdir()) == []


def test_kura_serve_on_a_shared_address_prints_a_link_with_a_new_token(runs_root: Path):
    process = subprocess.Popen(
        [sys.executable, "-m", "kura.cli", "serve", str(runs_root), "--host", SHARED, "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        link = None
        deadline = time.monotonic() + 60
        while link is None and time.monotonic() < deadline and process.poll() is None:
            link = re.search(r"(http://\S+/)\?token=([\w-]+)", process.stderr.readline())
        assert link, "kura serve printed no link with a token"
        url, token = link.groups()
        assert url.startswith(f"http://{SHARED}:") and len(token) >= 32
        assert httpx.get(url + "api/runs", timeout=30).status_code == 401
        options = httpx.get(url + "api/options", headers={"X-Kura-Token": token}, timeout=30).json()
        assert options["uploads"] is False
    finally:
        process.terminate()
        process.wait(10)


def test_the_page_opens_from_the_printed_link_and_keeps_the_token_out_of_the_address_bar(page, shared):
    page.goto(f"{shared.url}?token={TOKEN}")
    page.wait_for_selector(".run-card")
    assert "token" not in page.evaluate("location.href")
    assert page.get_by_role("button", name="New run").count() == 0  # New run is off here
    page.get_by_role("button", name=re.compile("^clinc")).click()
    wait_for_map(page)
    assert page.locator(".tree-row.root").count() >= 2
    shoot(page, "19-shared-with-token")
    page.reload()  # the token stays with the tab
    wait_for_map(page)
    assert "token" not in page.evaluate("location.href")


def test_the_page_without_the_token_says_what_to_open(browser, shared):
    context = browser.new_context()
    page = context.new_page()
    page.goto(shared.url)
    page.wait_for_selector("text=access token")
    assert "kura serve" in page.locator("body").inner_text()
    context.close()
