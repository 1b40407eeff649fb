"""The extractive summariser on huge messages: linear in the input, and it reads a bounded head.

No wall-clock assertions (shared machines): the huge cases run in a subprocess whose generous
timeout only trips when the work is quadratic (a 200,000-character token took minutes before).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

from kura.stages.summarise import MAX_MESSAGE_CHARS, MAX_TOKEN_CHARS, ExtractiveSummariser
from kura.types import Conversation, Message

HUGE = 200_000


def summarise(*contents: str):
    conversation = Conversation(chat_id="c", messages=[Message(role="user", content=c) for c in contents])
    return asyncio.run(ExtractiveSummariser().summarise_one(conversation))


def test_a_200000_digit_run_and_a_200kb_token_summarise_without_hanging():
    script = textwrap.dedent(
        f"""
        import asyncio, json
        from kura.stages.summarise import ExtractiveSummariser, clean_text
        from kura.types import Conversation, Message

        def summary(text):
            chat = Conversation(chat_id="c", messages=[Message(role="user", content=text)])
            return asyncio.run(ExtractiveSummariser().summarise_one(chat)).summary

        print(json.dumps({{
            "digits": summary("Is this number prime? " + "7" * {HUGE} + " Show the steps."),
            "token": summary("a" * {HUGE}),
            "email_like": clean_text("x" * {HUGE} + " reach me at ann@example.org"),
        }}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    cut = "7" * MAX_TOKEN_CHARS + "…"
    assert out["digits"] == f"Is this number prime? {cut}"  # the rest lies past MAX_MESSAGE_CHARS
    assert out["token"] == "a" * MAX_TOKEN_CHARS + "…"
    assert out["email_like"] == "x" * MAX_TOKEN_CHARS + "… reach me at [email]"


def test_only_the_head_of_a_message_is_read():
    filler = "word " * (MAX_MESSAGE_CHARS // 5)
    late_code = "```python\nprint(1)\n```"
    early = summarise("Fix my script please " + late_code + filler)
    late = summarise("Fix my script please " + filler + late_code)
    assert early.languages == ["python"]
    assert late.languages is None  # the fence starts past the bound: never read


def test_phone_numbers_are_still_masked_and_long_numbers_are_not_phones():
    s = summarise("Call me on +44 20 7946 0958 about the order, or write to ann@example.org today.")
    assert s.summary == "Call me on [phone] about the order, or write to [email] today."
    assert summarise("Is 12345678901234567890123456789 prime or not?").summary == (
        "Is 12345678901234567890123456789 prime or not?"
    )
