"""Every setting of a run, declared once.

:class:`RunConfig` is the declaration: each field's type, default and bounds, and an
:class:`Option` saying how it shows outside Python. ``kura.run``'s keyword arguments are its
fields, ``kura run``'s options are generated from it (kura/cli.py), and so are the fields of the
explorer's New run form (kura/server/jobs.py). A menu of choices (embedders, projectors) is
worked out when asked, never at import. Adding a setting is one field here, and its use in
kura/pipeline.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kura.embedders import EMBEDDERS, Embedder
from kura.errors import ConfigError
from kura.io import parse_column_map
from kura.llm.base import LLM
from kura.runner.executor import EXECUTORS, Executor
from kura.runner.params import label
from kura.stages.cluster import CLUSTERERS, Clusterer
from kura.stages.project import PROJECTORS, Projector

PRIVACY_PROFILES = {
    "off": "no privacy layers (the default)",
    "strict": "scrubbed summaries and names, minimum cluster sizes, audited clusters, no raw text kept",
}


LOCAL_NAMES = {
    "auto": "a local model names the top clusters when one is found (kura doctor says which)",
    "on": "a local model names the top clusters; stop if none is found",
    "off": "every name from the offline namer",
}


@dataclass(frozen=True)
class Option:
    """How one setting shows on the command line and in the explorer's New run form."""

    help: str
    #: Command-line flags; default ``--field-name`` (``--x/--no-x`` for a yes/no setting).
    flags: tuple[str, ...] = ()
    #: The value a command line gives, when the setting also takes objects (an ``Embedder``...).
    cli_type: Any = None
    #: Command-line text to value (the column map).
    parse: Callable[[str], Any] | None = None
    #: Valid names and what each means, worked out when asked (objects are always accepted).
    choices: Callable[[], Mapping[str, str]] | None = None
    #: The label on the New run form; None keeps the setting off the form.
    form: str | None = None
    #: The hint under the form field, and its bounds there (a browser user's run stays sane).
    note: str = ""
    form_range: tuple[int, int] | None = None
    #: Shown under "Advanced" on the form.
    advanced: bool = False


class RunConfig(BaseModel):
    """The settings of ``kura.run`` (and of ``kura run``, and the New run form)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    format: Annotated[
        str,
        Option("Input format, or auto to detect it from the content (see `kura formats`).", flags=("--format", "-f")),
    ] = "auto"
    columns: Annotated[
        dict[str, str] | None,
        Option(
            "Column mapping for CSV/Parquet, e.g. id=conv_id,role=speaker,content=text.",
            cli_type=str | None,
            parse=parse_column_map,
        ),
    ] = None
    strict: Annotated[bool, Option("Stop at the first malformed record instead of skipping and counting it.")] = False
    clusters_per_group: Annotated[
        int,
        Field(ge=1),
        Option(
            "Conversations per base cluster: k = ceil(n / this), at most 5,000.",
            flags=("--clusters-per-group", "-k"),
            form="Conversations per base cluster",
            note="k = conversations ÷ this",
            form_range=(1, 10_000),
        ),
    ] = 10
    top_clusters: Annotated[
        int | None,
        Field(ge=1),
        Option(
            "Clusters at the top of the tree (default: about sqrt(base count), at most 10).",
            flags=("--top-clusters", "-t"),
            form="Top-level clusters",
            note="empty: about √(base clusters), at most 10",
            form_range=(1, 1000),
        ),
    ] = None
    levels: Annotated[
        int | None,
        Field(ge=1),
        Option("Levels above the base clusters (default: enough to keep each step at most 8:1)."),
    ] = None
    clusterer: Annotated[str | Clusterer, Option("Base clustering.", cli_type=str, choices=lambda: CLUSTERERS)] = (
        "kmeans"
    )
    embedder: Annotated[
        str | Embedder,
        Option(
            "Embedder, or an API model like openai/text-embedding-3-small.",
            cli_type=str,
            choices=lambda: EMBEDDERS,
            form="Embedder",
            advanced=True,
        ),
    ] = "minilm"
    projector: Annotated[
        str | Projector,
        Option("Map layout.", cli_type=str, choices=lambda: PROJECTORS, form="Map layout", advanced=True),
    ] = "umap"
    seed: Annotated[int, Option("Random seed: the same seed gives the same result.")] = 0
    llm: Annotated[
        str | LLM | None,
        Option(
            "Language model for summaries, names and hierarchy: openai/gpt-4o-mini, anthropic/MODEL, gemini/MODEL, "
            "azure/DEPLOYMENT, ollama/MODEL, vllm/MODEL, openrouter/MODEL, local (in-process Qwen2.5-Coder 0.5B), "
            "local/1.5b. Keys come from the environment or .env (see docs/llm.md). Default: none, extractive.",
            flags=("--llm",),
            cli_type=str | None,
        ),
    ] = None
    local_names: Annotated[
        str,
        Option(
            "Without --llm: name the clusters people read first (the top level, and the base clusters when "
            "there are few) with a local model within --name-budget; the offline namer names the rest. "
            "auto: when a local model is found (see `kura doctor`); on: stop if none is; off: never.",
            choices=lambda: LOCAL_NAMES,
        ),
    ] = "off"
    name_budget: Annotated[
        float,
        Field(ge=0),
        Option("Seconds the local model may spend naming clusters (--local-names), for the whole run."),
    ] = 60.0
    base_url: Annotated[
        str | None,
        Option(
            "Server URL for an OpenAI-compatible --llm/--embedder, e.g. http://127.0.0.1:8000/v1.",
            flags=("--base-url",),
        ),
    ] = None
    concurrency: Annotated[
        int | None, Field(ge=1), Option("Language-model requests in flight at once (default: the model's, 50).")
    ] = None
    executor: Annotated[
        str | Executor,
        Option(
            "Where per-item work (summaries, vectors) runs; results are the same either way (docs/distributed.md).",
            cli_type=str,
            choices=lambda: EXECUTORS,
        ),
    ] = "in-process"
    ray_address: Annotated[
        str | None,
        Option(
            "With --executor ray: the cluster, as Ray names it: auto (the cluster this machine is in) or "
            "ray://HOST:10001, or local (always a new local Ray). Default: RAY_ADDRESS, else a cluster started here by "
            "`ray start`, else a new local Ray."
        ),
    ] = None
    outcomes: Annotated[
        Path | None,
        Option(
            "A table of outcomes per conversation to join (CSV or Parquet keyed by conversation id: feedback, "
            "cost, resolved...), as `kura outcomes` does after a run.",
            flags=("--outcomes",),
        ),
    ] = None
    keep_taxonomy: Annotated[
        bool,
        Option(
            "Re-running into the same --out: keep its clusters (ids, names) and map, and place new conversations in them.",
            flags=("--keep-taxonomy",),
        ),
    ] = False
    privacy: Annotated[
        str,
        Option(
            "Privacy profile. strict: personal data scrubbed from summaries and names, minimum cluster sizes, "
            "clusters audited by a language model when there is one, conversation text not kept (docs/privacy.md). "
            "off: none of it (the default).",
            choices=lambda: PRIVACY_PROFILES,
            form="Privacy",
            advanced=True,
        ),
    ] = "off"
    min_conversations: Annotated[
        int | None,
        Field(ge=1),
        Option(
            "Smallest cluster shown, in conversations; smaller ones are merged into their nearest cluster "
            "(default: 10 with --privacy strict, else no minimum)."
        ),
    ] = None
    min_users: Annotated[
        int | None,
        Field(ge=1),
        Option(
            "Smallest cluster shown, in distinct users, when user ids are known (see --user-field) "
            "(default: 5 with --privacy strict, else no minimum)."
        ),
    ] = None
    user_field: Annotated[
        str,
        Option(
            "Metadata field holding each conversation's user or account id (Claude exports, Langfuse, LangSmith "
            "and API logs fill user_id)."
        ),
    ] = "user_id"
    auditor: Annotated[
        str | LLM | None,
        Option(
            "Language model that rates each cluster for identifying content, withholding low ones "
            "(default with --privacy strict: the --llm model; none offline). Same model strings as --llm.",
            cli_type=str | None,
        ),
    ] = None
    audit_threshold: Annotated[
        int,
        Field(ge=1, le=5),
        Option("Clusters the auditor rates below this (1 identifies someone ... 5 nothing personal) are withheld."),
    ] = 3
    keep_raw: Annotated[
        bool,
        Option(
            "With --privacy strict, keep the conversations' text in the run directory too (it is not kept by "
            "default; the explorer shows it only when started with --allow-raw-text).",
            flags=("--keep-raw",),
        ),
    ] = False

    @field_validator("privacy")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in PRIVACY_PROFILES:
            raise ValueError(f"unknown profile: use one of {', '.join(PRIVACY_PROFILES)}")
        return value

    @field_validator("local_names")
    @classmethod
    def _known_local_names(cls, value: str) -> str:
        if value not in LOCAL_NAMES:
            raise ValueError(f"unknown choice: use one of {', '.join(LOCAL_NAMES)}")
        return value

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str | Executor) -> str | Executor:
        if isinstance(value, str) and value not in EXECUTORS:
            raise ValueError(f"unknown executor: use one of {', '.join(EXECUTORS)}")
        return value

    @classmethod
    def of(cls, config: RunConfig | None = None, **settings: Any) -> RunConfig:
        """``config`` with ``settings`` changed; a wrong setting is one clear ConfigError."""
        unknown = sorted(set(settings) - set(cls.model_fields))
        if unknown:
            raise ConfigError(
                f"unknown setting {unknown[0]!r}: the settings are {', '.join(cls.model_fields)} (see kura.RunConfig)"
            )
        values = (config.model_dump() if config else {}) | settings
        try:
            return cls(**values)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else "setting"
            bound = (error.get("ctx") or {}).get("ge")
            said = f"should be >= {bound}" if error["type"] == "greater_than_equal" else f": {error['msg'].lower()}"
            raise ConfigError(f"{name}={values.get(name)!r} {said}".replace(" :", ":")) from None

    def recorded(self) -> dict[str, Any]:
        """The settings as run.json keeps them: objects by their label (never a key: an LLM's
        label is its model name)."""
        return {name: _recordable(value) for name, value in self.model_dump().items()}


def _recordable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool | dict):
        return value
    return label(value)


def option(name: str) -> Option:
    """The :class:`Option` declared for a field of :class:`RunConfig`."""
    return next(m for m in RunConfig.model_fields[name].metadata if isinstance(m, Option))


def cli_type(name: str) -> Any:
    """The type a command line gives for the setting ``name``."""
    declared = option(name).cli_type
    return declared if declared is not None else RunConfig.model_fields[name].annotation


def takes_settings(func: Callable[..., Any]) -> Callable[..., Any]:
    """Show :class:`RunConfig`'s fields in ``func``'s signature in place of its ``**settings``,
    so ``help(kura.run)``, editors and ``inspect`` list every setting with its default."""
    import inspect

    signature = inspect.signature(func)
    head = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    fields = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=field.annotation)
        for name, field in RunConfig.model_fields.items()
    ]
    func.__signature__ = signature.replace(parameters=[*head, *fields])  # type: ignore[attr-defined]
    return func
