"""The image probes on COCO-format data: the generator's COCO export of a scene set gives
the same IOR, I2TOR and matching figures as the synthetic-scene path, to the last digit,
and the selection rules are pinned on a hand-made fixture."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cliposcope.data.coco_scenes import CocoSelection, coco_scene_set
from cliposcope.data.generate import SceneSettings, write_dataset
from cliposcope.data.layout import LayoutSpec
from cliposcope.data.scene_sets import split_scenes
from cliposcope.encoders import load_encoder
from cliposcope.errors import CliposcopeError
from cliposcope.probes.registry import run_probe


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    settings = SceneSettings(
        count=24, size=64, seed=4, layout=LayoutSpec(n=3, gap=2, order="random")
    )
    instances = root / "coco" / "instances_synth.json"
    # COCO references are crops of objects in the images: compare with the same gallery
    scenes = write_dataset(settings, root / "scenes", coco_json=instances, singles="used")
    return root, scenes, instances


@pytest.fixture(scope="module")
def toy():
    return load_encoder("toy:default")


@pytest.mark.slow
@pytest.mark.parametrize("probe", ["ior", "i2tor", "matching", "attention"])
def test_coco_export_gives_the_synthetic_figures(exported, toy, probe):
    root, scenes, instances = exported
    synthetic = split_scenes(scenes)
    real = coco_scene_set(
        instances,
        root / "scenes",
        CocoSelection(n=3, gallery_size=64),
        captions=instances.with_name("captions_synth.json"),
        derived_into=root / "gallery",
    )
    assert [s.names for s in real.scenes] == [s.names for s in synthetic.scenes]
    assert [[o.role for o in s.objects] for s in real.scenes] == [
        [o.role for o in s.objects] for s in synthetic.scenes
    ]
    assert real.names == synthetic.names
    for name in real.names:  # the sprite gallery is the generator's own reference images
        a = np.asarray(Image.open(real.references[name].image_path))
        b = np.asarray(Image.open(synthetic.references[name].image_path))
        assert (a == b).all()
    expected = run_probe(probe, toy, synthetic).metrics
    measured = run_probe(probe, toy, real).metrics
    assert json.dumps(measured, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert real.origin["counts"]["objects ordered by a caption"] == 24


# A hand-made COCO set of six 40x40 images. (category, area, bbox, iscrowd)
HAND_IMAGES = {
    1: [("dog", 400, [0, 0, 20, 20], 0), ("cat", 100, [25, 25, 10, 10], 0)],
    2: [("dog", 200, [0, 0, 20, 10], 0), ("car", 200, [0, 20, 20, 10], 0)],  # tie
    3: [
        ("person", 300, [0, 0, 20, 15], 0),
        ("dog", 16, [30, 30, 4, 4], 0),
        ("frisbee", 4, [36, 36, 2, 2], 0),
    ],  # three categories
    4: [
        ("car", 600, [0, 0, 30, 20], 0),
        ("bus", 300, [0, 20, 30, 10], 0),
        ("person", 900, [0, 0, 30, 30], 1),
    ],  # the crowd is ignored
    5: [("cat", 50, [5, 5, 10, 5], 0)],  # one category
    6: [
        ("dog", 100, [0, 0, 10, 10], 0),
        ("dog", 300, [10, 10, 20, 15], 0),
        ("cat", 250, [0, 30, 25, 10], 0),
    ],  # dog: max 300 > cat 250 (sum 400)
}
HAND_CAPTIONS = {1: "a cat sleeping next to a dog", 6: "two dogs and a cat"}
HAND_IDS = {"person": 1, "car": 3, "bus": 6, "cat": 17, "dog": 18, "frisbee": 34}


def write_hand_set(root: Path) -> tuple[Path, Path, Path]:
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    images, annotations = [], []
    for image_id, objects in HAND_IMAGES.items():
        pixels = np.full((40, 40, 3), 200, np.uint8)
        for k, (_, _, (x, y, w, h), _) in enumerate(objects):
            pixels[y : y + h, x : x + w] = (40 * k, 90, 250 - 40 * k)
        Image.fromarray(pixels).save(images_dir / f"{image_id}.png")
        images.append({"id": image_id, "file_name": f"{image_id}.png", "width": 40, "height": 40})
        for name, area, (x, y, w, h), crowd in objects:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": HAND_IDS[name],
                    "area": area,
                    "bbox": [x, y, w, h],
                    "iscrowd": crowd,
                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                }
            )
    categories = [{"id": i, "name": n} for n, i in HAND_IDS.items()]
    instances = root / "instances_hand.json"
    instances.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    captions = root / "captions_hand.json"
    records = [{"id": i, "image_id": i, "caption": c} for i, c in HAND_CAPTIONS.items()]
    captions.write_text(json.dumps({"images": images, "annotations": records}))
    return instances, images_dir, captions


class AreaEncoder:
    """Images: the sum of their objects' one-hot name vectors weighted by area (a reference
    image: its name's one-hot vector); texts: one-hot name vectors."""

    @staticmethod
    def build(scene_set):
        from tests.probes.test_tor_captions import LookupEncoder

        names = sorted(scene_set.names)
        axis = {name: i for i, name in enumerate(names)}
        by_path = {str(s.image_path): s for s in scene_set.scenes}
        by_path |= {str(s.image_path): s for s in scene_set.references.values()}

        class Encoder(LookupEncoder):
            def _encode_texts(self, texts, *, progress):
                return np.eye(len(names))[[axis[t] for t in texts]]

            def _encode_images(self, images, *, progress):
                out = np.zeros((len(images), len(names)))
                for row, path in enumerate(images):
                    scene = by_path[str(path)]
                    for obj in scene.objects:
                        out[row, axis[obj.name]] += obj.area_fraction or 1.0
                return out

        encoder = Encoder()
        encoder.info = replace(encoder.info, towers=("text", "image"))
        return encoder


def test_hand_made_coco_images_selection_and_figures(tmp_path):
    instances, images, captions = write_hand_set(tmp_path)
    selection = CocoSelection(n=2, gallery="box")
    real = coco_scene_set(
        instances, images, selection, captions=captions, derived_into=tmp_path / "gallery"
    )
    assert real.origin["counts"] == {
        "images": 6,
        "kept": 3,
        "crowd annotations ignored": 1,
        "dropped: not exactly 2 categories": 2,
        "dropped: largest object tied": 1,
        "objects ordered by a caption": 2,
        "objects ordered by size": 1,
        "gallery crops from an unselected image": 3,
        "gallery crops from a query": 1,
    }
    assert [s.names for s in real.scenes] == [["cat", "dog"], ["car", "bus"], ["dog", "cat"]]
    assert [[o.role for o in s.objects] for s in real.scenes] == [
        ["small", "large"],
        ["large", "small"],
        ["large", "small"],
    ]
    assert [[o.area_fraction for o in s.objects] for s in real.scenes] == [
        [100 / 1600, 400 / 1600],
        [600 / 1600, 300 / 1600],
        [300 / 1600, 250 / 1600],
    ]
    assert real.names == ("bus", "car", "cat", "dog")
    # the dog's reference is image 2's dog (largest outside the selection), box + 10 % margin
    dog = Image.open(real.references["dog"].image_path)
    assert dog.size == (22, 11) and real.references["dog"].objects[0].variant == "image 2"
    encoder = AreaEncoder.build(real)
    for probe in ("ior", "i2tor"):
        m = run_probe(probe, encoder, real).metrics
        shares = [(f["count"], f["total"]) for f in m["per_position_among_truth"]]
        assert shares == [(2, 3), (1, 3)]
        assert (m["per_role_among_truth"]["large"]["count"], m["topn_accuracy"]["count"]) == (3, 3)
        assert [(f["count"], f["total"]) for f in m["per_size_rank_among_truth"]] == [
            (3, 3),
            (0, 3),
        ]
    counts3 = coco_scene_set(
        instances,
        images,
        CocoSelection(n=3, min_object_area=0.0025, gallery="box"),
        derived_into=tmp_path / "g3",
    )
    assert counts3.origin["counts"]["kept"] == 1  # image 3: the frisbee at exactly 0.25 % passes
    with pytest.raises(CliposcopeError, match=r"no image of instances_hand\.json"):
        coco_scene_set(
            instances,
            images,
            CocoSelection(n=3, min_object_area=0.003, gallery="box"),
            derived_into=tmp_path / "g4",
        )
    total = coco_scene_set(
        instances,
        images,
        CocoSelection(n=2, area="sum", gallery="box"),
        derived_into=tmp_path / "g5",
    )
    assert total.scenes[2].objects[0].area_fraction == 400 / 1600


def test_mask_folder_and_sprite_galleries(tmp_path, monkeypatch):
    instances, images, _ = write_hand_set(tmp_path)
    masked = coco_scene_set(
        instances, images, CocoSelection(n=2, gallery="mask"), derived_into=tmp_path / "gallery"
    )
    pixels = np.asarray(Image.open(masked.references["dog"].image_path))
    assert pixels.shape == (11, 22, 3)
    assert (pixels[10, :] == (124, 116, 104)).all()  # the margin lies outside the mask
    assert (pixels[0, 0] != (124, 116, 104)).any()
    folder = tmp_path / "domainnet"
    for name in ("bus", "car", "cat", "dog"):
        (folder / name).mkdir(parents=True)
        for stem in ("b", "a"):
            Image.new("RGB", (8, 8), (len(name) * 20, 0, 0)).save(folder / name / f"{stem}.png")
    given = coco_scene_set(
        instances,
        images,
        CocoSelection(n=2, gallery="dir", gallery_dir=str(folder)),
        derived_into=tmp_path / "unused",
    )
    assert given.references["cat"].image_path == folder / "cat" / "a.png"
    (folder / "bus" / "a.png").unlink()
    (folder / "bus" / "b.png").unlink()
    with pytest.raises(CliposcopeError, match="no images in"):
        coco_scene_set(
            instances,
            images,
            CocoSelection(n=2, gallery="dir", gallery_dir=str(folder)),
            derived_into=tmp_path / "unused",
        )
    sprites = coco_scene_set(
        instances, images, CocoSelection(n=2, gallery_size=48), derived_into=tmp_path / "s"
    )
    assert Image.open(sprites.references["bus"].image_path).size == (48, 48)
    import cliposcope.data.sprites

    monkeypatch.setattr(cliposcope.data.sprites, "sprite_names", lambda: ("car", "cat", "dog"))
    with pytest.raises(CliposcopeError, match="sprite pack has no drawing of bus"):
        coco_scene_set(instances, images, CocoSelection(n=2), derived_into=tmp_path / "s2")


def test_unsafe_file_names_are_refused(tmp_path):
    instances, images, _ = write_hand_set(tmp_path)
    record = json.loads(instances.read_text())
    record["images"][0]["file_name"] = "../../etc/hostname"
    instances.write_text(json.dumps(record))
    with pytest.raises(CliposcopeError, match="outside"):
        coco_scene_set(
            instances, images, CocoSelection(n=2, gallery="box"), derived_into=tmp_path / "g"
        )


@pytest.mark.slow
def test_command_line_runs_the_battery_on_coco_images(exported, tmp_path, capsys):
    from cliposcope.app.cli import main

    root, _, instances = exported
    out = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "paper",
                "--model",
                "toy:default",
                "--coco-instances",
                str(instances),
                "--coco-images",
                str(root / "scenes"),
                "--coco-captions",
                str(instances.with_name("captions_synth.json")),
                "--coco-gallery-size",
                "64",
                "--out",
                str(out),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    ior = json.loads(next(out.glob("ior_*.json")).read_text())
    origin = ior["provenance"]["scene_origin"]
    assert origin["layout"] == "coco" and origin["counts"]["kept"] == 24
    assert origin["inputs"][0]["name"] == "instances_synth.json"
    derived = Path(origin["derived_files"])
    assert derived.parent == out / "coco-derived" and (derived / "masks").is_dir()
    assert "IOR" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "bbox"),
        (lambda d: d["annotations"][0].update(segmentation="oops"), "segmentation"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3]]), "segmentation"),
        (lambda d: d["annotations"][0].update(area=float("nan")), "area"),
        (lambda d: d["annotations"][0].update(category_id=[18]), "category_id"),
        (lambda d: d["categories"][0].update(name=7), "category name 7"),
        (lambda d: d["images"][0].update(width=True), "width True"),
        (lambda d: d["images"][0].update(width=80), "40x40 px, the annotations say 80x40"),
        (
            lambda d: d["annotations"][0].update(segmentation={"size": [9, 9], "counts": "0"}),
            "mask for a 40x40 image",
        ),
    ],
)
def test_malformed_annotations_are_one_clear_error(tmp_path, change, message):
    instances, images, _ = write_hand_set(tmp_path)
    record = json.loads(instances.read_text())
    change(record)
    instances.write_text(json.dumps(record))
    with pytest.raises(CliposcopeError, match=re.escape(message)):
        coco_scene_set(
            instances, images, CocoSelection(n=2, gallery="mask"), derived_into=tmp_path / "derived"
        )
    assert not any((tmp_path / "derived").glob("*/*")) if (tmp_path / "derived").exists() else True


def test_hostile_category_names_stay_inside(tmp_path):
    instances, images, _ = write_hand_set(tmp_path)
    record = json.loads(instances.read_text())
    for category in record["categories"]:
        category["name"] = "../../" + category["name"]
    instances.write_text(json.dumps(record))
    real = coco_scene_set(
        instances, images, CocoSelection(n=2, gallery="box"), derived_into=tmp_path / "derived"
    )
    for reference in real.references.values():
        assert reference.image_path.resolve().is_relative_to((tmp_path / "derived").resolve())
    assert not list(tmp_path.parent.glob("*.png"))
    folder = tmp_path / "refs"
    folder.mkdir()
    with pytest.raises(CliposcopeError, match="outside"):
        coco_scene_set(
            instances,
            images,
            CocoSelection(n=2, gallery="dir", gallery_dir=str(folder)),
            derived_into=tmp_path / "derived2",
        )


def test_object_masks_follow_the_sized_instance(tmp_path):
    from pycocotools.coco import COCO

    instances, images, _ = write_hand_set(tmp_path)
    real = coco_scene_set(
        instances, images, CocoSelection(n=2, gallery="box"), derived_into=tmp_path / "derived"
    )
    scene = real.scenes[2]  # image 6: two dogs (100 and 300 px) and a cat (250 px)
    masks = scene.load_masks()
    coco = COCO(str(instances))
    largest_dog = coco.annToMask(coco.anns[13]).astype(bool)  # the 300 px instance
    assert scene.names == ["dog", "cat"]
    assert (masks[0] == largest_dog).all()  # the 100 px dog is not part of the object
    total = coco_scene_set(
        instances,
        images,
        CocoSelection(n=2, area="sum", gallery="box"),
        derived_into=tmp_path / "derived",
    )
    both = total.scenes[2].load_masks()[0]
    assert (both == (largest_dog | coco.annToMask(coco.anns[12]).astype(bool))).all()
