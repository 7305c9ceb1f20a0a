"""``truth:planted``: the stand-in detector that reads what the ``planted:`` generator
recorded it drew. Together they check the probe's arithmetic against known rates."""

from __future__ import annotations

from collections.abc import Sequence

from cliposcope.encoders.specs import ModelSpec
from cliposcope.errors import CliposcopeError
from cliposcope.generation.base import Detection, Detector, DetectorOptions, StoredImage
from cliposcope.generation.registry import Kind, register_detector


def check_truth_spec(spec: ModelSpec) -> None:
    if spec.target != "planted":
        raise CliposcopeError(
            f"unknown truth source {spec.target!r}",
            hint="truth:planted reads the planted: generator's record",
        )


def _box(entry: dict) -> tuple[float, ...] | None:
    return tuple(entry["box"]) if entry.get("box") else None


class TruthReader(Detector):
    default_threshold = 0.5
    evidence = "ground truth recorded by the stand-in generator (exact)"

    def __init__(self, spec: ModelSpec, options: DetectorOptions):
        check_truth_spec(spec)
        self.batch_size = options.batch_size
        self.identity = {"kind": "truth", "source": "planted", "version": 1}
        self.info = {"spec": spec.canonical, "family": "truth", "evidence": self.evidence}

    def detect(self, images: Sequence[StoredImage], labels: Sequence[str]) -> list[list[Detection]]:
        found = []
        for item in images:
            truth = item.record.get("truth")
            if truth is None:
                raise CliposcopeError(
                    f"image {item.key[:12]} has no recorded truth",
                    hint="truth:planted scores images of the planted: generator only",
                )
            found.append(
                [
                    Detection(entry["label"], 1.0, _box(entry))
                    for entry in truth
                    if entry["label"] in labels
                ]
            )
        return found


register_detector(
    Kind(
        name="truth",
        order=40,
        description="stand-in reading the planted: generator's recorded truth (exact)",
        load=TruthReader,
        examples=("truth:planted",),
        check=check_truth_spec,
        needs_truth=True,
    )
)
