"""The image store of the text-to-image probe: every generated image and every detection
pass kept under a content key, so an interrupted run continues where it stopped and a
second detector scores the same images without drawing them again.

Layout under the store folder (file names are keys we compute, never text read back):

    images/ab/<image key>.png      the image (key: generator fingerprint, prompt, objects, seed)
    images/ab/<image key>.json     its record: prompt, objects, seed, generator, truth
    detections/cd/<key>.json       one detector's detections on one image for one label list

Each file is written atomically, the record after its image, so a file that exists is
whole and an image counts as stored once its record exists. Records are read as untrusted
data: a file that is not a regular file, larger than MAX_RECORD_BYTES, nested deeper than
MAX_RECORD_DEPTH, of another format, or with a field of the wrong type ends the run with
one error naming it, before any of it is used.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from cliposcope.atomic import atomic_write_bytes, atomic_write_json
from cliposcope.errors import CliposcopeError
from cliposcope.generation.base import Detection, Drawn, Request, StoredImage

STORE_FORMAT = 1
_HEX = frozenset("0123456789abcdef")
MAX_RECORD_BYTES = 16 * 2**20  # a record or a detection file is kilobytes
MAX_RECORD_DEPTH = 16  # what the store writes nests 4 deep


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
        record = _load(path)
        _check_record(record, path)
        return StoredImage(key, self._image_path(key, ".png"), record)

    def detections(self, key: str) -> list[Detection] | None:
        path = self._detection_path(key)
        if not path.exists() and not path.is_symlink():
            return None
        payload = _load(path)
        if not isinstance(payload, dict) or not isinstance(payload.get("detections"), list):
            raise _bad(path, "has no detections list")
        _check_format(payload, path)
        if not isinstance(payload.get("detector", {}), dict):
            raise _bad(path, "has a detector record that is not a JSON object")
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


def _load(path: Path):
    """A store file's JSON, read as untrusted: a regular file of at most MAX_RECORD_BYTES,
    JSON that parses, nested at most MAX_RECORD_DEPTH deep."""
    if not path.is_file():
        raise _bad(path, "is not a regular file")
    size = path.stat().st_size
    if size > MAX_RECORD_BYTES:
        raise _bad(path, f"is {size:,} bytes, more than a store file holds ({MAX_RECORD_BYTES:,})")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise _bad(path, f"is not UTF-8 ({error.reason} at byte {error.start})") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise _bad(path, f"nests deeper than {MAX_RECORD_DEPTH} levels") from None
    except json.JSONDecodeError as error:
        raise _bad(path, f"is not valid JSON ({error.msg} at line {error.lineno})") from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise _bad(path, f"is not JSON a store writes ({str(error)[:80]})") from None
    if _depth(value, MAX_RECORD_DEPTH) > MAX_RECORD_DEPTH:
        raise _bad(path, f"nests deeper than {MAX_RECORD_DEPTH} levels")
    return value


def _depth(value, limit: int) -> int:
    """How deeply lists and objects nest in ``value`` (without recursion), counted only as
    far as ``limit`` + 1."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _check_format(record: dict, path: Path) -> None:
    found = record.get("format")
    if found != STORE_FORMAT or isinstance(found, bool):
        raise _bad(path, f"has format {str(found)[:20]!s}; this cliposcope reads {STORE_FORMAT}")


def _short(value) -> str:
    """A value for an error line: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _box(value, path: Path) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 4 and all(map(_number, value))):
        raise _bad(path, f"has a box {_short(value)} that is not four numbers")
    x0, y0, x1, y1 = (float(v) for v in value)
    if x1 < x0 or y1 < y0:
        raise _bad(path, f"has a box {_short(value)} whose corners are not (x0, y0, x1, y1)")
    return x0, y0, x1, y1


def _detection(item, path: Path) -> Detection:
    if not (
        isinstance(item, dict) and isinstance(item.get("label"), str) and _number(item.get("score"))
    ):
        raise _bad(path, f"has a detection {_short(item)} without a label and a score")
    return Detection(item["label"], float(item["score"]), _box(item.get("box"), path))


def _check_record(record, path: Path) -> None:
    if not isinstance(record, dict):
        raise _bad(path, "is not a JSON object")
    _check_format(record, path)
    seed = record.get("seed")
    if not isinstance(record.get("prompt"), str) or not isinstance(seed, int):
        raise _bad(path, "has no prompt and seed")
    if isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise _bad(path, f"has a seed {_short(seed)} that is not a non-negative 64-bit integer")
    objects = record.get("objects")
    if not (isinstance(objects, list) and objects and all(isinstance(o, str) for o in objects)):
        raise _bad(path, "has no list of object names")
    if not isinstance(record.get("generator", {}), dict):
        raise _bad(path, "has a generator record that is not a JSON object")
    if not isinstance(record.get("safety_checker_flagged", False), bool):
        raise _bad(path, "has a safety_checker_flagged that is not true or false")
    size = record.get("size")
    if size is not None and not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise _bad(path, f"has a size {_short(size)} that is not [width, height] in pixels")
    truth = record.get("truth")
    if truth is None:
        return
    if not isinstance(truth, list):
        raise _bad(path, "has a truth that is not a list")
    for item in truth:
        if not (isinstance(item, dict) and isinstance(item.get("label"), str)):
            raise _bad(path, f"has a truth entry {_short(item)} without a label")
        _box(item.get("box"), path)
