"""Small hand-made conversations for the language-model tests."""

from __future__ import annotations

from kura.types import Conversation, Message


def chat(chat_id: str, *turns: str, **metadata) -> Conversation:
    roles = ["user", "assistant"]
    return Conversation(
        chat_id=chat_id,
        messages=[Message(role=roles[i % 2], content=t) for i, t in enumerate(turns)],
        metadata=metadata,
    )


TOPICS = {
    "python": [
        "How do I reverse a list in python",
        "Fix my python loop that never ends",
        "Explain python decorators with an example",
        "Why does my python script raise KeyError",
        "Sort a python dictionary by value",
    ],
    "cooking": [
        "Give me a recipe for banana bread",
        "How long should I boil an egg",
        "What spices go well with lentil soup",
        "Suggest a vegetarian dinner recipe",
        "How do I make fresh pasta dough",
    ],
    "travel": [
        "Plan a three day trip to the mountains",
        "What should I pack for a beach holiday",
        "Find cheap ways to travel by train",
        "Suggest a road trip itinerary along the coast",
        "How do I avoid jet lag on long flights",
    ],
    "fitness": [
        "Make me a beginner running plan",
        "How many push ups should I do daily",
        "Suggest a stretching routine for back pain",
        "Build a weekly gym workout split",
        "How do I improve my squat form",
    ],
}


def topic_conversations() -> list[Conversation]:
    out = []
    for topic, asks in TOPICS.items():
        for i, ask in enumerate(asks):
            out.append(chat(f"{topic}-{i}", ask, f"Here is some help with: {ask.lower()}."))
    return out
