"""The scrubber with the real Presidio analyzer and the real spaCy model (the ``privacy`` extra)."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
import subprocess
import sys

import pytest
from kura_testdata import REPO, shared

from kura.errors import ConfigError
from kura.io.hh_rlhf import split_transcript
from kura.privacy import spacy_model
from kura.privacy.planted import plant
from kura.privacy.scrub import MAX_PIECE_CHARS, PLACEHOLDERS, Scrubber, load_scrubber

# (sentence, the values that must be gone, the placeholder that must replace them)
CASES = [
    ("Hi, I'm Priya Ramanathan and I need help with my visa.", ["Priya", "Ramanathan"], "[NAME]"),
    ("Write a thank-you note to Oluwaseun Adeyemi for the flowers.", ["Oluwaseun", "Adeyemi"], "[NAME]"),
    ("My name is Jan de Vries, what should I cook tonight?", ["Jan de Vries"], "[NAME]"),
    ("Email the report to maria.fernandez84@outlook.com by Monday.", ["maria.fernandez84@outlook.com"], "[EMAIL]"),
    ("Call me at (415) 729-3310 after six.", ["729-3310"], "[PHONE]"),
    ("My UK mobile is 07700 900461 if the line drops.", ["07700 900461"], "[PHONE]"),
    ("You can reach him on +49 30 90182736 in Berlin.", ["90182736"], "[PHONE]"),
    ("I was charged twice on card 4539 1488 0343 6467, can I dispute it?", ["4539 1488 0343 6467"], "[CARD]"),
    ("Please wire it to GB82 WEST 1234 5698 7654 32 today.", ["GB82 WEST 1234 5698 7654 32"], "[BANK_ACCOUNT]"),
    ("My bank account number is 0004417119380 and it was debited.", ["0004417119380"], "[BANK_ACCOUNT]"),
    ("Send the parcel to 221B Baker Street, London NW1 6XE please.", ["221B Baker Street", "NW1 6XE"], "[ADDRESS]"),
    (
        "The White House is at 1600 Pennsylvania Ave NW, Washington, DC 20500.",
        ["1600 Pennsylvania", "20500"],
        "[ADDRESS]",
    ),
    ("We moved to 12 Oak Lane, Springfield last spring.", ["12 Oak Lane", "Springfield"], "[ADDRESS]"),
    ("My SSN is 536-22-8171, is it safe to give it to them?", ["536-22-8171"], "[NATIONAL_ID]"),
    ("My national insurance number is JG 10 37 59 A.", ["10 37 59"], "[NATIONAL_ID]"),
    ("My NHS number is 943 476 5919.", ["943 476 5919"], "[NATIONAL_ID]"),
    ("My passport number is 912803456, does it expire?", ["912803456"], "[NATIONAL_ID]"),
    ("Why can't I ssh into 203.0.113.42 from home?", ["203.0.113.42"], "[IP]"),
    ("The log shows requests from 2001:db8:85a3::8a2e:370:7334.", ["2001:db8:85a3::8a2e:370:7334"], "[IP]"),
    (
        "Here is my key sk-proj-Xr4aB8tYq2LmN7vWz0KpQs5Dd1, why 401?",
        ["sk-proj-Xr4aB8tYq2LmN7vWz0KpQs5Dd1"],
        "[CREDENTIAL]",
    ),
    (
        "git push fails with ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        ["ghp_16C7e42F292c6912E7710c838347Ae178B4a"],
        "[CREDENTIAL]",
    ),
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", ["AKIAIOSFODNN7EXAMPLE"], "[CREDENTIAL]"),
    ("my slack bot uses xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy", ["xoxb-17653672481"], "[CREDENTIAL]"),
    ("password: hunter2 does not work any more", ["hunter2"], "[CREDENTIAL]"),
    ("curl -H 'Authorization: Bearer 9f8e7d6c5b4a39281706f5e4' fails", ["9f8e7d6c5b4a39281706f5e4"], "[CREDENTIAL]"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----",
        ["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo"],
        "[CREDENTIAL]",
    ),
]

ORDINARY = [
    "Plan a trip to Paris",
    "Explain Python decorators",
    "What is the capital of France?",
    "How do I make a sourdough starter?",
    "Summarise the causes of the First World War in 3 paragraphs.",
    "Write a SQL query that counts orders per customer in 2023.",
    "What's the difference between TCP and UDP?",
    "my password is not working, how do I reset it?",
]


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return load_scrubber()


def hh_user_turns(n: int) -> list[str]:
    with gzip.open(shared("hh_rlhf_harmless_test.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [split_transcript(json.loads(line)["chosen"])[0].content for line, _ in zip(f, range(n))]


@pytest.mark.parametrize(("text", "values", "placeholder"), CASES, ids=[c[2] + ":" + c[0][:24] for c in CASES])
def test_each_kind_is_replaced_by_its_placeholder(scrubber, text, values, placeholder):
    result = scrubber.scrub_batch([text])[0]
    for value in values:
        assert value not in result.text, result.text
    assert placeholder in result.text, result.text
    assert result.found[placeholder.strip("[]")] >= 1


def test_ordinary_requests_are_left_alone(scrubber):
    results = scrubber.scrub_batch(ORDINARY)
    assert [r.text for r in results] == ORDINARY
    assert all(not r.found for r in results)


def test_found_counts_each_placeholder(scrubber):
    result = scrubber.scrub_batch(["Ask Emily Thornton or James Whitaker, or mail ops@northwind-traders.com."])[0]
    assert result.found == {"NAME": 2, "EMAIL": 1}
    assert result.text.count("[NAME]") == 2
    assert all(result.text.count(p) == result.found.get(kind, 0) for kind, p in PLACEHOLDERS.items())


def test_scrubbing_is_idempotent(scrubber):
    planted_turns, _ = plant(hh_user_turns(150), seed=3)
    texts = [c[0] for c in CASES] + planted_turns + ["[NAME] Smith wrote to [EMAIL] from [IP]", "[CARD] [CARD]"]
    once = [r.text for r in scrubber.scrub_batch(texts)]
    twice = scrubber.scrub_batch(once)
    assert [r.text for r in twice] == once
    assert all(not r.found for r in twice)
    assert "Smith" not in once[-2]  # a name beside a placeholder is still found


def test_single_text_api_matches_the_batch(scrubber):
    texts = [c[0] for c in CASES[:6]]
    assert [scrubber.scrub(t) for t in texts] == [r.text for r in scrubber.scrub_batch(texts)]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t",
        "日本語のテキストです。東京タワーはどこですか",
        "def f(x):\n    return {k: v for k, v in x.items()}  # O(n)",
        "🙂" * 500,
        "a" * 5000,
        "\x00\x01 odd bytes \ufeff",
    ],
)
def test_odd_input_does_not_crash(scrubber, text):
    result = scrubber.scrub_batch([text])[0]
    assert isinstance(result.text, str)
    if not text.strip():
        assert result.text == text


@pytest.mark.slow
def test_a_200k_character_text_is_scrubbed_in_every_piece(scrubber):
    separator = " "  # no line breaks between the turns: most pieces are cut at a space
    kinds = ["EMAIL", "PHONE", "CARD", "IP", "CREDENTIAL"]  # the kinds found without the statistical model
    texts, planted = plant(hh_user_turns(2312), seed=11, kinds=kinds)
    lengths = [len(t) + len(separator) for t in texts]
    n = next(i for i in range(len(texts)) if sum(lengths[: i + 1]) > 200_000) + 1
    big = separator.join(texts[:n])
    assert len(big) > 10 * MAX_PIECE_CHARS
    out = scrubber.scrub(big)
    leaked = [p.value for p in planted[:n] if p.value in out]
    assert not leaked, leaked[:5]
    assert out.count("[CARD]") >= sum(p.kind == "CARD" for p in planted[:n])


def test_pickled_scrubber_rebuilds_its_engine(scrubber):
    copy = pickle.loads(pickle.dumps(scrubber))
    assert copy._engine is None
    assert copy.label == scrubber.label
    text = CASES[0][0] + " " + CASES[3][0]
    assert copy.scrub(text) == scrubber.scrub(text)


def test_label_names_the_library_versions_and_rules(scrubber):
    assert "presidio-analyzer==" in scrubber.label and "spacy==3.8" in scrubber.label
    assert f"{spacy_model.DISTRIBUTION}=={spacy_model.VERSION}" in scrubber.label


def test_a_changed_model_file_is_refused(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(spacy_model.installed_model_dir(), copy)
    spacy_model.verify_model_dir(copy)  # an exact copy passes
    weights = copy / "ner" / "model"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"ner/model: sha256 .* differs"):
        Scrubber(model_dir=str(copy)).engine()


def test_an_extra_or_missing_model_file_is_refused(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(spacy_model.installed_model_dir(), copy)
    (copy / "ner" / "extra.py").write_text("print('hello')\n")
    with pytest.raises(ConfigError, match=r"extra\.py: an unexpected file"):
        spacy_model.verify_model_dir(copy)
    (copy / "ner" / "extra.py").unlink()
    (copy / "tokenizer").unlink()
    with pytest.raises(ConfigError, match=r"tokenizer: missing"):
        spacy_model.verify_model_dir(copy)


def test_missing_extra_is_one_line_with_the_pip_command():
    code = (
        "import sys; sys.modules['presidio_analyzer'] = None\n"
        "from kura.errors import ConfigError\n"
        "from kura.privacy.scrub import load_scrubber\n"
        "try:\n    load_scrubber()\nexcept ConfigError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip().count("\n") == 0
    assert "pip install 'kura[privacy]'" in out and "presidio-analyzer" in out
