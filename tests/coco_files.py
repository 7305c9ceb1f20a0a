"""Tiny COCO-format caption and instance files for tests, written from plain tables."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path


def write_coco_pair(
    folder: Path,
    name: str,
    categories: Mapping[int, str],
    instances: Mapping[int, Sequence[tuple]],
    captions: Sequence[tuple[int, str]],
    first_caption_id: int = 1,
) -> tuple[Path, Path]:
    """``captions_NAME.json`` and ``instances_NAME.json`` in ``folder``: one 100x100 image
    per key of ``instances``, whose rows are (category id, area) or (category id, area,
    iscrowd); ``captions`` are (image id, text), numbered from ``first_caption_id``."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in instances]
    annotations = [
        {
            "id": 10 * image + k,
            "image_id": image,
            "category_id": row[0],
            "area": row[1],
            "bbox": [0, 0, 1, 1],
            "iscrowd": row[2] if len(row) > 2 else 0,
        }
        for image, rows in instances.items()
        for k, row in enumerate(rows)
    ]
    named = [{"id": i, "name": n} for i, n in categories.items()]
    instances_path = folder / f"instances_{name}.json"
    instances_path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": named})
    )
    records = [
        {"id": first_caption_id + k, "image_id": i, "caption": c}
        for k, (i, c) in enumerate(captions)
    ]
    captions_path = folder / f"captions_{name}.json"
    captions_path.write_text(json.dumps({"images": images, "annotations": records}))
    return captions_path, instances_path
