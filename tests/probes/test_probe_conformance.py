"""Every registered probe and data kind, built-in or from a plugin, passes the checks of
probes/conformance.py: a new one is covered here without a test of its own."""

from __future__ import annotations

import pytest

from cliposcope import list_probes
from cliposcope.data_kinds import list_data_kinds
from cliposcope.probes.registry import Probe

from .conformance import (
    ExampleRuns,
    check_controls,
    check_data_kind,
    check_probe_runs,
    check_settings,
    example_settings,
)

PROBES = list_probes()
KINDS = list_data_kinds()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> ExampleRuns:
    return ExampleRuns(tmp_path_factory.mktemp("conformance"))


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.name)
def test_settings_build_and_refuse_bad_values(probe):
    check_settings(probe)


@pytest.mark.slow
@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.name)
def test_runs_on_the_example_data_into_a_result_that_lays_out(probe, runs):
    check_probe_runs(probe, runs)


@pytest.mark.slow
@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.name)
def test_runs_under_each_control(probe, runs):
    check_controls(probe, runs)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_data_kind_example_loads_with_stable_fingerprints(kind, tmp_path):
    check_data_kind(kind, tmp_path)


def test_a_probe_without_an_example_is_told_to_add_one():
    bare = Probe(
        name="bare",
        summary="no example",
        settings=PROBES[0].settings,
        run=PROBES[0].run,
        title="bare",
        rows=PROBES[0].rows,
    )
    with pytest.raises(pytest.fail.Exception, match="add example="):
        example_settings(bare)
