"""Command-line options built from settings dataclasses, and settings built from options.

A field declared with ``cliposcope.settings.option`` becomes ``--field-name`` (or its
``flag``), typed from its annotation: ``bool`` a switch, ``int``/``float``/``str`` (or a
union with None, or a type a string names) a value, ``tuple[str, ...]`` a repeatable
option; a field without a default is required. Fields declared ``internal`` stay out of
the command line. Two sources may not offer the same option: adding one that a command
already has raises TypeError naming the field, so a collision fails when the parser is
built (and in the tests), not in a user's hands. Nothing below this package sees an
argparse Namespace.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cliposcope.settings import cli_fields

# Options every command that runs probes offers itself; a settings field of the same name
# is filled from them rather than offered twice.
COMMON = ("seed",)
SCALARS = (bool, int, float, str)


def _value_type(settings_type: type, name: str, hint: Any) -> tuple[type, bool]:
    """(bool, int, float or str; repeatable) for an annotation such as ``int | None``,
    ``Vocabulary | str`` (objects that a string names are given as that string) or
    ``tuple[str, ...]``."""
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, Ellipsis):
        return str, True
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for candidate in SCALARS:
        if candidate in options:
            return candidate, False
    if Path in options:
        return str, False
    raise TypeError(
        f"{settings_type.__name__}.{name}: {hint} cannot be a command-line option; "
        "declare it internal() or accept a str"
    )


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def help_of(field: dataclasses.Field) -> str:
    text = field.metadata["help"]
    return text() if callable(text) else text


def offered_destinations(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> set[str]:
    return {action.dest for action in parser._actions}


def add_settings_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    settings_type: type,
    *,
    skip: Iterable[str] = COMMON,
) -> None:
    """One option per command-line field of ``settings_type`` (``skip``: fields the
    command fills itself). Raises TypeError when an option collides with one the parser
    already offers."""
    hints = typing.get_type_hints(settings_type)
    skipped = set(skip)
    for field in cli_fields(settings_type):
        if field.name in skipped:
            continue
        taken = offered_destinations(parser)
        if field.name in taken:
            raise TypeError(
                f"{settings_type.__name__}.{field.name}: the command already has an option "
                f"--{field.name.replace('_', '-')}; rename the field"
            )
        try:
            _add_field(parser, settings_type, field, hints[field.name])
        except argparse.ArgumentError as error:
            raise TypeError(
                f"{settings_type.__name__}.{field.name}: {error}; rename the field"
            ) from None


def _add_field(parser, settings_type: type, field: dataclasses.Field, hint: Any) -> None:
    meta = field.metadata
    kind, repeatable = _value_type(settings_type, field.name, hint)
    required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    default = None if required else field.default
    if field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    if kind is bool:
        # --flag turns a False default on; a True default also gets --no-flag.
        action = argparse.BooleanOptionalAction if default else "store_true"
        parser.add_argument(
            flag_of(field),
            dest=field.name,
            action=action,
            default=bool(default),
            help=help_of(field),
        )
        return
    parser.add_argument(
        flag_of(field),
        dest=field.name,
        type=kind,
        action="append" if repeatable else "store",
        default=None if repeatable else default,
        required=required,
        choices=meta["choices"],
        metavar=meta["metavar"],
        help=help_of(field),
    )


def settings_from_args(settings_type: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """The settings the options describe; validation happens in the constructor."""
    values = {}
    for field in cli_fields(settings_type):
        if not hasattr(args, field.name):
            continue
        value = getattr(args, field.name)
        if isinstance(value, list):  # a repeatable option
            value = tuple(value)
        elif (
            value is None
            and typing.get_origin(typing.get_type_hints(settings_type)[field.name]) is tuple
        ):
            continue  # not given: the field's default
        values[field.name] = value
    names = {f.name for f in dataclasses.fields(settings_type)}
    values |= {key: value for key, value in overrides.items() if key in names}
    return settings_type(**values)
