"""The prompts, and fitting a long conversation into a token budget.

Laid out for small models as much as large ones (they follow this shape best): a system prompt
that sets the rules (no personal information, no proper nouns), the data inside tags, then the
instruction after it. A custom prompt replaces the instruction; a prompt written as a Jinja
template the way Kura 0.5 wrote them (``{% for message in conversation.messages %}``) replaces the
whole user message and is rendered with Kura 0.5's variables.

Long conversations: when a transcript is longer than the budget it keeps its first 40% and its
last 60% (in characters), cut at word boundaries, with ``[... N characters omitted ...]`` between:
the start says what was asked, the end how it went (frustration, errors). Nothing fails for length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kura.errors import missing_package
from kura.llm.base import ChatMessage

ANALYST_RULES = (
    "Never include personal information or proper nouns: no names of people, organisations, places or "
    "products, no e-mail addresses, phone numbers, URLs or account details. Describe sensitive or harmful "
    "requests plainly and specifically; assume neither good nor bad faith. Answer with a JSON object only."
)

SUMMARY_SYSTEM = (
    "You analyse conversations between a user and an AI assistant to learn, in aggregate, what people use "
    "the assistant for. " + ANALYST_RULES
)

DEFAULT_SUMMARY_PROMPT = """Describe the conversation above in these fields:
- summary: one or two sentences (at most 30 words) saying what the user wants, starting with "The user's overall request for the assistant is to". Name relevant specifics such as programming languages, frameworks or the kind of document, but no personal information or proper nouns.
- request: the user's overall request, starting with "The user's overall request for the assistant is to".
- topic: the high-level topic of this conversation, in two or three words.
- task: what the assistant is asked to do, starting with "The task is to".
- languages: the human and programming languages used in this conversation, lowercase full names.
- concerning_score: 1 for ordinary, harmless requests (most conversations), up to 5 for requests that need urgent safety review.
- user_frustration: 1 when the user shows no frustration (most conversations), up to 5 when the user is extremely frustrated with the assistant.
- assistant_errors: the assistant's mistakes, such as misunderstanding the request; an empty list if none."""

CLUSTER_SYSTEM = (
    "You name groups of statements about what users asked an AI assistant, to build an aggregate map of "
    "usage. " + ANALYST_RULES
)

DEFAULT_CLUSTER_PROMPT = """Summarise the group of statements inside <statements>.
- name: an imperative sentence of at most ten words that captures the users' request and fits most statements. Name the task and its subject, specifically enough to set the group apart from the contrastive statements; never vague.
- summary: two sentences in the past tense on what the statements share and what sets them apart from the contrastive ones.
- slug: three lowercase words from the name, joined by underscores."""

CANDIDATES_PROMPT = """Propose at most {desired} higher-level category names that together cover every cluster above.
Each name is an imperative sentence of at most ten words, like the cluster names: broader than any single cluster, yet as specific as the clusters allow, and distinct from the other names."""

DEDUPLICATE_PROMPT = """These category names were proposed separately for different parts of one dataset, so some mean the same thing.
Merge duplicates and near-duplicates into at most {target} distinct names that still cover everything the list covers. Keep the clearest wording of each."""

ASSIGN_PROMPT = """For each of the {count} clusters, in order, choose the number of the category that fits it best.
Answer with exactly {count} numbers in "categories": the first for cluster 1, the second for cluster 2, and so on."""

RENAME_PROMPT = """These clusters were grouped together. Name the group they form.
- name: an imperative sentence of at most ten words that fits most of the clusters, as specific as they allow.
- summary: two sentences in the past tense on what the clusters share.
- slug: three lowercase words joined by underscores."""


# -- transcripts -------------------------------------------------------------------------------

ROLE_LABELS = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def fit_messages(messages: Sequence[tuple[str, str]], max_chars: int) -> list[tuple[str, str]]:
    """Messages that fit ``max_chars``: the first 40% and the last 60% of the text, with a marker
    message ``("note", "[... N characters omitted ...]")`` where the middle was cut."""
    total = sum(len(content) for _, content in messages)
    if total <= max_chars:
        return list(messages)
    head_room = int(max_chars * 0.4)
    head: list[tuple[str, str]] = []
    used = 0
    next_index = 0
    for role, content in messages:
        room = head_room - used
        if room <= 0:
            break
        if len(content) <= room:
            head.append((role, content))
            used += len(content)
            next_index += 1
        else:
            head.append((role, _keep_start(content, room)))
            used += room
            break  # the tail may show the end of this same message
    tail: list[tuple[str, str]] = []
    room = max_chars - used
    for role, content in reversed(messages[next_index:]):
        if room <= 0:
            break
        tail.append((role, content if len(content) <= room else _keep_end(content, room)))
        room -= len(tail[-1][1])
    tail.reverse()
    shown = sum(len(c) for _, c in head) + sum(len(c) for _, c in tail)
    return [*head, ("note", f"[... {max(0, total - shown):,} characters omitted ...]"), *tail]


def _keep_start(text: str, limit: int) -> str:
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.8 else cut).rstrip() + "…"


def _keep_end(text: str, limit: int) -> str:
    cut = text[-limit:]
    space = cut.find(" ")
    return "…" + (cut[space + 1 :] if 0 <= space < limit * 0.2 else cut).lstrip()


def transcript(messages: Sequence[tuple[str, str]]) -> str:
    lines = []
    for role, content in messages:
        if role == "note":
            lines.append(content)
        else:
            lines.append(f"{ROLE_LABELS.get(role, role.title())}: {content.strip()}")
    return "\n".join(lines)


def is_template(prompt: str) -> bool:
    return "{{" in prompt or "{%" in prompt


def render_template(prompt: str, **context: Any) -> str:
    """Render a Kura 0.5-style Jinja prompt (``pip install jinja2``)."""
    try:
        import jinja2
    except ImportError as exc:
        raise missing_package("jinja2", purpose="prompts written as Jinja templates (Kura 0.5 style)") from exc
    return jinja2.Template(prompt).render(**context)


def summary_messages(
    conversation: Any, prompt: str | None, max_chars: int, extra_fields: Sequence[str] = ()
) -> list[ChatMessage]:
    """System rules, the transcript in <conversation> tags, then the instruction."""
    fitted = fit_messages([(m.role, m.content) for m in conversation.messages], max_chars)
    if prompt and is_template(prompt):
        from types import SimpleNamespace

        view = SimpleNamespace(
            chat_id=conversation.chat_id,
            created_at=getattr(conversation, "created_at", None),
            metadata=conversation.metadata,
            messages=[SimpleNamespace(role=r if r != "note" else "system", content=c) for r, c in fitted],
        )
        return [
            {"role": "system", "content": SUMMARY_SYSTEM},
            {"role": "user", "content": render_template(prompt, conversation=view)},
        ]
    instruction = prompt or DEFAULT_SUMMARY_PROMPT
    if extra_fields:
        instruction += f"\nAlso fill {', '.join(extra_fields)} as the schema describes."
    body = f"<conversation>\n{transcript(fitted)}\n</conversation>\n\n{instruction}"
    return [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": body}]


def _bullets(items: Sequence[str], limit: int) -> str:
    return "\n".join(f"- {clip_text(t, limit)}" for t in items)


def _numbered(items: Sequence[str], limit: int) -> str:
    return "\n".join(f"{i}. {clip_text(t, limit)}" for i, t in enumerate(items, start=1))


def clip_text(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def cluster_messages(
    texts: Sequence[str], contrastive: Sequence[str], prompt: str | None, clip: int = 300
) -> list[ChatMessage]:
    if prompt and is_template(prompt):
        rendered = render_template(prompt, positive_examples=list(texts), contrastive_examples=list(contrastive))
        return [{"role": "system", "content": CLUSTER_SYSTEM}, {"role": "user", "content": rendered}]
    body = f"<statements>\n{_bullets(texts, clip)}\n</statements>\n\n"
    if contrastive:
        body += f"For contrast, statements from nearby groups that are NOT in this group:\n<contrastive>\n{_bullets(contrastive, clip)}\n</contrastive>\n\n"
    return [
        {"role": "system", "content": CLUSTER_SYSTEM},
        {"role": "user", "content": body + (prompt or DEFAULT_CLUSTER_PROMPT)},
    ]


def describe(name: str, description: str) -> str:
    return f"{name}: {description}" if description else name


def candidates_messages(clusters: Sequence[str], desired: int) -> list[ChatMessage]:
    body = f"<clusters>\n{_numbered(clusters, 300)}\n</clusters>\n\n{CANDIDATES_PROMPT.format(desired=desired)}"
    return [{"role": "system", "content": CLUSTER_SYSTEM}, {"role": "user", "content": body}]


def deduplicate_messages(names: Sequence[str], target: int) -> list[ChatMessage]:
    body = f"<names>\n{_bullets(names, 200)}\n</names>\n\n{DEDUPLICATE_PROMPT.format(target=target)}"
    return [{"role": "system", "content": CLUSTER_SYSTEM}, {"role": "user", "content": body}]


def assign_messages(categories: Sequence[str], clusters: Sequence[str]) -> list[ChatMessage]:
    body = (
        f"<clusters>\n{_numbered(clusters, 300)}\n</clusters>\n\n"
        f"<categories>\n{_numbered(categories, 200)}\n</categories>\n\n{ASSIGN_PROMPT.format(count=len(clusters))}"
    )
    return [{"role": "system", "content": CLUSTER_SYSTEM}, {"role": "user", "content": body}]


def rename_messages(children: Sequence[str]) -> list[ChatMessage]:
    body = f"<clusters>\n{_bullets(children, 300)}\n</clusters>\n\n{RENAME_PROMPT}"
    return [{"role": "system", "content": CLUSTER_SYSTEM}, {"role": "user", "content": body}]


CLASSIFY_PROMPT = """Which of the {count} clusters above does the request inside <request> belong to?
- choice: the number of the cluster that fits the request best.
- none_fit: true only if no cluster fits the request at all (a topic the map does not have yet)."""


def classify_messages(request: str, clusters: Sequence[tuple[str, str, Sequence[str]]]) -> list[ChatMessage]:
    """A request and its candidate clusters (name, description, typical requests), numbered."""
    listed = "\n".join(
        f"{i}. {clip_text(describe(name, description), 300)}\n"
        + "\n".join(f"   - {clip_text(t, 160)}" for t in typical)
        for i, (name, description, typical) in enumerate(clusters, start=1)
    )
    body = (
        f"<request>\n{clip_text(request, 600)}\n</request>\n\n<clusters>\n{listed}\n</clusters>\n\n"
        + CLASSIFY_PROMPT.format(count=len(clusters))
    )
    return [{"role": "system", "content": CLUSTER_SYSTEM}, {"role": "user", "content": body}]


#: The privacy auditor's scale (kura.privacy.audit), shown to the model and to people (docs/privacy.md).
AUDIT_SCALE = {
    1: "identifies a specific person: a name, contact details, an address, an account or id number, "
    "or details that together could only be one person",
    2: "could narrow things down to a few people: a rare personal situation tied to a named small "
    "organisation, place or event",
    3: "specific circumstances (an organisation, a city, a job) that many people share; no one could be singled out",
    4: "general, with incidental personal context that points at no one",
    5: "nothing personal: a general topic or task that many people ask about",
}

AUDIT_SYSTEM = (
    "You are a privacy auditor for an aggregate map of what users ask an AI assistant. You rate how "
    "much a cluster of conversations could identify any individual person. You never repeat private details."
)

AUDIT_PROMPT = """Rate the cluster above for identifying content, on this scale:
{scale}

Text in square brackets such as [NAME], [EMAIL] or [ADDRESS] was already removed: it identifies no one.
Public figures, companies, products and places mentioned as topics are not private.
- reason: one short sentence on what, if anything, could identify someone (without repeating it).
- rating: the number from the scale."""


def audit_messages(name: str, description: str, summaries: Sequence[str], clip: int = 300) -> list[ChatMessage]:
    """A cluster as the privacy auditor sees it: name, description, typical summaries, the scale."""
    scale = "\n".join(f"{n} - {text}" for n, text in AUDIT_SCALE.items())
    body = (
        f"<cluster>\nname: {clip_text(name, 200)}\ndescription: {clip_text(description, 600)}\n</cluster>\n\n"
        f"<summaries>\n{_bullets(summaries, clip)}\n</summaries>\n\n" + AUDIT_PROMPT.format(scale=scale)
    )
    return [{"role": "system", "content": AUDIT_SYSTEM}, {"role": "user", "content": body}]
