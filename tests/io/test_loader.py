"""Loading as a whole: bad input, strictness, folders, repeated ids, the report, laziness."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from kura.errors import InputError
from kura.io import LoadReport, base, iter_conversations, load_conversations


def _record(chat_id, text="hi", **extra):
    return {
        "id": chat_id,
        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}],
        **extra,
    }


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_strict_raises_at_the_first_bad_record(tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [_record("a"), _record("b"), {"id": "c"}, _record("d")])
    seen = []
    with pytest.raises(InputError) as info:
        for conversation in iter_conversations(path, strict=True):
            seen.append(conversation.chat_id)
    assert seen == ["a", "b"]
    assert str(info.value) == "bad.jsonl line 3: 'messages' is missing"
    assert info.value.location == "bad.jsonl line 3" and info.value.path == str(path)
    assert [c.chat_id for c in load_conversations(path)] == ["a", "b", "d"]


def test_cut_off_json_array_keeps_every_complete_record(tmp_path):
    text = json.dumps([_record(f"c{i}", "word " * 30) for i in range(20)])
    cut_at = text.index('{"id": "c13"') + 25
    path = tmp_path / "export.json"
    path.write_text(text[:cut_at])
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    assert [c.chat_id for c in conversations] == [f"c{i}" for i in range(13)]
    start = text.index('{"id": "c13"')
    assert report.files[0].issues == [
        f"export.json [13]: the file ends in the middle of this element (it starts at byte {start}): "
        "it looks cut off; the 13 elements before it were read"
    ]
    with pytest.raises(InputError, match=r"export.json \[13\]: the file ends in the middle"):
        load_conversations(path, strict=True)


def test_invalid_element_inside_an_array_is_skipped(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(
        '[{"id": "a", "messages": [{"role": "user", "content": "x"}]}, {"id": "b", "messages": [}, '
        '{"id": "c", "messages": [{"role": "user", "content": "y"}]}]'
    )
    report = LoadReport()
    assert [c.chat_id for c in load_conversations(path, report=report)] == ["a", "c"]
    assert report.files[0].issues[0].startswith("export.json [1]: not valid JSON: Expecting value")


def test_undecodable_bytes_cost_only_their_record(tmp_path):
    head = json.dumps([_record(f"c{i}", "filler " * 50) for i in range(400)])[:-1]  # beyond the 64 KiB sniff
    path = tmp_path / "export.json"
    path.write_bytes(
        head.encode()
        + b', {"id": "bad", "messages": [{"role": "user", "content": "caf\xe9"}]}, '
        + json.dumps(_record("after")).encode()
        + b"]"
    )
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    assert len(conversations) == 401 and conversations[-1].chat_id == "after"
    assert report.files[0].issues == ["export.json [400]: not UTF-8 text"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "data.jsonl: the file is empty"),
        (b"  \n\n ", "data.jsonl: the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "data.jsonl: is a binary file (it contains NUL bytes)"),
        ('{"id": "é"}'.encode("latin-1"), "data.jsonl: is not UTF-8 text (undecodable byte at offset 8)"),
        (b"hello there", "data.jsonl: is not JSON (it starts with 'hello there')"),
        (gzip.compress(b""), "data.jsonl: the file is empty"),
        (b"\x1f\x8b\x08\x00garbage", "data.jsonl: not a readable gzip file"),
    ],
)
def test_unreadable_files_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "data.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_conversations(path)
    assert str(info.value).startswith(message)
    assert "Traceback" not in str(info.value) and "\n" not in str(info.value)


def test_missing_paths_fail_at_the_call(tmp_path):
    with pytest.raises(InputError, match="nope.jsonl: no such file or folder"):
        iter_conversations(str(tmp_path / "nope.jsonl"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not data")
    with pytest.raises(InputError, match="empty: the folder has no supported files"):
        load_conversations(tmp_path / "empty")
    assert load_conversations([]) == []  # nothing asked, nothing read (the caller decides if that is an error)


def test_unreadable_file(tmp_path, monkeypatch):
    # Simulated: these tests may run as root, which reads anything whatever its mode.
    path = _jsonl(tmp_path / "secret.jsonl", [_record("a")])

    def denied(_path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(base, "open_binary", denied)
    with pytest.raises(InputError) as info:
        load_conversations(path)
    assert str(info.value) == "secret.jsonl: cannot be read: Permission denied"


def test_folders_are_read_recursively_in_sorted_order(tmp_path):
    root = tmp_path / "exports"
    (root / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    _jsonl(root / "b" / "two.jsonl", [_record("b2")])
    _jsonl(root / "a.jsonl", [_record("a1")])
    (root / "c.json.gz").write_bytes(gzip.compress(json.dumps([_record("c1")]).encode()))
    _jsonl(root / ".hidden" / "x.jsonl", [_record("hidden")])
    (root / "README.md").write_text("# notes")
    (root / "domains.json").write_text(json.dumps({"banking": ["transfer"]}))  # not conversations
    (root / "empty.jsonl").write_text("")
    report = LoadReport()
    conversations = load_conversations(root, report=report)
    assert [c.chat_id for c in conversations] == ["a1", "b2", "c1"]
    assert [c.metadata["source_file"] for c in conversations] == ["a.jsonl", "b/two.jsonl", "c.json.gz"]
    assert report.summary_lines() == [
        "a.jsonl: 1 conversation (openai)",
        "b/two.jsonl: 1 conversation (openai)",
        "c.json.gz: 1 conversation (openai)",
        "domains.json: not read: cannot tell the format: the first record has the keys 'banking'. Pass the format: one of "
        "claude, chatgpt, sharegpt, openai, kura, hh-rlhf, langfuse, langsmith, otel, openai-log, anthropic-log, "
        "csv, parquet, hf (command line: --format NAME)",
        "empty.jsonl: not read: the file is empty",
        "total: 3 conversations from 3 files, 2 files not read",
    ]
    # Strict: the stray file is an error too; named directly, it always is.
    with pytest.raises(InputError, match="domains.json: cannot tell the format"):
        load_conversations(root, strict=True)
    with pytest.raises(InputError, match="empty.jsonl: the file is empty"):
        load_conversations([root / "a.jsonl", root / "empty.jsonl"])


def test_a_folder_where_nothing_can_be_read(tmp_path):
    (tmp_path / "x.json").write_text("[]")
    (tmp_path / "y.jsonl").write_text("")
    with pytest.raises(InputError, match=r"none of the 2 files could be read; the first: x.json: holds no records"):
        load_conversations(tmp_path)


def test_repeated_ids_across_files(tmp_path):
    first = _jsonl(tmp_path / "week1.jsonl", [_record("a", "hello"), _record("b", "bye")])
    second = _jsonl(
        tmp_path / "week2.jsonl", [_record("a", "hello"), _record("b", "something else"), _record("b", "third")]
    )
    report = LoadReport()
    conversations = load_conversations([first, second], report=report)
    assert [(c.chat_id, c.messages[0].content) for c in conversations] == [
        ("a", "hello"),
        ("b", "bye"),
        ("b#2", "something else"),
        ("b#3", "third"),
    ]
    assert conversations[2].metadata["original_chat_id"] == "b" and "original_chat_id" not in conversations[1].metadata
    week2 = report.files[1]
    assert (week2.loaded, week2.duplicates, week2.renamed, week2.skipped) == (2, 1, 2, 0)
    assert (
        week2.issues[0]
        == "week2.jsonl line 2: chat_id 'b' was already used by a different conversation: renamed to 'b#2'"
    )
    assert (
        report.summary_lines()[1]
        == "week2.jsonl: 2 conversations (openai), 1 duplicate dropped, 2 repeated ids renamed"
    )
    assert report.total_duplicates == 1 and report.total_loaded == 4


def test_report_keeps_twenty_issues_and_counts_all(tmp_path):
    path = _jsonl(tmp_path / "many.jsonl", [_record("ok")] + [{"id": str(i)} for i in range(30)])
    report = LoadReport()
    load_conversations(path, report=report)
    entry = report.files[0]
    assert (entry.loaded, entry.skipped, entry.issue_count, len(entry.issues)) == (1, 30, 30, 20)
    assert report.summary_lines() == [
        "many.jsonl: 1 conversation (openai), 30 skipped",
        "  many.jsonl line 2: 'messages' is missing",
        "  many.jsonl line 3: 'messages' is missing",
        "  many.jsonl line 4: 'messages' is missing",
        "  ... and 27 more",
    ]
    (row,) = report.as_dicts()
    assert row["loaded"] == 1 and row["skipped"] == 30 and row["format"] == "openai" and len(row["issues"]) == 20
    report.add_objects(5)
    assert report.total_loaded == 6 and report.summary_lines()[-1] == "total: 6 conversations from 1 file, 30 skipped"


def test_conversations_without_usable_messages_are_skipped_with_a_reason(tmp_path):
    path = _jsonl(
        tmp_path / "chats.jsonl",
        [
            {"id": "blank", "messages": [{"role": "user", "content": "   "}]},
            {"id": "none", "messages": []},
            _record("fine"),
        ],
    )
    report = LoadReport()
    assert [c.chat_id for c in load_conversations(path, report=report)] == ["fine"]
    assert report.files[0].issues == [
        "chats.jsonl line 1: no messages with text",
        "chats.jsonl line 2: no messages with text",
    ]


# -- laziness ---------------------------------------------------------------------------------


def _spy_on_opened_files(monkeypatch):
    opened = []
    real = base.open_binary

    def spy(path):
        f = real(path)
        opened.append(f)
        return f

    monkeypatch.setattr(base, "open_binary", spy)
    return opened


@pytest.mark.parametrize("layout", ["jsonl", "json"])
def test_the_first_conversation_comes_before_the_file_is_read(tmp_path, monkeypatch, layout):
    records = [_record(f"c{i}", "padding " * 40) for i in range(40_000)]  # about 15 MB
    path = tmp_path / f"big.{layout}"
    if layout == "jsonl":
        _jsonl(path, records)
    else:
        path.write_text(json.dumps(records))
    size = path.stat().st_size
    opened = _spy_on_opened_files(monkeypatch)
    conversations = iter_conversations(path)
    first = next(conversations)
    assert first.chat_id == "c0"
    reading = [f for f in opened if not f.closed]  # detection's peeks are closed again
    assert len(reading) == 1 and reading[0].tell() < size / 5, (reading[0].tell(), size)
    conversations.close()


def test_a_damaged_tail_does_not_stop_the_records_before_it(tmp_path):
    # The compressed stream is cut in half: a reader that read ahead would fail at the first record.
    data = "".join(json.dumps(_record(f"c{i}", f"question {i} " * 20)) + "\n" for i in range(20_000)).encode()
    compressed = gzip.compress(data)
    path = tmp_path / "chats.jsonl.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    assert next(iter_conversations(path, strict=True)).chat_id == "c0"
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    assert 5_000 < len(conversations) < 20_000
    assert [c.chat_id for c in conversations[:3]] == ["c0", "c1", "c2"]
    assert report.files[0].issues[-1].endswith("the compressed file is cut off or damaged here: the rest is not read")


def test_memory_stays_flat_on_a_large_array(tmp_path):
    # 60 MB JSON array in a fresh interpreter: peak memory must stay far below the file's size.
    path = tmp_path / "big.json"
    record = json.dumps(_record("x", "lorem ipsum " * 500))
    with open(path, "w") as f:
        f.write("[")
        f.write(",".join(record.replace('"x"', f'"c{i}"', 1) for i in range(10_000)))
        f.write("]")
    size_mb = path.stat().st_size / 1e6
    code = (
        "import resource, sys\n"
        "from kura.io import iter_conversations\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "n = sum(1 for _ in iter_conversations(sys.argv[1]))\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(n, (after - before) / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    count, grown_mb = int(out[0]), float(out[1])
    assert count == 10_000
    assert grown_mb < size_mb / 3, (grown_mb, size_mb)
