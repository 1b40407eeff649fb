"""Hugging Face datasets, offline: folders written by save_to_disk, and Kura 0.5's from_hf_dataset."""

from __future__ import annotations

import builtins
import json
from datetime import datetime, timezone

import datasets  # noqa: E402  (optional for users; in the dev extra, so the tests always have it)
import pytest
from io_data import shared

from kura.errors import ConfigError, InputError
from kura.io import detect_format, load_conversations
from kura.io.hf import load_hf_dataset
from kura.types import Conversation, Message


@pytest.fixture(scope="module")
def oasst_rows():
    return [json.loads(line) for line in shared("oasst_en100.jsonl").read_text().splitlines()[:12]]


@pytest.fixture
def saved(tmp_path, oasst_rows):
    rows = [
        {"chat_id": r["id"], "created_at": "2024-05-01T12:00:00Z", "messages": r["messages"], "topic": f"t{i}"}
        for i, r in enumerate(oasst_rows)
    ]
    path = tmp_path / "oasst-dataset"
    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


def test_from_hf_dataset_on_a_saved_folder(saved, oasst_rows):
    conversations = Conversation.from_hf_dataset(str(saved), split="train", metadata_fn=lambda x: {"topic": x["topic"]})
    assert [c.chat_id for c in conversations] == [r["id"] for r in oasst_rows]
    assert conversations[0].created_at == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert [(m.role, m.content) for m in conversations[1].messages] == [
        (m["role"], m["content"]) for m in oasst_rows[1]["messages"]
    ]
    assert conversations[3].metadata == {"topic": "t3"}  # Kura 0.5: only what metadata_fn returns
    assert len(load_hf_dataset(str(saved), max_conversations=3)) == 3


def test_dataset_dict_split_and_message_objects(tmp_path, oasst_rows):
    rows = [{"id": r["id"], "turns": [m["content"] for m in r["messages"]]} for r in oasst_rows]
    path = tmp_path / "dd"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows[:8]), "test": datasets.Dataset.from_list(rows[8:])}
    ).save_to_disk(str(path))

    def messages_fn(row):
        return [
            Message(role="user" if i % 2 == 0 else "assistant", content=text) for i, text in enumerate(row["turns"])
        ]

    test = load_hf_dataset(
        str(path), split="test", chat_id_fn=lambda x: x["id"], created_at_fn=lambda x: None, messages_fn=messages_fn
    )
    assert [c.chat_id for c in test] == [r["id"] for r in rows[8:]]
    assert test[0].messages[0] == Message(role="user", content=rows[8]["turns"][0])
    with pytest.raises(InputError, match="has no split 'validation'; its splits are: train, test"):
        load_hf_dataset(str(path), split="validation")
    with pytest.raises(
        InputError,
        match=r"dd \[0\]: a \*_fn could not read the row \(KeyError: 'chat_id'\); the row's columns are: 'id', 'turns'",
    ):
        load_hf_dataset(str(path))


def test_iter_conversations_reads_a_saved_folder(saved, tmp_path, oasst_rows):
    assert detect_format(saved) == "hf"
    conversations = load_conversations(saved)  # rows with chat_id + messages: Kura records
    assert [c.chat_id for c in conversations] == [r["id"] for r in oasst_rows]
    assert conversations[0].metadata == {"topic": "t0"}  # extra columns of Kura-shaped rows are metadata
    # A DatasetDict found inside a folder: every split, ids derived per split when rows have none.
    path = tmp_path / "tree" / "queries"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([{"text": "book a flight", "label": "travel"}]),
            "test": datasets.Dataset.from_list([{"text": "play jazz", "label": "music"}]),
        }
    ).save_to_disk(str(path))
    found = load_conversations(tmp_path / "tree")
    assert [(c.chat_id, c.messages[0].content, c.metadata["label"], c.metadata["source_file"]) for c in found] == [
        ("queries:train:0", "book a flight", "travel", "queries/train"),
        ("queries:test:0", "play jazz", "music", "queries/test"),
    ]


def test_hub_names_stream_and_take(monkeypatch):
    calls = []

    class FakeStream:
        def __init__(self, rows):
            self.rows = rows

        def take(self, n):
            calls.append(("take", n))
            return FakeStream(self.rows[:n])

        def __iter__(self):
            return iter(self.rows)

    def fake_load_dataset(name, split, streaming):
        calls.append((name, split, streaming))
        return FakeStream(
            [
                {"chat_id": str(i), "created_at": None, "messages": [{"role": "user", "content": f"q{i}"}]}
                for i in range(5)
            ]
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    conversations = load_hf_dataset("someone/chats", split="validation", max_conversations=2)
    assert [c.chat_id for c in conversations] == ["0", "1"]
    assert calls == [("someone/chats", "validation", True), ("take", 2)]
    with pytest.raises(InputError, match="is not a folder written by save_to_disk"):
        load_hf_dataset("./no-such-folder")


def test_missing_datasets_package_says_how_to_install(monkeypatch, saved):
    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(
        ConfigError,
        match=r"the package 'datasets' is needed for reading Hugging Face datasets .*pip install 'kura\[hf\]'",
    ):
        load_hf_dataset(str(saved))
