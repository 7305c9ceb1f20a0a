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

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cliposcope.atomic import publish_folder, staged_folder
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
        check_range(
            "--coco-min-area",
            self.min_object_area,
            0.0,
            1.0,
            hint="a share of the image, e.g. 0.01",
        )
        check_range("--coco-gallery-size", self.gallery_size, 32, 2048, hint="32 to 2048 px")
        if self.area not in AREA_MODES:
            raise CliposcopeError(
                f"unknown --coco-area {self.area!r}", hint=" or ".join(AREA_MODES)
            )
        if self.gallery not in GALLERIES:
            raise CliposcopeError(
                f"unknown --coco-gallery {self.gallery!r}", hint=" | ".join(GALLERIES)
            )
        if (self.gallery == "dir") != (self.gallery_dir is not None):
            raise CliposcopeError(
                "--coco-gallery dir and --coco-gallery-dir DIR go together",
                hint="a folder with one subfolder of images per category",
            )


@dataclass
class _Candidate:
    image: dict
    sizes: dict[str, float]  # category -> share of the image
    instances: dict[str, list[dict]]  # category -> its non-crowd annotations

    def largest(self, name: str) -> dict:
        """The category's largest instance (the first of equals)."""
        return max(self.instances[name], key=lambda annotation: annotation["area"])


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
        raise CliposcopeError(
            f"--coco-images {root} is not a folder",
            hint="the folder the file_name entries are relative to",
        )
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
            "pass the selection",
            hint=f"selection counts: {dict(sorted(counts.items()))}",
        )
    needed = sorted({name for scene in scenes for name in scene.names})
    inputs = [input_record(instances_path)] + ([input_record(Path(captions))] if captions else [])
    plan = _gallery_plan(needed, selection, others, candidates, root, counts)
    key = hashlib.sha256(
        json.dumps([[i["sha256"] for i in inputs], asdict(selection)], sort_keys=True).encode()
    ).hexdigest()[:16]
    derived = Path(derived_into) / key
    if not derived.is_dir():  # made once per annotation files and selection, then reused
        with staged_folder(derived) as staging:
            _write_derived(staging, plan, coco, candidates, scenes, selection, root)
            publish_folder(staging, derived)
    references = _references(plan, derived, selection)
    _attach_masks(scenes, derived, counts)
    inputs = [input_record(instances_path)] + ([input_record(Path(captions))] if captions else [])
    origin = {
        "layout": "coco",
        "images": str(root.resolve()),
        "inputs": inputs,
        "selection": asdict(selection),
        "counts": dict(sorted(counts.items())),
        "derived_files": str(derived),
    }
    return SceneSet(scenes, references, tuple(needed), origin)


def _candidates(coco, names, selection: CocoSelection, counts: Counter):
    """(selected images, the other images' instances) with per-category sizes."""
    chosen, others = [], []
    for image_id in sorted(coco.imgs, key=id_order):
        image = coco.imgs[image_id]
        width, height = image.get("width"), image.get("height")
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise CliposcopeError(
                f"image {image_id} has no positive width and height",
                hint="COCO image records carry width and height",
            )
        counts["images"] += 1
        sizes: dict[str, float] = {}
        instances: dict[str, list[dict]] = {}
        for annotation in coco.imgToAnns.get(image_id, ()):
            if annotation.get("iscrowd", 0):
                counts["crowd annotations ignored"] += 1
                continue
            name = names.get(annotation.get("category_id"))
            area = annotation.get("area")
            if name is None or not isinstance(area, int | float) or area < 0:
                raise CliposcopeError(
                    f"annotation {annotation['id']} has category "
                    f"{annotation.get('category_id')!r} and area {area!r}",
                    hint="a listed category and a non-negative area",
                )
            share = area / (width * height)
            if selection.area == "sum":
                sizes[name] = sizes.get(name, 0.0) + share
            else:
                sizes[name] = max(sizes.get(name, 0.0), share)
            instances.setdefault(name, []).append(annotation)
        candidate = _Candidate(image, sizes, instances)
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
        if not isinstance(annotation["caption"], str):
            raise CliposcopeError(
                f"{path}: caption {annotation_id} is {annotation['caption']!r}",
                hint="captions are strings",
            )
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
        x, y, w, h = candidate.largest(name).get("bbox") or (0, 0, 0, 0)
        box = (int(x), int(y), round(x + w), round(y + h))
        objects.append(SceneObject(name, "large" if name == largest else "small", sizes[name], box))
    file_name = image.get("file_name")
    path = check_inside(root, file_name, f"image {image['id']}")
    if not path.is_file():
        raise CliposcopeError(
            f"image {image['id']}: {file_name} is not in {root}",
            hint="--coco-images is the folder file_name is relative to",
        )
    try:
        with Image.open(path) as opened:  # the header only
            size = opened.size
    except (OSError, ValueError) as error:
        raise CliposcopeError(
            f"image {image['id']}: cannot read {file_name} ({error})", hint="a PNG or JPEG file"
        ) from None
    _check_size(size, image)
    return Scene(
        id=f"coco-{image['id']}",
        image=file_name,
        objects=objects,
        caption=caption,
        kind="coco",
        condition=f"coco_{len(objects)}obj",
        size=max(image["width"], image["height"]),
        root=root,
    )


MASKS = "masks"
REFERENCES = "references"


@dataclass
class _Reference:
    name: str
    source: str  # what it was made from, for the record
    image: dict | None = None  # crops: the source image record and instance
    annotation: dict | None = None
    path: Path | None = None  # a user folder's file


def _gallery_plan(needed, selection, others, chosen, root: Path, counts: Counter):
    """Where each category's reference comes from, checked before anything is written."""
    if selection.gallery == "sprites":
        from cliposcope.data.sprites import sprite_names

        missing = [name for name in needed if name not in sprite_names()]
        if missing:
            raise CliposcopeError(
                f"the sprite pack has no drawing of {', '.join(missing[:5])}",
                hint="use --coco-gallery box, mask or dir for these categories",
            )
        return [_Reference(name, f"sprite render, {selection.gallery_size} px") for name in needed]
    if selection.gallery == "dir":
        return [_folder_reference(name, Path(selection.gallery_dir)) for name in needed]
    plan = []
    for name in needed:
        for pool, source in ((others, "an unselected image"), (chosen, "a query")):
            usable = [c for c in pool if name in c.instances and _image_file(root, c.image)]
            if usable:
                best = max(usable, key=lambda c: c.largest(name)["area"])
                counts[f"gallery crops from {source}"] += 1
                plan.append(
                    _Reference(name, f"image {best.image['id']}", best.image, best.largest(name))
                )
                break
    return plan


def _image_file(root: Path, image: dict) -> Path | None:
    name = image.get("file_name")
    if not isinstance(name, str):
        return None
    path = check_inside(root, name, f"image {image['id']}")
    return path if path.is_file() else None


def _folder_reference(name: str, folder: Path) -> _Reference:
    if not folder.is_dir():
        raise CliposcopeError(
            f"--coco-gallery-dir {folder} is not a folder",
            hint="one subfolder of images per category",
        )
    sub = check_inside(folder, name, f"--coco-gallery-dir {folder} (category {name!r})")
    files = (
        sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if (sub.is_dir())
        else []
    )
    if not files:
        raise CliposcopeError(
            f"--coco-gallery-dir has no images in {sub}",
            hint="one subfolder per category, named as the category",
        )
    check_inside(folder, str(files[0].relative_to(folder)), f"--coco-gallery-dir {folder}")
    return _Reference(name, str(files[0].relative_to(folder)), path=files[0])


def _write_derived(folder: Path, plan, coco, candidates, scenes, selection, root: Path) -> None:
    """Reference images (renders or crops) and object label maps, into a staging folder."""
    (folder / REFERENCES).mkdir()
    (folder / MASKS).mkdir()
    for index, reference in enumerate(plan):
        if selection.gallery == "sprites":
            from cliposcope.data.generate import SceneSettings, reference_scene

            settings = SceneSettings(kind="comco", size=selection.gallery_size)
            image = reference_scene(settings, reference.name)[0]
        elif selection.gallery == "dir":
            continue
        else:
            image = _crop(
                coco,
                reference.image,
                reference.annotation,
                root,
                masked=selection.gallery == "mask",
            )
        image.save(folder / REFERENCES / f"{index:04d}.png", compress_level=6)
    for index, (candidate, scene) in enumerate(zip(candidates, scenes, strict=True)):
        labels = _label_map(coco, candidate, scene, selection.area)
        if labels is not None:
            Image.fromarray(labels, "L").save(folder / MASKS / f"{index:06d}.png")


def _instance_mask(coco, annotation: dict, image: dict) -> np.ndarray:
    try:
        mask = coco.annToMask(annotation).astype(bool)
    except Exception as error:  # pycocotools raises bare Exceptions on bad polygons or RLEs
        raise CliposcopeError(
            f"annotation {annotation['id']}: its segmentation does not decode ({error})",
            hint="polygons or an RLE of the image's size",
        ) from None
    if mask.shape != (image["height"], image["width"]):
        raise CliposcopeError(
            f"annotation {annotation['id']}: a {mask.shape} mask for a "
            f"{image['height']}x{image['width']} image",
            hint="the RLE size must be the image's [height, width]",
        )
    return mask


def _label_map(coco, candidate: _Candidate, scene: Scene, area: str) -> np.ndarray | None:
    """Value k+1 marks the scene's object k: its largest instance's mask (``max``), or all
    its instances' (``sum``), the area the roles were ranked by. Objects are painted from
    the largest to the smallest, so an overlap goes to the smaller object (usually in
    front), whatever the object order. None when the image has no segmentation."""
    image = candidate.image
    annotations = [a for group in candidate.instances.values() for a in group]
    if not annotations or not all(a.get("segmentation") for a in annotations):
        return None
    labels = np.zeros((image["height"], image["width"]), np.uint8)
    order = sorted(range(len(scene.objects)), key=lambda k: -candidate.sizes[scene.objects[k].name])
    for k in order:
        name = scene.objects[k].name
        chosen = [candidate.largest(name)] if area == "max" else candidate.instances[name]
        for annotation in chosen:
            labels[_instance_mask(coco, annotation, image)] = k + 1
    return labels


def _references(plan, derived: Path, selection: CocoSelection) -> dict[str, Scene]:
    references = {}
    for index, reference in enumerate(plan):
        if reference.path is not None:
            root, image = reference.path.parent, reference.path.name
        else:
            root, image = derived / REFERENCES, f"{index:04d}.png"
        obj = SceneObject(reference.name, "single", None, None, reference.source)
        references[reference.name] = Scene(
            id=f"single-{reference.name}",
            image=image,
            objects=[obj],
            caption=reference.name,
            kind="coco",
            condition="single",
            root=root,
        )
    return references


def _attach_masks(scenes: list[Scene], derived: Path, counts: Counter) -> None:
    for index, scene in enumerate(scenes):
        path = derived / MASKS / f"{index:06d}.png"
        if path.is_file():
            scene.masks = str(path.resolve())
        else:
            counts["images without segmentation (no object masks)"] += 1


def _crop(coco, image: dict, annotation: dict, root: Path, masked: bool) -> Image.Image:
    from cliposcope.encoders.base import load_image

    picture = load_image(check_inside(root, image["file_name"], f"image {image['id']}"))
    _check_size(picture.size, image)
    x, y, w, h = annotation.get("bbox") or (0, 0, picture.width, picture.height)
    if masked:
        if not annotation.get("segmentation"):
            raise CliposcopeError(
                f"annotation {annotation['id']} has no segmentation", hint="use --coco-gallery box"
            )
        mask = _instance_mask(coco, annotation, image)
        grey = np.empty_like(np.asarray(picture))
        grey[...] = NEUTRAL_GREY
        picture = Image.fromarray(np.where(mask[..., None], np.asarray(picture), grey))
    dx, dy = BOX_MARGIN * w, BOX_MARGIN * h
    left, top = max(0, int(x - dx)), max(0, int(y - dy))
    right = min(picture.width, round(x + w + dx))
    bottom = min(picture.height, round(y + h + dy))
    return picture.crop((left, top, max(right, left + 1), max(bottom, top + 1)))


def _check_size(size: tuple[int, int], image: dict) -> None:
    if size != (image["width"], image["height"]):
        raise CliposcopeError(
            f"image {image['id']}: {image['file_name']} is {size[0]}x{size[1]} px, the "
            f"annotations say {image['width']}x{image['height']}",
            hint="the images and the annotation file must belong together",
        )
