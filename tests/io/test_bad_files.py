"""Pathological inputs: each must cost only its own records, or be one clear line; never a
traceback, a hang, or good records lost with their file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from io_data import shared
from kura_testdata import DEMO_DATA

from kura.errors import InputError
from kura.io import LoadReport, detect_format, iter_conversations, load_conversations
from kura.io.jsonstream import MAX_DEPTH, Broken, Element, iter_json_array

DEEP_LIST = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a": ' * 100_000 + "1" + "}" * 100_000
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"


def _oasst_lines(count: int) -> list[str]:
    return shared("oasst_en100.jsonl").read_text(encoding="utf-8").splitlines()[:count]


def _oasst_rows(count: int) -> list[dict]:
    return [json.loads(line) for line in _oasst_lines(count)]


def _load(path, **kwargs) -> tuple[list, LoadReport]:
    report = LoadReport()
    return load_conversations(path, report=report, **kwargs), report


def _cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    # timeout: a guard so that a regression (a hang) fails the test instead of stalling the run.
    return subprocess.run(
        [sys.executable, "-m", "kura.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


# -- records of every format, built from the same real conversations ---------------------------


def _as_openai(row: dict) -> dict:
    return row


def _as_kura(row: dict) -> dict:
    return {"chat_id": row["id"], "created_at": None, "messages": row["messages"], "metadata": {}}


def _as_sharegpt(row: dict) -> dict:
    names = {"user": "human", "assistant": "gpt"}
    return {
        "id": row["id"],
        "conversations": [{"from": names[m["role"]], "value": m["content"]} for m in row["messages"]],
    }


def _as_claude(row: dict) -> dict:
    names = {"user": "human", "assistant": "assistant"}
    return {
        "uuid": row["id"],
        "chat_messages": [{"sender": names[m["role"]], "text": m["content"]} for m in row["messages"]],
    }


def _as_hh_rlhf(row: dict) -> dict:
    names = {"user": "Human", "assistant": "Assistant"}
    transcript = "".join(f"\n\n{names[m['role']]}: {m['content']}" for m in row["messages"])
    return {"chosen": transcript, "rejected": transcript}


def _as_chatgpt(row: dict) -> dict:
    mapping: dict[str, dict] = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent = "root"
    for number, m in enumerate(row["messages"]):
        node = f"n{number}"
        message = {"author": {"role": m["role"]}, "content": {"content_type": "text", "parts": [m["content"]]}}
        mapping[node] = {"id": node, "message": message, "parent": parent, "children": []}
        mapping[parent]["children"].append(node)
        parent = node
    return {"conversation_id": row["id"], "title": "t", "mapping": mapping, "current_node": parent}


FORMATS = {
    "openai": _as_openai,
    "kura": _as_kura,
    "sharegpt": _as_sharegpt,
    "claude": _as_claude,
    "hh-rlhf": _as_hh_rlhf,
    "chatgpt": _as_chatgpt,
}


def _write(path: Path, texts: list[str], layout: str) -> Path:
    """Records (as JSON text) one per line, or as the elements of one JSON array."""
    path.write_text("".join(t + "\n" for t in texts) if layout == "lines" else "[" + ",\n".join(texts) + "]")
    return path


# -- 1. JSON nested too deeply ----------------------------------------------------------------


@pytest.mark.parametrize("layout", ["lines", "array"])
@pytest.mark.parametrize("format", list(FORMATS))
@pytest.mark.parametrize("at", [0, 3])
def test_deeply_nested_record_is_skipped_in_every_format(tmp_path, format, layout, at):
    records = [json.dumps(FORMATS[format](row)) for row in _oasst_rows(6)]
    records.insert(at, '{"id": "deep", "messages": ' + DEEP_LIST + "}")
    path = _write(tmp_path / ("data.jsonl" if layout == "lines" else "data.json"), records, layout)
    assert detect_format(path) == format
    conversations, report = _load(path)
    assert len(conversations) == 6
    where = f"data.jsonl line {at + 1}" if layout == "lines" else f"data.json [{at}]"
    assert report.files[0].issues == [f"{where}: {TOO_DEEP} (no conversation record is): skipped"]
    with pytest.raises(InputError) as info:
        load_conversations(path, strict=True)
    assert str(info.value) == f"{where}: {TOO_DEEP} (no conversation record is): skipped"


def test_nesting_that_json_can_parse_but_past_the_limit_is_skipped(tmp_path):
    # 500 levels decode without a RecursionError, but would break code that walks the value later.
    nested = "[" * 500 + "]" * 500
    lines = _oasst_lines(3)
    path = tmp_path / "data.jsonl"
    path.write_text(lines[0] + "\n" + '{"id": "x", "messages": [], "extra": ' + nested + "}\n" + lines[1] + "\n")
    conversations, report = _load(path)
    assert len(conversations) == 2 and report.files[0].skipped == 1
    assert report.files[0].issues[0].startswith(f"data.jsonl line 2: {TOO_DEEP}")
    path.write_text("[" + lines[0] + ", [" + nested + "], " + lines[1] + "]")
    conversations, report = _load(path)
    assert len(conversations) == 2 and report.files[0].issues[0].startswith(f"data.jsonl [1]: {TOO_DEEP}")


@pytest.mark.parametrize("text", [DEEP_OBJECT, DEEP_LIST])
def test_a_file_that_is_one_deep_value_is_one_clear_error(tmp_path, text):
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_conversations(path)
    message = str(info.value)
    assert message.startswith("deep.json") and TOO_DEEP in message and "\n" not in message
    done = _cli("run", path, "--out", tmp_path / "run")
    assert done.returncode == 1 and TOO_DEEP in done.stderr and "Traceback" not in done.stderr


def test_stream_reader_reports_a_deep_element_and_reads_on():
    import io

    text = '[{"a": 1}, ' + DEEP_LIST + ', {"b": 2}, ' + "[" * 300 + "]" * 300 + ', {"c": 3}]'
    items = list(iter_json_array(io.StringIO(text), chunk_chars=4096))
    assert [type(i) for i in items] == [Element, Broken, Element, Broken, Element]
    assert [i.value for i in items if isinstance(i, Element)] == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert all(TOO_DEEP in i.message and not i.fatal for i in items if isinstance(i, Broken))


# -- 1. special files and symlinks ------------------------------------------------------------


@contextmanager
def _fifo(path: Path) -> Iterator[Path]:
    """A FIFO with a writer waiting on it: a reader that wrongly opens it gets a record instead of
    hanging, and the test fails rather than stalls. The writer is released at the end."""
    os.mkfifo(path)
    writer = threading.Thread(target=lambda: path.write_text(_oasst_lines(1)[0] + "\n"), daemon=True)
    writer.start()
    try:
        yield path
    finally:
        if writer.is_alive():
            reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open() return
            writer.join()
            os.close(reader)


def test_a_fifo_is_refused_with_one_line(tmp_path):
    with _fifo(tmp_path / "pipe.jsonl") as path:
        with pytest.raises(InputError) as info:
            iter_conversations(path)
        assert str(info.value) == (
            f"{path}: is not a regular file (it is a FIFO, a named pipe): give a file or a folder of files"
        )
        with pytest.raises(InputError, match="pipe.jsonl: is not a regular file"):
            detect_format(path)


def test_a_fifo_in_a_folder_is_skipped_and_reported(tmp_path):
    (tmp_path / "good.jsonl").write_text("\n".join(_oasst_lines(4)) + "\n")
    with _fifo(tmp_path / "pipe.jsonl"):
        conversations, report = _load(tmp_path)
    assert len(conversations) == 4
    assert report.summary_lines() == [
        "good.jsonl: 4 conversations (openai)",
        "pipe.jsonl: not read: is not a regular file (it is a FIFO, a named pipe): give a file or a folder of files",
        "total: 4 conversations from 1 file, 1 file not read",
    ]


def test_a_link_back_to_the_folder_is_not_walked_again(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "good.jsonl").write_text("\n".join(_oasst_lines(4)) + "\n")
    (root / "again").symlink_to(".")
    (root / "same.jsonl").symlink_to("good.jsonl")  # one file reached twice: read once
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..")
    conversations, report = _load(root)
    assert len(conversations) == 4
    assert [f.name for f in report.files] == ["good.jsonl"]


def test_symlink_loops_and_dangling_links_say_so(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    with pytest.raises(InputError) as info:
        iter_conversations(loop)
    assert str(info.value) == f"{loop}: is a symlink loop (following its links leads back to itself)"
    dangling = tmp_path / "gone.jsonl"
    dangling.symlink_to("missing.jsonl")
    with pytest.raises(InputError, match=r"gone.jsonl: is a symlink to 'missing.jsonl', which does not exist"):
        iter_conversations(dangling)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "good.jsonl").write_text(_oasst_lines(1)[0] + "\n")
    (folder / "loop.jsonl").symlink_to("loop.jsonl")
    conversations, report = _load(folder)
    assert len(conversations) == 1
    assert report.files[1].summary() == (
        "loop.jsonl: not read: is a symlink loop (following its links leads back to itself)"
    )


def test_cli_refuses_a_fifo_and_a_symlink_loop_in_one_line(tmp_path):
    with _fifo(tmp_path / "pipe.jsonl") as path:
        done = _cli("run", path, "--out", tmp_path / "run", "--quiet")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {path}: is not a regular file (it is a FIFO, a named pipe): give a file or a folder of files"
    ]
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    done = _cli("run", loop, "--out", tmp_path / "run", "--quiet")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {loop}: is a symlink loop (following its links leads back to itself)"
    ]


def test_cli_reads_a_folder_with_links_to_itself_once(tmp_path):
    # Two links to "." made the walk exponential (a/b/a/a/b/...): it must end, reading each file once.
    root = tmp_path / "data"
    root.mkdir()
    (root / "chats.jsonl").write_bytes(DEMO_DATA.read_bytes())
    (root / "a").symlink_to(".")
    (root / "b").symlink_to(".")
    done = _cli("run", root, "--out", tmp_path / "run", "--embedder", "hashing", "--projector", "pca", timeout=600)
    assert done.returncode == 0, done.stderr
    assert "All conversations (100)" in done.stdout


# -- 2. a bad region at the start of a file costs only its own records ------------------------


def _spoil(line: str, raw: bytes) -> bytes:
    """The record with ``raw`` bytes put inside its first message's text."""
    at = line.index('"content": "') + len('"content": "')
    encoded = line.encode("utf-8")
    cut = len(line[:at].encode("utf-8"))
    return encoded[:cut] + raw + encoded[cut:]


@pytest.mark.parametrize("layout", ["lines", "array"])
@pytest.mark.parametrize("raw", [b"\xff", b"\x00"], ids=["invalid-utf8", "nul"])
def test_one_bad_byte_at_the_start_costs_one_record(tmp_path, layout, raw):
    lines = _oasst_lines(10)
    records = [line.encode() for line in lines]
    records[1] = _spoil(lines[1], raw)
    path = tmp_path / ("data.jsonl" if layout == "lines" else "data.json")
    path.write_bytes(b"".join(r + b"\n" for r in records) if layout == "lines" else b"[" + b",\n".join(records) + b"]")
    conversations, report = _load(path)
    assert len(conversations) == 9
    assert report.files[0].skipped == 1 and report.files[0].format == "openai"
    where = "data.jsonl line 2" if layout == "lines" else "data.json [1]"
    assert report.files[0].issues[0].startswith(f"{where}: ")


def test_two_broken_lines_at_the_start(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "a", "messages": [\n{broken\n' + "\n".join(_oasst_lines(10)) + "\n")
    conversations, report = _load(path)
    assert len(conversations) == 10
    assert [issue.split(":")[0] for issue in report.files[0].issues] == ["data.jsonl line 1", "data.jsonl line 2"]


def test_a_malformed_first_record(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "first", "mesages": []}\n' + "\n".join(_oasst_lines(10)) + "\n")
    assert detect_format(path) == "openai"
    conversations, report = _load(path)
    assert len(conversations) == 10
    assert report.files[0].issues == ["data.jsonl line 1: 'messages' is missing"]


def test_old_mac_line_ends_are_line_breaks(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes("\r".join(_oasst_lines(10)).encode() + b"\r")
    conversations, report = _load(path)
    assert len(conversations) == 10 and report.files[0].skipped == 0
    path.write_bytes(b"{broken\r" + "\r".join(_oasst_lines(10)).encode())
    conversations, report = _load(path)
    assert len(conversations) == 10 and report.files[0].issues[0].startswith("data.jsonl line 1: not valid JSON")


def test_a_file_with_no_good_record_is_still_one_clear_error(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes("\n".join(_oasst_lines(3)).encode("utf-16"))
    with pytest.raises(InputError, match=r"data.jsonl: is a binary file \(it contains NUL bytes\)"):
        load_conversations(path)
    path.write_bytes("\n".join(_oasst_lines(3)).replace("a", "\xe9").encode("latin-1"))
    with pytest.raises(InputError, match=r"data.jsonl: is not UTF-8 text \(undecodable byte at offset \d+\)"):
        load_conversations(path)


# -- 3. ChatGPT conversation trees with cycles --------------------------------------------------


def _parent_loop(conversation: dict) -> str:
    """The root's parent is the last node: the path up from ``current_node`` comes back to it."""
    conversation["mapping"]["root"]["parent"] = conversation["current_node"]
    return conversation["current_node"]


def _children_loop(conversation: dict) -> str:
    """No ``current_node`` (an old export): the last node's child is the first message again."""
    conversation["current_node"] = None
    mapping = conversation["mapping"]
    mapping[f"n{len(mapping) - 2}"]["children"] = ["n0"]
    return "n0"


def _no_root(conversation: dict) -> str:
    """No ``current_node`` and every node has a parent: the loop is found going up from the first."""
    _parent_loop(conversation)
    conversation["current_node"] = None
    return "root"


@pytest.mark.parametrize("spoil", [_parent_loop, _children_loop, _no_root])
def test_a_cycle_in_a_chatgpt_tree_costs_that_conversation(tmp_path, spoil):
    conversations = [_as_chatgpt(row) for row in _oasst_rows(3)]
    node = spoil(conversations[1])
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(conversations))
    loaded, report = _load(path)
    assert [c.chat_id for c in loaded] == [conversations[0]["conversation_id"], conversations[2]["conversation_id"]]
    assert report.files[0].issues == [f"conversations.json [1]: 'mapping' has a cycle at node {node!r}"]


def test_nothing_usable_is_one_error_naming_the_first_bad_record(tmp_path):
    conversation = _as_chatgpt(_oasst_rows(1)[0])
    _parent_loop(conversation)
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([conversation]))
    with pytest.raises(InputError) as info:
        load_conversations(path)
    assert str(info.value).startswith(
        "no conversation could be read: the 1 record was skipped; the first: "
        "conversations.json [0]: 'mapping' has a cycle at node '"
    )
    done = _cli("run", path, "--out", tmp_path / "run", "--embedder", "hashing")
    assert done.returncode == 1 and "has a cycle at node" in done.stderr and "input is empty" not in done.stderr
