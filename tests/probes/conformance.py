"""What every probe and data kind must do, whoever registered it (cliposcope or a plugin).

A probe: its default settings build, bad option values are refused with a CliposcopeError
and nothing else, and its example settings run on the example data of its data kind (with
``toy:default`` when it measures a model) into a result that survives JSON, records the
probe's version and the keys that make results comparable, lays out as a table and renders
its report section; it also runs under each declared control and, where the model's family
has a random-weight twin, under ``random-init``. A data kind: its example loads to data
units with stable fingerprints, and its settings build from their defaults.

tests/probes/test_probe_conformance.py runs these checks over every registered entry;
tests/test_plugins.py over a plugin's.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from cliposcope.app.runs import RANDOM_INIT, random_init_spec
from cliposcope.data_kinds import DataContext, DataKind, kinds_providing
from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import Encoder
from cliposcope.encoders.registry import get_family
from cliposcope.errors import CliposcopeError
from cliposcope.probes.registry import Probe, run_probe
from cliposcope.report.html import build_report
from cliposcope.report.table import render_tables
from cliposcope.results import ProbeResult, result_filename
from cliposcope.settings import cli_fields

SMALL_MODEL = "toy:default"
ABSURD_NUMBERS = (-1, 10**9)


def example_settings(probe: Probe) -> Any:
    if probe.example is None:
        pytest.fail(
            f"probe {probe.name!r} has no example: add example=... to its Probe record, a "
            "function giving settings that run in seconds on toy:default and the example "
            "data of its data kind (the conformance tests and smoke runs use it)"
        )
    settings = probe.example()
    assert isinstance(settings, probe.settings), f"{probe.name}: example gives {settings!r}"
    return settings


def example_source(kind: DataKind, folder: Path) -> Any:
    if kind.example is None:
        pytest.fail(
            f"data kind {kind.name!r} has no example: add example=... to its DataKind record, "
            "a function that writes a small example into the folder it is given and returns "
            "the settings that load it"
        )
    folder.mkdir(parents=True, exist_ok=True)
    settings = kind.example(folder)
    assert isinstance(settings, kind.settings), f"{kind.name}: example gives {settings!r}"
    return settings


def bad_values(settings_type: type) -> Iterator[tuple[str, Any]]:
    """(field, value) pairs no option should take: a value outside a field's choices, and
    a negative or absurdly large number for a numeric field."""
    hints = typing.get_type_hints(settings_type)
    for field in cli_fields(settings_type):
        if field.metadata.get("choices"):
            yield field.name, "not-a-choice"
        types = set(typing.get_args(hints[field.name])) or {hints[field.name]}
        if types & {int, float}:
            yield from ((field.name, value) for value in ABSURD_NUMBERS)


def check_settings(probe: Probe) -> None:
    """Defaults build; of the bad values, at least one is refused with a CliposcopeError
    (where there is any), and none fails with another exception."""
    probe.settings()
    refused, failed = [], []
    candidates = list(bad_values(probe.settings))
    for name, value in candidates:
        try:
            probe.settings(**{name: value})
        except CliposcopeError:
            refused.append((name, value))
        except Exception as error:
            failed.append(f"{name}={value!r}: {type(error).__name__}: {error}")
    assert not failed, f"{probe.name}: bad values must raise CliposcopeError: {failed}"
    if candidates:
        assert refused, f"{probe.name}: none of {candidates} is refused"


def check_data_kind(kind: DataKind, folder: Path) -> None:
    """The example loads to data units whose fingerprints are strings that a second load
    repeats; the example selects its kind; the settings build from their defaults (required
    fields from the example)."""
    settings = example_source(kind, folder)
    if kind.check is not None:
        kind.check(settings)
    if kind.selected_by:
        assert kind.chosen(settings), f"{kind.name}: its example does not select the kind"
    for path, option in kind.writes(settings, folder):
        assert isinstance(path, Path) and option.startswith("--"), (path, option)
    context = DataContext(out=folder)
    units = kind.load(settings, context)
    assert isinstance(units, list) and units, f"{kind.name}: the example loads no data unit"
    prints = [kind.fingerprint(unit) for unit in units]
    assert all(isinstance(p, str) and p for p in prints), prints
    again = kind.load(example_source(kind, folder), context)
    assert [kind.fingerprint(unit) for unit in again] == prints, f"{kind.name}: unstable"
    required = {
        field.name: getattr(settings, field.name)
        for field in dataclasses.fields(kind.settings)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    }
    kind.settings(**required)


class ExampleRuns:
    """Encoders, example data and model results, made once per test module under
    ``folder`` and shared by the checks."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._encoders: dict[str, Encoder] = {}
        self._data: dict[str, Any] = {}
        self._results: dict[str, ProbeResult] = {}

    def encoder(self, spec: str = SMALL_MODEL) -> Encoder:
        if spec not in self._encoders:
            self._encoders[spec] = load_encoder(spec)
        return self._encoders[spec]

    def data(self, probe: Probe) -> Any:
        """The first unit of the example of the first kind providing the probe's data."""
        if probe.data is None:
            return None
        kind = kinds_providing(probe.data)[0]
        if kind.name not in self._data:
            folder = self.folder / "data" / kind.name
            units = kind.load(example_source(kind, folder), DataContext(out=folder))
            self._data[kind.name] = units[0]
        return self._data[kind.name]

    def out(self, probe: Probe, role: str) -> Path:
        """The folder of one run: its result JSON and whatever files the probe writes."""
        return self.folder / "runs" / f"{probe.name}-{role.replace(':', '-')}"

    def run(
        self,
        probe: Probe,
        role: str = "model",
        control: str | None = None,
        model: str = SMALL_MODEL,
    ) -> ProbeResult:
        """The example settings (with the probe's files under the run's folder, and the
        control's changes) on the example data; the model is the small one by default."""
        data = self.data(probe)
        settings = example_settings(probe)
        if probe.artifacts is not None:
            settings = probe.artifacts(settings, self.out(probe, role), role, data)
        if control is not None:
            settings = probe.controls[control](settings)
        encoder = self.encoder(model) if probe.needs_model else None
        return run_probe(probe.name, encoder, data, settings, role=role)

    def result(self, probe: Probe) -> ProbeResult:
        if probe.name not in self._results:
            self._results[probe.name] = self.run(probe)
        return self._results[probe.name]


def check_result(probe: Probe, result: ProbeResult, folder: Path) -> None:
    """The result survives JSON, records what makes it comparable, and lays out as the
    probe's table and report section (from ``folder``, where its JSON is saved)."""
    assert result.probe == probe.name
    assert result.provenance.get("probe_version") == probe.version
    path = result.save(folder / result_filename(result))
    assert ProbeResult.load(path).to_json() == result.to_json()
    missing = [key for key in probe.data_settings if key not in result.settings]
    assert not missing, f"{probe.name}: data_settings not in the result's settings: {missing}"
    missing = [key for key in probe.data_fingerprints if key not in result.provenance]
    assert not missing, f"{probe.name}: data_fingerprints not in its provenance: {missing}"
    headers, rows = probe.rows([result])
    assert rows, f"{probe.name}: no table row"
    assert all(len(row) == len(headers) for row in rows), (headers, rows)
    assert probe.title in render_tables([result])
    if probe.bias is not None:
        check_bias_per_query(probe, result, path)
    if probe.paper_data is not None:
        probe.paper_data(result)
    page = build_report(folder).read_text(encoding="utf-8")
    heading = probe.report.heading if probe.report is not None else probe.title
    assert f'id="{probe.name}"' in page and str(escape(heading)) in page


def check_bias_per_query(probe: Probe, result: ProbeResult, path: Path) -> None:
    """The bias figure, and where the probe gives it query by query, the per-query figure
    that adds up to it exactly, from the records in memory and from those saved at ``path``."""
    from cliposcope.probes.verdicts import QueryFigure

    figure = probe.bias(result)
    if probe.bias_per_query is None or figure is None:
        return
    assert probe.bias_columns, f"{probe.name}: bias_per_query without bias_columns"
    columns = result.record_columns(probe.bias_columns)
    found = probe.bias_per_query(columns)
    assert isinstance(found, QueryFigure), f"{probe.name}: bias_per_query gives {found!r}"
    assert found.estimate == pytest.approx(figure.estimate, rel=1e-12, abs=1e-15), probe.name
    saved = ProbeResult.load(path)
    assert probe.bias_per_query(saved.record_columns(probe.bias_columns)).estimate == (
        found.estimate
    )


def check_probe_runs(probe: Probe, runs: ExampleRuns) -> None:
    check_result(probe, runs.result(probe), runs.out(probe, "model"))


def control_roles(probe: Probe, runs: ExampleRuns) -> list[tuple[str, str | None, str]]:
    """(role, declared control, model spec) of every control the probe runs under."""
    roles = [(f"null:{name}", name, SMALL_MODEL) for name in probe.controls]
    if probe.needs_model:
        model = runs.encoder()
        if get_family(model.info.family).random_init is not None:
            roles.append((f"null:{RANDOM_INIT}", None, random_init_spec(model, 0)))
    return roles


def check_controls(probe: Probe, runs: ExampleRuns) -> None:
    for role, control, model in control_roles(probe, runs):
        result = runs.run(probe, role, control, model)
        assert result.role == role
        check_result(probe, result, runs.out(probe, role))
