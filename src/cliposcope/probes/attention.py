"""CLS attention by object: how much of the CLS token's attention to the patches falls on
each object, for ViT image towers.

Each object's mask is brought to the patch grid as the share of every patch it covers; the
object's mass is the attention-weighted sum of those shares, divided by the total CLS
attention to patches, so the masses of one image are fractions of its patch attention.

Per-query records, one row per image and object: ``query`` (the scene id), ``position``
(caption order, from 0), ``object``, ``role`` (size role label), ``area`` (area fraction,
NaN where unknown) and ``share`` (its share of the image's patch attention).
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
from PIL import Image

from cliposcope.atomic import atomic_write_bytes
from cliposcope.data.scene_sets import SceneSet
from cliposcope.encoders.base import Encoder
from cliposcope.errors import check_range
from cliposcope.plotting import figure_png, pyplot
from cliposcope.probes.cost import scene_work
from cliposcope.probes.presentation import (
    BarChart,
    FigureDefinition,
    ReportSection,
    large_first,
    percent,
    role_bars,
)
from cliposcope.probes.registry import BatteryRole, Probe, make_result, register_probe
from cliposcope.probes.stats import Z95, mean_interval
from cliposcope.probes.verdicts import BiasFigure, QueryFigure
from cliposcope.results import ProbeResult
from cliposcope.settings import internal, option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttentionSettings:
    layer: int = option(-1, "attention layer (negative counts from the last)")
    overlays: int = option(0, "attention overlays to save", metavar="N")
    # Where overlays go; the command line sets OUT/overlays/ROLE.
    artifacts_dir: Path | None = internal(None)

    def __post_init__(self):
        check_range("--overlays", self.overlays, 0, hint="a count of images, 0 for none")


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


OUTLINE_COLOURS = ("#00e5ff", "#76ff03", "#ffea00", "#ff4081", "#ffffff", "#b388ff")


def overlay(
    image: Image.Image, attention: np.ndarray, masks: np.ndarray, labels: Sequence[str]
) -> bytes:
    """PNG: the scene under its CLS attention (a perceptual colormap, half transparent,
    with a colour bar in share of the patch attention) and each object's mask outlined."""
    plt = pyplot()
    width, height = image.size
    share = attention / max(float(attention.sum()), 1e-12)
    figure, axes = plt.subplots(figsize=(4.6, 3.8))
    axes.imshow(image.convert("RGB"))
    heat = axes.imshow(
        share, cmap="magma", alpha=0.55, extent=(0, width, height, 0), interpolation="bilinear"
    )
    colour_bar = figure.colorbar(heat, ax=axes, fraction=0.046, pad=0.03)
    colour_bar.set_label("share of CLS attention per patch")
    handles = []
    for k, (mask, label) in enumerate(zip(masks, labels, strict=True)):
        colour = OUTLINE_COLOURS[k % len(OUTLINE_COLOURS)]
        if mask.any():
            axes.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.4)
        handles.append(plt.Line2D([], [], color=colour, linewidth=2, label=label))
    axes.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.7)
    axes.set_axis_off()
    return figure_png(figure)


def run_attention(
    encoder: Encoder, scene_set: SceneSet, settings: AttentionSettings, *, progress: bool = False
) -> ProbeResult:
    started = time.perf_counter()
    scenes = scene_set.scenes
    layer = settings.layer
    maps = encoder.cls_attention([s.image_path for s in scenes], layer=layer)
    by_role: dict[str, list[float]] = defaultdict(list)
    by_position: dict[int, list[float]] = defaultdict(list)
    per_area: dict[str, list[float]] = defaultdict(list)
    records: dict[str, list] = defaultdict(list)
    for scene, attention, labels in zip(scenes, maps, scene_set.role_labels(), strict=True):
        coverages = np.stack([patch_coverage(m, attention.shape) for m in scene.load_masks()])
        masses = object_attention(attention, coverages)
        for k, (obj, mass, label) in enumerate(zip(scene.objects, masses, labels, strict=True)):
            by_role[label].append(mass)
            by_position[k].append(mass)
            area = obj.area_fraction or 0.0
            if area > 0:
                per_area[label].append(mass / area)
            records["query"].append(scene.id)
            records["position"].append(k)
            records["object"].append(obj.name)
            records["role"].append(label)
            records["area"].append(math.nan if obj.area_fraction is None else obj.area_fraction)
            records["share"].append(float(mass))
    if settings.artifacts_dir is not None and settings.overlays > 0:
        folder = Path(settings.artifacts_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for scene, attention in list(zip(scenes, maps, strict=True))[: settings.overlays]:
            labels = [f"{o.name} ({o.role})" for o in scene.objects]
            picture = overlay(scene.load_image(), attention, scene.load_masks(), labels)
            name = f"attention_{scene.id.replace('/', '_')}"
            atomic_write_bytes(folder / f"{name}.png", picture)
            # the map's values, so the report draws a model and its control on one scale
            values = io.BytesIO()
            np.save(values, (attention / attention.sum()).astype(np.float32), allow_pickle=False)
            atomic_write_bytes(folder / f"{name}.npy", values.getvalue())

    def summary(values: dict) -> dict:
        return {
            str(k): mean_interval(float(np.sum(v)), float(np.sum(np.square(v))), len(v))
            for k, v in sorted(values.items())
        }

    return make_result(
        "attention",
        encoder,
        settings={"n": scene_set.n, "layer": layer, "heads": "mean", "normalised": "per image"},
        metrics={
            "mean_share_by_role": summary(by_role),
            "mean_share_by_position": summary(by_position),
            "share_per_unit_area_by_role": summary(per_area),
            "grid": list(maps.shape[1:]),
        },
        started=started,
        query_records=dict(records),
        image_count=len(scenes),
        scene_fingerprint=scene_set.fingerprint(),
        scene_origin=scene_set.origin,
    )


FIGURES = MappingProxyType(
    {
        "mean_share_by_role/large": FigureDefinition(
            "attention on the large object",
            "mean over images of the share of the CLS token's patch attention (heads "
            "averaged) that falls on the large object's mask (column 'large %'); verdicts "
            "compare it with the control's",
        ),
        "mean_share_by_role": FigureDefinition(
            "attention by size role",
            "the same share for the object of each size role (columns 'large %', 'small 1 %', ...)",
        ),
        "share_per_unit_area_by_role": FigureDefinition(
            "attention per area",
            "an object's attention share over its area fraction (1: attention in "
            "proportion to area)",
        ),
    }
)


def attention_on_the_large_object(result: ProbeResult) -> BiasFigure | None:
    """The mean share of CLS attention on the large object (standard error from its
    interval); None for scenes without a large object."""
    large = result.metrics["mean_share_by_role"].get("large")
    if large is None:
        return None
    low, high = large["ci95"]
    figure = FIGURES["mean_share_by_role/large"]
    return BiasFigure(
        figure.label,
        figure.definition,
        large["estimate"],
        (high - low) / (2 * Z95),
    )


def attention_per_query(columns) -> QueryFigure | None:
    """Image by image: the share of its CLS attention on its large object."""
    large = [index for index, role in enumerate(columns["role"]) if role == "large"]
    if not large:
        return None
    return QueryFigure.of(
        [columns["query"][index] for index in large], [columns["share"][index] for index in large]
    )


def attention_in_battery(battery, scene_set) -> AttentionSettings | None:
    """None (skipped) for scenes without object masks, such as the official layout."""
    if any(scene.masks is None for scene in scene_set.scenes):
        log.warning("attention skipped: the scenes carry no object masks (official layout)")
        return None
    return AttentionSettings(battery.layer, battery.overlays, battery.artifacts_dir)


def attention_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    labels = large_first(label for r in results for label in r.metrics["mean_share_by_role"])
    headers = ["Model", "Layer", *(f"{label} %" for label in labels)]
    headers += [f"{label} per area" for label in labels]
    rows = []
    for result in results:
        shares = result.metrics["mean_share_by_role"]
        ratios = result.metrics["share_per_unit_area_by_role"]
        rows.append(
            [result.label, str(result.settings["layer"])]
            + [percent(shares.get(label)) for label in labels]
            + [f"{ratios[label]['estimate']:.2f}" if label in ratios else "-" for label in labels]
        )
    return headers, rows


def attention_chart(results: Sequence[ProbeResult]) -> BarChart:
    groups = {r.label: role_bars(r.metrics["mean_share_by_role"]) for r in results}
    return BarChart("Mean share of CLS attention on each object, by size role", groups)


def overlays_folder(
    settings: AttentionSettings, out: Path, role: str, scene_set
) -> AttentionSettings:
    """Overlays go to OUT/overlays/ROLE."""
    return replace(settings, artifacts_dir=out / "overlays" / role.replace(":", "-"))


register_probe(
    Probe(
        name="attention",
        cost=scene_work,
        order=70,
        summary="CLS attention by object (ViT image towers)",
        settings=AttentionSettings,
        run=run_attention,
        title="CLS attention: mean share of patch attention on each object (95% CI)",
        rows=attention_rows,
        data="scenes",
        needs_image_tower=True,
        capability="cls_attention",
        report=ReportSection(
            "CLS attention by object size", attention_chart, images="overlays/*/*.png"
        ),
        battery=BatteryRole(attention_in_battery, in_demo=True),
        bias=attention_on_the_large_object,
        figures=FIGURES,
        bias_per_query=attention_per_query,
        bias_columns=("query", "role", "share"),
        data_settings=("n", "layer"),
        data_fingerprints=("scene_fingerprint",),
        artifacts=overlays_folder,
        example=lambda: AttentionSettings(overlays=1),
    )
)
