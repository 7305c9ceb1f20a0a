"""SimCO-style objects: CLEVR-like primitives drawn procedurally with shading.

Each (shape, colour) is rendered once as an RGBA sprite, lit from the upper left, at 2x and
downsampled for smooth edges; scenes then scale and place it like any other sprite and add
a soft shadow beneath.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageColor, ImageDraw

from cliposcope.data.vocab import SIMCO_COLOURS
from cliposcope.errors import CliposcopeError

SHAPES = ("cube", "sphere", "cylinder", "cone", "torus", "pyramid", "prism", "star")
BASE = 192  # sprite side before scaling
_SUPER = 2
_LIGHT = np.array([-0.5, -0.6, 0.62])
_LIGHT = _LIGHT / np.linalg.norm(_LIGHT)


def object_name(shape: str, colour: str) -> str:
    return f"{colour} {shape}"


def simco_names() -> tuple[str, ...]:
    return tuple(object_name(s, c) for s in SHAPES for c in SIMCO_COLOURS)


def split_name(name: str) -> tuple[str, str]:
    colour, _, shape = name.rpartition(" ")
    if shape not in SHAPES or colour not in SIMCO_COLOURS:
        raise CliposcopeError(
            f"{name!r} is not a SimCO object",
            hint=f"write 'COLOUR SHAPE' with a shape of {', '.join(SHAPES)} and a SimCO colour",
        )
    return shape, colour


def _grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    coords = (np.arange(side, dtype=np.float32) + 0.5) / side * 2 - 1
    return np.meshgrid(coords, coords)


def _shade(normals: np.ndarray) -> np.ndarray:
    diffuse = np.clip(normals @ _LIGHT, 0, 1)
    reflect = 2 * diffuse[..., None] * normals - _LIGHT
    specular = np.clip(reflect[..., 2], 0, 1) ** 24
    return 0.35 + 0.65 * diffuse + 0.5 * specular


def _sphere(x, y):
    r2 = x**2 + y**2
    inside = r2 <= 0.81
    z = np.sqrt(np.clip(0.81 - r2, 0, None))
    normals = np.stack([x, y, z], -1) / 0.9
    return inside, _shade(normals)


def _torus(x, y):
    r = np.sqrt(x**2 + (y * 1.6) ** 2)
    tube = 0.28
    d = r - 0.6
    inside = np.abs(d) <= tube
    nz = np.sqrt(np.clip(tube**2 - d**2, 0, None)) / tube
    radial = d / tube
    with np.errstate(invalid="ignore", divide="ignore"):
        ux, uy = np.nan_to_num(x / r), np.nan_to_num(y * 1.6 / r)
    normals = np.stack([radial * ux, radial * uy, nz], -1)
    return inside, _shade(normals)


def _cylinder(x, y):
    body = (np.abs(x) <= 0.6) & (y >= -0.55) & (y <= 0.65)
    cap = (x / 0.6) ** 2 + ((y + 0.55) / 0.2) ** 2 <= 1
    bottom = (x / 0.6) ** 2 + ((y - 0.65) / 0.2) ** 2 <= 1
    nx = np.clip(x / 0.6, -1, 1)
    shade = _shade(np.stack([nx, np.zeros_like(x), np.sqrt(1 - nx**2)], -1))
    shade = np.where(cap, 1.15, shade)
    return body | cap | bottom, shade


def _cone(x, y):
    half_width = 0.65 * (y + 0.8) / 1.45
    body = (y >= -0.8) & (y <= 0.65) & (np.abs(x) <= half_width)
    base = (x / 0.65) ** 2 + ((y - 0.65) / 0.18) ** 2 <= 1
    nx = np.clip(x / np.maximum(half_width, 1e-3), -1, 1)
    shade = _shade(np.stack([nx * 0.9, np.full_like(x, -0.3), np.sqrt(1 - nx**2 * 0.81)], -1))
    return body | base, shade


def _polygon_shape(faces: list[tuple[list[tuple[float, float]], float]]):
    """Flat faces, each with its own brightness, drawn on the 2x grid."""

    def draw(x, _y):
        side = x.shape[0]
        brightness = np.zeros((side, side), np.float32)
        mask = np.zeros((side, side), bool)
        for points, level in faces:
            face = Image.new("L", (side, side), 0)
            ImageDraw.Draw(face).polygon(
                [((px + 1) / 2 * side, (py + 1) / 2 * side) for px, py in points], fill=255
            )
            inside = np.asarray(face) > 0
            brightness[inside] = level
            mask |= inside
        return mask, brightness

    return draw


_STAR = [
    (
        0.85 * np.sin(a) * (1 if i % 2 == 0 else 0.45),
        -0.85 * np.cos(a) * (1 if i % 2 == 0 else 0.45) + 0.05,
    )
    for i, a in enumerate(np.linspace(0, 2 * np.pi, 10, endpoint=False))
]

_DRAWERS = {
    "sphere": _sphere,
    "torus": _torus,
    "cylinder": _cylinder,
    "cone": _cone,
    "cube": _polygon_shape(
        [
            ([(-0.05, -0.85), (0.8, -0.45), (0.05, -0.05), (-0.8, -0.45)], 1.15),
            ([(-0.8, -0.45), (0.05, -0.05), (0.05, 0.85), (-0.8, 0.45)], 0.85),
            ([(0.05, -0.05), (0.8, -0.45), (0.8, 0.45), (0.05, 0.85)], 0.6),
        ]
    ),
    "pyramid": _polygon_shape(
        [
            ([(0.0, -0.85), (-0.85, 0.6), (0.1, 0.8)], 1.0),
            ([(0.0, -0.85), (0.1, 0.8), (0.85, 0.5)], 0.62),
        ]
    ),
    "prism": _polygon_shape(
        [
            ([(-0.85, 0.7), (-0.4, -0.5), (0.05, 0.7)], 1.05),
            ([(-0.4, -0.5), (0.5, -0.7), (0.9, 0.45), (0.05, 0.7)], 0.7),
        ]
    ),
    "star": _polygon_shape([(_STAR, 1.0)]),
}


@lru_cache(maxsize=512)
def render_shape(shape: str, colour: str) -> Image.Image:
    """RGBA sprite of a shaded primitive, BASE px square, transparent around it."""
    if shape not in _DRAWERS:
        raise CliposcopeError(f"unknown SimCO shape {shape!r}", hint=", ".join(SHAPES))
    side = BASE * _SUPER
    x, y = _grid(side)
    mask, shade = _DRAWERS[shape](x, y)
    rgb = np.array(ImageColor.getrgb(colour)[:3], np.float32)
    # dark colours get light added instead of scaled, so shading stays visible on black
    lit = np.clip(rgb * shade[..., None] + 40 * (shade[..., None] - 0.8), 0, 255)
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., :3] = lit.astype(np.uint8)
    rgba[..., 3] = mask.astype(np.uint8) * 255
    image = Image.fromarray(rgba, "RGBA").resize((BASE, BASE), Image.LANCZOS)
    box = image.getchannel("A").point(lambda a: 255 if a >= 128 else 0).getbbox()
    return image.crop(box)
