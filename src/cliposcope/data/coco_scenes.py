"""Real multi-object images from COCO-format annotations, as the SceneSet image probes take.

COCO itself, LVIS-style sets and the generator's own `--coco-json` export all read the same
way. The selection rules, each counted in the scene set's origin:

1. Crowd annotations (``iscrowd``) are ignored; a category's size is its largest instance's
   area (``area="max"``) or the sum of its instances (``"sum"``), as a share of the image.
2. An image is kept when it holds exactly ``n`` categories, every one at least
   ``min_object_area`` of the image, and its largest category is strictly the largest.
3. Objects are listed in the order of the image's first caption (lowest annotation id) that
   names all of them (the mention matcher of data.mentions); without such a caption, from
   the largest to the smallest. Size roles: "large" for the largest, "small" for the rest.

The gallery holds one reference image per category: the project's sprite renders
(``sprites``, the generator's reference images), a crop of the category's largest instance
(``box``: its box with a margin; ``mask``: its mask on a neutral grey), taken from an image
outside the selection where there is one, or a user folder (``dir``: the first image, by
name, in DIR/<category>/).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cliposcope.data.corpus import existing_file, id_order, input_record, load_coco
from cliposcope.data.mentions import MentionMatcher, default_table
from cliposcope.data.scene_sets import SceneSet
from cliposcope.data.scenes import Scene, SceneObject, check_inside
from cliposcope.data.templates import Template
from cliposcope.errors import CliposcopeError, check_range

GALLERIES = ("sprites", "box", "mask", "dir")
AREA_MODES = ("max", "sum")
BOX_MARGIN = 0.1  # each side, as a share of the box's side
NEUTRAL_GREY = (124, 116, 104)  # about CLIP's mean pixel
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
FALLBACK_CAPTIONS = Template("and")


@dataclass(frozen=True)
class CocoSelection:
    n: int = 3
    min_object_area: float = 0.0
    area: str = "max"
    gallery: str = "sprites"
    gallery_dir: str | None = None
    gallery_size: int = 224

    def check(self) -> None:
        check_range("--objects", self.n, 1, 8, hint="1 to 8 categories per image")
        check_range("--coco-min-area", self.min_object_area, 0.0, 1.0,
                    hint="a share of the image, e.g. 0.01")  # fmt: skip
        check_range("--coco-gallery-size", self.gallery_size, 32, 2048, hint="32 to 2048 px")
        if self.area not in AREA_MODES:
            raise CliposcopeError(
                f"unknown --coco-area {self.area!r}", hint=" or ".join(AREA_MODES)
            )
        if self.gallery not in GALLERIES:
            raise CliposcopeError(f"unknown --coco-gallery {self.gallery!r}",
                                  hint=" | ".join(GALLERIES))  # fmt: skip
        if (self.gallery == "dir") != (self.gallery_dir is not None):
            raise CliposcopeError(
                "--coco-gallery dir and --coco-gallery-dir DIR go together",
                hint="a folder with one subfolder of images per category",
            )


@dataclass
class _Candidate:
    image: dict
    sizes: dict[str, float]  # category -> share of the image
    largest: dict[str, dict]  # category -> its largest instance


def coco_scene_set(
    instances: str | Path,
    images: str | Path,
    selection: CocoSelection,
    *,
    captions: str | Path | None = None,
    derived_into: str | Path,
) -> SceneSet:
    """The selected images as scenes (root: ``images``) with a reference per category;
    derived files (gallery renders or crops, object label maps) go under ``derived_into``."""
    selection.check()
    instances_path = existing_file(instances, "--coco-instances", "an instances_*.json file")
    root = Path(images)
    if not root.is_dir():
        raise CliposcopeError(f"--coco-images {root} is not a folder",
                              hint="the folder the file_name entries are relative to")  # fmt: skip
    coco = load_coco(instances_path, "category_id")
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    counts: Counter[str] = Counter()
    candidates, others = _candidates(coco, names, selection, counts)
    caption_index = _caption_index(captions)
    matcher = MentionMatcher(tuple(names.values()), default_table())
    scenes = [_scene(candidate, root, caption_index, matcher, counts) for candidate in candidates]
    if not scenes:
        raise CliposcopeError(
            f"no image of {instances_path.name} has exactly {selection.n} categories that "
            "pass the selection", hint=f"selection counts: {dict(sorted(counts.items()))}"
        )  # fmt: skip
    needed = sorted({name for scene in scenes for name in scene.names})
    references = _gallery(needed, selection, coco, others, candidates, root, Path(derived_into),
                          counts)  # fmt: skip
    _write_masks(coco, candidates, scenes, Path(derived_into) / "masks", counts)
    inputs = [input_record(instances_path)] + ([input_record(Path(captions))] if captions else [])
    origin = {"layout": "coco", "images": str(root.resolve()), "inputs": inputs,
              "selection": asdict(selection), "counts": dict(sorted(counts.items()))}  # fmt: skip
    return SceneSet(scenes, references, tuple(needed), origin)


def _candidates(coco, names, selection: CocoSelection, counts: Counter):
    """(selected images, the other images' instances) with per-category sizes."""
    chosen, others = [], []
    for image_id in sorted(coco.imgs, key=id_order):
        image = coco.imgs[image_id]
        width, height = image.get("width"), image.get("height")
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise CliposcopeError(f"image {image_id} has no positive width and height",
                                  hint="COCO image records carry width and height")  # fmt: skip
        counts["images"] += 1
        sizes: dict[str, float] = {}
        largest: dict[str, dict] = {}
        for annotation in coco.imgToAnns.get(image_id, ()):
            if annotation.get("iscrowd", 0):
                counts["crowd annotations ignored"] += 1
                continue
            name = names.get(annotation.get("category_id"))
            area = annotation.get("area")
            if name is None or not isinstance(area, int | float) or area < 0:
                raise CliposcopeError(f"annotation {annotation['id']} has category "
                                      f"{annotation.get('category_id')!r} and area {area!r}",
                                      hint="a listed category and a non-negative area")  # fmt: skip
            share = area / (width * height)
            if selection.area == "sum":
                sizes[name] = sizes.get(name, 0.0) + share
            else:
                sizes[name] = max(sizes.get(name, 0.0), share)
            if name not in largest or area > largest[name]["area"]:
                largest[name] = annotation
        candidate = _Candidate(image, sizes, largest)
        reason = _rejection(candidate, selection)
        if reason is None:
            chosen.append(candidate)
            counts["kept"] += 1
        else:
            counts[f"dropped: {reason}"] += 1
            others.append(candidate)
    return chosen, others


def _rejection(candidate: _Candidate, selection: CocoSelection) -> str | None:
    sizes = candidate.sizes
    if len(sizes) != selection.n:
        return f"not exactly {selection.n} categories"
    if min(sizes.values()) < selection.min_object_area:
        return "an object below --coco-min-area"
    ordered = sorted(sizes.values(), reverse=True)
    if len(ordered) > 1 and ordered[0] == ordered[1]:
        return "largest object tied"
    return None


def _caption_index(captions: str | Path | None) -> dict[Any, list[str]]:
    if captions is None:
        return {}
    path = existing_file(captions, "--coco-captions", "a captions_*.json file")
    coco = load_coco(path, "caption")
    index: dict[Any, list[str]] = {}
    for annotation_id in sorted(coco.anns, key=id_order):
        annotation = coco.anns[annotation_id]
        if isinstance(annotation["caption"], str):
            index.setdefault(annotation["image_id"], []).append(annotation["caption"])
    return index


def _scene(candidate: _Candidate, root: Path, caption_index, matcher, counts: Counter) -> Scene:
    image, sizes = candidate.image, candidate.sizes
    present = set(sizes)
    order, caption = None, None
    for text in caption_index.get(image["id"], ()):
        named = matcher.find(text, present).categories
        if set(named) >= present:
            order, caption = [c for c in named if c in present], text
            break
    counts["objects ordered by a caption" if order else "objects ordered by size"] += 1
    if order is None:
        order = sorted(present, key=lambda c: -sizes[c])
        caption = FALLBACK_CAPTIONS.render(order)
    largest = max(present, key=lambda c: sizes[c])
    objects = []
    for name in order:
        x, y, w, h = candidate.largest[name].get("bbox") or (0, 0, 0, 0)
        box = (int(x), int(y), round(x + w), round(y + h))
        objects.append(SceneObject(name, "large" if name == largest else "small", sizes[name],
                                   box))  # fmt: skip
    file_name = image.get("file_name")
    path = check_inside(root, file_name, f"image {image['id']}")
    if not path.is_file():
        raise CliposcopeError(
            f"image {image['id']}: {file_name} is not in {root}",
            hint="--coco-images is the folder file_name is relative to",
        )
    return Scene(id=f"coco-{image['id']}", image=file_name, objects=objects, caption=caption,
                 kind="coco", condition=f"coco_{len(objects)}obj",
                 size=max(image["width"], image["height"]), root=root)  # fmt: skip


def _write_masks(coco, candidates, scenes, folder: Path, counts: Counter) -> None:
    """Label maps (value k+1 = the scene's object k: the union of its category's instance
    masks), for probes that need object masks (CLS attention); skipped, and counted, when
    an image's annotations carry no segmentation."""
    folder.mkdir(parents=True, exist_ok=True)
    for candidate, scene in zip(candidates, scenes, strict=True):
        image = candidate.image
        labels = np.zeros((image["height"], image["width"]), np.uint8)
        annotations = [a for a in coco.imgToAnns.get(image["id"], ()) if not a.get("iscrowd", 0)]
        if not all(a.get("segmentation") for a in annotations):
            counts["images without segmentation (no masks)"] += 1
            continue
        by_name = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
        for k, obj in enumerate(scene.objects):
            for annotation in annotations:
                if by_name[annotation["category_id"]] == obj.name:
                    labels[coco.annToMask(annotation).astype(bool)] = k + 1
        path = folder / f"{scene.id}.png"
        Image.fromarray(labels, "L").save(path)
        scene.masks = str(path.resolve())


def _gallery(needed, selection, coco, others, chosen, root, into, counts) -> dict[str, Scene]:
    if selection.gallery == "sprites":
        return _sprite_gallery(needed, selection.gallery_size, into)
    if selection.gallery == "dir":
        return _folder_gallery(needed, Path(selection.gallery_dir))
    crops = {}  # all crops first, so a failure leaves no file behind
    for name in needed:
        pool = [c for c in others if name in c.largest] or [c for c in chosen if name in c.largest]
        source = "an unselected image" if any(name in c.largest for c in others) else "a query"
        counts[f"gallery crops from {source}"] += 1
        best = max(pool, key=lambda c: c.largest[name]["area"])
        annotation = best.largest[name]
        crop = _crop(coco, best.image, annotation, root, masked=selection.gallery == "mask")
        crops[name] = (crop, f"image {best.image['id']}")
    folder = into / f"{selection.gallery}-crops"
    folder.mkdir(parents=True, exist_ok=True)
    references = {}
    for name, (crop, source) in crops.items():
        file = f"{name.replace(' ', '-')}.png"
        crop.save(folder / file)
        obj = SceneObject(name, "single", None, None, source)
        references[name] = Scene(id=f"single-{name}", image=file, objects=[obj], caption=name,
                                 kind="coco", condition="single", root=folder)  # fmt: skip
    return references


def _crop(coco, image: dict, annotation: dict, root: Path, masked: bool) -> Image.Image:
    from cliposcope.encoders.base import load_image

    picture = load_image(check_inside(root, image["file_name"], f"image {image['id']}"))
    x, y, w, h = annotation.get("bbox") or (0, 0, picture.width, picture.height)
    if masked:
        if "segmentation" not in annotation:
            raise CliposcopeError(f"annotation {annotation['id']} has no segmentation",
                                  hint="use --coco-gallery box")  # fmt: skip
        mask = coco.annToMask(annotation).astype(bool)
        grey = np.empty_like(np.asarray(picture))
        grey[...] = NEUTRAL_GREY
        picture = Image.fromarray(np.where(mask[..., None], np.asarray(picture), grey))
    dx, dy = BOX_MARGIN * w, BOX_MARGIN * h
    left, top = max(0, int(x - dx)), max(0, int(y - dy))
    right = min(picture.width, round(x + w + dx))
    bottom = min(picture.height, round(y + h + dy))
    return picture.crop((left, top, max(right, left + 1), max(bottom, top + 1)))


def _sprite_gallery(needed, size: int, into: Path) -> dict[str, Scene]:
    from cliposcope.data.generate import SceneSettings, reference_scene
    from cliposcope.data.sprites import sprite_names

    missing = [name for name in needed if name not in sprite_names()]
    if missing:
        raise CliposcopeError(
            f"the sprite pack has no drawing of {', '.join(missing[:5])}",
            hint="use --coco-gallery box, mask or dir for these categories",
        )
    folder = into / f"sprites-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    settings = SceneSettings(kind="comco", size=size)
    references = {}
    for name in needed:
        image, _, scene = reference_scene(settings, name)
        scene.image = f"{name.replace(' ', '-')}.png"
        image.save(folder / scene.image, compress_level=6)
        scene.root = folder
        references[name] = scene
    return references


def _folder_gallery(needed, folder: Path) -> dict[str, Scene]:
    if not folder.is_dir():
        raise CliposcopeError(f"--coco-gallery-dir {folder} is not a folder",
                              hint="one subfolder of images per category")  # fmt: skip
    references = {}
    for name in needed:
        sub = folder / name
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if (
            sub.is_dir()) else []  # fmt: skip
        if not files:
            raise CliposcopeError(
                f"--coco-gallery-dir has no images in {sub}",
                hint="one subfolder per category, named as the category",
            )
        relative = str(files[0].relative_to(folder))
        check_inside(folder, relative, f"--coco-gallery-dir {folder}")
        obj = SceneObject(name, "single", None, None, relative)
        references[name] = Scene(
            id=f"single-{name}",
            image=relative,
            objects=[obj],
            caption=name,
            kind="coco",
            condition="single",
            root=folder,
        )
    return references
