"""The model family registry: one record per family, registered by the family's own module.

``load_encoder``, ``cliposcope models``, provenance, the random-init null and the family
conformance tests read these records; nothing else names a family. A new family is one
module that calls ``register_family``: a module of this package, or a plugin's module named
by an entry point of the ``cliposcope.families`` group.

Imports flow one way in this package: base (the protocol, ModelSpec, EncoderInfo) <- this
registry <- specs (parsing against the registered names) <- the family modules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from cliposcope.errors import CliposcopeError
from cliposcope.provenance import library_versions as _library_versions
from cliposcope.registry import UNORDERED, Registry

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pathlib import Path

    from cliposcope.encoders.base import Encoder, EncoderInfo, LoadOptions, ModelSpec
    from cliposcope.encoders.hub import HubFiles


@dataclass(frozen=True)
class Family:
    """How one family of encoders is named, built, described and controlled.

    ``load(spec, options)`` builds the encoder; ``libraries`` are the distributions whose
    versions can change its embeddings (the first enters the cache fingerprint, all enter
    provenance); ``random_init(info, seed)`` gives the spec of the same architecture with
    seeded random weights (the null control), where the family has one;
    ``with_checkpoint(spec, path)`` folds a ``--checkpoint`` path into a spec;
    ``catalogue(pattern)`` lists what the family knows (e.g. pretrained tags) for
    ``cliposcope models``; ``embeds_images`` says whether its models have an image tower;
    ``tiny(folder, seed)`` writes a small model of the family with random weights drawn
    from ``seed`` into ``folder``, offline, and returns its spec (the conformance tests in
    tests/encoders run every family on one; smoke runs may use it too); ``hub_files(spec)``
    lists what a spec reads from the model hub (nothing for local files), for the offline
    check before a load and for ``cliposcope prefetch``.
    """

    name: str
    description: str
    load: Callable[[ModelSpec, LoadOptions], Encoder]
    examples: tuple[str, ...] = ()
    embeds_images: bool = False
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    libraries: tuple[str, ...] = ()
    random_init: Callable[[EncoderInfo, int], str] | None = None
    with_checkpoint: Callable[[ModelSpec, Path], ModelSpec] | None = None
    catalogue: Callable[[str | None], list[str]] | None = None
    tiny: Callable[[Path, int], str] | None = None
    hub_files: Callable[[ModelSpec], list[HubFiles]] | None = None
    # The object names a model of the family was trained on, where that is a short known
    # list (the toy model's 20): probes warn when their names fall outside it.
    trained_names: Callable[[EncoderInfo], tuple[str, ...] | None] | None = None
    order: int = UNORDERED

    @property
    def module(self) -> str:
        """The module that defines the family (its loader's)."""
        return self.load.__module__

    @property
    def library(self) -> str | None:
        return self.libraries[0] if self.libraries else None


_FAMILIES: Registry[Family] = Registry("cliposcope.encoders", "cliposcope.families", Family)


def register_family(family: Family) -> Family:
    if not family.name.isidentifier() or family.name != family.name.lower():
        raise ValueError(f"family name {family.name!r} must be a lower-case identifier")
    return _FAMILIES.register(family)


def unregister_family(name: str) -> None:
    _FAMILIES.unregister(name)


def list_families() -> list[Family]:
    return _FAMILIES.entries()


def family_names() -> tuple[str, ...]:
    return tuple(family.name for family in list_families())


def find_family(name: str) -> Family | None:
    """The record, or None for a family nobody registered (e.g. a test's fake encoder)."""
    return _FAMILIES.find(name)


def trained_names(info: EncoderInfo) -> tuple[str, ...] | None:
    """The object names the model was trained on, where its family knows them."""
    family = find_family(info.family)
    if family is None or family.trained_names is None:
        return None
    return family.trained_names(info)


def warn_untrained_names(info: EncoderInfo, names, what: str, hint: str) -> None:
    """A warning when a model meets object names it was never trained on: it cannot
    retrieve them, and every figure over them is noise."""
    known = trained_names(info)
    if known is None:
        return
    unknown = [name for name in dict.fromkeys(names) if name not in set(known)]
    if unknown:
        log.warning(
            "%s was trained on %d object names; %d of the %d names of %s are not among them "
            "(e.g. %s), so it cannot retrieve those (hint: %s)",
            info.spec,
            len(known),
            len(unknown),
            len(set(names)),
            what,
            ", ".join(unknown[:3]),
            hint,
        )


def get_family(name: str) -> Family:
    family = find_family(name)
    if family is None:
        raise CliposcopeError(
            f"unknown model family {name!r}",
            hint=f"expected one of {', '.join(family_names())}; `cliposcope models` lists them",
        )
    return family


def spec_prefixes(predicate=lambda family: True) -> str:
    """'openclip:, hf:, ...' for the families a hint should offer."""
    return ", ".join(f"{family.name}:" for family in list_families() if predicate(family))


def tracked_libraries() -> tuple[str, ...]:
    """Every registered family's libraries, for provenance."""
    return tuple(dict.fromkeys(lib for family in list_families() for lib in family.libraries))


def library_versions() -> dict[str, str]:
    """Versions of the core libraries and of every family's, as results record them."""
    return _library_versions(tracked_libraries())
