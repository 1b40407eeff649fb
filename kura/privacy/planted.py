"""Personal data planted in real texts at known places: the ground truth for the scrubber's benchmark
and for the privacy proof (nothing planted may reach a derived output).

    texts_with_pii, planted = plant(user_turns, seed=0)
    planted[0]  # PlantedValue(kind='PHONE', value='+44 20 7946 0958', index=0, start=31, pieces=(...))

Every text gets one value, in a sentence of varied wording put before, after or between its
sentences; the kinds take turns in a seeded order. Values are realistic, not placeholders: names
from many cultures, phone numbers that libphonenumber accepts, card numbers that pass Luhn, IBANs
and NHS numbers with valid check digits, SSNs and NI numbers of a valid form, provider-shaped keys.
Everything is drawn from ``random.Random(seed)``: the same texts and seed give the same result.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kura.privacy.scrub import KINDS


@dataclass(frozen=True)
class PlantedValue:
    kind: str  # one of kura.privacy.scrub.KINDS
    value: str
    index: int  # which text
    start: int  # where in that text (after planting)
    pieces: tuple[str, ...]  # the value and any part of it that alone would identify (a surname...)

    @property
    def end(self) -> int:
        return self.start + len(self.value)


def plant(
    texts: Sequence[str], seed: int = 0, kinds: Sequence[str] = KINDS, *, uncued_names: bool = False
) -> tuple[list[str], list[PlantedValue]]:
    """One planted value per text; returns the new texts and what was planted where.

    ``uncued_names`` plants names in sentences with none of the cues the scrubber's own name
    rules look for ("my coworker", "I'm", "... here"): what the recogniser alone catches.
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kinds {unknown}: use some of {', '.join(KINDS)}")
    rng = random.Random(seed)
    order = list(kinds)
    out: list[str] = []
    planted: list[PlantedValue] = []
    for index, text in enumerate(texts):
        if index % len(order) == 0:
            rng.shuffle(order)
        kind = order[index % len(order)]
        value, pieces, template = _GENERATORS[kind](rng)
        if kind == "NAME" and uncued_names:
            template = rng.choice(UNCUED_NAME_TEMPLATES)
        new_text, start = _insert(rng, text, template, value)
        out.append(new_text)
        planted.append(PlantedValue(kind, value, index, start, pieces))
    return out, planted


def _insert(rng: random.Random, text: str, template: str, value: str) -> tuple[str, int]:
    sentence = template.replace("{v}", value, 1)
    at = sentence.index(value)
    text = text.strip()
    breaks = [m.end() for m in re.finditer(r"[.?!]\s+|\n+", text) if 0 < m.end() < len(text)]
    where = rng.choice(["start", "end", "between"] if breaks else ["start", "end"])
    if where == "start" or not text:
        return f"{sentence} {text}".rstrip(), at
    if where == "end":
        return f"{text} {sentence}", len(text) + 1 + at
    cut = rng.choice(breaks)
    return f"{text[:cut]}{sentence} {text[cut:]}", cut + at


# -- values ---------------------------------------------------------------------------------------
_NAMES = {  # (first names, surnames) per culture
    "english": (
        ["James", "Emily", "Oliver", "Charlotte", "Harry", "Grace"],
        ["Whitaker", "Thornton", "Bennett", "Hughes"],
    ),
    "spanish": (["Alejandro", "María", "Lucía", "Javier", "Camila"], ["Gutiérrez", "Fernández", "Morales", "Ramírez"]),
    "chinese": (["Wei", "Na", "Fang", "Jie", "Xiaoming"], ["Zhang", "Li", "Wang", "Chen", "Liu"]),
    "indian": (["Priya", "Arjun", "Ananya", "Rahul", "Sanjay"], ["Ramanathan", "Mehta", "Krishnan", "Deshpande"]),
    "nigerian": (["Oluwaseun", "Chinedu", "Ngozi", "Emeka", "Adaeze"], ["Adeyemi", "Okafor", "Eze", "Nwosu"]),
    "arabic": (["Fatima", "Omar", "Layla", "Youssef", "Khalid"], ["Al-Sayed", "Haddad", "Mansour", "Khalil"]),
    "japanese": (["Haruto", "Yui", "Kenji", "Aiko", "Sakura"], ["Sato", "Tanaka", "Watanabe", "Nakamura"]),
    "slavic": (["Dmitri", "Anastasia", "Katarzyna", "Piotr", "Olga"], ["Volkov", "Petrova", "Nowak", "Zieliński"]),
    "german": (["Lukas", "Sophie", "Jan", "Lena", "Matthias"], ["Müller", "Schneider", "de Vries", "Becker"]),
    "korean_vietnamese": (["Min-jun", "Ji-woo", "Minh", "Thi Mai", "Duc"], ["Kim", "Park", "Nguyen", "Tran"]),
}
_NAME_TEMPLATES = [
    "My name is {v}.",
    "I'm {v} and I need some help with this.",
    "My coworker {v} asked me the following.",
    "Please sign the letter as {v}.",
    "This is for my friend {v}.",
    "Write it as if it came from {v}.",
    "{v} here.",
    "My manager, {v}, wants an answer by Friday.",
]


#: Sentences that name someone without a cue word before or after the name (held out from the
#: scrubber's rules, which were written with the templates above in view).
UNCUED_NAME_TEMPLATES = [
    "Tell {v} that the meeting moved to Thursday.",
    "{v} and I disagree about this.",
    "Can you write a short poem for {v}?",
    "Forward the answer to {v} when you are done.",
    "Is it rude that {v} never replies to my messages?",
    "We are planning a surprise party for {v}.",
]


def _person(rng: random.Random) -> tuple[str, str]:
    firsts, lasts = _NAMES[rng.choice(sorted(_NAMES))]
    return rng.choice(firsts), rng.choice(lasts)


def _name(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    first, last = _person(rng)
    value = f"{first} {last}"
    return value, (value, *(w for w in value.split() if len(w) > 2)), rng.choice(_NAME_TEMPLATES)


def _email(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    first, last = (_ascii(part) for part in _person(rng))
    local = rng.choice(
        [
            f"{first}.{last}",
            f"{first[0]}{last}{rng.randint(1, 99)}",
            f"{last}_{first}",
            f"{first}{rng.randint(1970, 2005)}",
        ]
    )
    domain = rng.choice(
        [
            "gmail.com",
            "outlook.com",
            "yahoo.co.uk",
            "proton.me",
            "northwind-traders.com",
            "cs.ox.ac.uk",
            "web.de",
            "uni-koeln.de",
        ]
    )
    value = f"{local}@{domain}"
    templates = [
        "You can email me at {v}.",
        "My email is {v}",
        "(contact: {v})",
        "Please cc {v} on the reply.",
        "Send the file to {v} when it's done.",
    ]
    return value, (value, local), rng.choice(templates)


def _ascii(text: str) -> str:
    return "".join(c for c in text.lower() if c in string.ascii_lowercase) or "user"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _phone(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    # Numbers in ranges that are allocated (a number in an unallocated range is nobody's phone).
    area = rng.choice(["212", "415", "617", "312", "206", "303", "512", "646", "718", "305"])
    exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(1, 9)}"
    line = _digits(rng, 4)
    value = rng.choice(
        [
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"+1 {area} {exchange} {line}",
            f"07{rng.choice('45789')}{_digits(rng, 2)} {_digits(rng, 6)}",
            f"+44 20 7{_digits(rng, 3)} {_digits(rng, 4)}",
            f"+49 30 {_digits(rng, 8)}",
            f"+33 6 {rng.randint(10, 38)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
            f"+91 9{_digits(rng, 4)} {_digits(rng, 5)}",
            f"+234 803 {_digits(rng, 3)} {_digits(rng, 4)}",
            f"+61 4{rng.randint(0, 3)}{_digits(rng, 1)} {_digits(rng, 3)} {_digits(rng, 3)}",
        ]
    )
    templates = [
        "Call me on {v}.",
        "My number is {v}",
        "Text {v} when you arrive.",
        "Phone: {v}",
        "You can reach her at {v} after 5pm.",
    ]
    return value, (value,), rng.choice(templates)


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str((10 - total % 10) % 10)


def _card(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    prefix, length = rng.choice(
        [("4", 16), (str(rng.randint(51, 55)), 16), (rng.choice(["34", "37"]), 15), ("6011", 16)]
    )
    number = _luhn_complete(prefix, length, rng)
    groups = [number[0:4], number[4:10], number[10:]] if length == 15 else [number[i : i + 4] for i in range(0, 16, 4)]
    value = rng.choice([" ".join(groups), "-".join(groups), number])
    templates = [
        "My card number is {v}.",
        "Charge it to {v} please.",
        "Card: {v}, expiry 09/27.",
        "I paid with {v} and got charged twice.",
    ]
    return value, (value,), rng.choice(templates)


def _iban(rng: random.Random) -> str:
    country, bban = rng.choice(
        [
            ("GB", "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 14)),
            ("DE", _digits(rng, 18)),
            (
                "FR",
                _digits(rng, 10)
                + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(11))
                + _digits(rng, 2),
            ),
            ("NL", "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 10)),
            ("ES", _digits(rng, 20)),
        ]
    )
    as_number = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(as_number) % 97:02d}{bban}"
    return rng.choice([iban, " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))])


def _bank_account(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    if rng.random() < 0.7:
        templates = ["My IBAN is {v}.", "Please transfer the deposit to {v}.", "IBAN: {v}"]
        value = _iban(rng)
    else:  # a US account number: only recognisable with a context word
        templates = ["My bank account number is {v}.", "Checking account {v} was debited twice."]
        value = _digits(rng, rng.randint(9, 12))
    return value, (value,), rng.choice(templates)


def _address(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    number = str(rng.randint(1, 9999)) + rng.choice(["", "", "", "B", "A"])
    name = rng.choice(
        [
            "Baker",
            "Oak",
            "Maple",
            "Elm",
            "Pennsylvania",
            "Victoria",
            "Church",
            "High",
            "Mill",
            "Cedar",
            "Station",
            "Sunset",
            "Rosewood",
            "Lincoln",
        ]
    )
    street = f"{number} {name} {rng.choice(['Street', 'St', 'Avenue', 'Ave', 'Road', 'Rd', 'Lane', 'Drive', 'Boulevard', 'Court', 'Way', 'Close'])}"
    tail = rng.choice(
        [
            "",
            f", {rng.choice(['Springfield', 'Portland', 'Austin', 'Toronto', 'Leeds'])}",
            f" NW, Washington, DC {_digits(rng, 5)}",
            f", Austin, TX {_digits(rng, 5)}",
            f", London {rng.choice(['NW1', 'SE15', 'E8'])} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
        ]
    )
    value = street + tail
    templates = [
        "I live at {v}.",
        "Ship it to {v}",
        "Our office is at {v}.",
        "Please deliver to {v}, the blue door.",
        "My home address is {v}.",
    ]
    return value, (value, street), rng.choice(templates)


def _national_id(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    kind = rng.choice(["ssn", "nino", "nhs", "passport"])
    if kind == "ssn":
        area = rng.choice([n for n in range(1, 900) if n != 666])
        value = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        templates = [
            "My SSN is {v}.",
            "Social security number: {v}",
            "my social security number is {v}, is that safe to share?",
        ]
    elif kind == "nino":
        first = rng.choice("ABCEGHJKLMNPRSTWXYZ")
        second = rng.choice(
            [c for c in "ABCEGHJKLMNPRSTWXYZ" if f"{first}{c}" not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}]
        )
        digits = _digits(rng, 6)
        value = rng.choice(
            [
                f"{first}{second}{digits}{rng.choice('ABCD')}",
                f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {rng.choice('ABCD')}",
            ]
        )
        templates = ["My national insurance number is {v}.", "NI number: {v}", "Here's my NINO {v} for the form."]
    elif kind == "nhs":
        while True:
            body = _digits(rng, 9)
            check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(body)) % 11
            if check != 10:
                break
        number = body + str(0 if check == 11 else check)
        value = rng.choice([number, f"{number[:3]} {number[3:6]} {number[6:]}"])
        templates = ["My NHS number is {v}.", "NHS number: {v}"]
    else:
        value = rng.choice([_digits(rng, 9), rng.choice(string.ascii_uppercase) + _digits(rng, 8)])
        templates = ["My passport number is {v}.", "US passport {v}, expiring next year."]
    return value, (value,), rng.choice(templates)


def _ip(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    value = rng.choice(
        [
            f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "2001:db8:" + ":".join(f"{rng.randint(0, 65535):x}" for _ in range(6)),
        ]
    )
    templates = [
        "My server's IP is {v}.",
        "Connect to {v} on port 22.",
        "The requests came from {v}.",
        "ping {v} times out",
    ]
    return value, (value,), rng.choice(templates)


def _credential(rng: random.Random) -> tuple[str, tuple[str, ...], str]:
    def chars(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    alnum = string.ascii_letters + string.digits
    kind = rng.choice(["openai", "github", "aws", "slack", "password", "bearer", "google"])
    if kind == "openai":
        value, templates = "sk-proj-" + chars(alnum, 40), ["Here is my API key: {v}", "export OPENAI_API_KEY={v}"]
    elif kind == "github":
        value, templates = "ghp_" + chars(alnum, 36), ["My GitHub token is {v}.", "git clone with token {v} fails"]
    elif kind == "aws":
        value, templates = (
            "AKIA" + chars(string.ascii_uppercase + string.digits, 16),
            ["aws_access_key_id = {v}", "My AWS key {v} leaked"],
        )
    elif kind == "slack":
        value = f"xoxb-{_digits(rng, 11)}-{_digits(rng, 12)}-{chars(alnum, 24)}"
        templates = ["The bot token is {v}", "SLACK_TOKEN={v}"]
    elif kind == "password":
        value = (
            rng.choice(["hunter", "sunshine", "dragon", "Tr0ub4dor", "letmein"]) + _digits(rng, 2) + rng.choice("!@#$")
        )
        templates = ["My password is {v}.", "password: {v}", "login with pwd={v}"]
    elif kind == "bearer":
        value = "eyJ" + chars(alnum, 20) + "." + chars(alnum, 30) + "." + chars(alnum + "-_", 25)
        templates = ["Authorization: Bearer {v}", "the header has Bearer {v} but I get 401"]
    else:
        value, templates = "AIza" + chars(alnum + "-_", 35), ["My Maps API key is {v}"]
    return value, (value,), rng.choice(templates)


_GENERATORS: dict[str, Callable[[random.Random], tuple[str, tuple[str, ...], str]]] = {
    "NAME": _name,
    "EMAIL": _email,
    "PHONE": _phone,
    "CARD": _card,
    "BANK_ACCOUNT": _bank_account,
    "ADDRESS": _address,
    "NATIONAL_ID": _national_id,
    "IP": _ip,
    "CREDENTIAL": _credential,
}
