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
    "table",
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
