"""CLS attention by object: how much of the CLS token's attention to the patches falls on
each object, for ViT image towers.

Each object's mask is brought to the patch grid as the share of every patch it covers; the
object's mass is the attention-weighted sum of those shares, divided by the total CLS
attention to patches, so the masses of one image are fractions of its patch attention.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError
from cliposcope.probes.scene_sets import SceneSet
from cliposcope.probes.stats import mean_interval
from cliposcope.provenance import result_provenance
from cliposcope.results import ProbeResult


def patch_coverage(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Share of each patch a mask covers: centre-crop to square, then area-average."""
    height, width = mask.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = mask[top : top + side, left : left + side].astype(np.float32)
    image = Image.fromarray(square, mode="F").resize((grid[1], grid[0]), Image.BOX)
    return np.asarray(image, dtype=np.float64)


def object_attention(attention: np.ndarray, coverages: np.ndarray) -> np.ndarray:
    """Per object: attention mass on it / total attention to patches."""
    total = attention.sum()
    if total <= 0:
        return np.zeros(len(coverages))
    return np.array([(attention * coverage).sum() / total for coverage in coverages])


def overlay(image: Image.Image, attention: np.ndarray) -> Image.Image:
    """The scene with the attention grid as a red heat map over it."""
    heat = attention / max(float(attention.max()), 1e-12)
    heat_image = Image.fromarray(np.uint8(heat * 255), "L").resize(image.size, Image.BILINEAR)
    red = Image.new("RGB", image.size, (255, 0, 0))
    return Image.composite(red, image.convert("RGB"), heat_image.point(lambda v: int(v * 0.6)))


def run_attention(
    encoder: Encoder,
    scene_set: SceneSet,
    *,
    layer: int = -1,
    overlays: str | Path | None = None,
    overlay_count: int = 4,
    role: str = "model",
) -> ProbeResult:
    started = time.perf_counter()
    cls_attention = getattr(encoder, "cls_attention", None)
    if cls_attention is None:
        raise CliposcopeError(f"{encoder.info.spec} exposes no attention maps", hint="use a ViT")
    scenes = scene_set.scenes
    maps = cls_attention([s.image_path for s in scenes], layer=layer)
    by_role: dict[str, list[float]] = defaultdict(list)
    by_position: dict[int, list[float]] = defaultdict(list)
    per_area: dict[str, list[float]] = defaultdict(list)
    for scene, attention, labels in zip(scenes, maps, scene_set.role_labels(), strict=True):
        coverages = np.stack([patch_coverage(m, attention.shape) for m in scene.load_masks()])
        masses = object_attention(attention, coverages)
        for k, (mass, label) in enumerate(zip(masses, labels, strict=True)):
            by_role[label].append(mass)
            by_position[k].append(mass)
            area = scene.objects[k].area_fraction or 0.0
            if area > 0:
                per_area[label].append(mass / area)
    if overlays is not None:
        folder = Path(overlays)
        folder.mkdir(parents=True, exist_ok=True)
        for scene, attention in list(zip(scenes, maps, strict=True))[:overlay_count]:
            overlay(scene.load_image(), attention).save(
                folder / f"attention_{scene.id.replace('/', '_')}.png"
            )

    def summary(values: dict) -> dict:
        return {str(k): mean_interval(float(np.sum(v)), float(np.sum(np.square(v))), len(v))
                for k, v in sorted(values.items())}  # fmt: skip

    return ProbeResult(
        probe="attention",
        role=role,
        model=encoder.info.to_dict(),
        settings={"n": scene_set.n, "layer": layer, "heads": "mean", "normalised": "per image"},
        metrics={
            "mean_share_by_role": summary(by_role),
            "mean_share_by_position": summary(by_position),
            "share_per_unit_area_by_role": summary(per_area),
            "grid": list(maps.shape[1:]),
        },
        provenance=result_provenance(
            image_count=len(scenes),
            scene_fingerprint=scene_set.fingerprint(),
        ),
        wall_time_s=round(time.perf_counter() - started, 3),
    )
