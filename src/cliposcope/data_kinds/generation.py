"""Generation rigs for the text-to-image probe: a generator (diffusers, or a planted
stand-in), a detector that finds the prompted objects, and the image store they share.
One rig per ``--generator``; each is measured as its own result."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cliposcope.data_kinds import DataContext, DataKind, register_data_kind
from cliposcope.encoders.base import DEVICE_FORMS, PRECISIONS
from cliposcope.generation.base import DetectorOptions, GenerationOptions
from cliposcope.generation.registry import (
    detector_kinds,
    generator_kinds,
    load_detector,
    load_generator,
)
from cliposcope.generation.rig import Rig, check_specs, libraries_of
from cliposcope.generation.store import ImageStore
from cliposcope.settings import option


def _kinds_help(kinds) -> str:
    return "; ".join(f"{k.name}: {k.description} (e.g. {k.examples[0]})" for k in kinds())


@dataclass(frozen=True)
class GenerationSource:
    generator: tuple[str, ...] = option(
        help=lambda: "repeatable; kinds: " + _kinds_help(generator_kinds), metavar="SPEC"
    )
    detector: str = option(help=lambda: "kinds: " + _kinds_help(detector_kinds), metavar="SPEC")
    images: str | None = option(
        None, "image store, shared by runs (default: OUT/t2i-images)", metavar="DIR"
    )
    steps: int = option(30, "denoising steps (default 30)")
    guidance: float = option(7.5, "classifier-free guidance scale (default 7.5)")
    resolution: int = option(512, "pixels (default 512)")
    batch_size: int = option(4, "images per generator pass (default 4)", metavar="N")
    detector_batch_size: int = option(8, "images per detector pass (default 8)", metavar="N")
    device: str = option("auto", f"{DEVICE_FORMS} (default auto)")
    precision: str = option(
        "fp32", "weights' dtype: fp32 (default), or fp16/bf16 on a GPU", choices=PRECISIONS
    )

    def generation(self) -> GenerationOptions:
        return GenerationOptions(
            device=self.device,
            precision=self.precision,
            steps=self.steps,
            guidance=self.guidance,
            resolution=self.resolution,
            batch_size=self.batch_size,
        )

    def detection(self) -> DetectorOptions:
        return DetectorOptions(device=self.device, batch_size=self.detector_batch_size)

    def store(self, out: Path) -> Path:
        return Path(self.images) if self.images else out / "t2i-images"


def check_generation(source: GenerationSource) -> None:
    from cliposcope.encoders.base import resolve_device

    source.generation()
    source.detection()
    for spec in source.generator:
        check_specs(spec, source.detector)
    resolve_device(source.device)


def load_rigs(source: GenerationSource, context: DataContext) -> list[Rig]:
    """One rig per generator (repeated specs once), all with the one detector and store."""
    detector = load_detector(source.detector, source.detection())
    store = ImageStore(source.store(context.out))
    return [
        Rig(
            load_generator(spec, source.generation()),
            detector,
            store,
            libraries_of(spec, source.detector),
            generator_spec=spec,
            detector_spec=source.detector,
        )
        for spec in dict.fromkeys(source.generator)
    ]


def rig_fingerprint(rig: Rig) -> str:
    described = f"{rig.generator_spec}|{rig.detector_spec}"
    return hashlib.sha256(described.encode()).hexdigest()


def example_generation(folder: Path) -> GenerationSource:
    """The planted stand-in generator, scored by the detector that reads its record, on
    the CPU at a small size, with its image store in FOLDER."""
    return GenerationSource(
        generator=("planted:0.9,0.6,0.3",),
        detector="truth:planted",
        images=str(folder / "t2i-images"),
        steps=1,
        resolution=64,
        device="cpu",
    )


register_data_kind(
    DataKind(
        name="generation",
        order=40,
        provides="generation",
        description="generator and detector",
        noun="text-to-image runs",
        settings=GenerationSource,
        load=load_rigs,
        fingerprint=rig_fingerprint,
        default=True,
        check=check_generation,
        writes=lambda source, out: [(source.store(out), "--images")],
        example=example_generation,
    )
)
