"""The one scene record every reader returns, and our manifest (one JSON line per scene)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cliposcope.errors import CliposcopeError, read_utf8

MANIFEST_NAME = "manifest.jsonl"
SETTINGS_NAME = "settings.json"  # the generator's settings, written with the manifest


@dataclass
class SceneObject:
    """One object of a scene; ``role`` is its size role, ``bbox`` is (x0, y0, x1, y1)."""

    name: str
    role: str = "unknown"
    area_fraction: float | None = None
    bbox: tuple[int, int, int, int] | None = None
    variant: str | None = None  # sprite file or "shape/colour" it was drawn from


@dataclass
class Scene:
    """A multi-object image with its ground truth; ``objects`` are in caption order.

    ``image`` and ``masks`` are paths relative to ``root``. The mask file is a label map:
    pixel value k+1 marks ``objects[k]``, 0 is background.
    """

    id: str
    image: str
    objects: list[SceneObject]
    caption: str
    masks: str | None = None
    kind: str = "comco"
    condition: str | None = None
    size: int | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    root: Path = field(default=Path("."), repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objects]

    @property
    def image_path(self) -> Path:
        return self.root / self.image

    def load_image(self) -> Image.Image:
        from cliposcope.encoders.base import load_image

        return load_image(self.image_path)

    def load_masks(self) -> np.ndarray:
        """(n_objects, H, W) bool, one instance mask per object."""
        if self.masks is None:
            raise CliposcopeError(
                f"scene {self.id} has no masks", hint="generated scenes carry them"
            )
        path = self.root / self.masks
        try:
            with Image.open(path) as image:
                labels = np.asarray(image.convert("L"))
        except (OSError, ValueError) as error:
            raise CliposcopeError(
                f"cannot read mask file {path}: {error}", hint="re-generate"
            ) from None
        return np.stack([labels == k + 1 for k in range(len(self.objects))])

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("root")
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any], root: Path) -> Scene:
        objects = [
            SceneObject(**{**o, "bbox": tuple(o["bbox"]) if o.get("bbox") else None})
            for o in record["objects"]
        ]
        return cls(**{**record, "objects": objects}, root=root)


def write_manifest(scenes: list[Scene], root: Path) -> Path:
    from cliposcope.atomic import atomic_write_bytes

    lines = [json.dumps(s.to_json(), sort_keys=True, ensure_ascii=False) for s in scenes]
    path = Path(root) / MANIFEST_NAME
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def read_manifest(path: str | Path) -> list[Scene]:
    """Scenes from a manifest file, or from a folder holding manifest.jsonl.

    A manifest is untrusted: every file it names must lie inside its folder (after
    resolving ``..`` and symbolic links), or the manifest is refused; so is one whose
    images are not all there (an incomplete copy)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise CliposcopeError(f"manifest not found: {path}", hint="run `cliposcope generate` first")
    text = read_utf8(path, hint="a manifest is JSON lines, as `cliposcope generate` writes")
    scenes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            scene = Scene.from_json(json.loads(line), path.parent)
        except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as error:
            raise CliposcopeError(
                f"{path} line {number} is not a scene record ({type(error).__name__}: {error})",
                hint="one JSON object per line, as `cliposcope generate` writes",
            ) from None
        for relative in (scene.image, scene.masks):
            if relative is not None:
                check_inside(path.parent, relative, f"{path} line {number}")
        scenes.append(scene)
    missing = [s.image for s in scenes if not s.image_path.is_file()]
    if missing:
        raise CliposcopeError(
            f"{path} names {len(missing)} image(s) that are not there, e.g. {missing[0]}",
            hint="the dataset is incomplete; generate it again into a new folder",
        )
    return scenes


def check_inside(root: Path, relative: str, source: str) -> Path:
    """``root/relative`` resolved, refused unless it stays inside ``root``."""
    if not isinstance(relative, str) or not relative:
        raise CliposcopeError(f"{source} names no file ({relative!r})", hint="re-generate it")
    base = root.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(base):
        raise CliposcopeError(
            f"{source} names {relative!r}, which lies outside {root}",
            hint="a manifest may only name files inside its own folder",
        )
    return target
