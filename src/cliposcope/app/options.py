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
SCALARS = (bool, int, float, str)


def cli_fields(settings_type: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(settings_type) if "help" in f.metadata]


def _value_type(settings_type: type, name: str, hint: Any) -> type:
    """bool, int, float or str for an annotation such as ``int | None`` or
    ``Vocabulary | str`` (objects that a string names are given as that string)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for candidate in SCALARS:
        if candidate in options:
            return candidate
    if Path in options:
        return str
    raise TypeError(
        f"{settings_type.__name__}.{name}: {hint} cannot be a command-line option; "
        "declare it internal() or accept a str"
    )


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def add_settings_options(
    parser: argparse.ArgumentParser, settings_type: type, reserved: tuple[str, ...] = ()
) -> None:
    """One option per command-line field; ``reserved`` are the destinations of options the
    command adds itself, which no field may take."""
    hints = typing.get_type_hints(settings_type)
    for field in cli_fields(settings_type):
        if field.name in COMMON:
            continue
        if field.name in reserved:
            raise TypeError(
                f"{settings_type.__name__}.{field.name} takes the name of an option "
                "the command line owns; rename the field"
            )
        meta = field.metadata
        kind = _value_type(settings_type, field.name, hints[field.name])
        default = field.default if field.default is not dataclasses.MISSING else None
        if kind is bool:
            # --flag turns a False default on; a True default also gets --no-flag.
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(
                flag_of(field),
                dest=field.name,
                action=action,
                default=bool(default),
                help=meta["help"],
            )
            continue
        parser.add_argument(
            flag_of(field),
            dest=field.name,
            type=kind,
            default=default,
            choices=meta["choices"],
            metavar=meta["metavar"],
            help=meta["help"],
        )


def settings_from_args(settings_type: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """The Settings the options describe; validation happens in its constructor."""
    values = {
        f.name: getattr(args, f.name) for f in cli_fields(settings_type) if hasattr(args, f.name)
    }
    names = {f.name for f in dataclasses.fields(settings_type)}
    values |= {key: value for key, value in overrides.items() if key in names}
    return settings_type(**values)
