"""The JSON API against a real uvicorn server on 127.0.0.1, over real runs."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from kura.server.packed import MEDIA_TYPE, from_binary


@pytest.fixture(scope="module")
def client(server) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def arrays(client: httpx.Client, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == MEDIA_TYPE
    return from_binary(response.content)


def test_lists_every_run_of_the_folder(client):
    runs = {r["name"]: r for r in client.get("api/runs").json()["runs"]}
    assert set(runs) == {"oasst", "clinc"}
    assert runs["oasst"]["status"] == "ready"
    assert runs["oasst"]["conversations"] == 100
    assert runs["oasst"]["mode"].startswith("extractive")


def test_overview_holds_the_tree(client, runs_root: Path):
    body = client.get("api/runs/oasst").json()
    table = pq.read_table(runs_root / "oasst" / "clusters.parquet").to_pydict()
    clusters = body["clusters"]
    assert clusters["id"] == table["id"]
    assert clusters["count"] == table["count"]
    roots = [i for i, p in enumerate(clusters["parent"]) if p == -1]
    # Every conversation sits under exactly one root.
    assert sum(clusters["count"][i] for i in roots) == body["size"] == 100
    for i, p in enumerate(clusters["parent"]):
        if p >= 0:
            assert clusters["id"][p] == table["parent_id"][i]


def test_points_are_typed_arrays_matching_the_parquet_table(client, runs_root: Path):
    body = arrays(client, "api/runs/oasst/points")
    table = pq.read_table(runs_root / "oasst" / "conversations.parquet").to_pydict()
    assert body["size"] == 100 and body["x"].dtype == "<f4"
    np.testing.assert_allclose(body["x"], table["x"], rtol=1e-6)
    np.testing.assert_allclose(body["y"], table["y"], rtol=1e-6)
    ids = client.get("api/runs/oasst").json()["clusters"]["id"]
    assert [ids[i] for i in body["cluster"]] == table["cluster_id"]


def test_columns_hold_the_field_schema_and_compact_arrays(client, runs_root: Path):
    response = client.get("api/runs/oasst/columns")
    body = from_binary(response.content)
    fields = {f["key"]: f for f in body["schema"]}
    assert fields["languages"]["kind"] == "multi"
    assert fields["concerning_score"]["present"] == 0 and fields["concerning_score"]["needs_llm"]
    assert fields["conversation_turns"]["kind"] == "number"
    assert fields["source_format"]["values"] == ["openai"]
    table = pq.read_table(runs_root / "oasst" / "conversations.parquet").to_pydict()
    turns = body["fields"]["conversation_turns"]["numbers"]
    assert turns.tolist() == [json.loads(m)["conversation_turns"] for m in table["metadata"]]
    # Lists: a length per conversation, then the flat codes; no languages is an empty slice.
    lang = body["fields"]["languages"]
    offsets = np.concatenate([[0], np.cumsum(lang["lengths"], dtype=np.int64)])
    for i, expected in enumerate(table["languages"]):
        got = [fields["languages"]["values"][c - 1] for c in lang["codes"][offsets[i] : offsets[i + 1]]]
        assert sorted(got) == sorted(expected or [])
    assert "concerning_score" not in body["fields"]  # set nowhere: not sent
    assert len(response.content) / 100 < 48  # a few bytes per conversation, not an object each


def test_summaries_are_paged(client):
    first = client.get("api/runs/clinc/summaries", params={"offset": 0, "limit": 50}).json()
    second = client.get("api/runs/clinc/summaries", params={"offset": 50, "limit": 50}).json()
    assert first["total"] == second["total"] == 750
    assert len(first["rows"]) == len(second["rows"]) == 50
    assert [r["row"] for r in first["rows"] + second["rows"]] == list(range(100))
    assert first["rows"][0]["metadata"]["label"]
    assert client.get("api/runs/clinc/summaries", params={"limit": 201}).status_code == 422
    picked = client.get("api/runs/clinc/summaries", params={"rows": "7,3,700"}).json()
    assert [r["row"] for r in picked["rows"]] == [7, 3, 700]
    assert client.get("api/runs/clinc/summaries", params={"rows": "750"}).status_code == 422
    assert client.get("api/runs/clinc/summaries", params={"rows": ",".join(["1"] * 201)}).status_code == 422


def test_summaries_of_a_cluster_and_a_search(client, runs_root: Path):
    table = pq.read_table(runs_root / "clinc" / "conversations.parquet").to_pydict()
    root = table["top_cluster_id"][0]
    expected = [i for i, t in enumerate(table["top_cluster_id"]) if t == root]
    body = client.get("api/runs/clinc/summaries", params={"cluster": root, "limit": 200}).json()
    assert body["total"] == len(expected)
    assert [r["row"] for r in body["rows"]] == expected[:200]
    hits = client.get("api/runs/clinc/summaries", params={"q": "credit card", "limit": 200}).json()
    assert hits["total"] > 0
    assert all("credit" in r["summary"].lower() and "card" in r["summary"].lower() for r in hits["rows"])
    assert client.get("api/runs/clinc/summaries", params={"cluster": "nope"}).status_code == 404


def test_search_returns_a_bit_set_of_matching_rows(client, runs_root: Path):
    table = pq.read_table(runs_root / "clinc" / "conversations.parquet").to_pydict()
    body = client.get("api/runs/clinc/search", params={"q": 'MY "bank account"'}).json()
    assert body["terms"] == ["my", "bank account"]
    bits = np.unpackbits(np.frombuffer(base64.b64decode(body["mask"]), dtype=np.uint8), bitorder="little")[:750]
    # The request is the message itself here, so the summary text decides (case-insensitively).
    expected = [int("my" in s.lower() and "bank account" in s.lower()) for s in table["request"]]
    assert bits.tolist() == expected
    assert body["count"] == sum(expected) > 0


def test_search_reads_the_conversation_text_too(client):
    # Assistant replies are not part of the summary: only the message text can match this.
    conversation = client.get("api/runs/oasst/summaries", params={"rows": "0"}).json()["rows"][0]
    full = client.get("api/runs/oasst/conversation", params={"id": conversation["chat_id"]}).json()
    reply = next(m["content"] for m in full["messages"] if m["role"] == "assistant")
    phrase = " ".join(reply.split()[3:7])
    body = client.get("api/runs/oasst/search", params={"q": f'"{phrase}"'}).json()
    assert body["count"] >= 1
    bits = np.unpackbits(np.frombuffer(base64.b64decode(body["mask"]), dtype=np.uint8), bitorder="little")
    assert bits[0] == 1


def test_a_conversation_comes_with_its_summary_and_cluster_path(client, runs_root: Path):
    table = pq.read_table(runs_root / "oasst" / "conversations.parquet").to_pydict()
    chat_id = table["chat_id"][5]
    body = client.get("api/runs/oasst/conversation", params={"id": chat_id}).json()
    assert body["chat_id"] == chat_id
    assert body["row"] == 5
    assert body["messages"][0]["role"] == "user" and body["messages"][0]["content"]
    assert body["summary"]["summary"] == table["summary"][5]
    assert body["cluster_path"] == table["cluster_path"][5]


@pytest.mark.parametrize(
    "path",
    [
        "api/runs/nope",
        "api/runs/..",
        "api/runs/%2e%2e",
        "api/runs/..%2F..%2Fetc/columns",
        "api/runs/%2Fetc%2Fpasswd/columns",
        "api/runs/oasst%2F..%2Fclinc",
        "api/runs/oasst/conversation?id=..%2F..%2F..%2Fetc%2Fpasswd",
        "api/runs/oasst/conversation?id=%2Fetc%2Fpasswd",
        "static/..%2Fserver%2Fapp.py",
        "static/%2E%2E%2F%2E%2E%2Fpyproject.toml",
        "static/index.html",
        "static/../../pyproject.toml",
        "api/jobs/..%2F..",
    ],
)
def test_no_parameter_reaches_a_file_it_should_not(client, path: str):
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert "root:" not in response.text and "[project]" not in response.text


def test_only_local_host_names_with_the_port_are_answered(client, server):
    # A DNS-rebinding page would send its own host name (or another port of this machine): refused.
    for host in ["evil.example", f"evil.example:{server.port}", f"127.0.0.1:{server.port + 1}", "localhost"]:
        refused = client.get("api/runs", headers={"Host": host})
        assert refused.status_code == 400 and "this server answers to" in refused.json()["detail"]
    for host in [f"127.0.0.1:{server.port}", f"localhost:{server.port}", f"[::1]:{server.port}"]:
        assert client.get("api/runs", headers={"Host": host}).status_code == 200


def test_every_response_carries_a_strict_content_security_policy(client):
    response = client.get("")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assert '<script src="static/app.js?v=' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from a CDN


def test_static_assets_are_served_with_their_types(client):
    js = client.get("static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("static/app.css").headers["content-type"].startswith("text/css")


def test_the_openapi_schema_lists_the_routes(client):
    paths = client.get("api/openapi.json").json()["paths"]
    assert {"/api/runs", "/api/runs/{run}/columns", "/api/runs/{run}/summaries", "/api/jobs"} <= set(paths)


def test_a_rerun_is_picked_up_without_restarting(tmp_path: Path):
    from webtools import DEMO_DATA, LiveServer, make_run

    run = make_run(DEMO_DATA, tmp_path / "demo", clusters_per_group=20)
    with LiveServer(tmp_path) as live, httpx.Client(base_url=live.url, timeout=30) as c:
        before = len(c.get("api/runs/demo").json()["clusters"]["id"])
        make_run(DEMO_DATA, run, clusters_per_group=5)
        after = len(c.get("api/runs/demo").json()["clusters"]["id"])
    assert after > before


def test_a_single_run_directory_is_served_on_its_own(runs_root: Path):
    from webtools import LiveServer

    with LiveServer(runs_root / "clinc") as live, httpx.Client(base_url=live.url, timeout=30) as c:
        assert [r["name"] for r in c.get("api/runs").json()["runs"]] == ["clinc"]
        assert c.get("api/runs/oasst").status_code == 404  # its sibling is not reachable
        assert c.get("api/runs/clinc").json()["size"] == 750


def test_an_unfinished_run_is_listed_but_not_opened(tmp_path: Path):
    from webtools import LiveServer

    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "run.json").write_text("{}")
    with LiveServer(tmp_path) as live, httpx.Client(base_url=live.url, timeout=30) as c:
        assert c.get("api/runs").json()["runs"] == [
            {
                "name": "half",
                "status": "incomplete",
                "mode": None,
                "conversations": None,
                "clusters": None,
                "updated_at": None,
            }
        ]
        response = c.get("api/runs/half")
        assert response.status_code == 409
        assert "not finished" in response.json()["detail"] and "kura run" in response.json()["detail"]
