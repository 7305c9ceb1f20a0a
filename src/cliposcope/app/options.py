"""Command-line options built from a Settings dataclass, and Settings built from options.

A Settings field declared with ``probes.registry.option`` becomes ``--field-name`` (or its
``flag``), typed from its annotation; fields declared ``internal`` stay out of the command
line. Nothing below this package sees an argparse Namespace.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

# Options every command that runs probes offers itself; a Settings field of the same name
# is filled from them rather than offered twice.
COMMON = ("seed",)


def cli_fields(settings_type: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(settings_type) if "help" in f.metadata]


def _value_type(hint: Any) -> type:
    """int, float or str for an annotation such as ``int | None`` or ``Vocabulary | str``."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for candidate in (bool, int, float, str):
        if candidate in options:
            return candidate
    if Path in options:
        return str
    return str


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def add_settings_options(parser: argparse.ArgumentParser, settings_type: type) -> None:
    hints = typing.get_type_hints(settings_type)
    for field in cli_fields(settings_type):
        if field.name in COMMON:
            continue
        meta = field.metadata
        kind = _value_type(hints[field.name])
        if kind is bool:
            parser.add_argument(flag_of(field), dest=field.name, action="store_true",
                                help=meta["help"])  # fmt: skip
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        parser.add_argument(
            flag_of(field), dest=field.name, type=kind, default=default, choices=meta["choices"],
            metavar=meta["metavar"], help=meta["help"],
        )  # fmt: skip


def settings_from_args(settings_type: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """The Settings the options describe; validation happens in its constructor."""
    values = {f.name: getattr(args, f.name) for f in cli_fields(settings_type)
              if hasattr(args, f.name)}  # fmt: skip
    names = {f.name for f in dataclasses.fields(settings_type)}
    values |= {key: value for key, value in overrides.items() if key in names}
    return settings_type(**values)
