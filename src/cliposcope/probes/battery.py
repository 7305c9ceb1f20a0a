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
from cliposcope.data.vocab import Vocabulary
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.attention import AttentionSettings
from cliposcope.probes.ioc import IocSettings
from cliposcope.probes.ior import ImageRetrievalSettings
from cliposcope.probes.matching import MatchingSettings
from cliposcope.probes.registry import get_probe, internal, option, run_probe
from cliposcope.probes.tor import TorSettings
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
    tor_all_orders: bool = internal(False)
    # Which probes run, in this order (IOC also needs ``ioc``).
    probes: tuple[str, ...] = internal(("ior", "i2tor", "matching", "attention", "ioc", "tor"))
    vocabulary_name: str = internal("scene objects")
    artifacts_dir: Path | None = internal(None)

    def __post_init__(self):
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        if self.tor_sample is not None:
            check_range("--tor-sample", self.tor_sample, 1, hint="a positive number")
        unknown = [name for name in self.probes if name not in BATTERY_PROBES]
        if unknown:
            raise CliposcopeError(f"not in the battery: {', '.join(unknown)}",
                                  hint=f"choose from {', '.join(BATTERY_PROBES)}")  # fmt: skip
        # Checked here, so a bad value fails before any model is loaded.
        MatchingSettings(self.position)
        AttentionSettings(self.layer, self.overlays)

    def probe_settings(self, name: str, scene_set: SceneSet):
        """The settings one probe of the battery runs with on this scene set."""
        if name == "tor":
            vocabulary = Vocabulary(self.vocabulary_name, scene_set.names)
            return TorSettings(vocabulary, n=scene_set.n, sample=self.tor_sample,
                               seed=self.seed, all_orders=self.tor_all_orders)  # fmt: skip
        if name == "matching":
            return MatchingSettings(self.position)
        if name == "attention":
            return AttentionSettings(self.layer, self.overlays, self.artifacts_dir)
        if name == "ioc":
            return IocSettings(seed=self.seed)
        return ImageRetrievalSettings()


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
        data = scene_set if probe.data == "scenes" else None
        results.append(run_probe(name, encoder, data, settings.probe_settings(name, scene_set),
                                 progress=progress))  # fmt: skip
    return results
