"""The typed-array payloads (kura/server/packed.py): binary bodies for the API, base64 for the report."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from kura.server.packed import TYPES, from_binary, to_binary, to_json


def payload() -> dict:
    rng = np.random.default_rng(0)
    return {
        "size": 5,
        "schema": [{"key": "u8", "values": ["a", "b"]}],  # names like a type are still plain data
        "x": rng.random(5).astype("<f4"),
        "fields": {
            "u8": {"codes": np.array([0, 1, 2, 1, 0], dtype="<u1")},
            "lists": {"lengths": np.array([1, 0, 3], dtype="<u2"), "codes": np.arange(4, dtype="<u4")},
            "when": {"numbers": np.array([1.5e12, np.nan, 7.0], dtype="<f8")},
            "empty": {"codes": np.zeros(0, dtype="<u1")},
        },
    }


def leaves(value, path=()):
    if isinstance(value, np.ndarray):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, (*path, i))


def test_binary_body_round_trips_with_every_array_aligned():
    original = payload()
    body = to_binary(original)
    width = int.from_bytes(body[4:8], "little")
    assert body[:4] == b"KURA" and (8 + width) % 8 == 0
    back = from_binary(body)
    assert back["schema"] == original["schema"] and back["size"] == 5
    for (path, a), (path_b, b) in zip(leaves(original), leaves(back)):
        assert path == path_b and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    header = json.loads(body[8 : 8 + width])
    offsets = [spec[0] for spec in (next(iter(v.values())) for v in _placed(header))]
    assert offsets and all(o % 8 == 0 for o in offsets)  # so the page can view f64 arrays in place


def _placed(doc):
    if isinstance(doc, dict):
        if len(doc) == 1 and next(iter(doc)) in TYPES and isinstance(next(iter(doc.values())), list):
            yield doc
        else:
            for v in doc.values():
                yield from _placed(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _placed(v)


def test_json_form_holds_the_same_arrays_in_base64():
    original = payload()
    doc = json.loads(to_json(original))
    ((kind, text),) = doc["fields"]["when"]["numbers"].items()
    np.testing.assert_array_equal(
        np.frombuffer(base64.b64decode(text), dtype=TYPES[kind]), original["fields"]["when"]["numbers"]
    )
    assert doc["schema"] == original["schema"]


def test_refuses_what_it_cannot_send():
    with pytest.raises(TypeError, match="no wire type for int64"):
        to_binary({"a": np.arange(3)})
    with pytest.raises(ValueError, match="not a Kura arrays body"):
        from_binary(b"{}")
