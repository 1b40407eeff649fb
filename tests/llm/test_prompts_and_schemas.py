"""Prompts, the token budget that cuts long conversations, and the schema dialects."""

from __future__ import annotations

from llm_data import chat

from kura.llm.prompts import fit_messages, summary_messages
from kura.llm.schema import cap_lengths, gemini_schema, openai_strict, parse_json_reply, response_schema
from kura.types import GeneratedCluster, GeneratedSummary


def test_short_conversations_are_untouched():
    messages = [("user", "hello there"), ("assistant", "hi")]
    assert fit_messages(messages, 100) == messages


def test_long_conversations_keep_the_start_and_the_end():
    messages = [("user", "FIRST ask " + "a" * 50)] + [
        ("assistant" if i % 2 else "user", f"middle {i} " + "x " * 200) for i in range(40)
    ]
    messages.append(("user", "LAST complaint: this still does not work"))
    fitted = fit_messages(messages, 2000)
    text = "".join(c for _, c in fitted)
    assert fitted[0][1].startswith("FIRST ask")
    assert fitted[-1] == ("user", "LAST complaint: this still does not work")
    marker = [c for r, c in fitted if r == "note"]
    assert len(marker) == 1 and "characters omitted" in marker[0]
    omitted = int(marker[0].split()[1].replace(",", ""))
    assert len(text) - len(marker[0]) <= 2000 + 4  # within budget (plus ellipses)
    assert omitted == sum(len(c) for _, c in messages) - (len(text) - len(marker[0]))


def test_one_huge_message_is_cut_in_its_middle():
    huge = "START " + "word " * 5000 + "END"
    fitted = fit_messages([("user", huge)], 1000)
    assert fitted[0][1].startswith("START") and fitted[-1][1].endswith("END")
    assert sum(len(c) for r, c in fitted if r != "note") <= 1004


def test_summary_prompt_layout_system_then_tagged_transcript_then_instruction():
    messages = summary_messages(chat("1", "How do I sort a list?", "Use sorted()."), None, 10_000, ["sentiment"])
    assert messages[0]["role"] == "system" and "proper nouns" in messages[0]["content"]
    body = messages[1]["content"]
    assert (
        body.index("<conversation>")
        < body.index("User: How do I sort a list?")
        < body.index("</conversation>")
        < body.index("summary:")
    )
    assert "Also fill sentiment" in body


def test_a_custom_prompt_replaces_the_instruction_and_a_jinja_one_the_message():
    conversation = chat("1", "How do I sort a list?", "Use sorted().")
    custom = summary_messages(conversation, "Rate the technical complexity.", 10_000)
    assert (
        custom[1]["content"].endswith("Rate the technical complexity.")
        and "User: How do I sort" in custom[1]["content"]
    )
    template = "{% for message in conversation.messages %}<m>{{ message.role }}: {{ message.content }}</m>{% endfor %} Summarise."
    rendered = summary_messages(conversation, template, 10_000)
    assert rendered[1]["content"] == "<m>user: How do I sort a list?</m><m>assistant: Use sorted().</m> Summarise."


def test_openai_strict_schema_requires_every_field_and_drops_unsupported_keywords():
    schema = openai_strict(cap_lengths(response_schema(GeneratedSummary), max_length=100, max_items=5))
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(GeneratedSummary.model_fields)
    flat = str(schema)
    assert "maxLength" not in flat and "'default'" not in flat and "$ref" not in flat


def test_gemini_schema_uses_openapi_types_and_nullable():
    schema = gemini_schema(response_schema(GeneratedSummary))
    assert schema["type"] == "OBJECT"
    assert schema["properties"]["summary"] == {
        "type": "STRING",
        "description": schema["properties"]["summary"]["description"],
    }
    assert schema["properties"]["concerning_score"]["nullable"] is True
    assert schema["properties"]["concerning_score"]["type"] == "INTEGER"
    assert schema["propertyOrdering"][0] == "summary"


def test_caps_are_added_only_where_missing():
    schema = cap_lengths(response_schema(GeneratedCluster), max_length=50, max_items=3)
    assert all(p["maxLength"] == 50 for p in schema["properties"].values())


def test_json_is_found_in_replies():
    assert parse_json_reply('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_reply('Answer: {"a": 2}.') == {"a": 2}
    try:
        parse_json_reply("nothing")
    except ValueError as exc:
        assert "not valid JSON" in str(exc)
    else:
        raise AssertionError("expected a ValueError")
