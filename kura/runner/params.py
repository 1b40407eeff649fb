"""Settings read from constructors, and fingerprints derived from them (never written by hand).

A component follows scikit-learn's rule: ``__init__`` only stores each keyword argument under
its own name. Its settings are then its constructor's parameters, and its fingerprint is a hash
of its class, its ``code_version`` and those settings (nested components by their own
fingerprint). Change any setting and the fingerprint changes, so the runner recomputes that
stage and everything after it; change nothing and the stage is reused.
"""

from __future__ import annotations

import enum
import inspect
from pathlib import PurePath
from typing import Any, ClassVar

from pydantic import BaseModel

from kura.store.cache import content_key


class Component:
    """A stage's worker whose settings are its constructor's parameters."""

    #: Bump when a change to the code changes what the component produces.
    code_version: ClassVar[int] = 1
    #: Parameters that cannot change the output (concurrency, batch sizes, threads, credentials).
    not_fingerprinted: ClassVar[frozenset[str]] = frozenset()

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters and their current values (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in parameter_names(type(self))}

    def fingerprint(self) -> str:
        return fingerprint(self)

    @property
    def name(self) -> str:
        """A label for people (run.json, the CLI); subclasses may say it better."""
        return self.describe()

    def describe(self) -> str:
        """``ClassName(setting=value, ...)`` for people: the settings that differ from the defaults."""
        defaults = parameter_defaults(type(self))
        changed = {k: v for k, v in self.get_params().items() if defaults.get(k, inspect.Parameter.empty) != v}
        inner = ", ".join(f"{k}={_short(v)}" for k, v in changed.items() if k not in self.not_fingerprinted)
        return f"{type(self).__name__}({inner})"


def parameter_names(cls: type) -> list[str]:
    """Keyword parameters of ``cls.__init__`` (``*args``/``**kwargs`` are not settings)."""
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]  # the class's own constructor is what we want
    return [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def parameter_defaults(cls: type) -> dict[str, Any]:
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]  # the class's own constructor is what we want
    return {p.name: p.default for p in signature.parameters.values() if p.default is not p.empty}


def fingerprint(component: object) -> str:
    """A stable hash of what makes ``component`` produce what it produces."""
    return content_key(_canonical(component))


def _canonical(value: Any) -> Any:
    """A JSON-able stand-in for a setting: equal settings give equal values, across processes."""
    if isinstance(value, Component):
        try:
            settings = value.get_params()
        except AttributeError:
            # A user's component (Kura 0.5 style) whose constructor keeps its arguments under
            # other names: its own ``name`` is the best description of its settings there is.
            return {"class": _qualname(type(value)), "name": str(getattr(value, "name", ""))}
        params = {name: _canonical(v) for name, v in settings.items() if name not in value.not_fingerprinted}
        return {"class": _qualname(type(value)), "code_version": value.code_version, "params": params}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, type) and issubclass(value, BaseModel):
        return {"schema": value.model_json_schema()}  # a response schema: its fields are the setting
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, type) or callable(value):
        return _qualname(value)
    if hasattr(value, "fingerprint_parts"):  # objects outside the Component family (an LLM client)
        return _canonical(value.fingerprint_parts())
    if hasattr(value, "name") or hasattr(value, "slug"):  # a Kura 0.5 model: what it calls itself
        return {"class": _qualname(type(value)), "name": label(value)}
    raise TypeError(
        f"cannot fingerprint a setting of type {type(value).__name__}: make it a Component, "
        "give it fingerprint_parts(), or list it in not_fingerprinted"
    )


def label(component: object) -> str:
    """What a component calls itself: its ``name``, else Kura 0.5's ``slug()``, else its class."""
    name = getattr(component, "name", None)
    if isinstance(name, str):
        return name
    slug = getattr(component, "slug", None)
    return str(slug() if callable(slug) else type(component).__qualname__)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _short(value: Any) -> str:
    if isinstance(value, Component):
        return value.describe()
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
