"""Text search over summaries and conversation text: every term must appear (case-insensitive).

The same rules are implemented in web/run.js for the static report; tests run the same queries
through both. The text of every conversation, lowercased, is one UTF-8 buffer (rows apart by a
NUL byte), so a term is found with ``bytes.find`` (C speed) instead of a Python loop over a
million strings; it is built with Arrow's string functions, a byte a character for most text
(a Python string of it would take four bytes a character as soon as one emoji is in it).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TERM = re.compile(r'"([^"]+)"|(\S+)')

#: Between two conversations' texts, so no term matches across the boundary.
_SEPARATOR = "\x00"


def parse_query(query: str) -> list[str]:
    """Words, or "quoted phrases", lowercased; empty when there is nothing to search for."""
    terms = [(phrase or word).strip().lower() for phrase, word in _TERM.findall(query or "")]
    return [t for t in terms if t]


class TextIndex:
    """The searchable text of each conversation, in run row order."""

    def __init__(self, texts: pa.Array | pa.ChunkedArray):
        texts = pc.replace_substring(texts.cast(pa.large_string()), _SEPARATOR, " ")
        # Each row's text and a separator after it, so no term matches across two rows.
        empty, separator = pa.scalar("", pa.large_string()), pa.scalar(_SEPARATOR, pa.large_string())
        joined = pc.binary_join_element_wise(pc.utf8_lower(texts).fill_null(""), empty, separator)
        joined = joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
        offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[joined.offset : joined.offset + len(joined) + 1]
        data = joined.buffers()[2]
        self._blob = data[offsets[0] : offsets[-1]].to_pybytes() if data is not None else b""
        self._starts = offsets[:-1] - offsets[0]
        self.size = len(joined)

    @property
    def nbytes(self) -> int:
        return len(self._blob)

    def rows_with(self, term: str) -> np.ndarray:
        """Rows whose text contains ``term``, ascending."""
        found: list[int] = []
        blob, starts, needle = self._blob, self._starts, term.encode()
        position = blob.find(needle)
        while position >= 0:
            row = int(np.searchsorted(starts, position, side="right")) - 1
            found.append(row)
            if row + 1 >= len(starts):
                break
            position = blob.find(needle, int(starts[row + 1]))  # one hit per row is enough
        return np.asarray(found, dtype=np.int64)

    def search(self, query: str) -> np.ndarray:
        """A boolean mask over rows: True where every term of ``query`` appears."""
        mask = np.ones(self.size, dtype=bool)
        for term in parse_query(query):
            hits = np.zeros(self.size, dtype=bool)
            hits[self.rows_with(term)] = True
            mask &= hits
        return mask
