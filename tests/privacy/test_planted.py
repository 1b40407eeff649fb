"""The planted-data generator: values where it says, valid where a checksum exists, the same for a seed."""

from __future__ import annotations

import json
import re

import pytest
from kura_testdata import DEMO_DATA

from kura.privacy.planted import plant
from kura.privacy.scrub import KINDS


@pytest.fixture(scope="module")
def turns() -> list[str]:
    return [json.loads(line)["messages"][0]["content"] for line in DEMO_DATA.read_text().splitlines()]


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in re.sub(r"\D", "", number)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def test_every_value_is_where_it_says_and_the_rest_of_the_text_is_kept(turns):
    texts, planted = plant(turns, seed=0)
    assert len(texts) == len(planted) == len(turns)
    for value in planted:
        text = texts[value.index]
        assert text[value.start : value.end] == value.value
        assert turns[value.index].strip()[:20] in text
        assert value.value in value.pieces


def test_kinds_take_turns_and_the_seed_fixes_everything(turns):
    texts, planted = plant(turns, seed=5)
    counts = {kind: sum(p.kind == kind for p in planted) for kind in KINDS}
    assert min(counts.values()) >= len(turns) // len(KINDS) - 1
    assert plant(turns, seed=5) == (texts, planted)
    assert plant(turns, seed=6)[0] != texts


def test_cards_pass_luhn_and_ibans_their_check_digits(turns):
    _, planted = plant(turns * 4, seed=1, kinds=["CARD", "BANK_ACCOUNT"])
    cards = [p.value for p in planted if p.kind == "CARD"]
    ibans = [p.value.replace(" ", "") for p in planted if p.kind == "BANK_ACCOUNT" and p.value[:2].isalpha()]
    assert len(cards) > 100 and len(ibans) > 50
    assert all(luhn_ok(c) for c in cards)
    for iban in ibans:
        rearranged = iban[4:] + iban[:4]
        assert int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1, iban


def test_names_are_split_into_identifying_pieces(turns):
    _, planted = plant(turns, seed=2, kinds=["NAME"])
    for value in planted:
        assert all(part in value.pieces for part in value.value.split() if len(part) > 2)


def test_unknown_kind_is_refused(turns):
    with pytest.raises(ValueError, match="SHOE_SIZE"):
        plant(turns, kinds=["SHOE_SIZE"])
