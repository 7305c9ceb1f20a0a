"""toy:default, the shipped reference model: loads offline in a fresh process and knows its
objects. (How long the load takes is measured by benchmarks/toy_load.py, not asserted.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cliposcope.data.generate import SceneSettings, compose_scene
from cliposcope.data.layout import LayoutSpec
from cliposcope.encoders import load_encoder
from cliposcope.lab.pool import PoolSpec

LOAD_SCRIPT = """
import json
from cliposcope.encoders import load_encoder
encoder = load_encoder("toy:default")
print(json.dumps({"spec": encoder.info.spec, "source": encoder.info.weights_source}))
"""


@pytest.mark.slow
def test_toy_default_loads_offline_in_a_fresh_process():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env=env,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["spec"] == "toy:default" and report["source"].startswith("package:")


@pytest.mark.slow
def test_toy_default_beats_chance_on_held_out_single_objects():
    encoder = load_encoder("toy:default")
    assert encoder.info.family == "toy" and encoder.info.weights_source.startswith("package:")
    vocabulary = PoolSpec().vocabulary
    settings = SceneSettings(
        kind="comco",
        count=100,
        size=64,
        seed=12345,
        objects=vocabulary,
        layout=LayoutSpec(n=1, large_area=0.3),
    )
    images, truth = [], []
    for index in range(settings.count):
        image, _, scene = compose_scene(settings, index)
        images.append(image)
        truth.append(vocabulary.index(scene.names[0]))
    similarity = encoder.encode_images(images) @ encoder.encode_text(list(vocabulary)).T
    top1 = float((similarity.argmax(axis=1) == np.array(truth)).mean())
    assert top1 > 5 * (1 / len(vocabulary)), top1  # chance is 1/20
