"""Stage 1: summarise each conversation into facets.

``Summariser`` is the seam: the extractive one here needs no model; language-model summarisers
plug in through the same two members (``name`` and ``summarise_one``). The engine around it
streams conversations, runs up to ``max_concurrency`` at once, reuses cached results item by
item, and records failures instead of dropping them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from kura.runner.executor import Executor, InProcess
from kura.runner.params import Component
from kura.store.cache import ItemCache, content_key
from kura.store.meta import Failure
from kura.types import Conversation, ConversationSummary, GeneratedSummary

#: Computes extra metadata for one conversation (cheap, never cached): Kura 0.5's extractors.
Extractor = Callable[[Conversation], dict]

CACHE_NAMESPACE = "summary"


class Summariser(Component, ABC):
    """Turns one conversation into a ``GeneratedSummary`` (or a subclass: ``response_schema``)."""

    response_schema: type[GeneratedSummary] = GeneratedSummary
    max_concurrency: int = 50
    #: False for summarisers that read no language model (the output says which mode ran).
    uses_llm: bool = False

    @abstractmethod
    async def summarise_one(self, conversation: Conversation) -> GeneratedSummary:
        """Summarise one conversation; raise on failure (the engine records it)."""


def to_conversation_summary(
    generated: GeneratedSummary, conversation: Conversation, extra: dict | None = None
) -> ConversationSummary:
    """Attach a conversation's id and metadata; fields beyond Kura's land in metadata (Kura 0.5)."""
    data = generated.model_dump()
    known = {k: data.pop(k) for k in GeneratedSummary.model_fields if k in data}
    metadata = {**conversation.metadata, "conversation_turns": len(conversation.messages), **data, **(extra or {})}
    return ConversationSummary(**known, chat_id=conversation.chat_id, metadata=metadata)


def summary_cache_key(fingerprint: str, conversation: Conversation) -> str:
    """The summariser's fingerprint and the messages: a changed setting misses, a re-run hits.

    The id is deliberately not part of the key: identical chats share one model call, but each
    keeps its own id and metadata because those are attached after the cache (a Kura 0.5 bug)."""
    return content_key(fingerprint, [(m.role, m.content) for m in conversation.messages])


async def summarise_stream(
    conversations: Iterable[Conversation],
    summariser: Summariser,
    *,
    cache: ItemCache | None = None,
    failures: list[Failure] | None = None,
    extractors: Iterable[Extractor] = (),
    on_item: Callable[[], None] | None = None,
    executor: Executor | None = None,
) -> list[ConversationSummary]:
    """Summarise conversations in input order. Failed ones are appended to ``failures``.

    Cache hits are answered here; only misses go to the ``executor`` (in this process by
    default), as ``summariser.summarise_one`` of one conversation each.
    """
    extractors = list(extractors)
    results: dict[int, ConversationSummary] = {}
    fingerprint = summariser.fingerprint() if cache is not None else ""

    def finish(index: int, conversation: Conversation, outcome: GeneratedSummary | Exception) -> None:
        try:
            if isinstance(outcome, Exception):
                raise outcome
            extra: dict = {}
            for extractor in extractors:
                extra.update(extractor(conversation))
            results[index] = to_conversation_summary(outcome, conversation, extra)
        except Exception as exc:  # recorded, shown at the end, retried next run
            if failures is None:
                raise
            failures.append(Failure(id=conversation.chat_id, stage="summarise", error=_describe(exc)))
        if on_item:
            on_item()

    # Identical conversations (same cache key) already on their way share that one call.
    twins: dict[str, list[tuple[int, Conversation]]] = {}

    def misses() -> Iterator[tuple[int, Conversation, str | None]]:
        """Each conversation not in the cache, with its cache key (None without a cache)."""
        for index, conversation in enumerate(conversations):
            key = None
            if cache is not None:
                key = summary_cache_key(fingerprint, conversation)
                hit = cache.get_text(CACHE_NAMESPACE, key)
                if hit is not None:
                    finish(index, conversation, summariser.response_schema.model_validate_json(hit))
                    continue
                if key in twins:
                    twins[key].append((index, conversation))
                    continue
                twins[key] = []
            yield index, conversation, key

    executor = executor or InProcess()
    async for (index, conversation, key), outcome in executor.map(
        partial(_summarise_item, summariser), misses(), limit=summariser.max_concurrency
    ):
        waiting: list[tuple[int, Conversation]] = []
        if cache is not None and key is not None:
            waiting = twins.pop(key)
            if not isinstance(outcome, Exception):
                cache.put_text(CACHE_NAMESPACE, key, outcome.model_dump_json())
        for twin_index, twin in [(index, conversation), *waiting]:
            finish(twin_index, twin, outcome)
    return [results[i] for i in sorted(results)]


async def _summarise_item(summariser: Summariser, item: tuple[int, Conversation, str | None]) -> GeneratedSummary:
    """The per-item work an executor runs: one conversation, nothing else."""
    return await summariser.summarise_one(item[1])


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


# -- the extractive summariser ---------------------------------------------------------------

#: Characters of each message the extractive summariser reads. The summary is at most a few
#: dozen words from the start of the request, so the head holds it (with room for a pasted file
#: before the question); past that it is data, not the ask, and reading it only costs time.
MAX_MESSAGE_CHARS = 50_000
#: A longer token (a hash, base64, a 200,000-digit number) is cut to this many characters and "…":
#: it says what the user pasted without filling the summary.
MAX_TOKEN_CHARS = 40

# Every pattern below is linear in its input: a match may only start where a run of its
# characters starts (the look-behinds) or at a literal, and no open-ended run is retried from
# each of its positions (that made a 200 KB token take minutes).
_CODE_BLOCK = re.compile(r"```([\w+#.-]*)[^\n]*\n.*?(```|$)", re.S)
_URL = re.compile(r"https?://\S+|www\.\S+")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+")
#: Up to 26 characters: the longest phone numbers (15 digits, E.164) with their separators;
#: a longer run of digits is a number, not a phone.
_PHONE = re.compile(r"(?<!\w)(\+?\d[\d\s().-]{7,24}\d)(?!\w)")
_LONG_TOKEN = re.compile(rf"\S{{{MAX_TOKEN_CHARS + 1},}}")
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_GREETING = re.compile(r"^(hi|hello|hey|hiya|yo|thanks|thank you|ok|okay)[\s!.,]*$", re.I)

#: Fenced-code language tags mapped to the names Clio's ``languages`` facet uses.
_CODE_LANGUAGES = {
    "py": "python",
    "python": "python",
    "js": "javascript",
    "javascript": "javascript",
    "ts": "typescript",
    "typescript": "typescript",
    "java": "java",
    "c": "c",
    "cpp": "c++",
    "c++": "c++",
    "cs": "c#",
    "csharp": "c#",
    "go": "go",
    "rust": "rust",
    "rs": "rust",
    "rb": "ruby",
    "ruby": "ruby",
    "php": "php",
    "sql": "sql",
    "sh": "bash",
    "bash": "bash",
    "shell": "bash",
    "html": "html",
    "css": "css",
    "r": "r",
    "kotlin": "kotlin",
    "swift": "swift",
}


def clean_text(text: str) -> str:
    """Drop code bodies and mask contact details, so a summary carries the ask, not the data."""
    text = _CODE_BLOCK.sub(" [code] ", text)
    text = _URL.sub("[url]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    text = _LONG_TOKEN.sub(lambda m: m.group()[:MAX_TOKEN_CHARS] + "…", text)
    return _SPACE.sub(" ", text).strip()


def shorten(text: str, max_words: int) -> str:
    """At most ``max_words`` words, ending at a sentence boundary when one is near."""
    words = text.split(" ")
    if len(words) <= max_words:
        return text
    cut = " ".join(words[:max_words])
    ends = [m.start() for m in _SENTENCE_END.finditer(cut)]
    if ends and ends[-1] > len(cut) // 3:  # keep at least a third rather than end mid-sentence
        return cut[: ends[-1]].strip()
    return cut.rstrip(",;:") + "…"


class ExtractiveSummariser(Summariser):
    """No language model: the user's request, cleaned and shortened (Kura's offline mode).

    The request is the first user message that says something (greetings are skipped); code
    bodies, URLs, e-mail addresses and phone numbers are masked, and very long tokens cut short.
    ``languages`` lists programming languages named in code fences; facets that need judgement
    (frustration, concern) stay empty rather than guessed. Only the first ``MAX_MESSAGE_CHARS``
    characters of each message are read.
    """

    max_concurrency = 256

    def __init__(self, *, max_words: int = 40):
        self.max_words = max_words

    @property
    def name(self) -> str:
        return f"extractive:v2:{self.max_words}"

    async def summarise_one(self, conversation: Conversation) -> GeneratedSummary:
        heads = [(m.role, m.content[:MAX_MESSAGE_CHARS]) for m in conversation.messages]
        users = [content for role, content in heads if role == "user" and content.strip()]
        if not users:
            raise ValueError("the conversation has no user message to summarise")
        substantive = [u for u in users if not _GREETING.match(u.strip())]
        request = clean_text((substantive or users)[0])
        if len(request.split()) < 4 and len(substantive) > 1:
            request = clean_text(" ".join(substantive[:2]))
        languages = sorted(
            {
                _CODE_LANGUAGES[tag.lower()]
                for _, content in heads
                for tag in _CODE_BLOCK.findall(content)
                for tag in [tag[0]]
                if tag.lower() in _CODE_LANGUAGES
            }
        )
        return GeneratedSummary(
            summary=shorten(request, self.max_words) or "(empty request)",
            request=shorten(request, self.max_words * 3),
            languages=languages or None,
            # Facets that need judgement stay empty rather than guessed.
            topic=None,
            task=None,
            concerning_score=None,
            user_frustration=None,
            assistant_errors=None,
        )
