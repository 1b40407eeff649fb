"""Naming clusters. ``ClusterNamer`` is the seam; ``DistinctiveTermsNamer`` needs no model.

Without a language model a cluster is named by a short phrase in its members' own words, chosen
the way KeyBERT and BERTopic's representation models choose keywords:

1. **Candidates**: phrases of one to four content words (up to seven words counting the small
   ones between them, never starting or ending on one: "pay my water bill", "book a flight"),
   counted once per member under a key of their content words, so "pay my bill" and "pay the
   bill" are one candidate, shown in their most common form without "my"/"your".
2. **Distinctiveness**: class-based TF-IDF (BERTopic's c-TF-IDF): the share of the group using
   the phrase times its rarity at the group's level. A phrase must be used by at least two and a
   fifth of the members: what one member says describes that member, not the group.
3. **Closeness** (with the run's embedder and the groups' centroids): the best candidates are
   embedded in one batch and scored by their cosine to the centroid, as KeyBERT does.
4. **Diversity**: maximal marginal relevance picks a second phrase that says something else.
5. **Joining**: two phrases, or two nouns, are joined by "and"; two single words that are not both
   nouns ("Healthy and speed") are not. Nouns are told from the texts (``nouns_of``: a noun ends a
   phrase opened by a determiner, "my bill").

The name is then the shortest stretch of a typical member's words that holds both phrases ("Set
a timer for the pasta"), else both joined by "and" when the second is nearly as strong, else the
best phrase alone. A group with no phrase of its own is called "Assorted requests, such as ...".
A parent (a group with ``children``) counts a phrase once per *child* using it, so its name says
what its children share; it is never a list of the children's names, nor exactly one child's name
when a second phrase can join it. The description lists the
top phrases and quotes the most typical request.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kura.errors import ConfigError
from kura.runner.params import Component
from kura.types import GeneratedCluster

if TYPE_CHECKING:
    from kura.embedders import Embedder


@dataclass
class ClusterGroup:
    """What a namer sees of one cluster.

    ``texts`` are member summaries, most typical first (closest to the centroid); ``contrastive``
    are typical summaries of the nearest other clusters (Clio's contrastive examples);
    ``children`` holds the names of the clusters it groups, for levels above the base, and
    ``child_of`` the index in ``children`` of each text's child; ``centroid`` is the unit mean
    of the members' vectors, when the caller has them.
    """

    chat_ids: list[str]
    texts: list[str]
    contrastive: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    child_of: list[int] = field(default_factory=list)
    centroid: np.ndarray | None = None


class ClusterNamer(Component, ABC):
    """Names every group of one level (all at once, so names can be contrasted)."""

    uses_llm: bool = False

    @abstractmethod
    async def name_groups(self, groups: list[ClusterGroup]) -> list[GeneratedCluster]:
        """One ``GeneratedCluster`` per group, in the same order."""


#: ``named_by`` of a name made without a model (phrases from the members' own words).
OFFLINE_NAMER = "terms"
#: How a group with no phrase of its own is named: the prefix of its example, or this alone.
ASSORTED = "Assorted requests, such as"
NO_SHARED_WORDS = "Requests with no shared words"


def cluster_id(level: int, chat_ids: list[str]) -> str:
    """Deterministic: the same members at the same level always get the same id."""
    digest = hashlib.sha1(("\x1f".join([str(level), *sorted(chat_ids)])).encode()).hexdigest()
    return f"{level}-{digest[:12]}"


# -- candidate phrases ------------------------------------------------------------------------
#: Words that never start or end a phrase: function words, and the requests' fillers ("can you
#: tell me", "i want to know"). Kept small on purpose: scikit-learn's list also drops content
#: words such as "bill", "call", "find" and "fire".
FUNCTION_WORDS = frozenset(
    """
    a an the and or but nor if then else so than as of to in on at by for from with about into onto
    over under up down out off between through during before after above below again further per via
    i me my mine myself you your yours yourself we us our ours they them their theirs he him his she
    her hers it its itself this that these those there here one ones
    is am are was were be been being do does did done doing have has had having
    can could will would shall should may might must not no
    what which who whom whose when where why how whats
    any some all each every both either neither other another such same own
    please just really very also too quite maybe actually currently right now
    tell know want need like let help wonder wondering able
    thing things something anything stuff way ways kind sort lot lots bit many much long often
    """.split()
)
#: Words left out of a phrase as it is shown: "pay my bill" reads "pay bill".
_UNSHOWN = frozenset("i me my mine myself you your yours yourself we us our ours".split())
_PLACEHOLDER = re.compile(r"\[(?:code|url|email|phone)\]")
_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”<>|/\\\n\t]+|\s[-–—]+\s|'\s|\s'")
_CONTRACTION = re.compile(r"n't\b|'(?:s|m|re|ve|d|ll)\b", re.I)
_NEGATION = re.compile(r"\b(ca|wo)n't\b", re.I)
_TOKEN = re.compile(r"[a-z0-9][a-z0-9+#&'-]*[a-z0-9+#]|[a-z0-9]", re.I)
#: Words too vague to be a name on their own ("Best", "Today"); they may still be part of one.
GENERIC = frozenset(
    """
    best better good great most more important interesting different new old real first last next top
    possible simple easy specific certain general main common usual whole
    today tonight tomorrow yesterday day days week weeks month months year years morning evening night
    monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december
    """.split()
)
#: Content words per phrase, and words per phrase counting the small ones between them.
MAX_WORDS = 4
MAX_SPAN = 7


def _content(word: str) -> bool:
    return word not in FUNCTION_WORDS and not word.isdigit() and len(word) > 1


def _segments(text: str) -> list[list[str]]:
    """The words of each stretch of text between punctuation (phrases never cross it), as written."""
    text = _PLACEHOLDER.sub(" . ", text.replace("’", "'"))
    text = _NEGATION.sub(lambda m: {"ca": "can", "wo": "will"}[m.group(1).lower()] + " not", text)
    return [_TOKEN.findall(_CONTRACTION.sub("", segment)) for segment in _BREAK.split(text)]


def _stems(key: str) -> set[str]:
    """Words of a phrase with a plural "s" removed, to tell whether two phrases overlap."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in key.split()}


def _shown(tokens: list[str]) -> str:
    return " ".join(t for t in tokens if t.lower() not in _UNSHOWN and not t.isdigit())


def covering_span(texts: list[str], words: set[str], limit: int) -> str | None:
    """The shortest stretch of one of ``texts`` that holds all ``words`` (at most ``limit`` words
    as shown), from content word to content word; the earliest (most typical) text wins ties."""
    best: tuple[int, str] | None = None
    for text in texts:
        for tokens in _segments(text):
            lowered = [t.lower() for t in tokens]
            if not words <= set(lowered):
                continue
            for i, first in enumerate(lowered):
                if first not in words:
                    continue
                missing = set(words)
                for j in range(i, min(len(tokens), i + limit + 4)):
                    missing.discard(lowered[j])
                    if not missing:
                        shown = _shown(tokens[i : j + 1])
                        size = len(shown.split())
                        if size <= limit and (best is None or size < best[0]):
                            best = (size, shown)
                        break
    return best[1] if best else None


def phrases_of(text: str) -> dict[str, str]:
    """The candidate phrases of one text: key (content words) -> the words as written."""
    return _phrases(_segments(text))


def _phrases(segments: list[list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tokens in segments:
        lowered = [t.lower() for t in tokens]
        content = [_content(t) for t in lowered]
        for i in range(len(tokens)):
            if not content[i]:
                continue
            words: list[str] = []
            for j in range(i, min(len(tokens), i + MAX_SPAN)):
                if not content[j]:
                    continue
                words.append(lowered[j])
                if len(words) > MAX_WORDS:
                    break
                key = " ".join(words)
                if len(words) == 1 and key in GENERIC:
                    continue
                if key not in out:
                    out[key] = _shown(tokens[i : j + 1])
    return out


#: Words that open a noun phrase ("my bill", "the weather", "which airline").
DETERMINERS = frozenset(
    "a an the my your our their his her its this these those some any every each another what which whose".split()
)
#: A word is a noun when at least this share of its uses ends a phrase opened by a determiner.
NOUN_SHARE = 0.4


def nouns_of(texts: list[str]) -> frozenset[str]:
    """Words the texts use as nouns, told without a tagger: a noun ends a noun phrase, so it
    follows a determiner or a number with at most two words between (each a content word) and
    is not followed by a content word ("my credit card": "card", not "credit"). On CLINC150 this
    keeps "bill", "calendar", "timer" and "vacation" and leaves out "call", "far", "healthy" and
    "write". A word after a noun ("is this soup healthy") fools it; a share of the uses, not one,
    decides."""
    tally = _NounTally()
    for text in texts:
        tally.add(_segments(text))
    return tally.nouns()


class _NounTally:
    """Uses of each content word, and how many end a phrase opened by a determiner (``nouns_of``)."""

    def __init__(self) -> None:
        self.heads: Counter[str] = Counter()
        self.uses: Counter[str] = Counter()

    def add(self, segments: list[list[str]]) -> None:
        for tokens in segments:
            lowered = [t.lower() for t in tokens]
            for i, word in enumerate(lowered):
                if not _content(word):
                    continue
                self.uses[word] += 1
                last = i + 1 == len(lowered) or not _content(lowered[i + 1])
                j = i - 1  # back over at most two modifiers ("my new credit card") to the opener
                while j >= max(0, i - 3) and _content(lowered[j]) and lowered[j] not in DETERMINERS:
                    j -= 1
                opened = j >= max(0, i - 3) and (lowered[j] in DETERMINERS or lowered[j].isdigit())
                self.heads[word] += last and opened

    def nouns(self) -> frozenset[str]:
        return frozenset(w for w, n in self.uses.items() if n >= 2 and self.heads[w] >= NOUN_SHARE * n)


@dataclass
class PhraseCounts:
    """Candidate phrases of a level: ``counts[g, p]`` members (or children) of group ``g`` using phrase ``p``."""

    keys: list[str]
    counts: Any  # scipy.sparse.csr_matrix, groups x phrases
    #: The most common written form of every phrase.
    shown: list[str]
    #: Words the level's texts use as nouns (``nouns_of``).
    nouns: frozenset[str] = frozenset()

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Phrase key -> column."""
        return {key: p for p, key in enumerate(self.keys)}


def count_phrases(groups: list[list[str]], units: list[list[int]] | None = None) -> PhraseCounts:
    """Count each phrase once per member, or with ``units`` once per unit (a parent's children)."""
    from scipy.sparse import csr_matrix

    index: dict[str, int] = {}
    forms: list[Counter[str]] = []
    rows: list[int] = []
    cols: list[int] = []
    tally = _NounTally()
    for g, texts in enumerate(groups):
        seen: set[tuple[int, int]] = set()
        for t, text in enumerate(texts):
            unit = units[g][t] if units else t
            segments = _segments(text)  # once, for the phrases and the nouns
            tally.add(segments)
            for key, form in _phrases(segments).items():
                p = index.get(key)
                if p is None:
                    p = index[key] = len(index)
                    forms.append(Counter())
                forms[p][form] += 1
                seen.add((unit, p))
        for _, p in seen:
            rows.append(g)
            cols.append(p)
    counts = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(groups), len(index)))
    counts.sum_duplicates()
    return PhraseCounts(list(index), counts, [f.most_common(1)[0][0] for f in forms], tally.nouns())


def distinctive_terms(groups: list[list[str]], top_n: int = 6, min_share: float = 0.2) -> list[list[str]]:
    """The most distinctive phrases of each group against the others (c-TF-IDF), as written."""
    table = count_phrases(groups)
    ranked, _ = rank_phrases(table, [len(g) for g in groups], min_share)
    return [[table.shown[p] for p, _ in row[:top_n]] for row in ranked]


def rank_phrases(
    table: PhraseCounts, sizes: list[int], min_share: float, by_units: bool = False
) -> tuple[list[list[tuple[int, float]]], list[bool]]:
    """Per group, ``(phrase, c-TF-IDF)`` best first: the share of the group using the phrase
    times its rarity across the level, with a small bonus per extra word ("pay bill" says more
    than "bill" when nearly as many use it).

    In a group of three or more members (two or more children, ``by_units``), a phrase must be
    used by at least two and ``min_share`` of the group: a phrase one member says describes that
    member, not the group. A group with no such phrase is ranked on every phrase it has (and is
    marked False in the second list returned).
    """
    counts = table.counts
    size = np.maximum(np.asarray(sizes, dtype=np.float64), 1)
    total = np.asarray(counts.sum(axis=0)).ravel()
    idf = np.log(1 + counts.sum() / max(counts.shape[0], 1) / np.maximum(total, 1))
    longer = np.array([1 + LONGER_BONUS * k.count(" ") for k in table.keys])
    out, has_shared = [], []
    for g in range(counts.shape[0]):
        lo, hi = counts.indptr[g], counts.indptr[g + 1]
        cols, used = counts.indices[lo:hi], counts.data[lo:hi]
        enough = 2 if size[g] >= (2 if by_units else 3) else 1
        shared = used >= max(enough, math.ceil(min_share * size[g]))
        has_shared.append(bool(shared.any()))
        if shared.any():
            cols, used = cols[shared], used[shared]
        score = used / size[g] * idf[cols] * longer[cols]
        order = np.lexsort((cols, -score))
        out.append([(int(cols[i]), float(score[i])) for i in order])
    return out, has_shared


# -- the namer --------------------------------------------------------------------------------
def _quote(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class DistinctiveTermsNamer(ClusterNamer):
    """Short phrases from the members' own words (c-TF-IDF, closeness to the centroid, MMR); no model.

    ``embedder`` should be the run's embedder, since the groups' centroids are in its space;
    without it (or without centroids) phrases are ranked by distinctiveness alone. The best
    ``candidates`` phrases of each cluster are embedded, at most ``max_embedded`` per level
    (fewer candidates per cluster on huge levels keep naming fast). ``terms_in_name`` is how many
    phrases the description lists.
    """

    code_version = 5  # 2: phrases, not keyword lists; 3: no two single words joined by "and"; 4-5: nouns, lists

    def __init__(
        self,
        *,
        terms_in_name: int = 3,
        embedder: Embedder | str | None = None,
        candidates: int = 8,
        max_embedded: int = 4_000,
    ):
        self.terms_in_name = terms_in_name
        self.embedder = embedder
        self.candidates = candidates
        self.max_embedded = max_embedded

    @property
    def name(self) -> str:
        embedder = getattr(self.embedder, "name", self.embedder)
        return f"phrases:v2:{self.terms_in_name}:{self.candidates}:{self.max_embedded}:{embedder}"

    async def name_groups(self, groups: list[ClusterGroup]) -> list[GeneratedCluster]:
        return self.name_groups_sync(groups)

    def name_groups_sync(self, groups: list[ClusterGroup]) -> list[GeneratedCluster]:
        if not groups:
            return []
        # A parent counts a phrase once per child that uses it: its name says what they share.
        parents = all(g.children and len(g.child_of) == len(g.texts) for g in groups)
        units = [g.child_of for g in groups] if parents else None
        table = count_phrases([g.texts for g in groups], units)
        sizes = [len(set(u)) for u in units] if units else [len(g.texts) for g in groups]
        ranked, shared = rank_phrases(table, sizes, PARENT_SHARE if parents else MEMBER_SHARE, by_units=parents)
        per_group = min(self.candidates, self.max_embedded // len(groups))
        vectors: dict[str, np.ndarray] = {}
        if self.embedder is not None and per_group >= 2 and all(g.centroid is not None for g in groups):
            vectors = self._embed(sorted({table.shown[p] for row in ranked for p, _ in row[:per_group]}))
            width = {len(v) for v in vectors.values()} | {np.size(g.centroid) for g in groups if g.centroid is not None}
            if len(width) > 1:
                raise ConfigError(
                    f"DistinctiveTermsNamer(embedder={getattr(self.embedder, 'name', self.embedder)!r}) makes "
                    f"vectors of another size than the clusters' centroids ({sorted(width)}): "
                    "give it the embedder the run used"
                )
        else:
            per_group = self.candidates
        return [
            self._name(g, group, row[:per_group], table, vectors, [table.shown[p] for p, _ in row], common)
            for g, (group, row, common) in enumerate(zip(groups, ranked, shared))
        ]

    def _embed(self, phrases: list[str]) -> dict[str, np.ndarray]:
        from kura.embedders import encode_any, get_embedder

        model = self.embedder if not isinstance(self.embedder, str) else get_embedder(self.embedder)
        found = np.asarray(encode_any(model, phrases), dtype=np.float64) if phrases else np.zeros((0, 1))
        return dict(zip(phrases, found))

    def _name(
        self,
        g: int,
        group: ClusterGroup,
        candidates: list[tuple[int, float]],
        table: PhraseCounts,
        vectors: dict[str, np.ndarray],
        terms: list[str],
        shared: bool,
    ) -> GeneratedCluster:
        typical = _quote(group.texts[0]) if group.texts else ""
        children = len(set(group.child_of)) if group.children else 0
        widest = max((table.counts[g, p] for p, _ in candidates), default=0) if shared else 0
        # A parent with no theme most of its children share says what the largest ones are about.
        mixed = (children >= 3 and widest < THEME_SHARE * children) or (children == 2 and not shared)
        title = listed_title(group.children, table, g) if mixed else None
        if title is None:
            title = self._title(group, candidates, table, vectors, alone=not shared)
            if not title:
                title = NO_SHARED_WORDS
            elif not shared:  # no phrase is the group's own: say so, with its most telling example
                title = f"{ASSORTED} {title if title[1:2].isupper() else title[0].lower() + title[1:]}"
        if children >= 2 and title.lower() in {c.lower() for c in group.children}:
            title = listed_title(group.children, table, g) or title  # one child's name hides the others
        title = title[0].upper() + title[1:]
        listed = terms[: self.terms_in_name]
        about = f"Requests about {', '.join(listed)}." if listed else f"{NO_SHARED_WORDS}."
        description = f'{about} Typical: "{typical}"' if typical else about
        slug = "_".join(re.findall(r"[a-z0-9]+", title.lower())[:3]) or "cluster"
        return GeneratedCluster(name=title, summary=description, slug=slug, named_by=OFFLINE_NAMER)

    def _title(
        self,
        group: ClusterGroup,
        candidates: list[tuple[int, float]],
        table: PhraseCounts,
        vectors: dict[str, np.ndarray],
        alone: bool = False,
    ) -> str:
        if not candidates:
            return ""
        shown = [table.shown[p] for p, _ in candidates]
        keys = [table.keys[p] for p, _ in candidates]
        score = np.array([s for _, s in candidates])
        score = score / max(float(score.max()), 1e-12)
        V = None
        if vectors and group.centroid is not None:  # KeyBERT: closeness to what the cluster is about
            V = np.vstack([vectors[s] for s in shown])
            score = score + CLOSENESS * (V @ np.asarray(group.centroid, dtype=np.float64))
        first = int(np.argmax(score))
        if " " not in keys[first]:
            # One word alone ("Write", "Draw") is too thin to read as a name: take the strongest
            # longer phrase around it ("write a poem") when it is nearly as strong.
            around = [j for j in range(len(keys)) if " " in keys[j] and keys[first] in keys[j].split()]
            if around and score[max(around, key=lambda j: score[j])] >= WIDER * score[first]:
                first = max(around, key=lambda j: score[j])
        if alone:  # one example phrase, not a pairing of two members' words
            return shown[first]
        # MMR: the second phrase is the strongest that says something the first does not.
        second, best = -1, -np.inf
        for j in range(len(shown)):
            if j == first or _stems(keys[j]) & _stems(keys[first]):
                continue
            value = MMR_RELEVANCE * score[j] - (1 - MMR_RELEVANCE) * (float(V[j] @ V[first]) if V is not None else 0.0)
            if value > best:
                second, best = j, value
        if second < 0:
            return shown[first]
        if not group.children:  # best: both in one member's words ("set a timer for the pasta")
            words = set(keys[first].split()) | set(keys[second].split())
            span = covering_span(group.texts[:SPAN_TEXTS], words, SPAN_WORDS)
            if span:
                return span
        similar = V is not None and float(V[second] @ V[first]) >= SIMILAR
        joined = f"{shown[first]} and {shown[second]}"
        # "Healthy and speed" reads as nonsense: two phrases, or two things, are joined.
        phrases = " " in keys[first] and " " in keys[second]
        things = keys[first].split()[-1] in table.nouns and keys[second].split()[-1] in table.nouns
        joinable = (phrases or things) and not similar and len(joined.split()) <= SPAN_WORDS
        if joinable and score[second] >= SECOND * score[first]:
            return joined
        if joinable and shown[first].lower() in {c.lower() for c in group.children}:
            return joined  # one child's name would hide the others
        return shown[first]


def listed_title(children: list[str], table: PhraseCounts, g: int, most: int = 3) -> str | None:
    """ "Song, volume and light": the telling phrase of each of the largest children (a noun, or
    two words ending in one), most distinctive in the parent's level, without repeats."""
    index = table.index
    lo, hi = table.counts.indptr[g], table.counts.indptr[g + 1]
    row = dict(zip(table.counts.indices[lo:hi].tolist(), table.counts.data[lo:hi].tolist()))

    def used(key: str) -> float:  # children of this parent using the phrase
        return row.get(index.get(key, -1), 0.0)

    items: list[str] = []
    said: set[str] = set()
    for child in children:
        if child.startswith((ASSORTED, NO_SHARED_WORDS)):  # no phrase of its own to list
            continue
        # the longest phrase of the child's name whose words the children use, then the most used
        options = [
            (min(used(w) for w in key.split()) > 0, len(key.split()), used(key), key)
            for key, shown in phrases_of(child).items()
            if len(shown.split()) <= 2 and key.split()[-1] in table.nouns and not _stems(key) & said
        ]
        if not options and len(child.split()) <= 2 and not _stems(child.lower()) & said:
            options = [(False, 0, 0.0, child.lower())]  # a short name such as "Write" is its own phrase
        if options:
            key = max(options)[-1]
            shown = table.shown[index[key]] if key in index and len(table.shown[index[key]].split()) <= 2 else key
            items.append(shown if shown[1:].lower() != shown[1:] else shown.lower())
            said |= _stems(key)
        if len(items) == most:
            break
    if len(items) < 2:
        return None
    return ", ".join(items[:-1]) + " and " + items[-1]


#: Share of members (base) or children (parents) that must use a phrase for it to name the group.
MEMBER_SHARE = 0.2
PARENT_SHARE = 0.2
#: A parent of three children or more whose best phrase fewer than this share of them use (or of
#: two that share none) is named by a list of its largest children's phrases (``listed_title``).
THEME_SHARE = 0.5
#: Score bonus per extra word of a phrase.
LONGER_BONUS = 0.15
#: Weight of closeness to the centroid next to c-TF-IDF (scaled to 1 for the best phrase).
#: Measured on CLINC150 (bench/bench_names.py): the name score rises from 0.58 to 0.64 with it.
CLOSENESS = 3.0
#: MMR's weight of relevance against redundancy with the first phrase.
MMR_RELEVANCE = 0.7
#: A second phrase is named (joined by "and") only when it scores at least this share of the first.
SECOND = 0.8
#: A single word gives way to a longer phrase holding it that scores at least this share of it.
WIDER = 0.5
#: Two phrases whose vectors are at least this similar say the same thing: one is named.
SIMILAR = 0.6
#: A name may quote the shortest stretch (at most SPAN_WORDS words) of one of the SPAN_TEXTS most
#: typical texts that holds both chosen phrases.
SPAN_TEXTS = 10
SPAN_WORDS = 7
