"""kura.RunConfig is the one declaration of a run's settings: kura.run's keyword arguments,
`kura run`'s options and the explorer's New run form all follow it."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import kura
from kura.config import RunConfig, option
from kura.server.jobs import RunSettings, form_fields, options

ROOT = Path(__file__).resolve().parents[1]
FIELDS = list(RunConfig.model_fields)


@pytest.fixture(scope="module")
def run_help() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kura.cli", "run", "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_is_a_keyword_of_kura_run(name: str) -> None:
    for function in (kura.run, kura.run_async):
        parameter = inspect.signature(function).parameters[name]
        assert parameter.default == RunConfig.model_fields[name].default


@pytest.mark.parametrize("name", FIELDS)
def test_every_setting_is_an_option_of_kura_run_with_its_help(name: str, run_help: str) -> None:
    declared = option(name)
    flag = declared.flags[0] if declared.flags else "--" + name.replace("_", "-")
    assert flag in run_help
    assert declared.help.split()[0] in run_help


def test_the_form_offers_exactly_the_settings_declared_for_it() -> None:
    offered = options()
    assert [f["name"] for f in offered["fields"]] == form_fields()
    assert form_fields() == [n for n in FIELDS if option(n).form]
    for field in offered["fields"]:
        assert field["label"] == option(field["name"]).form
        assert field["default"] == RunConfig.model_fields[field["name"]].default
    assert RunSettings().run_kwargs() == {n: RunConfig.model_fields[n].default for n in form_fields()}


def test_a_wrong_setting_is_one_clear_error() -> None:
    with pytest.raises(kura.ConfigError, match="unknown setting 'clusters'"):
        RunConfig.of(clusters=3)
    with pytest.raises(kura.ConfigError, match="clusters_per_group=0 should be >= 1"):
        RunConfig.of(clusters_per_group=0)
    with pytest.raises(kura.ConfigError, match="seed='x'"):
        RunConfig.of(seed="x")


def test_a_config_and_settings_combine_and_run_json_records_it(tmp_path: Path) -> None:
    config = RunConfig(embedder="hashing", projector="pca", clusters_per_group=7)
    result = kura.run(ROOT / "data" / "oasst_en100.jsonl", tmp_path / "run", config=config, seed=3)
    recorded = json.loads((result.path / "run.json").read_text())["config"]
    assert RunConfig.of(**recorded) == RunConfig.of(config, seed=3)
    assert recorded["clusters_per_group"] == 7 and recorded["seed"] == 3


def test_objects_are_recorded_by_label_never_by_repr(tmp_path: Path) -> None:
    embedder = kura.HashingEmbedder()
    result = kura.run(ROOT / "data" / "oasst_en100.jsonl", tmp_path / "run", embedder=embedder, projector="pca")
    recorded = json.loads((result.path / "run.json").read_text())["config"]
    assert recorded["embedder"] == embedder.name


def test_outcomes_given_to_the_run_are_joined_at_its_end(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (ROOT / "data" / "oasst_en100.jsonl").read_text().splitlines()]
    table = tmp_path / "feedback.csv"
    table.write_text("conversation_id,resolved\n" + "".join(f"{r['id']},{i % 2 == 0}\n" for i, r in enumerate(rows)))
    result = kura.run(
        ROOT / "data" / "oasst_en100.jsonl", tmp_path / "run", outcomes=table, embedder="hashing", projector="pca"
    )
    joined = pq.read_table(result.path / "outcomes.parquet").to_pydict()
    assert dict(zip(joined["chat_id"], joined["resolved"])) == {r["id"]: i % 2 == 0 for i, r in enumerate(rows)}
    from kura.store.database import current_database
    from kura.store.export import sql

    assert current_database(result.path) is not None  # rebuilt with the outcomes, and still trusted
    assert sql(result.path, "select count(*), sum(resolved::int) from outcomes")[1] == [(100, 50)]
    with pytest.raises(kura.ConfigError, match="no such file"):
        kura.run(ROOT / "data" / "oasst_en100.jsonl", tmp_path / "other", outcomes=tmp_path / "missing.csv")
