"""The generator and detector registries: one record per kind, registered by its module.

Generators (``diffusers:``, the ``planted:`` stand-in) and detectors (``torchvision:``,
``hf:``, ``clip:``, the ``truth:`` stand-in) are named by spec strings of the same form as
models (``KIND:TARGET[?key=value&...]``); a new kind is one module that registers itself:
a module of this package, or a plugin's module under the ``cliposcope.generators`` or
``cliposcope.detectors`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from cliposcope.chatter import library_chatter_held
from cliposcope.encoders.specs import ModelSpec, parse_spec
from cliposcope.errors import CliposcopeError
from cliposcope.registry import UNORDERED, Registry

if TYPE_CHECKING:
    from cliposcope.generation.base import (
        Detector,
        DetectorOptions,
        GenerationOptions,
        Generator,
    )


@dataclass(frozen=True)
class Kind:
    """How one kind of generator or detector is named and built: ``load(spec, options)``;
    ``check(spec)`` refuses a bad spec before anything loads; ``libraries`` enter results'
    provenance; ``options`` are the spec options it takes. ``records_truth``: a generator
    that records what it drew; ``needs_truth``: a detector that reads that record."""

    name: str
    description: str
    load: Callable
    examples: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    check: Callable[[ModelSpec], None] | None = None
    records_truth: bool = False
    needs_truth: bool = False
    order: int = UNORDERED

    @property
    def module(self) -> str:
        return self.load.__module__


_GENERATORS: Registry[Kind] = Registry("cliposcope.generation", "cliposcope.generators", Kind)
_DETECTORS: Registry[Kind] = Registry("cliposcope.generation", "cliposcope.detectors", Kind)


def register_generator(kind: Kind) -> Kind:
    return _GENERATORS.register(kind)


def register_detector(kind: Kind) -> Kind:
    return _DETECTORS.register(kind)


def generator_kinds() -> list[Kind]:
    return _GENERATORS.entries()


def detector_kinds() -> list[Kind]:
    return _DETECTORS.entries()


def _parse(spec: str, registry: Registry[Kind], what: str) -> tuple[ModelSpec, Kind]:
    kinds = tuple(kind.name for kind in registry.entries())
    parsed = parse_spec(spec, kinds, what)
    kind = registry.find(parsed.family)
    parsed.check_options(kind.options)
    if kind.check is not None:
        kind.check(parsed)
    return parsed, kind


def parse_generator_spec(spec: str) -> tuple[ModelSpec, Kind]:
    return _parse(spec, _GENERATORS, "generator")


def parse_detector_spec(spec: str) -> tuple[ModelSpec, Kind]:
    return _parse(spec, _DETECTORS, "detector")


def load_generator(spec: str, options: GenerationOptions) -> Generator:
    """A generator from its spec, e.g. ``diffusers:stabilityai/stable-diffusion-2-1-base``."""
    parsed, kind = parse_generator_spec(spec)
    with library_chatter_held(spec):
        return kind.load(parsed, options)


def load_detector(spec: str, options: DetectorOptions) -> Detector:
    """A detector from its spec, e.g. ``torchvision:fasterrcnn_resnet50_fpn_v2``."""
    parsed, kind = parse_detector_spec(spec)
    with library_chatter_held(spec):
        return kind.load(parsed, options)


def need_library(module: str, extra: str, purpose: str) -> None:
    """One clear error when an optional library is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise CliposcopeError(
            f"{purpose} needs the {module} package, which is not installed",
            hint=f"pip install 'cliposcope[{extra}]'",
        )
