"""Runs started from the browser's API: upload, limits, safe names, progress, the new run."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import httpx
import pytest
from webtools import DEMO_DATA, LiveServer, clinc_rows

from kura.server.packed import from_binary

HEADERS = {"X-Kura-Request": "1"}
FAST = {"embedder": "hashing", "projector": "pca"}


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")


@pytest.fixture
def empty_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


def test_several_files_are_merged_into_one_new_run(empty_root: Path, tmp_path: Path):
    clinc = tmp_path / "clinc.jsonl"
    clinc.write_text("".join(json.dumps(r) + "\n" for r in clinc_rows(every=150)))
    with LiveServer(empty_root) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        files = [
            ("files", ("oasst.jsonl", DEMO_DATA.read_bytes(), "application/jsonl")),
            ("files", ("clinc.jsonl", clinc.read_bytes(), "application/jsonl")),
        ]
        response = c.post(
            "api/jobs",
            files=files,
            data={"name": "merged", "clusters_per_group": "12", "top_clusters": "4", **FAST},
            headers=HEADERS,
        )
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["run"] == "merged" and job["files"] == ["oasst.jsonl", "clinc.jsonl"]
        assert [r["status"] for r in c.get("api/runs").json()["runs"]] == ["running"]
        done = wait_for_job(c, job["id"])
        assert done["status"] == "done", done["error"]
        assert [s["label"] for s in done["stages"]][:2] == ["Summarising", "Embedding"]
        assert all(s["seconds"] is not None for s in done["stages"])
        assert done["stages"][1]["done"] == done["stages"][1]["total"] == 250
        runs = c.get("api/runs").json()["runs"]
        assert runs == [{**runs[0], "name": "merged", "status": "ready", "conversations": 250}]
        overview = c.get("api/runs/merged").json()
        assert overview["size"] == 250
        assert overview["settings"]["clusters_per_group"] == 12 and overview["settings"]["top_clusters"] == 4
        assert sum(1 for p in overview["clusters"]["parent"] if p == -1) == 4
        schema = from_binary(c.get("api/runs/merged/columns").content)["schema"]
        sources = {f["key"]: f for f in schema}["source_file"]["values"]
        assert sorted(sources) == ["clinc.jsonl", "oasst.jsonl"]
    inputs = empty_root / "merged" / "inputs"
    assert sorted(str(p.relative_to(inputs)) for p in inputs.rglob("*.jsonl")) == ["01/oasst.jsonl", "02/clinc.jsonl"]


def test_a_file_kura_cannot_read_fails_the_job_with_the_reason(empty_root: Path):
    with LiveServer(empty_root) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        files = [("files", ("notes.txt", b"just some text, not conversations\n", "text/plain"))]
        job = c.post("api/jobs", files=files, data=FAST, headers=HEADERS).json()
        done = wait_for_job(c, job["id"])
        assert done["status"] == "failed"
        assert "notes.txt" in done["error"] and "Traceback" not in done["error"]
        assert c.get("api/runs").json()["runs"] == []  # nothing half-made is left behind
    assert list(empty_root.iterdir()) == []


def test_an_upload_over_the_limit_is_refused_with_a_clear_message(empty_root: Path):
    with LiveServer(empty_root, max_upload_mb=1) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        big = b'{"messages": [{"role": "user", "content": "' + b"x" * (2 * 1024 * 1024) + b'"}]}\n'
        response = c.post("api/jobs", files=[("files", ("big.jsonl", big, "application/jsonl"))], headers=HEADERS)
        assert response.status_code == 413
        detail = response.json()["detail"]
        assert "over this server's 1 MB limit" in detail and "--max-upload-mb" in detail
        # A client that hides the size (chunked body) is cut off while streaming.
        chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
        body = b"".join(
            [
                b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.jsonl"\r\n\r\n',
                *chunks,
                b"\r\n--b--\r\n",
            ]
        )
        response = c.post(
            "api/jobs", content=iter([body]), headers={**HEADERS, "Content-Type": "multipart/form-data; boundary=b"}
        )
        assert response.status_code == 413
        assert c.get("api/runs").json()["runs"] == []
    assert list(empty_root.iterdir()) == []


def test_file_and_run_names_from_the_client_cannot_leave_the_new_run(empty_root: Path, tmp_path: Path):
    with LiveServer(empty_root) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        files = [("files", ("../../../escaped.jsonl", DEMO_DATA.read_bytes(), "application/jsonl"))]
        response = c.post("api/jobs", files=files, data={"name": "../../outside", **FAST}, headers=HEADERS)
        assert response.status_code == 202
        job = response.json()
        assert job["run"] == "outside"
        assert wait_for_job(c, job["id"])["status"] == "done"
    inputs = empty_root / "outside" / "inputs"
    assert [str(p.relative_to(inputs)) for p in inputs.rglob("*") if p.is_file()] == ["01/escaped.jsonl"]
    assert not (tmp_path / "escaped.jsonl").exists() and not (tmp_path / "outside").exists()
    assert sorted(p.name for p in empty_root.iterdir()) == ["outside"]


def test_bad_settings_and_missing_files_are_refused_before_anything_runs(empty_root: Path):
    with LiveServer(empty_root) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        data = DEMO_DATA.read_bytes()
        no_files = c.post("api/jobs", data={"name": "x"}, headers=HEADERS)
        assert no_files.status_code == 422 and "no files" in no_files.json()["detail"]
        for field, value, words in [
            ("clusters_per_group", "0", "between 1 and 10000"),
            ("clusters_per_group", "ten", "whole number"),
            ("model", "gpt-99", "unknown"),
            ("projector", "tsne", "unknown"),
        ]:
            response = c.post(
                "api/jobs",
                files=[("files", ("a.jsonl", data, "application/jsonl"))],
                data={field: value},
                headers=HEADERS,
            )
            assert response.status_code == 422 and words in response.json()["detail"], response.text
        assert c.get("api/runs").json()["runs"] == []


def test_other_web_pages_cannot_start_runs(empty_root: Path):
    with LiveServer(empty_root) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        files = [("files", ("a.jsonl", DEMO_DATA.read_bytes(), "application/jsonl"))]
        response = c.post("api/jobs", files=files)  # a cross-site form cannot add the header
        assert response.status_code == 403 and "x-kura-request" in response.json()["detail"]
        cors = c.options(
            "api/jobs", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in cors.headers


def test_uploads_can_be_turned_off(empty_root: Path):
    with LiveServer(empty_root, uploads=False) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        assert c.get("api/options").json()["uploads"] is False
        files = [("files", ("a.jsonl", DEMO_DATA.read_bytes(), "application/jsonl"))]
        assert c.post("api/jobs", files=files, headers=HEADERS).status_code == 403


def test_the_model_menu_lists_what_kura_run_accepts():
    from kura.server.jobs import models, options

    menu = options()
    assert [m["id"] for m in menu["models"]] == list(models()) and list(models())[0] == "extractive"
    local = importlib.util.find_spec("llama_cpp") is not None
    assert ("local" in models()) == local
    if local:
        assert models()["local"].settings() == {"llm": "local"}


def test_a_key_set_after_start_up_shows_in_the_model_menu_and_leaves_with_it(empty_root: Path, monkeypatch):
    # The server runs in this process (a thread), so its environment is this one.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with LiveServer(empty_root) as live, httpx.Client(base_url=live.url, timeout=60) as c:

        def offered() -> list[str]:
            return [m["id"] for m in c.get("api/options").json()["models"]]

        assert not any("/" in m for m in offered())
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        assert "openai/gpt-4o-mini" in offered()
        assert "sk-test" not in c.get("api/options").text
        monkeypatch.delenv("OPENAI_API_KEY")
        assert "openai/gpt-4o-mini" not in offered()


def test_run_settings_defaults_and_their_kura_run_arguments():
    from kura.server.jobs import RunSettings, options

    menu = options()
    assert menu["defaults"] == {
        "model": "extractive",
        "clusters_per_group": 10,
        "top_clusters": None,
        "embedder": "minilm",
        "projector": "umap",
        "privacy": "off",
    }
    kwargs = RunSettings(clusters_per_group=7, top_clusters=3).check().run_kwargs()
    assert kwargs == {
        "clusters_per_group": 7,
        "top_clusters": 3,
        "embedder": "minilm",
        "projector": "umap",
        "privacy": "off",
    }
    assert RunSettings(privacy="strict").check().run_kwargs()["privacy"] == "strict"
