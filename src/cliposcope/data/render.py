"""Pixels: sprites scaled to an exact mask area, backgrounds, compositing, soft shadows."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

ALPHA_THRESHOLD = 128  # a pixel belongs to an object's mask when its alpha is >= this
AREA_TOLERANCE = 0.015


def opaque(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A")) >= ALPHA_THRESHOLD


def scale_to_area(image: Image.Image, target_pixels: float) -> Image.Image:
    """Resize an RGBA sprite so its mask covers ``target_pixels`` (within ~1.5%)."""
    width, height = image.size
    coverage = max(opaque(image).mean(), 1e-6)
    scale = math.sqrt(target_pixels / (coverage * width * height))
    best, best_error = None, math.inf
    tried: set[tuple[int, int]] = set()

    def attempt(size: tuple[int, int]) -> float:
        nonlocal best, best_error
        if size in tried:
            return best_error
        tried.add(size)
        resized = image.resize(size, Image.BILINEAR)
        area = int(opaque(resized).sum())
        error = abs(area - target_pixels) / target_pixels
        if error < best_error:
            best, best_error = resized, error
        return error if area else math.inf

    for _ in range(3):  # Newton steps on the scale
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        attempt(size)
        area = max(int(opaque(best).sum()), 1)
        if best_error <= AREA_TOLERANCE:
            return best
        scale *= math.sqrt(target_pixels / area)
    w, h = best.size  # integer neighbours: small sprites move in coarse steps
    for dw in (-2, -1, 0, 1, 2):
        for dh in (-2, -1, 0, 1, 2):
            if w + dw > 0 and h + dh > 0:
                attempt((w + dw, h + dh))
    return best


def background(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) float32 in 0..255: plain, gradient or low-contrast noise."""
    base = rng.uniform(190, 250, size=3)
    if kind == "plain":
        return np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    if kind == "gradient":
        other = rng.uniform(150, 250, size=3)
        ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
        ramp = ramp[:, None] if rng.integers(2) else ramp[None, :]
        ramp = np.broadcast_to(ramp, (size, size))[..., None]
        return (base * (1 - ramp) + other * ramp).astype(np.float32)
    noise = rng.normal(0.0, 7.0, size=(size, size, 1)).astype(np.float32)
    return np.clip(base + noise, 0, 255).astype(np.float32)


def soft_shadow(canvas: np.ndarray, x: int, y: int, w: int, h: int, strength: float = 0.35) -> None:
    """Darken a blurred ellipse under the bottom of a (w, h) box at (x, y), in place."""
    size = canvas.shape[0]
    cx, cy = x + w / 2 + w * 0.08, y + h * 0.95
    rx, ry = max(w * 0.55, 2.0), max(h * 0.14, 1.5)
    x0, x1 = max(0, int(cx - 2 * rx)), min(size, int(cx + 2 * rx) + 1)
    y0, y1 = max(0, int(cy - 3 * ry)), min(size, int(cy + 3 * ry) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    gx = (np.arange(x0, x1, dtype=np.float32) - cx) / rx
    gy = (np.arange(y0, y1, dtype=np.float32) - cy) / ry
    shade = np.exp(-(gy[:, None] ** 2 + gx[None, :] ** 2) * 1.5) * strength
    canvas[y0:y1, x0:x1] *= (1.0 - shade)[..., None]


def paste(canvas: np.ndarray, labels: np.ndarray, sprite: Image.Image, x: int, y: int, label: int):
    """Alpha-blend an RGBA sprite onto the canvas and mark its mask in the label map."""
    rgba = np.asarray(sprite, dtype=np.float32)
    h, w = rgba.shape[:2]
    alpha = rgba[..., 3:4] / 255.0
    region = canvas[y : y + h, x : x + w]
    region *= 1.0 - alpha
    region += rgba[..., :3] * alpha
    labels[y : y + h, x : x + w][rgba[..., 3] >= ALPHA_THRESHOLD] = label


def to_image(canvas: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8), "RGB")
