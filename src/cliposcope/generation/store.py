"""The image store of the text-to-image probe: every generated image and every detection
pass kept under a content key, so an interrupted run continues where it stopped and a
second detector scores the same images without drawing them again.

Layout under the store folder (file names are keys we compute, never text read back):

    images/ab/<image key>.png      the image (key: generator fingerprint, prompt, objects, seed)
    images/ab/<image key>.json     its record: prompt, objects, seed, generator, truth
    detections/cd/<key>.json       one detector's detections on one image for one label list

Each file is written atomically, the record after its image, so a file that exists is
whole and an image counts as stored once its record exists. Records are read as untrusted
data: every field is checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from cliposcope.atomic import atomic_write_bytes, atomic_write_json
from cliposcope.errors import CliposcopeError, read_json
from cliposcope.generation.base import Detection, Drawn, Request, StoredImage

STORE_FORMAT = 1
_HEX = frozenset("0123456789abcdef")


def _checked_key(key: str) -> str:
    if len(key) != 64 or not set(key) <= _HEX:
        raise ValueError(f"not a store key: {key!r}")
    return key


def detection_key(detector_fingerprint: str, image_key: str, labels: Sequence[str]) -> str:
    payload = json.dumps([detector_fingerprint, image_key, list(labels)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ImageStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _image_path(self, key: str, suffix: str) -> Path:
        key = _checked_key(key)
        return self.root / "images" / key[:2] / f"{key}{suffix}"

    def _detection_path(self, key: str) -> Path:
        key = _checked_key(key)
        return self.root / "detections" / key[:2] / f"{key}.json"

    def has_image(self, key: str) -> bool:
        return self._image_path(key, ".json").is_file() and self._image_path(key, ".png").is_file()

    def save_image(self, key: str, request: Request, drawn: Drawn, generator: dict) -> StoredImage:
        buffer = io.BytesIO()
        drawn.image.convert("RGB").save(buffer, format="PNG", compress_level=6)
        record = {
            "format": STORE_FORMAT,
            "prompt": request.prompt,
            "objects": list(request.objects),
            "seed": request.seed,
            "generator": generator,
            "truth": drawn.truth,
            "safety_checker_flagged": drawn.flagged,
            "size": list(drawn.image.size),
        }
        atomic_write_bytes(self._image_path(key, ".png"), buffer.getvalue())
        atomic_write_json(self._image_path(key, ".json"), record)
        return StoredImage(key, self._image_path(key, ".png"), record)

    def image(self, key: str) -> StoredImage:
        path = self._image_path(key, ".json")
        record = read_json(path, hint="delete it; the image is drawn again on the next run")
        _check_record(record, path)
        return StoredImage(key, self._image_path(key, ".png"), record)

    def detections(self, key: str) -> list[Detection] | None:
        path = self._detection_path(key)
        if not path.is_file():
            return None
        payload = read_json(path, hint="delete it; the detector runs again on the next run")
        if not isinstance(payload, dict) or not isinstance(payload.get("detections"), list):
            raise _bad(path, "has no detections list")
        return [_detection(item, path) for item in payload["detections"]]

    def save_detections(self, key: str, detections: Sequence[Detection], detector: dict) -> None:
        atomic_write_json(
            self._detection_path(key),
            {
                "format": STORE_FORMAT,
                "detector": detector,
                "detections": [d.to_dict() for d in detections],
            },
        )


def _bad(path: Path, problem: str) -> CliposcopeError:
    return CliposcopeError(
        f"image store file {path} {problem}", hint="delete it; it is made again on the next run"
    )


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _box(value, path: Path) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 4 and all(map(_number, value))):
        raise _bad(path, f"has a box {value!r} that is not four numbers")
    x0, y0, x1, y1 = (float(v) for v in value)
    if x1 < x0 or y1 < y0:
        raise _bad(path, f"has a box {value!r} whose corners are not (x0, y0, x1, y1)")
    return x0, y0, x1, y1


def _detection(item, path: Path) -> Detection:
    if not (
        isinstance(item, dict) and isinstance(item.get("label"), str) and _number(item.get("score"))
    ):
        raise _bad(path, f"has a detection {item!r} without a label and a score")
    return Detection(item["label"], float(item["score"]), _box(item.get("box"), path))


def _check_record(record, path: Path) -> None:
    if not isinstance(record, dict):
        raise _bad(path, "is not a JSON object")
    if not isinstance(record.get("prompt"), str) or not isinstance(record.get("seed"), int):
        raise _bad(path, "has no prompt and seed")
    objects = record.get("objects")
    if not (isinstance(objects, list) and all(isinstance(o, str) for o in objects)):
        raise _bad(path, "has no list of object names")
    truth = record.get("truth")
    if truth is None:
        return
    if not isinstance(truth, list):
        raise _bad(path, "has a truth that is not a list")
    for item in truth:
        if not (isinstance(item, dict) and isinstance(item.get("label"), str)):
            raise _bad(path, f"has a truth entry {item!r} without a label")
        _box(item.get("box"), path)
