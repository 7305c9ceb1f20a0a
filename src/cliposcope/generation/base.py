"""What the text-to-image probe works with: generators that draw prompts, detectors that
say what a drawing holds, and the records both leave behind.

A generator turns (prompt, seed) requests into images; a detector turns images into
scored detections for a list of object labels. Both are loaded from spec strings through
generation.registry and identify themselves with a ``fingerprint`` that enters the keys
of the image store, so a cached image or detection is reused only by the same function.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from cliposcope.data.templates import with_article
from cliposcope.encoders.base import check_precision
from cliposcope.errors import CliposcopeError, check_range


@dataclass(frozen=True)
class GenerationOptions:
    """How a generator runs. ``steps``, ``guidance``, ``resolution`` and ``precision`` change
    the images and enter the generator's fingerprint, as do the device type and the library
    versions (a run resumed on another kind of device or another torch draws afresh);
    ``batch_size`` and the device index do not."""

    device: str = "auto"
    precision: str = "fp32"
    steps: int = 30
    guidance: float = 7.5
    resolution: int = 512
    batch_size: int = 4

    def __post_init__(self):
        check_precision(self.precision)
        check_range("--steps", self.steps, 1, 1000, hint="denoising steps, e.g. 30")
        check_range("--guidance", self.guidance, 0.0, 100.0, hint="e.g. 7.5 (1 turns it off)")
        check_range("--resolution", self.resolution, 16, 4096, hint="pixels, e.g. 512")
        if self.resolution % 8:
            raise CliposcopeError(
                f"--resolution {self.resolution} is not a multiple of 8",
                hint="latent diffusion works in 8-pixel steps, e.g. 512",
            )
        check_range("--batch-size", self.batch_size, 1, hint="images per forward pass, e.g. 4")


@dataclass(frozen=True)
class DetectorOptions:
    device: str = "auto"
    batch_size: int = 8

    def __post_init__(self):
        check_range("--detector-batch-size", self.batch_size, 1, hint="e.g. 8")


@dataclass(frozen=True)
class Request:
    """One image to draw: the prompt, the objects it names in prompt order, and the seed."""

    prompt: str
    objects: tuple[str, ...]
    seed: int

    def key(self, generator_fingerprint: str) -> str:
        payload = json.dumps([generator_fingerprint, self.prompt, list(self.objects), self.seed])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class Drawn:
    """A generated image; ``truth`` lists what a stand-in generator actually drew
    (``{"label", "box"}`` records), None for real generators."""

    image: Image.Image
    truth: list[dict] | None = None
    flagged: bool = False  # blanked by the pipeline's safety checker


def detection_query(label: str) -> str:
    """The text an open-vocabulary detector or the clip: scorer is asked about."""
    return f"a photo of {with_article(label)}"


@dataclass(frozen=True)
class Detection:
    """A detected object: its label, score, and box (x0, y0, x1, y1) in image pixels, or
    None for a detector that scores whole images (clip:)."""

    label: str
    score: float
    box: tuple[float, float, float, float] | None = None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "score": self.score,
            "box": list(self.box) if self.box is not None else None,
        }


def fingerprint_of(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


class Generator(ABC):
    """``info``: what results record about it (spec, kind, weights hash, options);
    ``identity``: the part of it that changes the images (its fingerprint)."""

    info: dict[str, Any]
    identity: dict[str, Any]
    batch_size: int = 4

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.identity)

    def check_objects(self, objects: Sequence[str]) -> None:  # noqa: B027 (an optional hook)
        """Refuse, before any work, objects this generator cannot draw (a real generator
        takes any text)."""

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Drawn]: ...


@dataclass
class StoredImage:
    """An image of the store with the record written beside it (prompt, seed, truth)."""

    key: str
    path: Any  # pathlib.Path
    record: dict = field(default_factory=dict)

    def load(self) -> Image.Image:
        try:
            with Image.open(self.path) as image:
                return image.convert("RGB")
        except (OSError, SyntaxError, ValueError) as error:  # PIL's ways of saying "damaged"
            raise CliposcopeError(
                f"image store file {self.path} cannot be read ({error})",
                hint="delete it and its .json; it is drawn again on the next run",
            ) from None


class Detector(ABC):
    """``labels``: the closed label set it can report (None: any text, open vocabulary).
    ``calibrated``: its scores are similarities that need a per-label threshold set from
    images whose prompt omits the label (clip:), rather than a fixed score threshold.
    ``evidence``: a line results carry about how strong its say-so is. ``floor``: the lowest
    score it keeps in the store, so no threshold below it can be honoured."""

    info: dict[str, Any]
    identity: dict[str, Any]
    labels: tuple[str, ...] | None = None
    default_threshold: float = 0.5
    floor: float = 0.0
    calibrated: bool = False
    evidence: str = "object detector"
    batch_size: int = 8

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.identity)

    def check_labels(self, labels: Sequence[str]) -> None:
        """Refuse, before any work, labels a closed-set detector cannot report."""
        if self.labels is None:
            return
        missing = [label for label in labels if label not in self.labels]
        if missing:
            raise CliposcopeError(
                f"{self.info['spec']} cannot detect {', '.join(map(repr, missing))}",
                hint=f"use objects among its {len(self.labels)} labels (e.g. "
                f"{', '.join(self.labels[:6])}), or an open-vocabulary detector (hf: OWL-ViT)",
            )

    @abstractmethod
    def detect(self, images: Sequence[StoredImage], labels: Sequence[str]) -> list[list[Detection]]:
        """Per image, the detections among ``labels`` (every score above the detector's
        floor, so thresholds can be changed without running it again)."""
