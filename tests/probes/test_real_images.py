"""The image probes on COCO-format data: the generator's COCO export of a scene set gives
the same IOR, I2TOR and matching figures as the synthetic-scene path, to the last digit,
and the selection rules are pinned on a hand-made fixture."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cliposcope.data.coco_scenes import CocoSelection, coco_scene_set
from cliposcope.data.generate import SceneSettings, write_dataset
from cliposcope.data.layout import LayoutSpec
from cliposcope.data.scene_sets import split_scenes
from cliposcope.encoders import load_encoder
from cliposcope.probes.registry import run_probe


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    settings = SceneSettings(count=24, size=64, seed=4,
                             layout=LayoutSpec(n=3, gap=2, order="random"))  # fmt: skip
    instances = root / "coco" / "instances_synth.json"
    scenes = write_dataset(settings, root / "scenes", coco_json=instances)
    return root, scenes, instances


@pytest.fixture(scope="module")
def toy():
    return load_encoder("toy:default")


@pytest.mark.parametrize("probe", ["ior", "i2tor", "matching"])
def test_coco_export_gives_the_synthetic_figures(exported, toy, probe):
    root, scenes, instances = exported
    synthetic = split_scenes(scenes)
    real = coco_scene_set(instances, root / "scenes", CocoSelection(n=3, gallery_size=64),
                          captions=instances.with_name("captions_synth.json"),
                          gallery_into=root / "gallery")  # fmt: skip
    assert [s.names for s in real.scenes] == [s.names for s in synthetic.scenes]
    assert [[o.role for o in s.objects] for s in real.scenes] == [
        [o.role for o in s.objects] for s in synthetic.scenes]  # fmt: skip
    assert real.names == synthetic.names
    for name in real.names:  # the sprite gallery is the generator's own reference images
        a = np.asarray(Image.open(real.references[name].image_path))
        b = np.asarray(Image.open(synthetic.references[name].image_path))
        assert (a == b).all()
    expected = run_probe(probe, toy, synthetic).metrics
    measured = run_probe(probe, toy, real).metrics
    assert json.dumps(measured, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert real.origin["counts"]["objects ordered by a caption"] == 24
