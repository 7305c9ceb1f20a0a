"""Generated scenes as COCO annotation files: instances (boxes, RLE masks, areas) and
captions, so COCO tooling reads our scenes and every COCO code path can be tested on data
whose truth is known.

Areas are the pixel counts of the visible masks (``pycocotools.mask.area`` of the RLE);
boxes are the masks' bounding boxes as [x, y, width, height]; categories keep COCO's own
ids where the name is one of COCO's, and take ids from 1001 on otherwise. Image
``file_name`` is relative to the dataset folder. Reference (single-object) images and
objects hidden entirely by others are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cliposcope.data.scenes import Scene
from cliposcope.data.vocab import COCO_ID_NAMES
from cliposcope.errors import CliposcopeError

FIRST_EXTRA_ID = 1001


def captions_path_for(instances: str | Path) -> Path:
    """Where the captions go beside an instances file: COCO's naming when it is used
    (instances_X.json -> captions_X.json), else X_captions.json."""
    instances = Path(instances)
    if instances.name.startswith("instances_"):
        return instances.with_name("captions_" + instances.name.removeprefix("instances_"))
    return instances.with_name(f"{instances.stem}_captions.json")


def category_ids(names: list[str]) -> dict[str, int]:
    known = {name: index + 1 for index, name in enumerate(COCO_ID_NAMES)}
    extra = sorted(n for n in set(names) if n not in known)
    return {
        name: known.get(name) or FIRST_EXTRA_ID + extra.index(name) for name in sorted(set(names))
    }


def mask_utilities():
    try:
        from pycocotools import mask
    except ImportError:
        raise CliposcopeError(
            "--coco-json needs pycocotools", hint="pip install 'cliposcope[corpus]'"
        ) from None
    return mask


def coco_documents(scenes: list[Scene], info: dict[str, Any]) -> tuple[dict, dict]:
    """(instances, captions) COCO documents for the multi-object scenes."""
    mask_utils = mask_utilities()
    chosen = [s for s in scenes if s.condition != "single"]
    ids = category_ids([o.name for s in chosen for o in s.objects])
    images, instances, captions = [], [], []
    for image_id, scene in enumerate(chosen, start=1):
        masks = scene.load_masks()
        height, width = masks.shape[1:]
        images.append(
            {
                "id": image_id,
                "file_name": scene.image,
                "width": int(width),
                "height": int(height),
                "scene_id": scene.id,
            }
        )
        captions.append({"id": image_id, "image_id": image_id, "caption": scene.caption})
        for obj, mask in zip(scene.objects, masks, strict=True):
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            area = int(mask_utils.area(rle))
            if area == 0:
                continue
            x, y, w, h = (int(v) for v in mask_utils.toBbox(rle))
            instances.append(
                {
                    "id": len(instances) + 1,
                    "image_id": image_id,
                    "category_id": ids[obj.name],
                    "segmentation": {
                        "size": [int(height), int(width)],
                        "counts": rle["counts"].decode("ascii"),
                    },
                    "area": area,
                    "bbox": [x, y, w, h],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i, "name": name, "supercategory": "object"} for name, i in ids.items()]
    categories.sort(key=lambda c: c["id"])
    head = {"info": info, "licenses": [], "images": images}
    return head | {"annotations": instances, "categories": categories}, head | {
        "annotations": captions
    }


def encode(document: dict) -> bytes:
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
