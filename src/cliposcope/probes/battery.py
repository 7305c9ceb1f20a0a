"""The paper's battery: every probe that applies, on one scene set, for one encoder.

``run_battery(encoder, scene_set, BatterySettings(...))`` is what `cliposcope run paper`,
the demo and `lab progression` call. Image probes run only where the encoder has an image
tower; attention only where it declares ``cls_attention``; TOR runs on the scene set's
own vocabulary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cliposcope.data.scene_sets import SceneSet
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.registry import get_probe, internal, option, run_probe
from cliposcope.results import ProbeResult

log = logging.getLogger(__name__)

BATTERY_PROBES = ("ior", "i2tor", "matching", "attention", "ioc", "tor")


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
    # Which probes run, in this order (IOC also needs ``ioc``).
    probes: tuple[str, ...] = internal(BATTERY_PROBES)
    vocabulary_name: str = internal("scene objects")
    artifacts_dir: Path | None = internal(None)

    def __post_init__(self):
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        if self.tor_sample is not None:
            check_range("--tor-sample", self.tor_sample, 1, hint="a positive number")
        outside = [name for name in self.probes if get_probe(name).in_battery is None]
        if outside:
            raise CliposcopeError(
                f"not a battery probe: {', '.join(outside)}",
                hint=f"the battery runs {', '.join(BATTERY_PROBES)}",
            )
        if self.position is not None:
            check_range("--position", self.position, 1, hint="a caption position, from 1")
        check_range("--overlays", self.overlays, 0, hint="a count of images, 0 for none")


def run_battery(
    encoder: Encoder, scene_set: SceneSet, settings: BatterySettings, *, progress: bool = False
) -> list[ProbeResult]:
    results = []
    for name in settings.probes:
        probe = get_probe(name)
        if name == "ioc" and not settings.ioc:
            continue
        if probe.needs_image_tower and not encoder.info.has_image_tower:
            continue
        if probe.capability and not encoder.supports(probe.capability):
            log.warning("%s skipped for %s: no %s", name, encoder.info.spec, probe.capability)
            continue
        probe_settings = probe.in_battery(settings, scene_set)
        if probe_settings is None:  # the probe cannot run on this scene set (it said why)
            continue
        data = scene_set if probe.data == "scenes" else None
        results.append(run_probe(name, encoder, data, probe_settings, progress=progress))
    return results
