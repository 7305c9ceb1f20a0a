"""The probe registry: one record per probe, registered by the probe's own module.

A probe is a frozen ``Settings`` dataclass (validated on construction), a function
``run(encoder, data, settings, *, progress) -> ProbeResult``, its table rows and its report
section, plus what the rest of the program needs to know about it (its version, the data
it runs on, how it joins the battery, how its results are compared). The command line
builds each probe's subcommand from its ``Settings`` fields and its data kinds, and the
runner, the battery, verdicts, ``cliposcope table`` and the report ask this registry:
nothing else names a probe. Adding a probe is one new module: a module of this package,
or a plugin's module under the ``cliposcope.probes`` entry-point group.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cliposcope.encoders.base import CAPABILITIES
from cliposcope.encoders.registry import library_versions, spec_prefixes
from cliposcope.errors import CliposcopeError
from cliposcope.probes.presentation import FigureDefinition, ReportSection
from cliposcope.provenance import run_metadata, utc_now
from cliposcope.registry import UNORDERED, Registry
from cliposcope.results import ProbeResult, ResultFolder, experiment_identity
from cliposcope.settings import is_frozen_dataclass

if TYPE_CHECKING:
    from cliposcope.encoders.base import Encoder

Rows = tuple[list[str], list[list[str]]]


@dataclass(frozen=True)
class BatteryRole:
    """How a probe joins the paper's battery (probes.battery). ``settings(battery_settings,
    scene_set)`` gives its Settings there, or None (after a warning) where it cannot run on
    that scene set; ``opt_in`` names a battery flag that must be on (IOC's heads cost
    training); ``in_demo`` puts it in `cliposcope demo`."""

    settings: Callable[[Any, Any], Any]
    opt_in: str | None = None
    in_demo: bool = False


@dataclass(frozen=True)
class Probe:
    """One probe, as its module registers it.

    ``data`` names what ``run`` consumes: None (it builds its own queries from its
    settings) or what a data kind provides ("scenes", "corpus", "generation"; see
    cliposcope.data_kinds). ``needs_model`` is False for probes that measure data (corpus
    statistics) or a generator (t2i): their encoder is None.

    ``version`` enters every result and is bumped whenever a change alters the numbers.
    ``data_settings`` are the keys of a result's settings that define what is measured
    besides the data
    (object count, protocol, legacy rules...), and ``data_fingerprints`` the provenance
    keys holding the fingerprints of its queries or data: together they decide which results
    can be compared (verdicts pair a model with its controls by them) and they make the
    table's data line.

    ``controls`` maps a null-control name to the settings that realise it on the same
    encoder (e.g. TOR's "sum": captions embedded as the sum of their objects). ``battery``
    says how it runs in the paper's battery (None: not in it). ``bias(result)`` gives a
    probes.verdicts.BiasFigure, the count behind the bias the probe measures.
    ``figures`` defines, once, every figure its table shows (label and one line, by its
    key in the metrics), for the table's footer, the report and the export.
    ``bias_per_query(columns)`` gives the same figure query by query
    (probes.verdicts.QueryFigure) from the record columns named in ``bias_columns``, so
    that verdicts compare a model with its control query by query.
    ``prefetch(settings, encoder, data)`` embeds, in one pass, what ``run`` will ask for
    chunk by chunk (the Ray engine then starts its actors once). ``artifacts(settings,
    out, role, data)`` gives the settings with the folder where the run writes files
    (overlays, examples). ``paper_data(result)`` names the paper's dataset the result was
    measured on, if any (the published figures are keyed by it). ``counts_on_engine``: its
    ``run`` takes an ``engine`` that counts a corpus (the Ray engine does it on workers).
    """

    name: str
    summary: str
    settings: type
    run: Callable[..., ProbeResult]
    title: str
    rows: Callable[[Sequence[ProbeResult]], Rows]
    version: int = 1
    data: str | None = None
    needs_model: bool = True
    data_settings: tuple[str, ...] = ()
    data_fingerprints: tuple[str, ...] = ()
    needs_image_tower: bool = False
    capability: str | None = None
    report: ReportSection | None = None
    controls: Mapping[str, Callable[[Any], Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    battery: BatteryRole | None = None
    # The figure that measures the probe's bias, from a result (probes.verdicts compares it
    # with the same figure of the model's controls); None where a result has none.
    bias: Callable[[ProbeResult], Any] | None = None
    # Each figure the table shows, by its key in the metrics (the export's figure name):
    # its label and one-line definition, printed under the table and the report's.
    figures: Mapping[str, FigureDefinition] = field(default_factory=lambda: MappingProxyType({}))
    # The same figure query by query, from the record columns named in ``bias_columns``
    # (a probes.verdicts.QueryFigure, or None): verdicts pair model and control on it.
    bias_per_query: Callable[[Mapping[str, list]], Any] | None = None
    bias_columns: tuple[str, ...] = ()
    # What protocol the main reading of the bias follows, and other readings of the same
    # bias under other protocols (name -> probes.verdicts.BiasReading), e.g. TOR's under
    # the position-matched gallery: the decomposition into architecture, learned and total
    # shows each (probes.decomposition).
    bias_protocol: str = "as measured"
    # What a result's own settings add to every protocol's name (e.g. TOR's caption
    # prefix), or None.
    protocol_note: Callable[[ProbeResult], str] | None = None
    bias_readings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    prefetch: Callable[[Any, Encoder, Any], None] | None = None
    artifacts: Callable[[Any, Path, str, Any], Any] | None = None
    paper_data: Callable[[ProbeResult], str | None] | None = None
    counts_on_engine: bool = False
    # What a run will ask of the model, from its settings and data (a probes.cost.Work),
    # for --dry-run and the size stated before large runs; None: counted by its data.
    cost: Callable[[Any, Any], Any] | None = None
    # Small settings that run in seconds on a tiny model and the example data of its data
    # kind: conformance tests, smoke runs and the docs use them (None: the defaults).
    example: Callable[[], Any] | None = None
    # Shown under `cliposcope run NAME --help`: typical invocations.
    epilog: str = ""
    order: int = UNORDERED

    def __post_init__(self):
        if not is_frozen_dataclass(self.settings):
            raise ValueError(f"probe {self.name}: settings must be a frozen dataclass")
        if self.capability is not None and self.capability not in CAPABILITIES:
            raise ValueError(
                f"probe {self.name}: capability {self.capability!r} not in {CAPABILITIES}"
            )
        if not (isinstance(self.version, int) and self.version >= 1):
            raise ValueError(f"probe {self.name}: version must be a positive integer")


_PROBES: Registry[Probe] = Registry("cliposcope.probes", "cliposcope.probes", Probe)


def register_probe(probe: Probe) -> Probe:
    return _PROBES.register(probe)


def unregister_probe(name: str) -> None:
    _PROBES.unregister(name)


def list_probes() -> list[Probe]:
    """Every registered probe, built-in ones first in their documented order."""
    return _PROBES.entries()


def probe_origin(name: str) -> str:
    """'cliposcope' for a built-in probe, else the plugin distribution that registered it."""
    return _PROBES.origin(name)


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
    encoder: Encoder | None,
    data: Any = None,
    settings: Any = None,
    *,
    role: str | None = None,
    progress: bool = False,
    engine: Any = None,
    reuse: ResultFolder | None = None,
    records: bool = True,
) -> ProbeResult:
    """Run one registered probe, e.g. ``run_probe("tor", encoder, None, TorSettings(...))``.

    ``data``: None for probes that build their own queries, else what the probe's data
    kind loads (a SceneSet, a caption corpus, a generation rig). ``settings``: the probe's
    Settings (its defaults when None). ``role`` labels the result ("model", or "null:..."
    for a control; None keeps the probe's own: "model", or "corpus" for a corpus
    measured). ``engine``: what counts a corpus elsewhere (for probes that say so).
    ``reuse``: a folder whose result of the same experiment and role is returned instead
    of running again (its ``source_path`` says where it was read). ``records``: keep the
    per-query records (False drops them, for huge runs).
    """
    from cliposcope.data_kinds import kinds_providing

    probe = get_probe(name)
    settings = probe.settings() if settings is None else settings
    if not isinstance(settings, probe.settings):
        raise CliposcopeError(
            f"{name} takes {probe.settings.__name__}, not {type(settings).__name__}",
            hint=f"build it as {probe.settings.__name__}(...)",
        )
    if probe.data is not None and data is None:
        sources = "; ".join(kind.description for kind in kinds_providing(probe.data))
        raise CliposcopeError(f"{name} runs on {probe.data}", hint=f"pass data from: {sources}")
    if probe.needs_model:
        if encoder is None:
            raise CliposcopeError(f"{name} measures a model", hint="pass an encoder")
        check_encoder(probe, encoder)
    identity = experiment_identity(
        probe.name,
        probe.version,
        encoder.info.fingerprint if encoder is not None else None,
        settings_record(settings),
        data_fingerprint(probe, data),
    )
    if reuse is not None:
        found = reuse.find(identity, role)
        if found is not None:
            return found
    extra = {"engine": engine} if probe.counts_on_engine else {}
    started = utc_now()
    result = probe.run(encoder, data, settings, progress=progress, **extra)
    result.identity = identity
    device = encoder.info.device if encoder is not None else None
    result.run = run_metadata(started, utc_now(), device)
    if not records:
        result.query_records = None
    return result if role is None else result.with_role(role)


def settings_record(settings: Any) -> dict:
    """A probe's settings as plain JSON values, for its identity."""
    return json.loads(json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str))


def data_fingerprint(probe: Probe, data: Any) -> str | None:
    """The fingerprint of a data unit, as the data kinds providing the probe's data take it
    (kinds providing the same data load the same type)."""
    from cliposcope.data_kinds import kinds_providing

    if data is None:
        return None
    return kinds_providing(probe.data)[0].fingerprint(data)


def make_result(
    probe: str,
    encoder: Encoder | None,
    *,
    settings: dict,
    metrics: dict,
    started: float,
    model: dict | None = None,
    role: str = "model",
    query_records: dict[str, list] | None = None,
    **facts: Any,
) -> ProbeResult:
    """The one way a probe turns its figures into a result: model record, provenance
    (cliposcope and library versions plus the probe's own facts, e.g. data fingerprints)
    and the wall time since ``started`` (a ``time.perf_counter()`` value). A corpus probe
    has no encoder and describes its data in ``model`` instead (its spec labels rows), and
    names the libraries it used in ``libraries``. ``query_records``: one row per query
    (columns of equal length), written beside the result's JSON as Parquet; they must be
    enough to recompute every figure of the result."""
    from cliposcope.version import __version__

    if encoder is not None:
        versions = library_versions()
    else:  # no model family is involved: importing their libraries would only cost time
        from cliposcope.provenance import library_versions as core_versions

        versions = core_versions(tuple(facts.pop("libraries", ())))
    record = find_probe(probe)
    provenance = {
        "cliposcope_version": __version__,
        "library_versions": versions,
        "probe_version": record.version if record is not None else None,
        "probe_origin": _PROBES.origin(probe),
    }
    return ProbeResult(
        probe=probe,
        role=role,
        model=encoder.info.to_dict() if encoder is not None else dict(model or {}),
        settings=settings,
        metrics=metrics,
        provenance=provenance | facts,
        wall_time_s=round(time.perf_counter() - started, 3),
        query_records=query_records,
    )
