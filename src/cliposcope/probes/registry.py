"""The probe registry: one record per probe, registered by the probe's own module.

A probe is a frozen ``Settings`` dataclass (validated on construction), a function
``run(encoder, data, settings, *, progress) -> ProbeResult``, its table rows and its report
section. The command line builds each probe's subcommand from its ``Settings`` fields, and
the runner, ``cliposcope table`` and the report iterate over this registry: adding a probe
is one new module (plus a line in ``BUILTIN_PROBE_MODULES`` for a built-in one).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cliposcope.encoders.registry import library_versions, spec_prefixes
from cliposcope.errors import CliposcopeError
from cliposcope.probes.presentation import ReportSection
from cliposcope.registry import UNORDERED, Registry
from cliposcope.results import ProbeResult

if TYPE_CHECKING:
    from cliposcope.encoders.base import Encoder

# What a probe's run() gets as ``data``: nothing (it builds its own queries from its
# settings), a data.scene_sets.SceneSet, or a caption corpus (data.corpus: CocoCorpus or
# TableCorpus). Corpus probes measure data, not models: their encoder is None; caption
# probes run a model on a caption corpus. Generation probes (t2i) measure a text-to-image
# generator: their data is a generation.rig.Rig (generator, detector, image store) and their
# encoder is None.
DATA_KINDS = ("none", "scenes", "corpus", "captions", "generation")

Rows = tuple[list[str], list[list[str]]]


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    choices: Sequence[str] | None = None,
    metavar: str | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A Settings field that the command line offers as ``--name`` (or ``flag``)."""
    metadata = {"help": help, "flag": flag, "choices": choices, "metavar": metavar}
    return field(default=default, default_factory=default_factory, metadata=metadata)


def internal(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING):
    """A Settings field set by code (a battery, a null control), never a command-line option."""
    return field(default=default, default_factory=default_factory, metadata={"cli": False})


@dataclass(frozen=True)
class Probe:
    """``controls`` maps a null-control name to the settings that realise it on the same
    encoder (e.g. TOR's "sum": captions embedded as the sum of their objects).
    ``in_battery(battery_settings, scene_set)`` gives the probe's Settings when it runs in
    the paper's battery (probes.battery), or None (after a warning) where it cannot run on
    that scene set; ``in_battery=None`` keeps it out of the battery. ``bias(result)``
    gives a probes.verdicts.BiasFigure, the count behind the bias the probe measures."""

    name: str
    summary: str
    settings: type
    run: Callable[..., ProbeResult]
    title: str
    rows: Callable[[Sequence[ProbeResult]], Rows]
    data: str = "none"
    needs_image_tower: bool = False
    capability: str | None = None
    report: ReportSection | None = None
    controls: Mapping[str, Callable[[Any], Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    in_battery: Callable[[Any, Any], Any] | None = None
    # The figure that measures the probe's bias, from a result (probes.verdicts compares it
    # with the same figure of the model's controls); None where a result has none.
    bias: Callable[[ProbeResult], Any] | None = None
    order: int = UNORDERED

    def __post_init__(self):
        if self.data not in DATA_KINDS:
            raise ValueError(f"probe {self.name}: data {self.data!r} not in {DATA_KINDS}")
        if not (
            dataclasses.is_dataclass(self.settings) and self.settings.__dataclass_params__.frozen
        ):
            raise ValueError(f"probe {self.name}: settings must be a frozen dataclass")


_PROBES: Registry[Probe] = Registry("cliposcope.probes", "cliposcope.probes", Probe)


def register_probe(probe: Probe) -> Probe:
    return _PROBES.register(probe)


def unregister_probe(name: str) -> None:
    _PROBES.unregister(name)


def list_probes() -> list[Probe]:
    """Every registered probe, built-in ones first in their documented order."""
    return _PROBES.entries()


def find_probe(name: str) -> Probe | None:
    return _PROBES.find(name)


def get_probe(name: str) -> Probe:
    probe = find_probe(name)
    if probe is None:
        known = ", ".join(p.name for p in list_probes())
        raise CliposcopeError(f"unknown probe {name!r}", hint=f"one of {known}")
    return probe


def check_encoder(probe: Probe, encoder: Encoder) -> None:
    """Refuse, before any work, an encoder that lacks what the probe needs."""
    if probe.needs_image_tower and not encoder.info.has_image_tower:
        raise CliposcopeError(
            f"{probe.name} needs an image tower; {encoder.info.spec} is text-only",
            hint=f"use a {spec_prefixes(lambda f: f.embeds_images)} model for image probes",
        )
    if probe.capability and not encoder.supports(probe.capability):
        raise CliposcopeError(
            f"{probe.name} needs {probe.capability}, which {encoder.info.spec} does not offer",
            hint="attention probes need a ViT image tower with a CLS token (e.g. ViT-B-32)",
        )


def run_probe(
    name: str,
    encoder: Encoder,
    data: Any = None,
    settings: Any = None,
    *,
    role: str = "model",
    progress: bool = False,
) -> ProbeResult:
    """Run one registered probe, e.g. ``run_probe("tor", encoder, None, TorSettings(...))``.

    ``data``: None for probes that build their own queries, a SceneSet for image probes.
    ``settings``: the probe's Settings (its defaults when None). ``role`` labels the
    result ("model", or "null:..." for a control).
    """
    probe = get_probe(name)
    settings = probe.settings() if settings is None else settings
    if not isinstance(settings, probe.settings):
        raise CliposcopeError(
            f"{name} takes {probe.settings.__name__}, not {type(settings).__name__}",
            hint=f"build it as {probe.settings.__name__}(...)",
        )
    if probe.data == "scenes" and data is None:
        raise CliposcopeError(f"{name} runs on a scene set", hint="pass a SceneSet as data")
    if probe.data in ("corpus", "captions") and data is None:
        raise CliposcopeError(
            f"{name} runs on a caption corpus", hint="pass a data.corpus CocoCorpus or TableCorpus"
        )
    if probe.data == "generation" and data is None:
        raise CliposcopeError(
            f"{name} runs a generator and a detector",
            hint="pass a generation.rig.Rig (open_rig) as data",
        )
    if probe.data not in ("corpus", "generation"):
        check_encoder(probe, encoder)
    return probe.run(encoder, data, settings, progress=progress).with_role(role)


def make_result(
    probe: str,
    encoder: Encoder | None,
    *,
    settings: dict,
    metrics: dict,
    started: float,
    model: dict | None = None,
    **facts: Any,
) -> ProbeResult:
    """The one way a probe turns its figures into a result: model record, provenance
    (cliposcope and library versions plus the probe's own facts, e.g. data fingerprints)
    and the wall time since ``started`` (a ``time.perf_counter()`` value). A corpus probe
    has no encoder and describes its data in ``model`` instead (its spec labels rows), and
    names the libraries it used in ``libraries``."""
    from cliposcope.version import __version__

    if encoder is not None:
        versions = library_versions()
    else:  # no model family is involved: importing their libraries would only cost time
        from cliposcope.provenance import library_versions as core_versions

        versions = core_versions(tuple(facts.pop("libraries", ())))
    provenance = {"cliposcope_version": __version__, "library_versions": versions}
    return ProbeResult(
        probe=probe,
        role="model",
        model=encoder.info.to_dict() if encoder is not None else dict(model or {}),
        settings=settings,
        metrics=metrics,
        provenance=provenance | facts,
        wall_time_s=round(time.perf_counter() - started, 3),
    )
