"""``torchvision:NAME``: a COCO object detector from torchvision (e.g.
``fasterrcnn_resnet50_fpn_v2``, or the light ``fasterrcnn_mobilenet_v3_large_320_fpn``).

Option ``weights``: ``default`` (torchvision's COCO weights, fetched once into the torch
hub cache), ``none`` (random weights, for offline plumbing tests), or a local state-dict
file (read with ``weights_only``, so it cannot run code).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cliposcope.encoders.base import resolve_device
from cliposcope.encoders.specs import ModelSpec
from cliposcope.errors import CliposcopeError, describe_exception
from cliposcope.generation.base import Detection, Detector, DetectorOptions, StoredImage
from cliposcope.generation.registry import Kind, register_detector
from cliposcope.hashing import state_dict_hash

DETECTORS = (
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "retinanet_resnet50_fpn_v2",
    "retinanet_resnet50_fpn",
    "fcos_resnet50_fpn",
    "ssdlite320_mobilenet_v3_large",
    "ssd300_vgg16",
)
SCORE_FLOOR = 0.05  # detections kept in the store; the probe's threshold applies later
MOST_PER_IMAGE = 300


def coco_labels(name: str) -> tuple[str, ...]:
    """The detector's output classes by index ('__background__' and 'N/A' included)."""
    from torchvision.models import get_model_weights

    return tuple(get_model_weights(name).DEFAULT.meta["categories"])


def check_detector_spec(spec: ModelSpec) -> None:
    if spec.target not in DETECTORS:
        raise CliposcopeError(
            f"unknown torchvision detector {spec.target!r}", hint=f"one of {', '.join(DETECTORS)}"
        )
    weights = spec.option("weights", "default")
    if weights not in ("default", "none") and not Path(weights).expanduser().is_file():
        raise CliposcopeError(
            f"detector weights file not found: {weights}",
            hint="weights=default, none or a .pth file",
        )


def keep_everything_above_the_floor(name: str) -> dict:
    """Builder arguments so that the model itself drops nothing the store should keep
    (FCOS, for one, drops scores below 0.2 by default)."""
    if name.startswith("fasterrcnn"):
        return {"box_score_thresh": SCORE_FLOOR, "box_detections_per_img": MOST_PER_IMAGE}
    return {"score_thresh": SCORE_FLOOR, "detections_per_img": MOST_PER_IMAGE}


class TorchvisionDetector(Detector):
    default_threshold = 0.5
    floor = SCORE_FLOOR
    evidence = "COCO object detector (torchvision)"

    def __init__(self, spec: ModelSpec, options: DetectorOptions):
        import torch
        import torchvision
        from torchvision.models import get_model

        check_detector_spec(spec)
        weights = spec.option("weights", "default")
        self.device = resolve_device(options.device)
        self.index_labels = coco_labels(spec.target)
        keep = keep_everything_above_the_floor(spec.target)
        try:
            if weights == "default":
                model = get_model(spec.target, weights="DEFAULT", **keep)
            else:
                model = get_model(
                    spec.target,
                    weights=None,
                    weights_backbone=None,
                    num_classes=len(self.index_labels),
                    **keep,
                )
                if weights != "none":
                    path = Path(weights).expanduser()
                    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as error:  # unreachable hub, a file of other weights, ...
            raise CliposcopeError(
                f"cannot load torchvision:{spec.target} weights {weights!r}: "
                f"{describe_exception(error)}",
                hint="weights=default needs the torch hub once; weights=FILE.pth for local ones",
            ) from None
        self.model = model.eval().to(self.device)
        self.labels = tuple(
            label for label in self.index_labels if label not in ("__background__", "N/A")
        )
        self.batch_size = options.batch_size
        weights_hash = state_dict_hash(model)
        self.identity = {
            "kind": "torchvision",
            "model": spec.target,
            "weights_hash": weights_hash,
            "floor": SCORE_FLOOR,
            "most_per_image": MOST_PER_IMAGE,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "device": self.device.partition(":")[0],
        }
        self.info = {
            "spec": spec.canonical,
            "family": "torchvision",
            "weights": weights,
            "weights_hash": weights_hash,
            "device": self.device,
            "evidence": self.evidence,
        }

    def detect(self, images: Sequence[StoredImage], labels: Sequence[str]) -> list[list[Detection]]:
        import torch
        from torchvision.transforms.functional import pil_to_tensor

        wanted = set(labels)
        tensors = [pil_to_tensor(item.load()).float().div(255).to(self.device) for item in images]
        with torch.inference_mode():
            outputs = self.model(tensors)
        found = []
        for output in outputs:
            detections = []
            for box, index, score in zip(
                output["boxes"].tolist(),
                output["labels"].tolist(),
                output["scores"].tolist(),
                strict=True,
            ):
                label = self.index_labels[index] if 0 <= index < len(self.index_labels) else None
                if label in wanted and score >= SCORE_FLOOR:
                    detections.append(Detection(label, float(score), tuple(box)))
            found.append(detections)
        return found


register_detector(
    Kind(
        name="torchvision",
        order=10,
        description="a COCO detector from torchvision (80 COCO labels)",
        load=TorchvisionDetector,
        examples=(
            "torchvision:fasterrcnn_resnet50_fpn_v2",
            "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn",
        ),
        libraries=("torchvision",),
        options={"weights": "default (COCO, from the torch hub), none (random) or FILE.pth"},
        check=check_detector_spec,
    )
)
