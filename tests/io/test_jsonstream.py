"""The incremental JSON-array reader: same values as json.load at any chunk size, and a clear
account of broken or cut-off input."""

from __future__ import annotations

import io
import json

import pytest

from kura.io.jsonstream import Broken, Element, iter_json_array

VALUES = [
    {"text": 'brackets ]} and quotes \\" inside', "nested": [1, {"deep": "\\\\"}], "empty": {}},
    "ünïcödé with [brackets] and {braces}",
    12345,
    -1.5e3,
    True,
    None,
    [],
    {"last": "🙂"},
]


def read(text: str, chunk: int) -> list:
    return list(iter_json_array(io.StringIO(text), chunk_chars=chunk))


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_every_value_at_every_chunk_size(chunk):
    text = json.dumps(VALUES, indent=1, ensure_ascii=False)
    out = read(text, chunk)
    assert all(isinstance(e, Element) for e in out)
    assert [e.value for e in out] == VALUES
    assert [e.index for e in out] == list(range(len(VALUES)))


def test_offsets_are_byte_offsets_in_the_file():
    text = '[ {"t": "é"} ,\n {"t": "x"} ]'
    out = read(text, 3)
    assert out[0].offset == 2
    assert out[1].offset == text.encode().index(b'{"t": "x"}')


def test_an_invalid_element_is_reported_and_the_next_ones_are_read():
    out = read('[{"a": 1}, {"a": tru}, {"a": 3}]', 4)
    assert [type(e) for e in out] == [Element, Broken, Element]
    assert out[1].index == 1 and not out[1].fatal
    assert out[1].message.startswith("not valid JSON: Expecting value")
    assert out[2].value == {"a": 3} and out[2].index == 2


def test_a_missing_bracket_costs_one_element_only():
    out = read('[{"a": [1, 2}, {"b": 2}, {"c": 3]]', 4)
    assert [type(e) for e in out] == [Broken, Element, Broken]
    assert out[1].value == {"b": 2}
    assert not out[0].fatal and not out[2].fatal


def test_a_cut_off_file_yields_every_complete_element_then_says_where_it_was_cut():
    full = json.dumps([{"id": i, "text": "word " * 40} for i in range(10)])
    cut = full[: len(full) * 2 // 3]
    out = read(cut, 16)
    complete = [e for e in out if isinstance(e, Element)]
    assert [e.value["id"] for e in complete] == list(range(6))
    last = out[-1]
    assert isinstance(last, Broken) and last.fatal and last.index == 6
    assert last.offset == cut.index('{"id": 6')
    assert f"starts at byte {last.offset}" in last.message and "cut off" in last.message
    assert "the 6 elements before it were read" in last.message


@pytest.mark.parametrize("cut", ['[{"a": 1}, ', '[{"a": 1}', '[{"a": 1} ,  \n'])
def test_a_file_cut_between_elements(cut):
    out = read(cut, 5)
    assert out[0].value == {"a": 1}
    assert isinstance(out[1], Broken) and out[1].fatal
    assert "before the array is closed (after 1 complete element)" in out[1].message


def test_empty_array_and_trailing_comma():
    assert read("  [ ]  ", 2) == []
    assert [e.value for e in read("[1, 2,]", 2)] == [1, 2]


def test_not_an_array_missing_comma_and_trailing_data():
    (broken,) = read('{"a": 1}', 8)
    assert broken.fatal and "expected a JSON array" in broken.message
    out = read('[{"a": 1} {"a": 2}]', 8)
    assert out[0].value == {"a": 1} and out[1].fatal and "expected ',' or ']' after element 0" in out[1].message
    out = read("[1, 2] [3]", 8)
    assert [e.value for e in out[:2]] == [1, 2] and "after the closing ']'" in out[2].message


def test_one_element_larger_than_many_chunks():
    big = {"text": "x" * 100_000, "more": ["y" * 1000] * 50}
    out = read(json.dumps([big, {"after": True}]), 1024)
    assert out[0].value == big and out[1].value == {"after": True}
