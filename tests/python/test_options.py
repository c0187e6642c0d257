"""One source of defaults: the core's option structs (jira_options, openai_options, ...). Every field
of each struct is a setting of the matching spec, so the Python API and a TOML config both reach it,
and the spec's default is the struct's."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest

from backfill import Chunking, JiraCloud, LocalIndex, OpenAIEmbedder, PineconeIndex, Pipeline, SlackExport, _core
from backfill._options import core_options, option_names
from backfill.config import RunSettings, VerifySettings, load_config, parse_config

# spec, its core struct, the settings it requires, its config section
SPECS: list[tuple[type, type, dict[str, Any], str]] = [
    (JiraCloud, _core.JiraOptions, {"url": "https://acme.atlassian.net", "email": "a@b.c", "token": "t"}, "source"),
    (SlackExport, _core.SlackExportOptions, {"path": "export.zip"}, "source"),
    (OpenAIEmbedder, _core.OpenAIOptions, {"model": "text-embedding-3-small"}, "embedder"),
    (PineconeIndex, _core.PineconeOptions, {"host": "http://127.0.0.1:9", "api_key": "k"}, "sink"),
    (Chunking, _core.ChunkingOptions, {}, "chunking"),
]
IDS = [spec.__name__ for spec, *_ in SPECS]


def other_than(value: Any) -> Any:
    """A value of the same TOML type that differs from `value`."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.25
    if value == "grpc":
        return "rest"  # the one string setting with a closed set of values
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, "extra"]
    raise AssertionError(f"no other value for {value!r}")  # pragma: no cover


@pytest.mark.parametrize(("spec", "core", "required", "section"), SPECS, ids=IDS)
def test_every_core_option_is_a_spec_setting_with_the_core_default(
    spec: type, core: type, required: dict[str, Any], section: str
) -> None:
    names = option_names(core)
    assert len(names) >= 3
    settings = {f.name for f in dataclasses.fields(spec)}
    assert [n for n in names if n not in settings] == [], f"{spec.__name__} lacks settings of {core.__name__}"
    built, default = core_options(core, spec(**required)), core()
    for name in names:
        if name not in required:
            assert getattr(built, name) == getattr(default, name), f"{spec.__name__}.{name}: default differs"


@pytest.mark.parametrize(("spec", "core", "required", "section"), SPECS, ids=IDS)
def test_every_core_option_is_reachable_from_toml(
    spec: type, core: type, required: dict[str, Any], section: str
) -> None:
    default = core()
    changed = {n: other_than(getattr(default, n)) for n in option_names(core) if n not in required}
    table = {**required, **changed}
    if section != "chunking":
        table["type"] = spec.type  # type: ignore[attr-defined]
    data: dict[str, Any] = {"source": {"type": "slack_export", "path": "export.zip"}, section: table}
    config = parse_config(data)
    built = core_options(core, getattr(config, section))
    for name, value in changed.items():
        assert getattr(built, name) == value, f"[{section}] {name} does not reach the core"


def test_options_refuse_unknown_fields() -> None:
    with pytest.raises(AttributeError):
        _core.PineconeOptions(colour="red")
    assert _core.PineconeOptions(max_attempts=2).max_attempts == 2


def test_the_pipeline_settings_default_to_the_core() -> None:
    core = _core.PipelineOptions()
    run, verify = RunSettings(), VerifySettings()
    exposed = {
        "batch_records": run.batch_records,
        "overlap": run.overlap,
        "embed_concurrency": run.embed_concurrency,
        "fetch_concurrency": run.fetch_concurrency,
        "memory_budget_mb": run.memory_budget_mb,
        "count_timeout_seconds": verify.count_timeout_seconds,
        "strict": run.strict,
        "plan_sample_pages": run.plan_sample_pages,
    }
    # Set by the facade from other settings (workdir, chunking), a choice of one call (restore: a CLI
    # flag), or tuning the core keeps to itself.
    internal = {"workdir", "chunking", "max_examples", "count_poll_seconds", "batches_in_flight", "restore"}
    assert set(option_names(_core.PipelineOptions)) == set(exposed) | internal
    signature = inspect.signature(Pipeline.__init__)
    for name, value in exposed.items():
        assert value == getattr(core, name), f"run/verify setting {name}: default differs from the core"
        assert signature.parameters[name].default == getattr(core, name), f"Pipeline({name}=...) differs"


def test_paths_take_str_or_pathlike_and_config_paths_stay_relative_to_the_file(tmp_path: Path) -> None:
    assert SlackExport("export.zip").path == Path("export.zip")
    assert LocalIndex(path=tmp_path / "i.sqlite").path == tmp_path / "i.sqlite"
    config = tmp_path / "c.toml"
    config.write_text('[source]\ntype = "slack_export"\npath = "export"\n[sink]\ntype = "local"\npath = "i.sqlite"\n')
    loaded = load_config(config)
    assert loaded.source.path == tmp_path.resolve() / "export"  # type: ignore[attr-defined]
    assert loaded.sink.path == tmp_path.resolve() / "i.sqlite"  # type: ignore[attr-defined]
