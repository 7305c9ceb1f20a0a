"""``hf:NAME_OR_DIR``: an open-vocabulary detector from transformers (OWL-ViT or OWLv2),
queried with "a photo of a/an LABEL" per object (transformers >= 4.48)."""

from __future__ import annotations

from collections.abc import Sequence

from cliposcope.encoders.base import resolve_device
from cliposcope.encoders.specs import ModelSpec, require_folder_if_path
from cliposcope.errors import CliposcopeError, describe_exception
from cliposcope.generation.base import (
    Detection,
    Detector,
    DetectorOptions,
    StoredImage,
    detection_query,
)
from cliposcope.generation.registry import Kind, need_library, register_detector
from cliposcope.hashing import state_dict_hash

SCORE_FLOOR = 0.01
MODEL_TYPES = ("owlvit", "owlv2")


def check_detector_spec(spec: ModelSpec) -> None:
    require_folder_if_path(spec.target)


class OpenVocabularyDetector(Detector):
    default_threshold = 0.1
    floor = SCORE_FLOOR
    evidence = "open-vocabulary detector (transformers zero-shot object detection)"

    def __init__(self, spec: ModelSpec, options: DetectorOptions):
        need_library("transformers", "t2i", "an hf: detector")
        import transformers
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        check_detector_spec(spec)
        self.device = resolve_device(options.device)
        try:
            self.processor = AutoProcessor.from_pretrained(spec.target)
            model = AutoModelForZeroShotObjectDetection.from_pretrained(spec.target)
        except Exception as error:  # a bad folder or name, the hub unreachable, ...
            raise CliposcopeError(
                f"cannot load the detector {spec.target!r}: {describe_exception(error)}",
                hint="a zero-shot detection model folder or hub name, e.g. "
                "google/owlv2-base-patch16-ensemble",
            ) from None
        if model.config.model_type not in MODEL_TYPES:
            raise CliposcopeError(
                f"{spec.target} is a {model.config.model_type} model",
                hint="hf: detectors are OWL-ViT or OWLv2 models",
            )
        self.model = model.eval().to(self.device)
        self.batch_size = options.batch_size
        weights_hash = state_dict_hash(model)
        self.identity = {
            "kind": "hf",
            "spec": spec.canonical,
            "weights_hash": weights_hash,
            "query": detection_query("LABEL"),
            "floor": SCORE_FLOOR,
            "transformers": transformers.__version__,
            "device": self.device.partition(":")[0],
        }
        self.info = {
            "spec": spec.canonical,
            "family": "hf",
            "weights_hash": weights_hash,
            "query": detection_query("LABEL"),
            "device": self.device,
            "evidence": self.evidence,
        }

    def detect(self, images: Sequence[StoredImage], labels: Sequence[str]) -> list[list[Detection]]:
        import torch

        pictures = [item.load() for item in images]
        queries = [[detection_query(label) for label in labels]] * len(pictures)
        inputs = self.processor(
            text=queries, images=pictures, return_tensors="pt", padding=True
        ).to(self.device)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        sizes = torch.tensor([(p.height, p.width) for p in pictures])
        processed = self.processor.post_process_grounded_object_detection(
            outputs, threshold=SCORE_FLOOR, target_sizes=sizes
        )
        found = []
        for result in processed:
            found.append(
                [
                    Detection(labels[int(index)], float(score), tuple(box))
                    for box, index, score in zip(
                        result["boxes"].tolist(),
                        result["labels"].tolist(),
                        result["scores"].tolist(),
                        strict=True,
                    )
                ]
            )
        return found


register_detector(
    Kind(
        name="hf",
        order=20,
        description="an open-vocabulary detector from transformers (OWL-ViT, OWLv2)",
        load=OpenVocabularyDetector,
        examples=("hf:google/owlv2-base-patch16-ensemble", "hf:google/owlvit-base-patch32"),
        libraries=("transformers",),
        check=check_detector_spec,
    )
)
