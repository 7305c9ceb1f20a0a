"""The subcommands: one module each in cliposcope.app.commands, found by scanning the
package, and a command-line entry point that stays small."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from cliposcope.app import cli
from cliposcope.registry import package_modules

COMMAND_MODULES = package_modules(cli.COMMANDS_PACKAGE)
LISTING = [
    "models",
    "prefetch",
    "encode",
    "run",
    "generate",
    "show",
    "lab",
    "demo",
    "cache",
    "corpus",
    "report",
    "leaderboard",
    "export",
    "table",
    "completion",
]


@pytest.mark.parametrize("module_name", COMMAND_MODULES)
def test_every_command_module_declares_its_command(module_name):
    module = importlib.import_module(module_name)
    assert isinstance(module.NAME, str) and module.NAME
    assert isinstance(module.HELP, str) and module.HELP
    assert isinstance(module.ORDER, int)
    assert list(inspect.signature(module.configure).parameters) == ["parser"]


def test_help_lists_every_command_in_order():
    result = subprocess.run(
        [sys.executable, "-m", "cliposcope", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    listed = [
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.startswith("    ") and not line.startswith("     ")
    ]
    assert listed == LISTING
    names = {importlib.import_module(name).NAME for name in COMMAND_MODULES}
    assert names == set(LISTING)


def test_entry_point_stays_small():
    lines = Path(cli.__file__).read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"app/cli.py has {len(lines)} lines; commands go in app/commands/"


def test_an_option_that_collides_fails_the_parser_for_a_builtin_and_skips_a_plugin(caplog):
    import dataclasses

    from cliposcope.app.cli import build_parser
    from cliposcope.probes import registry
    from cliposcope.settings import option

    @dataclasses.dataclass(frozen=True)
    class Colliding:
        model: str = option("x", "collides with --model")

    probe = registry.Probe(
        name="colliding",
        summary="a probe whose option collides",
        settings=Colliding,
        run=lambda *a, **k: None,
        title="",
        rows=lambda results: ([], []),
    )
    registry.register_probe(probe)
    try:
        with pytest.raises(TypeError, match=r"Colliding\.model.*rename the field"):
            build_parser()
        registry._PROBES._origins["colliding"] = "colliding-plugin 0.1"
        parser = build_parser()
        assert "left out of the command line" in caplog.text
        with pytest.raises(SystemExit):
            parser.parse_args(["run", "colliding", "--help"])
    finally:
        registry.unregister_probe("colliding")


def test_python_dash_m_runs_the_command_line(monkeypatch, capsys):
    import runpy

    monkeypatch.setattr("sys.argv", ["cliposcope", "--version"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("cliposcope", run_name="__main__")
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("cliposcope ")


def test_show_draws_a_contact_sheet_of_scenes(tmp_path, capsys):
    from PIL import Image

    from cliposcope.app.cli import main
    from cliposcope.data.generate import SceneSettings, write_dataset

    write_dataset(SceneSettings(count=4, size=64), tmp_path / "scenes")
    sheet = tmp_path / "sheet.png"
    assert main(["show", str(tmp_path / "scenes"), "--count", "3", "--out", str(sheet)]) == 0
    with Image.open(sheet) as image:
        assert image.width > 64 and image.height >= 64
