"""Hugging Face datasets: a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``,
and Kura 0.5's ``Conversation.from_hf_dataset`` (a local folder, or a hub name streamed).

``datasets`` is optional (``pip install 'kura[hf]'``); it is imported only when a dataset is read.
Rows are read like table rows: as records when they look like one (``messages``, ``conversations``,
``chat_id``...), otherwise through the column mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from kura.errors import InputError, missing_package
from kura.io.base import Item, Source, describe_validation_error
from kura.io.tabular import read_rows
from kura.types.conversation import Conversation, Message

NAME = "hf"
DESCRIPTION = "Hugging Face dataset folder (save_to_disk, Dataset or DatasetDict): rows as records or columns"


def is_hf_dataset_dir(path: Path) -> bool:
    """A folder written by ``save_to_disk``: ``dataset_dict.json`` (DatasetDict) or ``state.json`` (Dataset)."""
    return path.is_dir() and (
        (path / "dataset_dict.json").is_file()
        or ((path / "state.json").is_file() and (path / "dataset_info.json").is_file())
    )


def _datasets() -> ModuleType:
    try:
        import datasets
    except ImportError:
        raise missing_package("datasets", "hf", "reading Hugging Face datasets") from None
    return datasets


def _load_from_disk(path: Path, name: str) -> Any:
    datasets = _datasets()
    try:
        return datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several kinds for a folder it cannot use
        raise InputError(
            f"cannot be read as a Hugging Face dataset folder ({exc})", path=str(path), location=name
        ) from None


def read(source: Source) -> Iterator[Item]:
    """Every split of the folder (a DatasetDict), or its one Dataset."""
    datasets = _datasets()
    loaded = _load_from_disk(source.path, source.name)
    folder = source.path.resolve().name  # the prefix of derived ids ("." has no name of its own)
    if isinstance(loaded, datasets.DatasetDict):
        splits = [(f"{source.name}/{split}", f"{folder}:{split}", data) for split, data in loaded.items()]
    else:
        splits = [(source.name, folder, loaded)]
    for name, prefix, dataset in splits:
        _check_arrow(dataset, name, source)
        part = replace(source, name=name, id_prefix=prefix)
        rows = ((index, f"{name} [{index}]", row) for index, row in enumerate(dataset))
        yield from read_rows(part, list(dataset.column_names), rows)


def _check_arrow(dataset: Any, name: str, source: Source) -> None:
    """Refuse a split whose Arrow data is damaged. The files are memory-mapped and read without
    checks: a damaged buffer can abort the whole process (not raise), so it is validated first,
    once, which reads the data through (it is read again in any case)."""
    import pyarrow as pa

    try:
        dataset.data.table.validate(full=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise InputError(
            f"the dataset's Arrow data is damaged ({reason})", path=str(source.path), location=name
        ) from None


def load_hf_dataset(
    dataset_name: str,
    split: str = "train",
    max_conversations: int | None = None,
    chat_id_fn: Callable[[dict], Any] = lambda x: x["chat_id"],
    created_at_fn: Callable[[dict], Any] = lambda x: x["created_at"],
    messages_fn: Callable[[dict], Any] = lambda x: x["messages"],
    metadata_fn: Callable[[dict], dict] = lambda x: {},
) -> list[Conversation]:
    """Kura 0.5's ``Conversation.from_hf_dataset``: one Conversation per row, built by the functions.

    ``dataset_name`` is a folder written by ``save_to_disk`` (read with ``load_from_disk``; ``split``
    picks from a DatasetDict) or a hub name (``load_dataset(..., streaming=True)``). ``messages_fn``
    may return dicts or Message objects; ``created_at_fn`` a datetime, ISO text, or None.
    """
    rows: Iterable[dict]
    if Path(dataset_name).is_dir():
        loaded = _load_from_disk(Path(dataset_name), dataset_name)
        if isinstance(loaded, _datasets().DatasetDict):
            if split not in loaded:
                raise InputError(
                    f"has no split {split!r}; its splits are: {', '.join(loaded)}",
                    path=dataset_name,
                    location=dataset_name,
                )
            loaded = loaded[split]
        rows = loaded if max_conversations is None else islice(loaded, max_conversations)
    elif dataset_name.startswith((".", "/", "~")) or Path(dataset_name).exists():
        raise InputError(
            "is not a folder written by save_to_disk (no such folder)", path=dataset_name, location=dataset_name
        )
    else:
        try:
            stream = _datasets().load_dataset(dataset_name, split=split, streaming=True)
        except Exception as exc:  # offline, unknown name, missing split: datasets' message says which
            raise InputError(
                f"cannot load the Hugging Face dataset {dataset_name!r} ({exc})", path=dataset_name
            ) from None
        rows = stream.take(max_conversations) if max_conversations is not None else stream
    return [
        _conversation(row, f"{dataset_name} [{index}]", chat_id_fn, created_at_fn, messages_fn, metadata_fn)
        for index, row in enumerate(rows)
    ]


def _conversation(
    row: dict,
    location: str,
    chat_id_fn: Callable[[dict], Any],
    created_at_fn: Callable[[dict], Any],
    messages_fn: Callable[[dict], Any],
    metadata_fn: Callable[[dict], dict],
) -> Conversation:
    try:
        chat_id = chat_id_fn(row)
        created_at: str | datetime | None = created_at_fn(row)
        messages = [m.model_dump() if isinstance(m, Message) else m for m in messages_fn(row)]
        metadata = metadata_fn(row)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        columns = ", ".join(repr(k) for k in row) if isinstance(row, dict) else "?"
        raise InputError(
            f"a *_fn could not read the row ({type(exc).__name__}: {exc}); the row's columns are: {columns}",
            location=location,
        ) from None
    try:
        # model_validate: the *_fn give plain values (ISO text, message dicts) that pydantic converts.
        return Conversation.model_validate(
            {"chat_id": str(chat_id), "created_at": created_at, "messages": messages, "metadata": metadata}
        )
    except ValidationError as exc:
        raise InputError(describe_validation_error(exc), location=location) from None
