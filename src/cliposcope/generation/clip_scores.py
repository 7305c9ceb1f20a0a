"""``clip:MODEL_SPEC``: a detector-free fallback. Every object label gets the image-text
cosine similarity of the image and "a photo of a/an LABEL" under any cliposcope model with
an image tower (e.g. ``clip:openclip:ViT-B-32/openai``). The probe calls an object present
when its similarity exceeds a threshold calibrated per label on the run's own images whose
prompt omits the label (a set false-positive rate). It locates nothing and shares the
biases under study, so it is weaker evidence than a detector, and results say so."""

from __future__ import annotations

from collections.abc import Sequence

from cliposcope.encoders import load_encoder
from cliposcope.encoders.specs import ModelSpec, parse_spec
from cliposcope.errors import CliposcopeError
from cliposcope.generation.base import (
    Detection,
    Detector,
    DetectorOptions,
    StoredImage,
    detection_query,
)
from cliposcope.generation.registry import Kind, register_detector


def model_spec_of(spec: ModelSpec) -> str:
    return spec.canonical.partition(":")[2]


def check_scorer_spec(spec: ModelSpec) -> None:
    parse_spec(model_spec_of(spec))


class ClipScorer(Detector):
    calibrated = True
    default_threshold = 0.05  # the false-positive rate the per-label thresholds are set to
    evidence = (
        "image-text similarity with calibrated thresholds (weaker evidence: no "
        "localisation, and the scorer shares the encoder biases under study)"
    )

    def __init__(self, spec: ModelSpec, options: DetectorOptions):
        self.encoder = load_encoder(model_spec_of(spec), device=options.device)
        if not self.encoder.info.has_image_tower:
            raise CliposcopeError(
                f"clip: scoring needs a model with an image tower; "
                f"{model_spec_of(spec)} is text-only",
                hint="e.g. clip:openclip:ViT-B-32/openai",
            )
        self.batch_size = options.batch_size
        self._embedded_labels: tuple = (None, None)
        query = detection_query("LABEL")
        self.identity = {
            "kind": "clip",
            "query": query,
            "encoder_fingerprint": self.encoder.info.fingerprint,
        }
        self.info = {
            "spec": spec.canonical,
            "family": "clip",
            "query": query,
            "encoder": self.encoder.info.to_dict(),
            "evidence": self.evidence,
        }

    def _queries(self, labels: tuple[str, ...]):
        """The label queries' embeddings, computed once per label list."""
        if self._embedded_labels[0] != labels:
            texts = self.encoder.encode_text([detection_query(label) for label in labels])
            self._embedded_labels = (labels, texts)
        return self._embedded_labels[1]

    def detect(self, images: Sequence[StoredImage], labels: Sequence[str]) -> list[list[Detection]]:
        embedded = self.encoder.encode_images([item.load() for item in images])
        texts = self._queries(tuple(labels))
        similarity = embedded @ texts.T
        return [
            [Detection(label, float(score)) for label, score in zip(labels, row, strict=True)]
            for row in similarity
        ]


register_detector(
    Kind(
        name="clip",
        order=30,
        description="detector-free fallback: image-text similarity under a cliposcope model, "
        "thresholds calibrated per label (weaker evidence)",
        load=ClipScorer,
        examples=("clip:openclip:ViT-B-32/openai", "clip:toy:default"),
        check=check_scorer_spec,
    )
)
