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

Ties never depend on the order of a set or a dict: objects of equal size are ordered by
category id, a category's largest instance is the one with the lowest annotation id among
equals. Annotations whose box has no area inside their image are left out (counted, with a
warning); other boxes are clipped to the image.

The gallery holds one reference image per category: the project's sprite renders
(``sprites``, the generator's reference images), a crop of the category's largest instance
(``box``: its box with a margin; ``mask``: its mask on a neutral grey), taken from an image
outside the selection where there is one, or a user folder (``dir``: the first image, by
name, in DIR/<category>/).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cliposcope.atomic import publish_folder, staged_folder
from cliposcope.data.corpus import (
    existing_file,
    id_kind,
    id_order,
    id_type_names,
    input_record,
    load_coco,
    shown,
)
from cliposcope.data.mentions import MentionMatcher, default_table
from cliposcope.data.safe_read import read_json_file
from cliposcope.data.scene_sets import SceneSet
from cliposcope.data.scenes import Scene, SceneObject, check_inside
from cliposcope.data.templates import Template
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.hashing import file_sha256
from cliposcope.version import __version__

GALLERIES = ("sprites", "box", "mask", "dir")
AREA_MODES = ("max", "sum")
BOX_MARGIN = 0.1  # each side, as a share of the box's side
NEUTRAL_GREY = (124, 116, 104)  # about CLIP's mean pixel
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
FALLBACK_CAPTIONS = Template("and")
# Bump when derived files (renders, crops, label maps) would come out differently from the
# same inputs: it is part of their folder's key, so old folders are never reused.
DERIVED_VERSION = 2
DERIVED_KEY_FILE = "key.json"
# A polygon's outline may run this many times around its image before it is refused
# (pycocotools rasterises every step of the outline: an absurd one exhausts memory).
MAX_OUTLINE_LAPS = 1000

log = logging.getLogger(__name__)


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
    category_ids: dict[str, int | str]  # category -> its id

    def largest(self, name: str) -> dict:
        """The category's largest instance (of equals, the lowest annotation id)."""
        return min(self.instances[name], key=lambda a: (-a["area"], id_order(a["id"])))

    def by_size(self) -> list[str]:
        """Categories from the largest to the smallest (of equals, the lowest id first)."""
        return sorted(self.sizes, key=lambda c: (-self.sizes[c], id_order(self.category_ids[c])))


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
    candidates, others = _candidates(coco, names, selection, counts, instances_path)
    caption_index = _caption_index(captions, id_kind(coco))
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
    key = _derived_key(inputs, selection, scenes, plan, root)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    derived = Path(derived_into) / digest
    if derived.is_dir():  # made once per everything it derives from, then reused
        _check_derived_key(derived, key)
    else:
        with _removed_on_failure(Path(derived_into)), staged_folder(derived) as staging:
            _write_derived(staging, plan, coco, candidates, scenes, selection, root)
            (staging / DERIVED_KEY_FILE).write_text(
                json.dumps(key, sort_keys=True, indent=1) + "\n", encoding="utf-8"
            )
            publish_folder(staging, derived)
    references = _references(plan, derived, selection)
    _attach_masks(scenes, derived, counts)
    origin = {
        "layout": "coco",
        "images": str(root),  # as given: no absolute path of this machine unless given so
        "inputs": inputs,
        "selection": asdict(selection),
        "counts": dict(sorted(counts.items())),
        "derived_files": str(derived),
    }
    return SceneSet(scenes, references, tuple(needed), origin)


def _derived_key(inputs, selection, scenes, plan, root: Path) -> dict:
    """Everything the derived files come from: the annotation files' contents, the
    selection, every scene's objects in order (the label maps' values), each reference's
    source (a crop's image file by content), and the code's version."""
    sources = []
    for reference in plan:
        source = [reference.name, reference.source]
        if reference.image is not None:
            path = check_inside(root, reference.image["file_name"], "a gallery image")
            source += [reference.annotation["id"], file_sha256(path)]
        sources.append(source)
    return {
        "version": DERIVED_VERSION,
        "cliposcope": __version__,
        "inputs": [item["sha256"] for item in inputs],
        "selection": asdict(selection),
        "scenes": [[scene.id, [o.name for o in scene.objects]] for scene in scenes],
        "references": sources,
    }


def _check_derived_key(derived: Path, key: dict) -> None:
    """A derived folder is reused only when it records the very key it was made for."""
    recorded = None
    if (derived / DERIVED_KEY_FILE).is_file():
        recorded = read_json_file(derived / DERIVED_KEY_FILE, hint="remove the folder")
    if recorded != json.loads(json.dumps(key)):
        raise CliposcopeError(
            f"{derived} was not made from these annotations, images and selection",
            hint="remove the folder; it is made again",
        )


@contextlib.contextmanager
def _removed_on_failure(folder: Path) -> Iterator[None]:
    """Creates nothing itself; when the block fails, removes the empty folders on the way
    to ``folder`` that did not exist before it (a failed run leaves nothing behind)."""
    created, path = [], folder
    while not path.exists() and path != path.parent:
        created.append(path)
        path = path.parent
    try:
        yield
    except BaseException:
        for path in created:  # the deepest first; stop at one something else filled
            try:
                path.rmdir()
            except OSError:
                break
        raise


def _candidates(coco, names, selection: CocoSelection, counts: Counter, path: Path):
    """(selected images, the other images' instances) with per-category sizes."""
    chosen, others = [], []
    outside = []  # annotations whose box has no area inside their image
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
        category_ids: dict[str, int | str] = {}
        for annotation in coco.imgToAnns.get(image_id, ()):
            if annotation.get("iscrowd", 0):
                counts["crowd annotations ignored"] += 1
                continue
            if "bbox" in annotation and clipped_box(annotation["bbox"], image) is None:
                outside.append(annotation["id"])
                continue
            name = names[annotation["category_id"]]  # the file was checked: it exists
            share = annotation["area"] / (width * height)
            if selection.area == "sum":
                sizes[name] = sizes.get(name, 0.0) + share
            else:
                sizes[name] = max(sizes.get(name, 0.0), share)
            instances.setdefault(name, []).append(annotation)
            category_ids[name] = annotation["category_id"]
        candidate = _Candidate(image, sizes, instances, category_ids)
        reason = _rejection(candidate, selection)
        if reason is None:
            chosen.append(candidate)
            counts["kept"] += 1
        else:
            counts[f"dropped: {reason}"] += 1
            others.append(candidate)
    if outside:
        counts["annotations left out: no box area inside the image"] = len(outside)
        log.warning(
            "%s: %d annotation(s) have no box area inside their image and are left out "
            "(first: annotation %s)",
            path,
            len(outside),
            shown(outside[0]),
        )
    return chosen, others


def clipped_box(box, image: dict) -> tuple[float, float, float, float] | None:
    """An [x, y, width, height] box clipped to the image, as (left, top, right, bottom);
    None when no area of it lies inside."""
    x, y, w, h = box
    left, top = max(0.0, float(x)), max(0.0, float(y))
    right, bottom = min(float(image["width"]), x + w), min(float(image["height"]), y + h)
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


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


def _caption_index(captions: str | Path | None, ids: type | None) -> dict[Any, list[str]]:
    if captions is None:
        return {}
    path = existing_file(captions, "--coco-captions", "a captions_*.json file")
    coco = load_coco(path, "caption")
    theirs = id_kind(coco)
    if None not in (ids, theirs) and ids is not theirs:
        raise CliposcopeError(
            f"{path} gives image ids as {id_type_names(theirs)}, the instances as "
            f"{id_type_names(ids)}: no caption would find its image",
            hint="COCO ids are integers; give both files the same ids",
        )
    index: dict[Any, list[str]] = {}
    for annotation_id in sorted(coco.anns, key=id_order):
        annotation = coco.anns[annotation_id]  # the file was checked: captions are text
        index.setdefault(annotation["image_id"], []).append(annotation["caption"])
    return index


def _scene(candidate: _Candidate, root: Path, caption_index, matcher, counts: Counter) -> Scene:
    image, sizes = candidate.image, candidate.sizes
    present = frozenset(sizes)
    order, caption = None, None
    for text in caption_index.get(image["id"], ()):
        named = matcher.find(text, present).categories
        if set(named) >= present:
            order, caption = [c for c in named if c in present], text
            break
    counts["objects ordered by a caption" if order else "objects ordered by size"] += 1
    if order is None:
        order = candidate.by_size()
        caption = FALLBACK_CAPTIONS.render(order)
    largest = candidate.by_size()[0]
    objects = []
    for name in order:
        box = candidate.largest(name).get("bbox")
        clipped = clipped_box(box, image) if box else (0, 0, 0, 0)
        left, top, right, bottom = clipped
        box = (int(left), int(top), round(right), round(bottom))
        objects.append(SceneObject(name, "large" if name == largest else "small", sizes[name], box))
    file_name = image.get("file_name")
    path = check_inside(root, file_name, f"image {image['id']}")
    if not path.is_file():
        raise CliposcopeError(
            f"image {image['id']}: {file_name} is not in {root}",
            hint="--coco-images is the folder file_name is relative to",
        )
    _check_size(image_header(path, f"image {image['id']}: {file_name}"), image)
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
            if usable:  # the largest instance; of equals, the lowest image id's
                best = min(
                    usable,
                    key=lambda c: (-c.largest(name)["area"], id_order(c.image["id"])),
                )
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
    image_header(files[0], f"--coco-gallery-dir {files[0]}")
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
    _check_segmentation(annotation, image)
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


def _check_segmentation(annotation: dict, image: dict) -> None:
    """What pycocotools would trust: an RLE of the image's size whose runs cover exactly its
    pixels (more would be written past the mask), polygons near the image whose outline is
    not absurdly long (every step of it is rasterised)."""
    segmentation, height, width = annotation["segmentation"], image["height"], image["width"]
    where = f"annotation {annotation['id']}"
    if isinstance(segmentation, dict):
        size = tuple(segmentation["size"])
        if size != (height, width):
            raise CliposcopeError(
                f"{where}: a {size} mask for a {height}x{width} image",
                hint="the RLE size must be the image's [height, width]",
            )
        counts = segmentation["counts"]
        runs = rle_counts(counts) if isinstance(counts, str) else counts
        if runs is None or any(run < 0 for run in runs) or sum(runs) != height * width:
            raise CliposcopeError(
                f"{where}: its RLE runs do not cover the {height}x{width} image exactly",
                hint="run lengths that add up to height x width",
            )
        return
    for polygon in segmentation:
        points = np.asarray(polygon, np.float64).reshape(-1, 2)
        low, high = points.min(axis=0), points.max(axis=0)
        if (low < (-width, -height)).any() or (high > (2 * width, 2 * height)).any():
            raise CliposcopeError(
                f"{where}: a polygon reaches far outside its {width}x{height} image",
                hint="polygon coordinates are pixels of the image",
            )
        steps = np.abs(np.diff(points, axis=0, append=points[:1])).max(axis=1).sum()
        if steps > MAX_OUTLINE_LAPS * 2 * (width + height):
            raise CliposcopeError(
                f"{where}: a polygon's outline runs {steps:.0f} px, more than "
                f"{MAX_OUTLINE_LAPS} times around its image",
                hint="polygons outline the object once",
            )


def rle_counts(text: str) -> list[int] | None:
    """The run lengths of COCO's compressed RLE text (as pycocotools' rleFrString reads
    them), or None when the text is cut short or a number is too long."""
    counts: list[int] = []
    position, end = 0, len(text)
    while position < end:
        value, shift, more = 0, 0, True
        while more:
            if position >= end or shift > 60:
                return None
            code = ord(text[position]) - 48
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value -= 1 << shift  # the sign bit: the value is negative
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


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

    path = check_inside(root, image["file_name"], f"image {image['id']}")
    try:
        picture = load_image(path)
    except Image.DecompressionBombError as error:
        raise CliposcopeError(
            f"image {image['id']}: {image['file_name']} is too large to open ({error})",
            hint=f"images of at most {Image.MAX_IMAGE_PIXELS} pixels",
        ) from None
    _check_size(picture.size, image)
    box = annotation.get("bbox")
    left, top, right, bottom = clipped_box(box, image) if box else (0, 0, *picture.size)
    x, y, w, h = left, top, right - left, bottom - top
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


def image_header(path: Path, what: str) -> tuple[int, int]:
    """An image file's size from its header, or one clear error (a corrupt file, or a
    header claiming more pixels than Pillow will open)."""
    try:
        with Image.open(path) as opened:  # the header only
            return opened.size
    except Image.DecompressionBombError as error:
        raise CliposcopeError(
            f"{what} is too large to open ({error})",
            hint=f"images of at most {Image.MAX_IMAGE_PIXELS} pixels",
        ) from None
    except (OSError, ValueError, SyntaxError) as error:
        raise CliposcopeError(
            f"{what}: cannot read it ({error})", hint="a PNG or JPEG file"
        ) from None


def _check_size(size: tuple[int, int], image: dict) -> None:
    if size != (image["width"], image["height"]):
        raise CliposcopeError(
            f"image {image['id']}: {image['file_name']} is {size[0]}x{size[1]} px, the "
            f"annotations say {image['width']}x{image['height']}",
            hint="the images and the annotation file must belong together",
        )
