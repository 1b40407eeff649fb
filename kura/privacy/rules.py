"""The scrubber's own detection rules, only for what Presidio has no recogniser for.

Presidio 2.2 finds names only through spaCy's statistical recogniser, which misses names it has
not seen in familiar positions (more often non-Western ones). A name in a chat usually comes with
a cue (a self-introduction, "my coworker", "Dr", a signature): the cues are precise enough for rules.
Presidio also recognises e-mail addresses, phone numbers, cards, IBANs, US bank numbers, SSNs,
passports, driving licences, UK NHS and national insurance numbers and IP addresses, but no street
addresses (its ``LOCATION`` is spaCy's GPE/LOC, which would scrub "a trip to Paris" and still miss
"12 Oak Lane") and no secrets. These rules fill exactly those gaps, as Presidio
``PatternRecognizer``s, so that they go through the same engine, threshold and overlap handling.

Patterns are compiled by Presidio with the ``regex`` module and the flags IGNORECASE | DOTALL |
MULTILINE; ``(?-i:...)`` marks the parts that must keep their case.
"""

from __future__ import annotations

RULES_VERSION = "2"

NAME_ENTITY = "INTRODUCED_NAME"
ADDRESS_ENTITY = "STREET_ADDRESS"
CREDENTIAL_ENTITY = "CREDENTIAL"

# -- names by their cues -------------------------------------------------------------------------------
# Capitalised words (hyphens, apostrophes, and lower-case particles such as "de" or "van" inside)
# where the words around them say a person is meant. A strong cue (a self-introduction, a relation
# such as "my coworker", a title) takes one word or more; a weak cue ("I'm", "this is", "from",
# "Dear") takes two or more, because "I'm Happy" or "from Paris" are not names; and two or more
# words followed by "here" ("Ji-woo Park here.") sign a message. spaCy's recogniser misses most
# of these when the name is unfamiliar to it, or calls it an organisation or a place.
_NAME_WORD = r"(?-i:[A-Z][\w'’]*(?:-[A-Za-z][\w'’]*)*)"
_PARTICLE = r"(?-i:de|da|di|del|van|von|der|den|la|le|al|el|bin|ibn|ben)"
_MORE_WORDS = r"(?:\s+(?:" + _PARTICLE + r"\s+)?" + _NAME_WORD + r")"
_RELATION = (
    r"(?:friend|coworker|co-worker|colleague|manager|boss|supervisor|neighbou?r|wife|husband|partner|fianc[eé]e?"
    r"|girlfriend|boyfriend|son|daughter|child|kid|mom|mum|mother|dad|father|brother|sister|cousin|uncle|aunt"
    r"|grandma|grandmother|grandpa|grandfather|teacher|professor|doctor|therapist|lawyer|client|customer|ex"
    r"|landlord|landlady|tenant|roommate|flatmate|classmate|student|employee|employer|nephew|niece)"
)
_STRONG_CUE = (
    r"(?:my name is|my name's|my name’s|name:|call me|named|called|signed|sign(?:ed)?(?: it| this| the \w+)? as"
    r"|my " + _RELATION + r",?|(?-i:Mr|Mrs|Ms|Mx|Dr|Prof)\.?)"
)
_WEAK_CUE = r"(?:i'm|i’m|i am|this is|it's|it’s|from|dear|hi|hello|hey|regards,|sincerely,|thanks,|cheers,)"
CUED_NAMES = {
    "name after a strong cue": r"(?<=\b" + _STRONG_CUE + r"\s+)" + _NAME_WORD + _MORE_WORDS + "{0,3}",
    "name after a weak cue": r"(?<=\b" + _WEAK_CUE + r"\s+)" + _NAME_WORD + _MORE_WORDS + "{1,3}",
    "name before 'here'": _NAME_WORD + _MORE_WORDS + r"{1,3}(?=\s+here\b)",
}

# -- street addresses ------------------------------------------------------------------------------
# A house number, one to three capitalised words (or an ordinal: "5th"), then a street type. The
# capitals keep sentences like "3 ways to drive" out; the street type keeps "1600 Pennsylvania"
# (a number and a proper noun, e.g. "2019 Toyota Camry") out. After the street, an optional unit,
# town(s), US state and ZIP code or UK postcode are taken too: they narrow the address down.
_HOUSE = r"\b\d{1,5}[A-Za-z]?"
_WORD = r"(?-i:[A-Z][a-z'’]+|\d{1,3}(?:st|nd|rd|th))"
_STREET_TYPE = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Close"
    r"|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy|Row|Gardens|Grove|Mews|Alley|Circle|Cir|Trail|Walk|Hill)\b\.?"
)
_DIRECTION = r"(?:\s+(?-i:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|\#)\.?\s*\w{1,5})?"
_TOWN = r"(?:,\s*(?-i:[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2})){0,2}"
_POSTAL = r"(?:,?\s*(?-i:[A-Z]{2})\s+\d{5}(?:-\d{4})?|,?\s+(?-i:[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b)?"
STREET_ADDRESS = _HOUSE + r"\s+(?:" + _WORD + r"\s+){1,3}" + _STREET_TYPE + _DIRECTION + _UNIT + _TOWN + _POSTAL

# -- credentials -------------------------------------------------------------------------------------
# Each provider's key format has a fixed, documented prefix: matching the prefix and a long tail of
# key characters finds them with almost no false positives.
PROVIDER_KEYS = {
    "OpenAI/Anthropic key": r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{20,}",
    "GitHub token": r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
    "AWS access key id": r"\b(?-i:(?:AKIA|ASIA)[A-Z0-9]{16})\b",
    "Slack token": r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    "Google API key": r"\bAIza[0-9A-Za-z_\-]{30,}",
    "Stripe key": r"\b[rsp]k_(?:live|test)_[0-9A-Za-z]{16,}",
    "JSON web token": r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
}
# A secret named by the words around it: only the value is replaced, so the summary still says
# what was shared ("password: [CREDENTIAL]"). After "is" the value must hold a digit or a symbol,
# so that "the password is incorrect" stays as it is.
_SECRET_WORD = (
    r"(?:password|passwd|passphrase|passcode|pwd|pin|secret|api[_ \-]?key|access[_ \-]?token|auth[_ \-]?token|token)"
)
NAMED_SECRETS = {
    "secret after ':' or '='": r"(?<=\b" + _SECRET_WORD + r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{4,}",
    "secret after 'is'": r"(?<=\b" + _SECRET_WORD + r"\s+is\s+[\"']?)(?=[^\s\"',;]*[\d!@#$%^&*_+=])[^\s\"',;]{4,}",
    "Bearer token": r"(?<=\bBearer\s+)[A-Za-z0-9._~+/=\-]{12,}",
    # user:password@host in a URL or connection string
    "password in a URL": r"(?<=://[^\s:/@]+:)[^\s@/]+(?=@)",
    # a PEM private key, whole, or up to the end of the text when its END line was cut off
    "private key block": r"-----BEGIN[A-Z ]*PRIVATE KEY-----(?:.*?-----END[A-Z ]*PRIVATE KEY-----|[A-Za-z0-9+/=\s]*)",
}


def own_recognizers() -> list:
    """Presidio recognisers for the two rules (Presidio is imported only when the scrubber is built)."""
    from presidio_analyzer import Pattern, PatternRecognizer

    introduced = PatternRecognizer(
        supported_entity=NAME_ENTITY,
        name="KuraCuedName",
        patterns=[Pattern(name, regex, 0.6) for name, regex in CUED_NAMES.items()],
    )
    address = PatternRecognizer(
        supported_entity=ADDRESS_ENTITY,
        name="KuraStreetAddress",
        patterns=[Pattern("street address", STREET_ADDRESS, 0.6)],
    )
    credentials = PatternRecognizer(
        supported_entity=CREDENTIAL_ENTITY,
        name="KuraCredential",
        patterns=[Pattern(name, regex, 0.9) for name, regex in {**PROVIDER_KEYS, **NAMED_SECRETS}.items()],
    )
    return [introduced, address, credentials]
