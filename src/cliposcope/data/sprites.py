"""The object sprite pack shipped with cliposcope (see tools/build_sprite_pack.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from PIL import Image

from cliposcope.errors import CliposcopeError


@dataclass(frozen=True)
class Sprite:
    name: str
    file: str
    source: str
    licence: str
    opaque_fraction: float

    def load(self) -> Image.Image:
        return _load_rgba(self.file)


@lru_cache(maxsize=1)
def sprite_pack() -> dict[str, tuple[Sprite, ...]]:
    """Object name -> its drawings, in manifest order."""
    folder = resources.files("cliposcope") / "assets" / "sprites"
    entries = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    pack: dict[str, list[Sprite]] = {}
    for entry in entries:
        sprite = Sprite(
            entry["name"],
            entry["file"],
            entry["source"],
            entry["licence"],
            entry["opaque_fraction"],
        )
        pack.setdefault(sprite.name, []).append(sprite)
    return {name: tuple(items) for name, items in pack.items()}


def sprite_names() -> tuple[str, ...]:
    return tuple(sprite_pack())


def sprites_for(name: str) -> tuple[Sprite, ...]:
    pack = sprite_pack()
    if name not in pack:
        raise CliposcopeError(
            f"no drawing for object {name!r} in the sprite pack",
            hint=f"the {len(pack)} names with drawings: {', '.join(sorted(pack))}",
        )
    return pack[name]


@lru_cache(maxsize=256)
def _load_rgba(file: str) -> Image.Image:
    folder = resources.files("cliposcope") / "assets" / "sprites"
    with resources.as_file(folder / file) as path, Image.open(path) as image:
        return image.convert("RGBA")
