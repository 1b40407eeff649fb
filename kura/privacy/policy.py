"""A run's privacy settings as one component, and the summariser that scrubs what it returns.

``PrivacyPolicy`` is a component of every stage it changes (clusters, hierarchy, export), so
changing a minimum or the profile recomputes exactly those stages. ``ScrubbedSummariser`` wraps
any summariser: what it returns is scrubbed before the item cache stores it, so neither the
cache nor anything derived from it ever holds the unscrubbed text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from kura.runner.params import Component
from kura.stages.summarise import Summariser
from kura.types import Cluster, Conversation, GeneratedSummary

Profile = Literal["off", "strict"]
#: How a scrubbed summariser's label ends (``kura classify`` rebuilds the wrapper from it).
SCRUBBED = "+scrubbed"

#: The strict profile's minimums when none is given (Clio publishes no numbers; these keep a
#: cluster from describing a handful of people).
STRICT_MIN_CONVERSATIONS = 10
STRICT_MIN_USERS = 5


class PrivacyPolicy(Component):
    """What the privacy layers do in this run (``kura run --privacy``)."""

    not_fingerprinted = frozenset({"keep_raw"})

    def __init__(
        self,
        *,
        profile: Profile = "off",
        scrubber: str | None = None,
        min_conversations: int = 0,
        min_users: int = 0,
        user_field: str = "user_id",
        auditor: Any = None,
        keep_raw: bool = True,
        no_auditor_reason: str | None = None,
    ):
        self.profile = profile
        #: The scrubber's label (library and model versions), or None for no scrubbing.
        self.scrubber = scrubber
        self.min_conversations = min_conversations
        self.min_users = min_users
        self.user_field = user_field
        #: A ``kura.privacy.audit.PrivacyAuditor``, or None (no language model to audit with).
        self.auditor = auditor
        self.keep_raw = keep_raw
        #: Why a strict run has no auditor, when it is not simply the lack of a model.
        self.no_auditor_reason = no_auditor_reason

    @property
    def name(self) -> str:
        return f"privacy:{self.profile}"

    @property
    def enforces_minimums(self) -> bool:
        return self.min_conversations > 1 or self.min_users > 1

    def scrub_texts(self, texts: Sequence[str]) -> tuple[list[str], Counter[str]]:
        """The texts scrubbed (unchanged without a scrubber), and what was found, by kind."""
        if self.scrubber is None or not texts:
            return list(texts), Counter()
        from kura.privacy.scrub import load_scrubber

        found: Counter[str] = Counter()
        out = []
        for scrubbed in load_scrubber().scrub_batch(list(texts)):
            out.append(scrubbed.text)
            found.update(scrubbed.found)
        return out, found

    def scrub_clusters(self, clusters: list[Cluster]) -> tuple[list[Cluster], Counter[str]]:
        """Names and descriptions scrubbed: a model may put back what the summaries lost."""
        if self.scrubber is None:
            return clusters, Counter()
        texts, found = self.scrub_texts([t for c in clusters for t in (c.name, c.description)])
        scrubbed = [
            c.model_copy(update={"name": texts[2 * i], "description": texts[2 * i + 1]}) for i, c in enumerate(clusters)
        ]
        return scrubbed, found

    def user_of(self, metadata: dict[str, Any]) -> str | None:
        value = metadata.get(self.user_field)
        return None if value is None or value == "" else str(value)

    def kept_conversation(self, conversation: Conversation) -> Conversation:
        """The copy of a conversation the run directory keeps: without its text and metadata
        in the strict profile, unless the user asked to keep it (``--keep-raw``)."""
        if self.keep_raw:
            return conversation
        return conversation.model_copy(update={"messages": [], "metadata": {}})


class ScrubbedSummariser(Summariser):
    """Any summariser, its every text facet scrubbed before the result is cached or used."""

    def __init__(self, summariser: Summariser, scrubber: str):
        self.summariser = summariser
        #: The scrubber's label: a new scrubber version misses the cache.
        self.scrubber = scrubber

    @property
    def name(self) -> str:
        return self.summariser.name + SCRUBBED

    @property
    def response_schema(self) -> type[GeneratedSummary]:  # type: ignore[override]
        return self.summariser.response_schema

    @property
    def max_concurrency(self) -> int:  # type: ignore[override]
        return self.summariser.max_concurrency

    @property
    def uses_llm(self) -> bool:  # type: ignore[override]
        return self.summariser.uses_llm

    @property
    def llm(self) -> Any:
        """The model behind the wrapped summariser (the pipeline counts its usage)."""
        return getattr(self.summariser, "llm", None)

    async def summarise_one(self, conversation: Conversation) -> GeneratedSummary:
        return scrub_model(await self.summariser.summarise_one(conversation))


def scrub_model(generated: GeneratedSummary) -> GeneratedSummary:
    """Every string (and list of strings) field of a summary, scrubbed in one batch."""
    from kura.privacy.scrub import load_scrubber

    data = generated.model_dump()
    places: list[tuple[str, int | None]] = []
    texts: list[str] = []
    for key, value in data.items():
        if isinstance(value, str):
            places.append((key, None))
            texts.append(value)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    places.append((key, i))
                    texts.append(item)
    for (key, at), scrubbed in zip(places, load_scrubber().scrub_batch(texts)):
        if at is None:
            data[key] = scrubbed.text
        else:
            data[key][at] = scrubbed.text
    return type(generated).model_validate(data)


def privacy_policy(config: Any, llm: Any = None) -> PrivacyPolicy:
    """The policy a ``kura.RunConfig`` asks for; ``llm`` is the run's language model, which the
    strict profile audits with unless ``auditor`` names another (or ``none``)."""
    strict = config.privacy == "strict"
    auditor, no_auditor_reason = None, None
    model = config.auditor if config.auditor is not None else (llm if strict else None)
    if config.auditor is None and model is not None and not getattr(model, "audits_unasked", True):
        from kura.privacy.report import WEAK_AUDITOR

        model, no_auditor_reason = None, WEAK_AUDITOR
    if model is not None and model != "none":
        from kura.llm import get_llm
        from kura.privacy.audit import PrivacyAuditor

        if isinstance(model, str):
            model = get_llm(model, base_url=config.base_url, max_concurrency=config.concurrency)
        auditor = PrivacyAuditor(model, threshold=config.audit_threshold)
    scrubber = None
    if strict:
        from kura.privacy.scrub import load_scrubber

        scrubber = load_scrubber().label
    return PrivacyPolicy(
        profile="strict" if strict else "off",
        scrubber=scrubber,
        min_conversations=config.min_conversations or (STRICT_MIN_CONVERSATIONS if strict else 0),
        min_users=config.min_users or (STRICT_MIN_USERS if strict else 0),
        user_field=config.user_field,
        auditor=auditor,
        keep_raw=config.keep_raw or not strict,
        no_auditor_reason=no_auditor_reason,
    )
