"""The paper's battery: every probe that applies, on one scene set, for one encoder.

``run_battery(encoder, scene_set, BatterySettings(...))`` is what `cliposcope run paper`,
the demo and `lab progression` call. A probe joins it through its record's ``battery``
role; image probes run only where the encoder has an image tower, probes that need a
capability (CLS attention) only where the encoder declares it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cliposcope.data.scene_sets import SceneSet
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.registry import get_probe, list_probes, run_probe
from cliposcope.progress import step
from cliposcope.results import ProbeResult, ResultFolder
from cliposcope.settings import internal, option

log = logging.getLogger(__name__)

# What the battery runs on: a scene set, from any data kind that provides scenes.
BATTERY_DATA = "scenes"


def battery_probes(*, demo: bool = False) -> tuple[str, ...]:
    """The probes that join the battery (those the demo shows, with ``demo``), in the
    registry's order."""
    return tuple(
        probe.name
        for probe in list_probes()
        if probe.battery is not None and (probe.battery.in_demo or not demo)
    )


@dataclass(frozen=True)
class BatterySettings:
    seed: int = option(0, "seed for TOR sampling and the IOC heads")
    position: int | None = option(
        None, "biased position for matching (default: each image's large object)", metavar="K"
    )
    layer: int = option(-1, "attention layer")
    overlays: int = option(0, "attention overlays to save", metavar="N")
    ioc: bool = option(False, "also train IOC heads")
    tor_sample: int | None = option(2000, "TOR combinations drawn with --seed", metavar="K")
    legacy_quirks: bool = option(
        False,
        "reproduce the published scripts bug for bug: TOR "
        "(paper protocol), IOR, I2TOR and matching",
    )
    tor_all_orders: bool = internal(False)
    # Which probes run (None: every battery probe); opt-in ones (IOC) also need their flag.
    probes: tuple[str, ...] | None = internal(None)
    vocabulary_name: str = internal("scene objects")
    artifacts_dir: Path | None = internal(None)

    def __post_init__(self):
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        if self.tor_sample is not None:
            check_range("--tor-sample", self.tor_sample, 1, hint="a positive number")
        outside = [name for name in self.probes or () if get_probe(name).battery is None]
        if outside:
            raise CliposcopeError(
                f"not a battery probe: {', '.join(outside)}",
                hint=f"the battery runs {', '.join(battery_probes())}",
            )
        if self.position is not None:
            check_range("--position", self.position, 1, hint="a caption position, from 1")
        check_range("--overlays", self.overlays, 0, hint="a count of images, 0 for none")


def run_battery(
    encoder: Encoder,
    scene_set: SceneSet,
    settings: BatterySettings,
    *,
    progress: bool = False,
    role: str | None = None,
    reuse: ResultFolder | None = None,
    records: bool = True,
) -> list[ProbeResult]:
    """Each battery probe's result (``role``, ``reuse`` and ``records`` as in run_probe)."""
    results = []
    chosen = [get_probe(name) for name in settings.probes or battery_probes()]
    chosen = [p for p in chosen if not p.battery.opt_in or getattr(settings, p.battery.opt_in)]
    chosen = [p for p in chosen if encoder.info.has_image_tower or not p.needs_image_tower]
    for index, probe in enumerate(chosen, start=1):
        name = probe.name
        if probe.capability and not encoder.supports(probe.capability):
            log.warning("%s skipped for %s: no %s", name, encoder.info.spec, probe.capability)
            continue
        probe_settings = probe.battery.settings(settings, scene_set)
        if probe_settings is None:  # the probe cannot run on this scene set (it said why)
            continue
        data = scene_set if probe.data is not None else None
        on = f"{len(scene_set.scenes)} scenes" if data is not None else "its own captions"
        step(
            index,
            len(chosen),
            f"{name} on {encoder.info.spec} ({role or 'model'}), {on}",
            enabled=progress,
        )
        results.append(
            run_probe(
                name,
                encoder,
                data,
                probe_settings,
                role=role,
                progress=progress,
                reuse=reuse,
                records=records,
            )
        )
    return results
