"""Text search over summaries and conversation text: every term must appear (case-insensitive).

The same rules are implemented in web/run.js for the static report; tests run the same queries
through both. One lowercased string holds every conversation, so a term is found with ``str.find``
(C speed) instead of a Python loop over 100,000 strings.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

import numpy as np

_TERM = re.compile(r'"([^"]+)"|(\S+)')

#: Between two conversations' texts, so no term matches across the boundary.
_SEPARATOR = "\x00"


def parse_query(query: str) -> list[str]:
    """Words, or "quoted phrases", lowercased; empty when there is nothing to search for."""
    terms = [(phrase or word).strip().lower() for phrase, word in _TERM.findall(query or "")]
    return [t for t in terms if t]


class TextIndex:
    """The searchable text of each conversation, in run row order."""

    def __init__(self, texts: Iterable[str]):
        parts: list[str] = []
        starts: list[int] = []
        position = 0
        for text in texts:
            text = text.replace(_SEPARATOR, " ").lower()
            starts.append(position)
            parts.append(text)
            position += len(text) + 1
        self._blob = _SEPARATOR.join(parts)
        self._starts = starts
        self.size = len(starts)

    @property
    def nbytes(self) -> int:
        return len(self._blob)

    def rows_with(self, term: str) -> np.ndarray:
        """Rows whose text contains ``term``, ascending."""
        found: list[int] = []
        blob, starts = self._blob, self._starts
        position = blob.find(term)
        while position >= 0:
            row = bisect_right(starts, position) - 1
            found.append(row)
            if row + 1 >= len(starts):
                break
            position = blob.find(term, starts[row + 1])  # one hit per row is enough
        return np.asarray(found, dtype=np.int64)

    def search(self, query: str) -> np.ndarray:
        """A boolean mask over rows: True where every term of ``query`` appears."""
        mask = np.ones(self.size, dtype=bool)
        for term in parse_query(query):
            hits = np.zeros(self.size, dtype=bool)
            hits[self.rows_with(term)] = True
            mask &= hits
        return mask
