"""The data-kind registry: one record per kind of data a probe can run on.

A probe names what it consumes (``Probe.data``: "scenes", "corpus", "generation", or None
for probes that build their own queries); every data kind that ``provides`` it offers its
options on that probe's command, and the options a user gives choose the kind (COCO
images instead of generated scenes, say). A kind is one module of this package, or a
plugin's module under the ``cliposcope.data_kinds`` entry-point group, that registers a
``DataKind``: its settings (whose ``option`` fields become command-line options), its
loader, the fingerprint of what it loads and a line describing it in tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cliposcope.errors import CliposcopeError
from cliposcope.registry import UNORDERED, Registry
from cliposcope.settings import cli_fields, is_frozen_dataclass


@dataclass(frozen=True)
class DataContext:
    """What a loader may use besides its settings: the run's output folder (for files it
    derives, e.g. generated scenes), the run's seed and whether to show progress."""

    out: Path
    seed: int = 0
    progress: bool = False


@dataclass(frozen=True)
class DataKind:
    """``load(settings, context)`` gives the data units a run measures (one scene set; one
    rig per generator); each probe runs once per unit and model. ``selected_by`` names the
    options that choose this kind over the others providing the same data; the
    ``default`` kind is used when none is chosen. ``check(settings)`` refuses bad settings
    before any model loads. ``fingerprint(unit)`` identifies a unit's content;
    ``describe(provenance)`` gives a result's data line, or None when the result was not
    measured on this kind. ``writes(settings, out)`` lists the folders loading will write
    (with the option that names each), checked before any work. ``noun`` names the kind in
    messages ("COCO images")."""

    name: str
    provides: str
    description: str
    noun: str
    settings: type
    load: Callable[[Any, DataContext], list[Any]]
    fingerprint: Callable[[Any], str]
    selected_by: tuple[str, ...] = ()
    default: bool = False
    check: Callable[[Any], None] | None = None
    describe: Callable[[dict], str | None] = lambda provenance: None
    writes: Callable[[Any, Path], list[tuple[Path, str]]] = lambda settings, out: []
    # Settings of a small example of this kind, written into the given folder: for the
    # conformance tests, smoke runs and the docs.
    example: Callable[[Path], Any] | None = None
    order: int = UNORDERED

    def __post_init__(self):
        if not is_frozen_dataclass(self.settings):
            raise ValueError(f"data kind {self.name}: settings must be a frozen dataclass")
        offered = {f.name for f in cli_fields(self.settings)}
        if not set(self.selected_by) <= offered:
            raise ValueError(f"data kind {self.name}: selected_by names options it lacks")

    def chosen(self, settings: Any) -> bool:
        return any(getattr(settings, name) not in (None, (), False) for name in self.selected_by)

    def given_options(self, settings: Any) -> list[str]:
        """The option fields the user set away from their defaults."""
        defaults = self.settings()
        return [
            f.name
            for f in cli_fields(self.settings)
            if getattr(settings, f.name) != getattr(defaults, f.name)
        ]


_KINDS: Registry[DataKind] = Registry("cliposcope.data_kinds", "cliposcope.data_kinds", DataKind)


def register_data_kind(kind: DataKind) -> DataKind:
    return _KINDS.register(kind)


def unregister_data_kind(name: str) -> None:
    _KINDS.unregister(name)


def list_data_kinds() -> list[DataKind]:
    return _KINDS.entries()


def data_kind_origin(name: str) -> str:
    return _KINDS.origin(name)


def kinds_providing(data: str | None) -> list[DataKind]:
    """The kinds a probe consuming ``data`` can run on, default kind first."""
    if data is None:
        return []
    found = [kind for kind in list_data_kinds() if kind.provides == data]
    if not found:
        known = sorted({kind.provides for kind in list_data_kinds()})
        raise CliposcopeError(
            f"no data kind provides {data!r}",
            hint=f"registered data: {', '.join(known)}; is the plugin that provides it installed?",
        )
    return sorted(found, key=lambda kind: not kind.default)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def choose_kind(data: str, settings_of: Callable[[DataKind], Any]) -> tuple[DataKind, Any]:
    """The kind the given options choose among those providing ``data``, with its
    settings. Options of a kind not chosen are refused rather than silently ignored."""
    kinds = kinds_providing(data)
    built = {kind.name: settings_of(kind) for kind in kinds}
    chosen = [kind for kind in kinds if kind.chosen(built[kind.name])]
    if len(chosen) > 1:
        sources = " or ".join("/".join(map(flag, kind.selected_by)) for kind in chosen)
        raise CliposcopeError(f"give {sources}, not both", hint="one source of data per run")
    defaults = [kind for kind in kinds if kind.default]
    if not chosen and not defaults:
        options = " or ".join(" and ".join(map(flag, kind.selected_by)) for kind in kinds)
        raise CliposcopeError(f"this probe needs its data: give {options}", hint="see --help")
    kind = chosen[0] if chosen else defaults[0]
    own = {f.name for f in cli_fields(kind.settings)}
    for other in kinds:
        if other is kind:
            continue
        stray = [name for name in other.given_options(built[other.name]) if name not in own]
        if stray:
            raise CliposcopeError(
                f"{', '.join(map(flag, stray))} apply to {other.noun}",
                hint=f"add {' and '.join(flag(name) + ' ...' for name in other.selected_by)}"
                if other.selected_by
                else f"leave them out with {' and '.join(map(flag, kind.selected_by))}",
            )
    return kind, built[kind.name]


def describe_provenance(data: str | None, provenance: dict) -> str | None:
    """A result's data line from the kind that recorded it, if any."""
    for kind in kinds_providing(data) if data else ():
        line = kind.describe(provenance)
        if line:
            return line
    return None


def shared_fields_agree(kinds: Sequence[DataKind]) -> None:
    """Kinds offered on one command may share an option only if they declare it alike."""
    seen: dict[str, tuple[str, dataclasses.Field]] = {}
    for kind in kinds:
        for field in cli_fields(kind.settings):
            if field.name in seen:
                owner, other = seen[field.name]
                if (field.default, field.type, field.metadata) != (
                    other.default,
                    other.type,
                    other.metadata,
                ):
                    raise TypeError(
                        f"data kinds {owner} and {kind.name} both declare --{field.name} "
                        "differently; declare it alike or rename one"
                    )
            else:
                seen[field.name] = (kind.name, field)
