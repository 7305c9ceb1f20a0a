"""Scene generator: ground truth checked against the pixels, determinism, layouts, errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cliposcope.data.generate import SceneSettings, compose_scene, write_dataset
from cliposcope.data.layout import LayoutSpec
from cliposcope.data.official import read_hub, read_official, write_official
from cliposcope.data.scenes import read_manifest
from cliposcope.data.simco import SHAPES, render_shape, simco_names
from cliposcope.data.sprites import sprite_pack
from cliposcope.errors import CliposcopeError


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def comco(tmp_path_factory):
    settings = SceneSettings(kind="comco", count=12, layout=LayoutSpec(n=4), seed=3)
    out = tmp_path_factory.mktemp("gen") / "comco"
    return settings, write_dataset(settings, out), out


@pytest.mark.slow
def test_same_seed_gives_byte_identical_dataset(tmp_path):
    settings = SceneSettings(kind="comco", count=6, layout=LayoutSpec(n=3), seed=11)
    write_dataset(settings, tmp_path / "a")
    write_dataset(settings, tmp_path / "b")
    first = files_of(tmp_path / "a")
    assert first == files_of(tmp_path / "b")
    assert any(name.startswith("images/") for name in first) and "manifest.jsonl" in first
    other = SceneSettings(kind="comco", count=6, layout=LayoutSpec(n=3), seed=12)
    write_dataset(other, tmp_path / "c")
    assert files_of(tmp_path / "c")["images/000000.png"] != first["images/000000.png"]


def test_scene_k_does_not_depend_on_count():
    few = SceneSettings(kind="simco", count=3, layout=LayoutSpec(n=3), seed=2)
    many = SceneSettings(kind="simco", count=50, layout=LayoutSpec(n=3), seed=2)
    a_image, _, a_scene = compose_scene(few, 2)
    b_image, _, b_scene = compose_scene(many, 2)
    assert a_image.tobytes() == b_image.tobytes() and a_scene.caption == b_scene.caption


def test_masks_match_the_stated_ground_truth(comco):
    settings, scenes, _ = comco
    multi = [s for s in scenes if s.condition != "single"]
    assert len(multi) == 12
    for scene in multi:
        masks = scene.load_masks()
        assert masks.shape == (4, 224, 224)
        assert not (masks.sum(axis=0) > 1).any()  # no pixel belongs to two objects
        for obj, mask, target in zip(
            scene.objects, masks, scene.extra["target_areas"], strict=True
        ):
            assert mask.mean() == pytest.approx(obj.area_fraction, abs=1e-12)  # stated = pixels
            assert abs(obj.area_fraction - target) <= 0.02 * target  # nothing hidden, on target
            x0, y0, x1, y1 = obj.bbox
            assert mask[y0:y1, x0:x1].sum() == mask.sum()  # box holds the whole mask
        boxes = [o.bbox for o in scene.objects]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:  # boxes apart by at least the gap
                apart_x = a[2] + settings.layout.gap <= b[0] or b[2] + settings.layout.gap <= a[0]
                apart_y = a[3] + settings.layout.gap <= b[1] or b[3] + settings.layout.gap <= a[1]
                assert apart_x or apart_y


def test_large_object_is_larger_by_the_requested_ratio(comco):
    _, scenes, _ = comco
    requested = 0.20 / 0.03
    for scene in (s for s in scenes if s.condition != "single"):
        large = [o.area_fraction for o in scene.objects if o.role == "large"]
        small = [o.area_fraction for o in scene.objects if o.role == "small"]
        assert len(large) == 1 and len(small) == 3
        assert all(large[0] / s >= requested * 0.96 for s in small)


@pytest.mark.parametrize(
    ("order", "position"), [("large-first", 0), ("large-last", 3), ("large-at:2", 1)]
)
def test_caption_order_equals_stated_order(order, position):
    settings = SceneSettings(kind="comco", count=5, layout=LayoutSpec(n=4, order=order), seed=1)
    for index in range(5):
        _, labels, scene = compose_scene(settings, index)
        assert scene.caption == " and ".join(scene.names)
        assert [o.role for o in scene.objects].index("large") == position
        sizes = [(labels == k + 1).sum() for k in range(4)]
        assert int(np.argmax(sizes)) == position  # the pixels agree with the caption


def test_equal_and_explicit_areas_and_grid_and_overlap():
    equal = SceneSettings(
        kind="simco", count=2, layout=LayoutSpec(n=4, sizes="equal", placement="grid")
    )
    _, _, scene = compose_scene(equal, 0)
    assert {o.role for o in scene.objects} == {"equal"}
    assert all(abs(o.area_fraction - 0.06) <= 0.02 * 0.06 for o in scene.objects)
    custom = LayoutSpec(n=3, sizes="areas", areas=(0.1, 0.05, 0.02))
    _, _, scene = compose_scene(SceneSettings(kind="comco", count=1, layout=custom), 0)
    assert [round(o.area_fraction, 2) for o in scene.objects] == [0.1, 0.05, 0.02]
    overlap = LayoutSpec(n=5, sizes="equal", equal_area=0.15, placement="overlap")
    _, labels, scene = compose_scene(SceneSettings(kind="simco", count=1, layout=overlap), 0)
    assert sum(o.area_fraction for o in scene.objects) == pytest.approx((labels > 0).mean())


def test_references_and_official_layout_round_trip(comco, tmp_path):
    settings, scenes, _ = comco
    singles = [s for s in scenes if s.condition == "single"]
    names_used = {n for s in scenes if s.condition != "single" for n in s.names}
    assert {s.names[0] for s in singles} == set(settings.vocabulary) > names_used
    single = singles[0]
    assert single.objects[0].role == "single"
    x0, y0, x1, y1 = single.objects[0].bbox
    assert abs((x0 + x1) / 2 - 112) <= 2 and abs((y0 + y1) / 2 - 112) <= 2  # centred

    official = write_official(scenes, tmp_path / "official")
    back = read_official(official)
    original = sorted((s.condition, tuple(s.names)) for s in scenes)
    assert sorted((s.condition, tuple(s.names)) for s in back) == original
    hub = read_hub(str(official))  # the `datasets` path, on a local copy of the layout
    assert sorted((s.condition, tuple(s.names)) for s in hub) == original


def test_manifest_round_trip(comco):
    _, scenes, out = comco
    again = read_manifest(out)
    assert [s.to_json() for s in again] == [s.to_json() for s in scenes]
    assert again[0].load_image().size == (224, 224)


def test_corrupt_images_and_masks_are_clear_errors(comco, tmp_path):
    _, _, out = comco
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    scene = read_manifest(copy)[0]
    image = copy / scene.image
    image.write_bytes(image.read_bytes()[:200])
    with pytest.raises(CliposcopeError, match="cannot read image"):
        scene.load_image()
    masks = copy / scene.masks
    masks.write_bytes(b"garbage")
    with pytest.raises(CliposcopeError, match="cannot read mask file"):
        scene.load_masks()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (SceneSettings(objects=("unicorn", "dog", "cat")), "no drawing for object 'unicorn'"),
        (
            SceneSettings(kind="simco", objects=("red blob", "blue cube", "red cube")),
            "not a SimCO object",
        ),
        (SceneSettings(layout=LayoutSpec(n=8, sizes="equal", equal_area=0.15)), "without overlap"),
        (SceneSettings(layout=LayoutSpec(n=9)), "out of range"),
        (SceneSettings(layout=LayoutSpec(n=3, order="large-at:5")), "large-at:K"),
        (SceneSettings(layout=LayoutSpec(n=3, sizes="areas", areas=(0.1, 0.1))), "needs 3 values"),
        (
            SceneSettings(kind="comco", size=64, layout=LayoutSpec(n=2, large_area=0.8)),
            "cannot be placed|fit",
        ),
    ],
)
def test_bad_requests_are_clear_errors(settings, message, tmp_path):
    with pytest.raises(CliposcopeError, match=message):
        write_dataset(settings, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_impossible_packing_fails_fast_instead_of_hanging(tmp_path):
    crowded = LayoutSpec(n=8, sizes="equal", equal_area=0.1, gap=6)
    settings = SceneSettings(kind="simco", count=1, size=96, layout=crowded)
    started = time.perf_counter()
    with pytest.raises(CliposcopeError, match="could not place 8 objects"):
        write_dataset(settings, tmp_path / "out")
    assert time.perf_counter() - started < 30
    assert not (tmp_path / "out").exists()


def test_existing_output_is_never_overwritten(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(CliposcopeError, match="not empty"):
        write_dataset(SceneSettings(count=1), tmp_path / "taken")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_sprite_pack_and_simco_vocabulary():
    pack = sprite_pack()
    assert len(pack) >= 50 and all(1 <= len(v) <= 3 for v in pack.values())
    for sprites in pack.values():
        for sprite in sprites:
            image = sprite.load()
            assert image.mode == "RGBA" and max(image.size) <= 256
            assert sprite.licence.startswith("Public domain")
    assert len(SHAPES) >= 8 and len(simco_names()) == len(SHAPES) * 30
    sphere = render_shape("sphere", "red")
    alpha = np.asarray(sphere.getchannel("A"))
    rgb = np.asarray(sphere.convert("RGB"), dtype=float)[alpha > 200]
    assert rgb[:, 0].std() > 10  # shaded, not flat
    assert isinstance(sphere, Image.Image)


def test_coco_export_round_trips_through_pycocotools(tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    from cliposcope.data.coco_export import captions_path_for
    from cliposcope.data.vocab import COCO_ID_NAMES

    instances = tmp_path / "instances_synth.json"
    settings = SceneSettings(count=6, size=64, seed=2, layout=LayoutSpec(n=3, gap=2))
    scenes = [
        s
        for s in write_dataset(settings, tmp_path / "out", coco_json=instances)
        if s.condition != "single"
    ]
    captions = captions_path_for(instances)
    assert captions == tmp_path / "captions_synth.json"
    coco = COCO(str(instances))
    assert len(coco.imgs) == len(scenes) == 6
    for image_id, scene in enumerate(scenes, start=1):
        image = coco.imgs[image_id]
        assert (tmp_path / "out" / image["file_name"]).is_file()
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        masks = scene.load_masks()
        assert len(annotations) == len(scene.objects)
        for annotation, obj, mask in zip(annotations, scene.objects, masks, strict=True):
            category = coco.cats[annotation["category_id"]]["name"]
            assert category == obj.name
            assert annotation["category_id"] == COCO_ID_NAMES.index(obj.name) + 1
            decoded = mask_utils.decode(coco.annToRLE(annotation)).astype(bool)
            assert (decoded == mask).all()
            assert annotation["area"] == int(mask.sum()) == round(obj.area_fraction * 64 * 64)
            x0, y0, x1, y1 = obj.bbox
            assert annotation["bbox"] == [x0, y0, x1 - x0, y1 - y0]
            assert annotation["iscrowd"] == 0
    caption_file = json.loads(captions.read_text())
    assert [a["caption"] for a in caption_file["annotations"]] == [s.caption for s in scenes]


def test_coco_export_ids_for_names_outside_coco():
    from cliposcope.data.coco_export import captions_path_for, category_ids

    assert category_ids(["dog", "zeppelin", "apple", "airship"]) == {
        "airship": 1001,
        "apple": 53,
        "dog": 18,
        "zeppelin": 1002,
    }
    assert captions_path_for("x/my.json").name == "my_captions.json"


def test_coco_export_refuses_existing_files_before_work(tmp_path):
    (tmp_path / "captions_a.json").write_text("keep")
    settings = SceneSettings(count=2, size=64, layout=LayoutSpec(n=2, gap=2))
    with pytest.raises(CliposcopeError, match=r"captions_a\.json already exists"):
        write_dataset(settings, tmp_path / "out", coco_json=tmp_path / "instances_a.json")
    assert not (tmp_path / "out").exists() and not (tmp_path / "instances_a.json").exists()
    assert (tmp_path / "captions_a.json").read_text() == "keep"


def test_large_first_share_order():
    layout = LayoutSpec(n=3, order="large-first:0.7")
    layout.check()
    rng = np.random.default_rng(0)
    positions = [layout.large_position(rng) for _ in range(20000)]
    assert abs(positions.count(0) / 20000 - 0.7) < 0.015
    assert abs(positions.count(1) / 20000 - 0.15) < 0.015
    with pytest.raises(CliposcopeError, match=r"large-first:1\.5"):
        LayoutSpec(n=3, order="large-first:1.5").check()
