"""JSON documents with typed arrays in them (map positions, cluster codes, field columns), sent
as one binary body by the API or as base64 text inside the static report.

A payload is plain JSON data whose leaves may be NumPy arrays. Each array becomes an object
naming its type, ``{"u8" | "u16" | "u32" | "f32" | "f64": ...}``:

- in the report (:func:`to_json`), the value is the array's little-endian bytes in base64;
- from the API (:func:`to_binary`), the value is ``[offset, length]``: the body is ``KURA``, the
  header's length in bytes (uint32, little-endian), the header (the JSON document, padded with
  spaces to a multiple of 8 bytes), then the arrays, each at a multiple of 8 bytes; an offset
  counts from the end of the header. The page views the arrays in place (``new Float32Array(body, offset, length)``): no base64 to decode,
  no text to parse but the small header, a third fewer bytes.

web/util.js reads both (``unpackArrays``, ``decodeArrays``); :func:`from_binary` reads the
binary form in Python (tests, scripts).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from kura.server.fields import b64

#: The API's media type for a binary body.
MEDIA_TYPE = "application/vnd.kura.arrays"
MAGIC = b"KURA"
TYPES = {"u8": "<u1", "u16": "<u2", "u32": "<u4", "f32": "<f4", "f64": "<f8"}
_NAMES = {np.dtype(dtype): name for name, dtype in TYPES.items()}


def _name(array: np.ndarray) -> str:
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    try:
        return _NAMES[dtype]
    except KeyError:
        raise TypeError(f"no wire type for {array.dtype}: use one of {', '.join(TYPES)}") from None


def _walk(value: Any, leaf: Any) -> Any:
    if isinstance(value, np.ndarray):
        return leaf(value)
    if isinstance(value, dict):
        return {k: _walk(v, leaf) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(v, leaf) for v in value]
    return value


def to_json(payload: Any) -> bytes:
    """The payload as JSON text, arrays in base64."""
    document = _walk(payload, lambda a: {_name(a): b64(a.astype(TYPES[_name(a)], copy=False))})
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def to_binary(payload: Any) -> bytes:
    """The payload as one body: header, then every array in place."""
    parts: list[bytes] = []
    position = 0

    def place(array: np.ndarray) -> dict[str, list[int]]:
        nonlocal position
        name = _name(array)
        data = np.ascontiguousarray(array, dtype=TYPES[name]).tobytes()
        parts.extend([data, b"\0" * (-len(data) % 8)])
        placed = {name: [position, len(array)]}
        position += len(data) + (-len(data) % 8)
        return placed

    header = json.dumps(_walk(payload, place), ensure_ascii=False, separators=(",", ":")).encode()
    header = header.ljust(-(-len(header) // 8) * 8)
    return b"".join([MAGIC, struct.pack("<I", len(header)), header, *parts])


def _walk_leaves(document: Any, leaf: Any) -> Any:
    """``document`` with each array ``{name: [offset, length]}`` replaced by ``leaf(name, offset, length)``."""
    if isinstance(document, dict):
        if len(document) == 1:
            ((name, value),) = document.items()
            if name in TYPES and isinstance(value, list):
                return leaf(name, *value)
        return {k: _walk_leaves(v, leaf) for k, v in document.items()}
    if isinstance(document, list):
        return [_walk_leaves(v, leaf) for v in document]
    return document


def from_binary(body: bytes) -> Any:
    """The payload of a binary body, arrays as read-only NumPy views of it."""
    if body[:4] != MAGIC:
        raise ValueError("not a Kura arrays body (it does not start with KURA)")
    (width,) = struct.unpack("<I", body[4:8])
    document = json.loads(body[8 : 8 + width])
    start = 8 + width
    return _walk_leaves(
        document,
        lambda name, offset, length: np.frombuffer(body, dtype=TYPES[name], count=length, offset=start + offset),
    )
