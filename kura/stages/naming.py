"""Naming clusters. ``ClusterNamer`` is the seam; ``DistinctiveTermsNamer`` needs no model.

Without a language model a cluster is named by the terms that set it apart from the other
clusters at its level (class-based TF-IDF, as BERTopic does) plus its most typical request.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from kura.runner.params import Component
from kura.types import GeneratedCluster


@dataclass
class ClusterGroup:
    """What a namer sees of one cluster.

    ``texts`` are member summaries, most typical first (closest to the centroid); ``contrastive``
    are typical summaries of the nearest other clusters (Clio's contrastive examples);
    ``children`` holds the names of the clusters it groups, for levels above the base.
    """

    chat_ids: list[str]
    texts: list[str]
    contrastive: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


class ClusterNamer(Component, ABC):
    """Names every group of one level (all at once, so names can be contrasted)."""

    uses_llm: bool = False

    @abstractmethod
    async def name_groups(self, groups: list[ClusterGroup]) -> list[GeneratedCluster]:
        """One ``GeneratedCluster`` per group, in the same order."""


_STOP_WORDS = None


def _stop_words() -> list[str]:
    global _STOP_WORDS
    if _STOP_WORDS is None:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        chat_words = {
            "please",
            "help",
            "want",
            "need",
            "know",
            "like",
            "tell",
            "give",
            "make",
            "use",
            "using",
            "im",
            "i'm",
            "can",
            "could",
            "would",
            "get",
            "way",
            "ways",
            "just",
            "really",
            "thanks",
            "hello",
            "hi",
            "hey",
            "question",
            "does",
            "did",
            "let",
            "code",
            "url",
            "email",
            "phone",
            "user",
            "users",
            "request",
            "assistant",
            "sure",
            "ok",
            "okay",
            "yes",
            "good",
        }
        _STOP_WORDS = sorted(set(ENGLISH_STOP_WORDS) | chat_words)
    return _STOP_WORDS


def cluster_id(level: int, chat_ids: list[str]) -> str:
    """Deterministic: the same members at the same level always get the same id."""
    digest = hashlib.sha1(("\x1f".join([str(level), *sorted(chat_ids)])).encode()).hexdigest()
    return f"{level}-{digest[:12]}"


def distinctive_terms(groups: list[list[str]], top_n: int = 6, min_share: float = 0.2) -> list[list[str]]:
    """The top terms of each group against the others (c-TF-IDF over member presence).

    A term counts once per member that uses it, so one long summary cannot dominate a cluster,
    and in a group of three or more it must be used by at least two members and ``min_share`` of
    them: a word only one member says describes that member, not the group.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    docs = [t for g in groups for t in g]
    owner = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    if not docs:
        return [[] for _ in groups]
    vectoriser = CountVectorizer(
        ngram_range=(1, 2), stop_words=_stop_words(), binary=True, token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9+#'-]+\b"
    )
    try:
        presence = vectoriser.fit_transform(docs)
    except ValueError:  # nothing but stop words
        return [[] for _ in groups]
    vocab = np.array(vectoriser.get_feature_names_out())
    from scipy.sparse import csr_matrix

    # Everything stays sparse: clusters x vocabulary is 10,000 x 50,000 on a big run.
    membership = csr_matrix((np.ones(len(docs)), (owner, np.arange(len(docs)))), shape=(len(groups), len(docs)))
    counts = (membership @ presence).tocsr().astype(np.float64)  # members using each term
    sizes = np.array([max(len(g), 1) for g in groups], dtype=np.float64)
    term_total = np.asarray(counts.sum(axis=0)).ravel()
    idf = np.log(1 + counts.sum() / len(groups) / np.maximum(term_total, 1))
    rows_of_entries = np.repeat(np.arange(len(groups)), np.diff(counts.indptr))
    scores = counts.data / sizes[rows_of_entries] * idf[counts.indices]  # share of members x idf
    out: list[list[str]] = []
    for row in range(len(groups)):
        lo, hi = counts.indptr[row], counts.indptr[row + 1]
        columns, values, used = counts.indices[lo:hi], scores[lo:hi], counts.data[lo:hi]
        if sizes[row] >= 3:  # shared by enough members to describe the group
            keep = used >= max(2, np.ceil(min_share * sizes[row]))
            columns, values = columns[keep], values[keep]
        chosen: list[str] = []
        for j in np.lexsort((columns, -values)):
            if values[j] <= 0 or len(chosen) >= top_n:
                break
            term = str(vocab[columns[j]])
            if any(term in c or c in term for c in chosen):
                continue  # "reset" adds nothing next to "reset password"
            chosen.append(term)
        out.append(chosen)
    return out


def _quote(text: str, limit: int = 120) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class DistinctiveTermsNamer(ClusterNamer):
    """Names from distinctive terms plus the most typical member (no language model)."""

    def __init__(self, *, terms_in_name: int = 3):
        self.terms_in_name = terms_in_name

    @property
    def name(self) -> str:
        return f"terms:v1:{self.terms_in_name}"

    async def name_groups(self, groups: list[ClusterGroup]) -> list[GeneratedCluster]:
        return self.name_groups_sync(groups)

    def name_groups_sync(self, groups: list[ClusterGroup]) -> list[GeneratedCluster]:
        # Parents are broad: a term shared by a few of their members already says something.
        is_parent_level = any(g.children for g in groups)
        all_terms = distinctive_terms([g.texts for g in groups], min_share=0.05 if is_parent_level else 0.2)
        named: list[GeneratedCluster] = []
        for group, terms in zip(groups, all_terms):
            typical = _quote(group.texts[0]) if group.texts else ""
            lowered = [t.lower() for t in group.texts]
            # Terms name a group only when its members really share them; otherwise a list of
            # unrelated words would pretend to a theme that is not there.
            widely_used = bool(terms) and sum(terms[0] in t for t in lowered) >= 0.4 * len(lowered)
            if widely_used or (len(terms) >= 2 and len(lowered) < 3):
                head = terms[: self.terms_in_name]
                title = ", ".join(head)
                if len(head) == 1 and typical:  # one word alone is too thin to read as a name
                    title = f"{title}: {_quote(typical, 50)}"
                title = title[0].upper() + title[1:]
                about = f"Requests about {', '.join(terms)}."
            elif group.children:  # a parent with nothing shared: name it by its largest parts
                title = " · ".join(_quote(c, 40) for c in group.children[:2])
                head = terms or re.findall(r"[a-z0-9]+", title.lower())[:3]
                about = "Mixed requests."
            else:  # no shared terms stand out: the typical request is the most honest name
                title = _quote(typical, 60) or "Requests with no distinctive terms"
                head = terms or re.findall(r"[a-z0-9]+", title.lower())[:3]
                about = f"Mixed requests{' mentioning ' + terms[0] if terms else ''}."
            description = f'{about} Typical: "{typical}"' if typical else about
            slug = "_".join(re.findall(r"[a-z0-9]+", " ".join(head).lower())[:3]) or "cluster"
            named.append(GeneratedCluster(name=title, summary=description, slug=slug))
        return named
