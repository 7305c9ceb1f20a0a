"""Settings dataclasses that the command line offers as options.

Probes, data kinds and commands declare their settings as frozen dataclasses. A field made
with ``option`` becomes ``--field-name`` (or its ``flag``) on every command that takes
those settings; a field made with ``internal`` is set by code (a battery, a null control)
and never offered. The command line derives its options from these fields alone, so a new
probe or data kind brings its options with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import Any


def option(
    default: Any = dataclasses.MISSING,
    help: str | Callable[[], str] = "",
    *,
    flag: str | None = None,
    choices: Sequence[str] | None = None,
    metavar: str | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A field offered as ``--name`` (or ``flag``). ``help`` may be a function, for text
    that lists registered entries (read when the parser is built, not at import). A field
    without a default is a required option; a ``tuple[str, ...]`` field is repeatable."""
    metadata = {"help": help, "flag": flag, "choices": choices, "metavar": metavar}
    return field(default=default, default_factory=default_factory, metadata=metadata)


def internal(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING):
    """A field set by code, never a command-line option."""
    return field(default=default, default_factory=default_factory, metadata={"cli": False})


def cli_fields(settings_type: type) -> list[dataclasses.Field]:
    """The fields of a settings dataclass that the command line offers."""
    return [f for f in dataclasses.fields(settings_type) if "help" in f.metadata]


def is_frozen_dataclass(candidate: Any) -> bool:
    return (
        isinstance(candidate, type)
        and dataclasses.is_dataclass(candidate)
        and candidate.__dataclass_params__.frozen
    )
