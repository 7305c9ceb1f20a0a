"""Scene layouts: how large each object is, where it goes, and where the large one is named.

Sizes are area fractions of the canvas measured on the object's mask (opaque pixels), not
its bounding box. ``one-large``: one large object, the others small; ``equal``: all the
same; explicit ``areas``: one per caption position. Placement: ``random`` without overlap
(bounding boxes at least ``gap`` px apart), ``grid`` (one cell each), or ``overlap``
(anywhere; later objects hide earlier ones, and the masks hold what stays visible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cliposcope.errors import CliposcopeError, check_range

SIZES = ("one-large", "equal", "areas")
PLACEMENTS = ("random", "grid", "overlap")
BACKGROUNDS = ("plain", "gradient", "noise")
MAX_OBJECTS = 8
_TRIES_PER_OBJECT = 300
_RESTARTS = 12


@dataclass(frozen=True)
class LayoutSpec:
    n: int = 3
    sizes: str = "one-large"
    large_area: float = 0.20
    small_area: float = 0.03
    equal_area: float = 0.06
    areas: tuple[float, ...] | None = None
    placement: str = "random"
    gap: int = 4
    order: str = "large-first"  # large-first | large-last | large-at:K | random | large-first:P
    background: str = "plain"

    def check(self) -> None:
        if not 1 <= self.n <= MAX_OBJECTS:
            raise CliposcopeError(f"--objects {self.n} is out of range", hint=f"1 to {MAX_OBJECTS}")
        check_range("--gap", self.gap, 0, hint="a distance in pixels, 0 or more")
        for name, value, allowed in (
            ("sizes", self.sizes, SIZES),
            ("placement", self.placement, PLACEMENTS),
            ("background", self.background, BACKGROUNDS),
        ):
            if value not in allowed:
                raise CliposcopeError(
                    f"unknown {name} {value!r}", hint=f"one of {', '.join(allowed)}"
                )
        areas = self.target_areas(np.random.default_rng(0))[0]
        if any(not 0 < a < 1 for a in areas):
            raise CliposcopeError(f"object areas {areas} must lie between 0 and 1", hint="e.g. 0.2")
        if self.placement != "overlap" and sum(areas) > 0.9:
            raise CliposcopeError(
                f"objects covering {sum(areas):.0%} of the canvas cannot be placed without overlap",
                hint="use smaller areas, fewer objects or --placement overlap",
            )
        self.large_position(np.random.default_rng(0))

    def large_position(self, rng: np.random.Generator) -> int:
        """Caption position (0-based) of the large object."""
        if self.order == "large-first":
            return 0
        if self.order == "large-last":
            return self.n - 1
        if self.order == "random":
            return int(rng.integers(self.n))
        if self.order.startswith("large-first:"):
            share = _share(self.order.split(":", 1)[1])
            if share is not None:
                if self.n == 1:
                    return 0
                return 0 if rng.random() < share else 1 + int(rng.integers(self.n - 1))
        if self.order.startswith("large-at:"):
            try:
                position = int(self.order.split(":", 1)[1])
            except ValueError:
                position = 0
            if 1 <= position <= self.n:
                return position - 1
        raise CliposcopeError(
            f"unknown order {self.order!r} for {self.n} objects",
            hint=f"large-first, large-last, random, large-at:K with K in 1..{self.n}, or "
            "large-first:P (first in a share P of scenes, elsewhere uniformly otherwise)",
        )

    def target_areas(self, rng: np.random.Generator) -> tuple[list[float], list[str]]:
        """Area fraction and size role for each caption position."""
        if self.sizes == "equal":
            return [self.equal_area] * self.n, ["equal"] * self.n
        if self.sizes == "areas":
            if not self.areas or len(self.areas) != self.n:
                raise CliposcopeError(
                    f"--areas needs {self.n} values, got {list(self.areas or [])}",
                    hint="one area fraction per object, in caption order, e.g. 0.3,0.05,0.05",
                )
            return list(self.areas), ["custom"] * self.n
        if self.n == 1:
            return [self.large_area], ["large"]
        large = self.large_position(rng)
        areas = [self.small_area] * self.n
        roles = ["small"] * self.n
        areas[large], roles[large] = self.large_area, "large"
        return areas, roles


def _share(text: str) -> float | None:
    try:
        share = float(text)
    except ValueError:
        return None
    return share if 0 <= share <= 1 else None


def place(
    boxes: list[tuple[int, int]], size: int, spec: LayoutSpec, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Top-left corners for boxes (w, h); raise CliposcopeError when they cannot fit."""
    for w, h in boxes:
        if w > size or h > size:
            raise CliposcopeError(
                f"an object of {w}x{h} px does not fit a {size} px canvas",
                hint="use smaller areas or a larger --size",
            )
    if spec.placement == "grid":
        return _grid(boxes, size, spec.gap, rng)
    if spec.placement == "overlap":
        return [
            (int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1)))
            for w, h in boxes
        ]
    return _scatter(boxes, size, spec.gap, rng)


def _grid(boxes, size, gap, rng):
    columns = math.ceil(math.sqrt(len(boxes)))
    rows = math.ceil(len(boxes) / columns)
    cell_w, cell_h = size // columns, size // rows
    cells = rng.permutation(columns * rows)[: len(boxes)]
    corners = []
    for (w, h), cell in zip(boxes, cells, strict=True):
        if w > cell_w - gap or h > cell_h - gap:
            raise CliposcopeError(
                f"an object of {w}x{h} px does not fit a {cell_w}x{cell_h} px grid cell",
                hint="use smaller areas, fewer objects or --placement random",
            )
        column, row = divmod(int(cell), rows)
        corners.append((column * cell_w + (cell_w - w) // 2, row * cell_h + (cell_h - h) // 2))
    return corners


def _candidate(limit: int, rng: np.random.Generator) -> int:
    """A coordinate in 0..limit; a third of the draws snap to an edge, which lets a large
    object leave room for the others on tight canvases."""
    draw = rng.random()
    if draw < 1 / 6:
        return 0
    if draw < 1 / 3:
        return limit
    return int(rng.integers(0, limit + 1))


def _scatter(boxes, size, gap, rng):
    order = sorted(range(len(boxes)), key=lambda i: -boxes[i][0] * boxes[i][1])
    for _ in range(_RESTARTS):
        corners: dict[int, tuple[int, int]] = {}
        for index in order:
            w, h = boxes[index]
            for _ in range(_TRIES_PER_OBJECT):
                x, y = _candidate(size - w, rng), _candidate(size - h, rng)
                if all(
                    x + w + gap <= px
                    or px + pw + gap <= x
                    or y + h + gap <= py
                    or py + ph + gap <= y
                    for (px, py), (pw, ph) in ((corners[j], boxes[j]) for j in corners)
                ):
                    corners[index] = (x, y)
                    break
            else:
                break
        if len(corners) == len(boxes):
            return [corners[i] for i in range(len(boxes))]
    raise CliposcopeError(
        f"could not place {len(boxes)} objects of {boxes} px on a {size} px canvas without overlap",
        hint="use smaller areas, fewer objects, a smaller --gap, or --placement overlap",
    )
