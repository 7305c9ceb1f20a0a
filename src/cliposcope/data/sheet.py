"""Contact sheets: a grid of scenes with their captions, to look at what was generated."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cliposcope.atomic import atomic_write_bytes
from cliposcope.data.scenes import Scene

TILE = 224
CAPTION_LINES = 3


def contact_sheet(scenes: list[Scene], out: str | Path, *, columns: int = 6, outline: bool = False):
    rows = max(1, -(-len(scenes) // columns))
    line_height = 12
    cell_h = TILE + CAPTION_LINES * line_height + 6
    sheet = Image.new("RGB", (columns * TILE, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for index, scene in enumerate(scenes):
        x, y = (index % columns) * TILE, (index // columns) * cell_h
        image = scene.load_image().resize((TILE, TILE), Image.BILINEAR)
        if outline and scene.masks:
            image = _outline_masks(image, scene)
        sheet.paste(image, (x, y))
        roles = " ".join(o.role[0].upper() for o in scene.objects)
        text = f"{scene.caption}  [{roles}]"
        for line_no, line in enumerate(textwrap.wrap(text, 36)[:CAPTION_LINES]):
            draw.text((x + 3, y + TILE + 2 + line_no * line_height), line, fill="black")
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(out, buffer.getvalue())


def _outline_masks(image: Image.Image, scene: Scene) -> Image.Image:
    masks = scene.load_masks()
    scale = TILE / masks.shape[1]
    draw = ImageDraw.Draw(image)
    for k, mask in enumerate(masks):
        rows, cols = np.nonzero(mask)
        if len(rows):
            box = [
                cols.min() * scale,
                rows.min() * scale,
                (cols.max() + 1) * scale,
                (rows.max() + 1) * scale,
            ]
            draw.rectangle(box, outline="red" if scene.objects[k].role == "large" else "blue")
    return image
