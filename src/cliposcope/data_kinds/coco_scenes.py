"""Real images with COCO-format instance annotations, selected into scenes of n objects,
with a reference image per category (sprites, box or mask crops, or a folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cliposcope.data.coco_export import captions_path_for
from cliposcope.data.coco_scenes import AREA_MODES, GALLERIES, CocoSelection, coco_scene_set
from cliposcope.data.generate import write_dataset
from cliposcope.data.scene_sets import SceneSet
from cliposcope.data_kinds import DataContext, DataKind, register_data_kind
from cliposcope.data_kinds.scenes import EXAMPLE_SCENES, OBJECTS_HELP
from cliposcope.errors import CliposcopeError
from cliposcope.settings import option


@dataclass(frozen=True)
class CocoSource:
    coco_instances: str | None = option(None, "instances_*.json", metavar="FILE")
    coco_images: str | None = option(None, "the folder file_name is relative to", metavar="DIR")
    coco_captions: str | None = option(
        None, "captions_*.json: objects listed in the order a caption names them", metavar="FILE"
    )
    objects: int | None = option(None, OBJECTS_HELP)
    coco_gallery: str | None = option(
        None,
        "reference per category: sprite renders (default), box or mask crops of its largest "
        "instance, or a folder (--coco-gallery-dir)",
        choices=GALLERIES,
    )
    coco_gallery_dir: str | None = option(None, "DIR/<category>/ images", metavar="DIR")
    coco_gallery_size: int | None = option(None, "sprite renders, px (default 224)")
    coco_min_area: float | None = option(
        None, "smallest object kept, as a share of the image (default 0)"
    )
    coco_area: str | None = option(
        None,
        "a category's size: its largest instance (max, default), or all of them (sum)",
        choices=AREA_MODES,
    )

    def selection(self) -> CocoSelection:
        """Options left unset keep the selection's own defaults."""
        chosen = {
            "min_object_area": self.coco_min_area,
            "area": self.coco_area,
            "gallery": self.coco_gallery,
            "gallery_dir": self.coco_gallery_dir,
            "gallery_size": self.coco_gallery_size,
        }
        n = 3 if self.objects is None else self.objects
        return CocoSelection(n=n, **{k: v for k, v in chosen.items() if v is not None})


def check_coco(source: CocoSource) -> None:
    if not (source.coco_instances and source.coco_images):
        raise CliposcopeError(
            "COCO images need --coco-instances and --coco-images",
            hint="the annotation file and the folder of its images",
        )
    source.selection().check()


def load_coco_scenes(source: CocoSource, context: DataContext) -> list[SceneSet]:
    check_coco(source)
    scene_set = coco_scene_set(
        source.coco_instances,
        source.coco_images,
        source.selection(),
        captions=source.coco_captions,
        derived_into=context.out / "coco-derived",
    )
    return [scene_set]


def example_coco(folder: Path) -> CocoSource:
    """The example scene set exported as COCO instances and captions into FOLDER (kept if
    there), with a sprite gallery at the scenes' size."""
    images = folder / "coco-example"
    instances = folder / "instances_example.json"
    if not instances.exists():
        write_dataset(EXAMPLE_SCENES, images, coco_json=instances)
    return CocoSource(
        coco_instances=str(instances),
        coco_images=str(images),
        coco_captions=str(captions_path_for(instances)),
        coco_gallery_size=EXAMPLE_SCENES.size,
    )


def describe_coco(provenance: dict) -> str | None:
    origin = provenance.get("scene_origin") or {}
    return "COCO images" if origin.get("layout") == "coco" else None


register_data_kind(
    DataKind(
        name="coco-scenes",
        order=20,
        provides="scenes",
        description="real images in COCO format (instead of --scenes)",
        noun="COCO images",
        settings=CocoSource,
        load=load_coco_scenes,
        fingerprint=SceneSet.fingerprint,
        selected_by=("coco_instances", "coco_images"),
        check=check_coco,
        describe=describe_coco,
        writes=lambda source, out: [(out / "coco-derived", "--out")],
        example=example_coco,
    )
)
