"""Read a JSON array one element at a time, so a 1 GB export never has to fit in memory.

``json.JSONDecoder.raw_decode`` parses one value starting at an offset of a string and says where
it ended. The reader keeps a window of the file in a buffer, decodes the next element from it, and
refills the window when an element runs past its end. Only when ``raw_decode`` fails does it scan
the text itself, to tell an element that is merely incomplete (read more) from one that is broken
(report it, and carry on after it when its end can still be found).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

CHUNK_CHARS = 1 << 20
# Deeper nesting than any chat record has (serde_json's default limit). Python's json decoder
# recurses: 100,000 levels raise RecursionError, and a few hundred would break code that walks the
# value later (metadata conversion, serialisation), so deeper values are refused at the boundary.
MAX_DEPTH = 128
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep (no conversation record is): skipped"

_decoder = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_STRUCTURAL = re.compile(r'[\[\]{}"]')
_SCALAR_END = re.compile(r"[\s,\]]")
# Bytes that were not UTF-8, as decoding with errors="surrogateescape" leaves them.
UNDECODED = re.compile("[\udc80-\udcff]")


def has_undecoded(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (faster than a search: most text is ASCII)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # only the surrogates that stand for undecodable bytes fail
        return True
    return False


class TooDeep(ValueError):
    """A JSON value nested more than MAX_DEPTH levels deep."""


def loads(text: str) -> Any:
    """``json.loads`` bounded in depth: TooDeep for a value nested more than MAX_DEPTH levels."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(TOO_DEEP) from None
    if _brackets(text, 0, len(text)) > MAX_DEPTH and nested_too_deep(value):
        raise TooDeep(TOO_DEEP)
    return value


def _brackets(text: str, start: int, end: int) -> int:
    """Opening brackets in ``text[start:end]``: an upper bound of the depth, counted at C speed."""
    return text.count("[", start, end) + text.count("{", start, end)


def nested_too_deep(value: Any) -> bool:
    """Whether ``value`` nests more than MAX_DEPTH containers deep (walked level by level, no recursion)."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return True
        children: list[Any] = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            children.extend(item for item in items if isinstance(item, (dict, list)))
        level = children
    return False


@dataclass(frozen=True)
class Element:
    """One element of the array: its position (0-based), where it starts (byte offset), its value."""

    index: int
    offset: int
    value: Any


@dataclass(frozen=True)
class Broken:
    """An element that could not be decoded. ``fatal``: nothing after it can be read."""

    index: int
    offset: int
    message: str
    fatal: bool


def iter_json_array(stream: IO[str], *, chunk_chars: int = CHUNK_CHARS) -> Iterator[Element | Broken]:
    """Yield each element of the JSON array in ``stream`` (a text stream), decoding as it reads.

    Open the stream with ``errors="surrogateescape"``: an element holding bytes that are not UTF-8
    is then reported on its own instead of stopping the read.
    """
    return _ArrayReader(stream, chunk_chars).elements()


class _ArrayReader:
    def __init__(self, stream: IO[str], chunk_chars: int):
        self.stream = stream
        self.chunk_chars = chunk_chars
        self.buf = ""
        self.pos = 0
        self.eof = False
        # Byte offsets: buf[0] is at byte buf_bytes of the file, and buf[mark] at mark_bytes more.
        # Counting forward from the last mark encodes each character once, not once per element.
        self.buf_bytes = 0
        self.mark = 0
        self.mark_bytes = 0

    def offset(self, pos: int) -> int:
        """The byte offset in the file of ``buf[pos]``."""
        if pos < self.mark:
            self.mark = self.mark_bytes = 0
        self.mark_bytes += len(self.buf[self.mark : pos].encode("utf-8", "surrogateescape"))
        self.mark = pos
        return self.buf_bytes + self.mark_bytes

    def fill(self, at_least: int = 0) -> bool:
        """Drop the consumed text and append more; False at the end of the file."""
        if self.eof:
            return False
        if self.pos:
            self.buf_bytes = self.offset(self.pos)
            self.mark = self.mark_bytes = 0
            self.buf = self.buf[self.pos :]
            self.pos = 0
        # Read at least as much again as is pending, so one huge element costs O(n), not O(n^2).
        chunk = self.stream.read(max(self.chunk_chars, at_least))
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def skip_whitespace(self) -> bool:
        """Move to the next non-blank character; False if the file ends first."""
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return True
            if not self.fill():
                return False

    def elements(self) -> Iterator[Element | Broken]:
        if not self.skip_whitespace():
            yield Broken(0, self.offset(self.pos), "the file is empty", fatal=True)
            return
        if self.buf[self.pos] != "[":
            yield Broken(
                0, self.offset(self.pos), f"expected a JSON array ('['), found {self.buf[self.pos]!r}", fatal=True
            )
            return
        self.pos += 1
        index = 0
        while True:
            if not self.skip_whitespace():
                yield Broken(index, self.offset(self.pos), self._cut_off(index), fatal=True)
                return
            if self.buf[self.pos] == "]":  # empty array, or a trailing comma (tolerated)
                yield from self._after_end(index)
                return
            item = self._decode(index)
            yield item
            if isinstance(item, Broken) and item.fatal:
                return
            index += 1
            if not self.skip_whitespace():
                yield Broken(index, self.offset(self.pos), self._cut_off(index), fatal=True)
                return
            separator = self.buf[self.pos]
            if separator == "]":
                yield from self._after_end(index)
                return
            if separator != ",":
                yield Broken(
                    index,
                    self.offset(self.pos),
                    f"expected ',' or ']' after element {index - 1}, found {separator!r}: the rest of the file cannot be read",
                    fatal=True,
                )
                return
            self.pos += 1

    def _cut_off(self, index: int) -> str:
        elements = "element" if index == 1 else "elements"
        return f"the file ends before the array is closed (after {index} complete {elements}): it looks cut off"

    def _after_end(self, index: int) -> Iterator[Broken]:
        self.pos += 1
        if self.skip_whitespace():
            yield Broken(index, self.offset(self.pos), "unexpected data after the closing ']' (ignored)", fatal=True)

    def _decode(self, index: int) -> Element | Broken:
        while True:
            if self.buf[self.pos] not in '[{"' and not _SCALAR_END.search(self.buf, self.pos) and self.fill():
                continue  # a number or literal at the edge of the buffer may go on ("12" of "123.5")
            try:
                value, end = _decoder.raw_decode(self.buf, self.pos)
            except RecursionError:
                end_of_value = _value_end(self.buf, self.pos)
                if end_of_value is None and self.fill(at_least=len(self.buf) - self.pos):
                    continue
                return self._too_deep(index, end_of_value)
            except json.JSONDecodeError as exc:
                end_of_value = _value_end(self.buf, self.pos)
                if end_of_value is None:
                    # Incomplete in the buffer: read more, unless the file has ended.
                    if self.fill(at_least=len(self.buf) - self.pos):
                        continue
                    start_bytes = self.offset(self.pos)
                    return Broken(
                        index,
                        start_bytes,
                        f"the file ends in the middle of this element (it starts at byte {start_bytes}): "
                        f"it looks cut off; the {index} elements before it were read",
                        fatal=True,
                    )
                # Complete but not valid JSON: report it and continue after it.
                start_bytes = self.offset(self.pos)
                where = self.offset(exc.pos) - start_bytes
                self.pos = end_of_value
                return Broken(
                    index, start_bytes, f"not valid JSON: {exc.msg} ({where} bytes into the element)", fatal=False
                )
            if _brackets(self.buf, self.pos, end) > MAX_DEPTH and nested_too_deep(value):
                return self._too_deep(index, end)
            start_bytes = self.offset(self.pos)
            undecoded = UNDECODED.search(self.buf, self.pos, end)
            self.pos = end
            if undecoded:
                return Broken(index, start_bytes, "not UTF-8 text", fatal=False)
            return Element(index, start_bytes, value)

    def _too_deep(self, index: int, end: int | None) -> Broken:
        """A too deeply nested element: skipped when its end is known, else the file stops here."""
        start_bytes = self.offset(self.pos)
        if end is None:
            return Broken(
                index, start_bytes, f"{TOO_DEEP}; it is not closed, so the rest of the file is not read", fatal=True
            )
        self.pos = end
        return Broken(index, start_bytes, TOO_DEEP, fatal=False)


def _value_end(text: str, pos: int) -> int | None:
    """Where the JSON value starting at ``pos`` ends, judged by brackets and strings only.

    None means the value is not finished in ``text``. The value may still be invalid inside;
    this only finds its boundary so that one bad element does not cost the rest of the file.
    """
    first = text[pos]
    if first == '"':
        return _string_end(text, pos + 1)
    if first not in "[{":
        match = _SCALAR_END.search(text, pos)
        return match.start() if match else None
    open_brackets: list[str] = []
    i = pos
    while True:
        match = _STRUCTURAL.search(text, i)
        if match is None:
            return None
        char = match.group()
        i = match.end()
        if char == '"':
            string_end = _string_end(text, i)
            if string_end is None:
                return None
            i = string_end
        elif char in "[{":
            open_brackets.append(char)
        else:
            opener = "[" if char == "]" else "{"
            # A closer for an outer bracket also closes the inner ones left open (a missing ']'
            # or '}' is the usual damage); a closer of a kind that is not open closes them all.
            if opener in open_brackets:
                while open_brackets.pop() != opener:
                    pass
            else:
                open_brackets.clear()
            if not open_brackets:
                return i


def _string_end(text: str, start: int) -> int | None:
    """Just past the quote that closes the string whose text begins at ``start``; None if unclosed.

    ``str.find`` runs at memory speed, where a regular expression would crawl through a long string.
    """
    i = start
    while True:
        quote = text.find('"', i)
        if quote < 0:
            return None
        backslashes = 0
        while quote - 1 - backslashes >= start and text[quote - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:  # \\" is a backslash then the end; \" is an escaped quote
            return quote + 1
        i = quote + 1
