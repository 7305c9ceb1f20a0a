"""A third-party plugin, with no edit to cliposcope: the plugin of docs/plugins.md, built
from that page's code blocks and laid out as pip installs a distribution, is found through
its entry points, reaches `cliposcope run`, `table` and `report`, and passes the
conformance checks; a broken plugin only logs a warning."""

from __future__ import annotations

import importlib
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import cliposcope
from cliposcope.app.cli import main
from cliposcope.data_kinds import _KINDS, list_data_kinds, unregister_data_kind
from cliposcope.encoders.registry import _FAMILIES, list_families, unregister_family
from cliposcope.probes.registry import _PROBES, find_probe, run_probe, unregister_probe
from cliposcope.registry import reload_plugins
from probes.conformance import (
    ExampleRuns,
    check_controls,
    check_data_kind,
    check_probe_runs,
    check_settings,
    example_settings,
)

DOC = Path(__file__).parents[1] / "docs" / "plugins.md"
MODULE_PATH = re.compile(r"# (echo_plugin/\w+\.py)\n")
ORIGIN = "echo-plugin 0.1"


def doc_blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def doc_project() -> dict:
    """The [project] table of the page's pyproject.toml."""
    toml = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    [pyproject] = doc_blocks("toml")
    return toml.loads(pyproject)["project"]


def install(site: Path, project: dict, modules: dict[str, str]) -> None:
    """Lay out a distribution as pip installs it into site-packages: its modules, and the
    dist-info folder whose METADATA and entry_points.txt importlib.metadata reads."""
    for relative, code in modules.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    name, version = project["name"], project["version"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    groups = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items())
        for group, points in project.get("entry-points", {}).items()
    ]
    (info / "entry_points.txt").write_text("\n".join(groups), encoding="utf-8")


def put_on_path(site: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    reload_plugins()


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The docs' echo plugin installed on sys.path; afterwards its entries are unregistered
    and its modules forgotten, so other tests see cliposcope alone."""
    modules = {"echo_plugin/__init__.py": ""}
    for block in doc_blocks("python"):
        found = MODULE_PATH.match(block)
        if found:
            modules[found[1]] = block
    assert len(modules) == 4, sorted(modules)
    site = tmp_path / "site-packages"
    install(site, doc_project(), modules)
    put_on_path(site, monkeypatch)
    yield site
    unregister_probe("echo")
    unregister_data_kind("echo-words")
    unregister_family("echo")
    for name in [m for m in sys.modules if m.partition(".")[0] == "echo_plugin"]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> ExampleRuns:
    return ExampleRuns(tmp_path_factory.mktemp("plugin-runs"))


def test_the_plugin_entries_are_listed_with_their_origin(plugin, tmp_path):
    assert "echo" in [probe.name for probe in cliposcope.list_probes()]
    assert "echo-words" in [kind.name for kind in list_data_kinds()]
    assert "echo" in [family.name for family in list_families()]
    assert _PROBES.origin("echo") == _KINDS.origin("echo-words") == _FAMILIES.origin("echo")
    assert _PROBES.origin("echo") == ORIGIN
    assert _PROBES.origin("tor") == "cliposcope"
    family = next(family for family in list_families() if family.name == "echo")
    first, second = (
        cliposcope.load_encoder(family.tiny(tmp_path, seed), device="cpu") for seed in (0, 1)
    )
    vectors = first.encode_text(["dog", "dog", "cat"])
    assert vectors.shape == (3, 16) and np.allclose(vectors[0], vectors[1])
    assert first.info.fingerprint != second.info.fingerprint


@pytest.mark.slow
def test_the_plugin_passes_the_conformance_checks(plugin, runs, tmp_path):
    probe = find_probe("echo")
    check_settings(probe)
    check_probe_runs(probe, runs)
    check_controls(probe, runs)
    check_data_kind(next(k for k in list_data_kinds() if k.name == "echo-words"), tmp_path)
    result = runs.result(probe)
    assert result.provenance["probe_origin"] == ORIGIN
    assert result.metrics["cosine"]["estimate"] <= 1 + 1e-6
    hashed = cliposcope.load_encoder("echo:8", device="cpu")
    on_the_plugin_model = run_probe("echo", hashed, None, example_settings(probe))
    assert on_the_plugin_model.model["family"] == "echo"


def test_the_plugin_probe_goes_through_run_table_and_report(plugin, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    assert "cosine of a word and the word repeated" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["run", "echo", "--help"])
    assert done.value.code == 0
    usage = capsys.readouterr().out
    assert "--word" in usage and "--repeat" in usage

    out = tmp_path / "results"
    options = ["--word", "cat", "--repeat", "3", "--out", str(out), "--no-cache", "--quiet"]
    assert main(["run", "echo", "--model", "toy:default", *options]) == 0
    assert "Echo: cosine of a word and the word repeated" in capsys.readouterr().out
    [saved] = out.glob("echo_*.json")
    record = json.loads(saved.read_text(encoding="utf-8"))
    assert record["settings"] == {"word": "cat", "repeat": 3}
    assert record["provenance"]["probe_origin"] == ORIGIN

    assert main(["table", str(saved)]) == 0
    assert "Cosine to its echo" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="echo"' in page and "Echo, a plugin probe" in page

    refused = ["--repeat", "0", "--out", str(tmp_path / "refused"), "--no-cache"]
    assert main(["run", "echo", "--model", "toy:default", *refused]) == 2
    assert "--repeat 0" in capsys.readouterr().err


def test_a_broken_plugin_warns_and_leaves_the_others_working(tmp_path, monkeypatch, caplog, runs):
    before = [probe.name for probe in cliposcope.list_probes()]
    project = {
        "name": "broken-plugin",
        "version": "0.1",
        "entry-points": {"cliposcope.probes": {"broken": "broken_plugin.no_such_module"}},
    }
    install(tmp_path / "site-packages", project, {"broken_plugin/__init__.py": ""})
    with caplog.at_level(logging.WARNING, logger="cliposcope.registry"):
        put_on_path(tmp_path / "site-packages", monkeypatch)
        listed = [probe.name for probe in cliposcope.list_probes()]
    [warning] = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert "not loaded" in warning and "broken-plugin 0.1" in warning
    assert "no_such_module" in warning
    assert listed == before
    size_first = find_probe("size-first")
    result = run_probe("size-first", runs.encoder(), None, example_settings(size_first))
    assert result.provenance["probe_origin"] == "cliposcope"
    sys.modules.pop("broken_plugin", None)
