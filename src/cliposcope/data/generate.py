"""Generate ComCO-style (clip-art objects) and SimCO-style (shaded primitives) scenes.

Every scene draws from its own generator seeded with (seed, index), so scene k is the same
whatever the count, and the same seed and options give byte-identical PNGs and manifest.
Output goes to a temporary sibling folder that is renamed into place at the end: an
interrupted run leaves no half-written dataset.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from cliposcope.atomic import atomic_write_bytes, publish_folder, staged_folder
from cliposcope.data import render
from cliposcope.data.layout import LayoutSpec, place
from cliposcope.data.official import copy_official
from cliposcope.data.scenes import SETTINGS_NAME, Scene, SceneObject, write_manifest
from cliposcope.data.simco import render_shape, simco_names, split_name
from cliposcope.data.sprites import sprite_names, sprites_for
from cliposcope.data.templates import load_template
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.progress import progress_bar

KINDS = ("comco", "simco")
GENERATOR_VERSION = 1
PNG_OPTIONS = {"compress_level": 6}
REFERENCE_AREA = 0.25
_REDRAWS = 8
MAX_SCENES = 1_000_000  # a week of drawing on a laptop; beyond it, several runs


@dataclass(frozen=True)
class SceneSettings:
    kind: str = "comco"
    count: int = 100
    size: int = 224
    seed: int = 0
    layout: LayoutSpec = field(default_factory=LayoutSpec)
    objects: tuple[str, ...] | None = None  # vocabulary to draw from; default: all available
    template: str = "and"

    @cached_property
    def vocabulary(self) -> tuple[str, ...]:
        """The object names scenes draw from (checked by ``check``)."""
        if self.objects is None:
            return sprite_names() if self.kind == "comco" else simco_names()
        return tuple(self.objects)

    def check(self) -> None:
        if self.kind not in KINDS:
            raise CliposcopeError(f"unknown scene kind {self.kind!r}", hint=" or ".join(KINDS))
        if not 32 <= self.size <= 2048:
            raise CliposcopeError(f"--size {self.size} is out of range", hint="32 to 2048 px")
        check_range(
            "--count", self.count, 1, MAX_SCENES, hint=f"1 to {MAX_SCENES:,} scenes per folder"
        )
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        self.layout.check()
        vocabulary = self.vocabulary
        for name in self.objects or ():  # user names: a clear error for unknown ones
            split_name(name) if self.kind == "simco" else sprites_for(name)
        if len(vocabulary) < self.layout.n:
            raise CliposcopeError(
                f"{self.layout.n} distinct objects needed, {len(vocabulary)} available",
                hint="use fewer objects per scene or a larger vocabulary",
            )
        load_template(self.template, self.layout.n)

    def to_dict(self) -> dict:
        return asdict(self) | {"generator_version": GENERATOR_VERSION}


def sprite_for(kind: str, name: str, choice: int) -> tuple[Image.Image, str]:
    """The RGBA drawing of an object (one of its variants) and a label for it."""
    if kind == "simco":
        shape, colour = split_name(name)
        return render_shape(shape, colour), f"{shape}/{colour}"
    variants = sprites_for(name)
    sprite = variants[choice % len(variants)]
    return sprite.load(), sprite.file


def compose_scene(settings: SceneSettings, index: int) -> tuple[Image.Image, np.ndarray, Scene]:
    """Scene ``index``: image, label map, and its record (paths filled in by the writer)."""
    rng = np.random.default_rng([settings.seed, index])
    layout, size = settings.layout, settings.size
    areas, roles = layout.target_areas(rng)
    for attempt in range(_REDRAWS):  # some drawings' boxes cannot share the canvas: redraw
        names, drawings = _pick_drawings(settings, areas, rng)
        try:
            corners = place([d.size for d, _ in drawings], size, layout, rng)
            break
        except CliposcopeError:
            if attempt == _REDRAWS - 1:
                raise
    canvas = render.background(layout.background, size, rng).copy()
    labels = np.zeros((size, size), np.uint8)
    for k in sorted(range(layout.n), key=lambda i: -areas[i]):  # large ones behind
        (drawing, _), (x, y) = drawings[k], corners[k]
        if settings.kind == "simco":
            render.soft_shadow(canvas, x, y, *drawing.size)
        render.paste(canvas, labels, drawing, x, y, label=k + 1)
    objects = []
    for k, (name, role) in enumerate(zip(names, roles, strict=True)):
        mask = labels == k + 1
        objects.append(SceneObject(name, role, float(mask.mean()), mask_bbox(mask), drawings[k][1]))
    caption = load_template(settings.template, layout.n).render(names)
    extra = {"target_areas": areas, "placement": layout.placement, "background": layout.background}
    scene = Scene(
        id=f"{index:06d}",
        image="",
        objects=objects,
        caption=caption,
        kind=settings.kind,
        condition=condition_name(settings),
        size=size,
        seed=settings.seed,
        extra=extra,
    )
    return render.to_image(canvas), labels, scene


def _pick_drawings(settings: SceneSettings, areas: list[float], rng: np.random.Generator):
    """Distinct objects, one per area; an elongated drawing that would not fit the canvas
    at its area is passed over for the next candidate (deterministically)."""
    size, gap = settings.size, settings.layout.gap
    vocabulary = settings.vocabulary
    candidates = iter(rng.permutation(len(vocabulary)))
    names, drawings = [], []
    for area in areas:
        for candidate in candidates:
            name = vocabulary[candidate]
            sprite, variant = sprite_for(settings.kind, name, int(rng.integers(1 << 30)))
            drawing = render.scale_to_area(sprite, area * size * size)
            if max(drawing.size) <= size - 2 * gap:
                names.append(name)
                drawings.append((drawing, variant))
                break
        else:
            raise CliposcopeError(
                f"not enough objects fit a {size} px canvas at areas {areas}",
                hint="use smaller areas or a larger --size",
            )
    return names, drawings


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of a mask's pixels, end-exclusive; None when nothing is visible."""
    rows, cols = np.nonzero(mask)
    if not len(rows):
        return None
    return (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)


def condition_name(settings: SceneSettings) -> str:
    layout = settings.layout
    order = layout.order if layout.sizes == "one-large" and layout.n > 1 else layout.sizes
    return f"{settings.kind}_{layout.n}obj_{layout.sizes}_{order}".replace(":", "-")


def iter_scenes(settings: SceneSettings) -> Iterator[tuple[Image.Image, np.ndarray, Scene]]:
    settings.check()
    for index in range(settings.count):
        yield compose_scene(settings, index)


def reference_scene(settings: SceneSettings, name: str) -> tuple[Image.Image, np.ndarray, Scene]:
    """One object, centred, REFERENCE_AREA of a plain white canvas: the IOR gallery image."""
    size = settings.size
    sprite, variant = sprite_for(settings.kind, name, 0)
    drawing = render.scale_to_area(sprite, REFERENCE_AREA * size * size)
    if max(drawing.size) > size - 8:  # elongated: as large as the canvas allows instead
        drawing = drawing.copy()
        drawing.thumbnail((size - 8, size - 8), Image.BILINEAR)
    canvas = np.full((size, size, 3), 255.0, np.float32)
    labels = np.zeros((size, size), np.uint8)
    x, y = (size - drawing.width) // 2, (size - drawing.height) // 2
    render.paste(canvas, labels, drawing, x, y, label=1)
    mask = labels == 1
    obj = SceneObject(name, "single", float(mask.mean()), mask_bbox(mask), variant)
    scene = Scene(
        id=f"single-{name}",
        image="",
        objects=[obj],
        caption=name,
        kind=settings.kind,
        condition="single",
        size=size,
        seed=None,
    )
    return render.to_image(canvas), labels, scene


def write_dataset(
    settings: SceneSettings,
    out: str | Path,
    *,
    progress: bool = False,
    references: bool = True,
    singles: str = "vocabulary",
    official: str | Path | None = None,
    coco_json: str | Path | None = None,
) -> list[Scene]:
    """Generate into ``out`` (which must not exist or be empty): images/, masks/,
    single/ (one reference image per object), manifest.jsonl, settings.json; with
    ``official``, the same scenes in the paper's folder layout there too; with
    ``coco_json``, COCO instances in that file and captions beside it (data.coco_export).

    ``singles``: "vocabulary" (as the real ComCO single-object folder) draws a reference
    for every object the scenes could hold, so the IOR gallery and the matching
    distractors do not change with ``count``; "used": only the objects the scenes hold.

    The folders are built in hidden staging folders and renamed into place only when all
    are complete, so an interrupted run leaves none (and a rerun starts cleanly)."""
    settings.check()
    if singles not in ("vocabulary", "used"):
        raise CliposcopeError(f"singles {singles!r} is not known", hint="vocabulary or used")
    out = Path(out)
    targets = [out] if official is None else [out, Path(official)]
    for target in targets:
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise CliposcopeError(
                f"{target} already exists and is not empty", hint="choose a new folder"
            )
    coco_files = _coco_paths(coco_json)
    if official is not None:
        a, b = Path(official).resolve(), out.resolve()
        if a == b or a.is_relative_to(b) or b.is_relative_to(a):
            raise CliposcopeError(
                f"--official-layout {official} overlaps the --out folder",
                hint="give the official layout a folder of its own",
            )
    check_disk_room(settings, targets)
    with staged_folder(out) as staging, contextlib.ExitStack() as stack:
        scenes = []
        for sub in ("images", "masks"):
            (staging / sub).mkdir()
        bar = progress_bar(total=settings.count, enabled=progress, unit="scene", desc="generate")
        for image, labels, scene in iter_scenes(settings):
            bar.update()
            scenes.append(_save(staging, "images", scene, image, labels))
        bar.close()
        if references:
            (staging / "single").mkdir()
            used = {name for scene in scenes for name in scene.names}
            names = sorted(used if singles == "used" else set(settings.vocabulary) | used)
            for name in names:
                image, labels, scene = reference_scene(settings, name)
                scenes.append(_save(staging, "single", scene, image, labels))
        write_manifest(scenes, staging)
        (staging / SETTINGS_NAME).write_text(_settings_json(settings))
        official_staging = None
        if official is not None:
            official_staging = stack.enter_context(staged_folder(Path(official)))
            copy_official(scenes, official_staging, singles=singles)
        documents = []
        if coco_files:
            from cliposcope.data.coco_export import coco_documents, encode

            info = {
                "description": "cliposcope generated scenes",
                "dataset": str(out),
                "settings": settings.to_dict(),
            }
            documents = [encode(d) for d in coco_documents(scenes, info)]
        publish_folder(staging, out)
        try:
            if official_staging is not None:
                publish_folder(official_staging, Path(official))
            for path, document in zip(coco_files, documents, strict=True):
                atomic_write_bytes(path, document)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)  # none, rather than some of them
            if official_staging is not None:
                shutil.rmtree(official, ignore_errors=True)
            for path in coco_files:
                path.unlink(missing_ok=True)
            raise
    for scene in scenes:
        scene.root = out
    return scenes


def estimated_work(settings: SceneSettings, copies: int = 1) -> tuple[int, float]:
    """(bytes on disk, seconds) for the whole set, from drawing and encoding its first scene:
    that PNG pair times the scenes and references, times the copies (the official layout
    is one more), with a fifth to spare for the variation between scenes."""
    compose_scene(settings, 1)  # loads the sprites, which the timing below should not count
    started = time.perf_counter()
    image, labels, _ = compose_scene(settings, 0)
    pair = len(_png_bytes(image)) + len(_png_bytes(Image.fromarray(labels, "L")))
    seconds = time.perf_counter() - started
    items = settings.count + len(settings.vocabulary)
    return int(pair * items * copies * 1.2), seconds * items * copies


def check_disk_room(settings: SceneSettings, targets: list[Path]) -> None:
    """Refuse before drawing when the folders would not fit (estimated_work)."""
    needed, _ = estimated_work(settings, len(targets))
    anchor = next(parent for parent in Path(targets[0]).absolute().parents if parent.exists())
    free = shutil.disk_usage(anchor).free
    if needed > free:
        raise CliposcopeError(
            f"{settings.count:,} scenes of {settings.size} px need about "
            f"{needed / 1e9:.1f} GB and {anchor} has {free / 1e9:.1f} GB free",
            hint="generate fewer or smaller scenes, or write to a larger disk",
        )


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **PNG_OPTIONS)
    return buffer.getvalue()


def _coco_paths(coco_json: str | Path | None) -> list[Path]:
    """[instances file, captions file], refused before any work if either exists."""
    if coco_json is None:
        return []
    from cliposcope.data.coco_export import captions_path_for, mask_utilities

    mask_utilities()  # a missing pycocotools shows before any scene is drawn
    paths = [Path(coco_json), captions_path_for(coco_json)]
    for path in paths:
        if path.exists():
            raise CliposcopeError(f"{path} already exists", hint="choose a new --coco-json name")
    return paths


def _save(root: Path, folder: str, scene: Scene, image: Image.Image, labels: np.ndarray) -> Scene:
    stem = scene.id
    scene.image = f"{folder}/{stem}.png"
    scene.masks = f"masks/{stem}.png"
    image.save(root / scene.image, **PNG_OPTIONS)
    Image.fromarray(labels, "L").save(root / scene.masks, **PNG_OPTIONS)
    scene.root = root
    return scene


def _settings_json(settings: SceneSettings) -> str:
    import json

    return json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n"
