"""What the t2i probe runs on: a generator, a detector and the image store they share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cliposcope.errors import CliposcopeError
from cliposcope.generation.base import Detector, DetectorOptions, GenerationOptions, Generator
from cliposcope.generation.registry import (
    load_detector,
    load_generator,
    parse_detector_spec,
    parse_generator_spec,
)
from cliposcope.generation.store import ImageStore


@dataclass
class Rig:
    generator: Generator
    detector: Detector
    store: ImageStore
    libraries: tuple[str, ...] = ()
    # The specs as given, naming the rig's examples folder.
    generator_spec: str = ""
    detector_spec: str = ""


def check_specs(generator: str, detector: str) -> None:
    """Spec typos, missing folders and pairs that cannot work fail before any model loads."""
    generator_spec, generator_kind = parse_generator_spec(generator)
    detector_spec, detector_kind = parse_detector_spec(detector)
    if detector_kind.needs_truth and not generator_kind.records_truth:
        raise CliposcopeError(
            f"{detector_spec} reads the truth a stand-in generator records, and "
            f"{generator_spec} records none",
            hint="score real generators with torchvision:, hf: or clip: detectors",
        )


def libraries_of(generator: str, detector: str) -> tuple[str, ...]:
    """The libraries whose versions results record for this pair."""
    _, generator_kind = parse_generator_spec(generator)
    _, detector_kind = parse_detector_spec(detector)
    return tuple(dict.fromkeys(("torch", *generator_kind.libraries, *detector_kind.libraries)))


def open_rig(
    generator: str,
    detector: str,
    store: str | Path,
    generation: GenerationOptions,
    detection: DetectorOptions,
) -> Rig:
    return Rig(
        load_generator(generator, generation),
        load_detector(detector, detection),
        ImageStore(store),
        libraries_of(generator, detector),
        generator_spec=generator,
        detector_spec=detector,
    )
