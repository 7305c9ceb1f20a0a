"""The lab: a tiny training run learns, resumes exactly, and its checkpoints load as encoders."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from cliposcope.encoders import load_encoder
from cliposcope.errors import CliposcopeError
from cliposcope.lab.pool import Pool, PoolSpec, build_pool
from cliposcope.lab.theory import info_nce, simulate
from cliposcope.lab.train import TrainSettings, train

# The whole module trains toy CLIPs: the full suite, not the fast tier.
pytestmark = pytest.mark.slow

TINY = TrainSettings(
    samples=32 * 40,
    batch_size=32,
    checkpoint_every=32 * 20,
    warmup_steps=5,
    learning_rate=2e-3,
    pool=PoolSpec(vocabulary_size=8, scenes_per_count=(16, 16, 8, 0), seed=1),
    heldout=PoolSpec(vocabulary_size=8, scenes_per_count=(0, 6, 6, 0), seed=2),
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("lab") / "run"
    final = train(TINY, run, progress=False)
    return run, final


def test_tiny_training_lowers_the_loss(tiny_run):
    run, final = tiny_run
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 20 and log[-1]["step"] == 40
    assert log[-1]["loss"] < math.log(32) - 0.5  # below the loss of guessing in a batch of 32
    assert log[-1]["loss"] < log[0]["loss"]
    assert "heldout" in log[-1]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "samples_000000640.pt",
        "samples_000001280.pt",
    ]
    assert final.name == "samples_000001280.pt"


def test_checkpoint_round_trips_through_openclip_and_toy_specs(tiny_run):
    _, final = tiny_run
    via_openclip = load_encoder(f"openclip:cliposcope-toy/{final}")
    via_toy = load_encoder(f"toy:{final}")
    texts = ["apple and bird", "bus"]
    np.testing.assert_array_equal(via_openclip.encode_text(texts), via_toy.encode_text(texts))
    pixels = np.zeros((64, 64, 3), np.uint8)
    from PIL import Image

    image = [Image.fromarray(pixels)]
    np.testing.assert_array_equal(via_openclip.encode_images(image), via_toy.encode_images(image))
    assert via_toy.info.family == "toy" and via_toy.info.weights_source == f"file:{final}"
    state = torch.load(final, weights_only=True)["state_dict"]
    assert via_openclip.model.state_dict()["text_projection"].equal(state["text_projection"])


def test_interrupted_training_resumes_to_the_same_weights(tiny_run, tmp_path, monkeypatch):
    _, uninterrupted = tiny_run
    import open_clip

    real = open_clip.ClipLoss.forward
    calls = {"n": 0}

    def crash_after_25(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 25:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(open_clip.ClipLoss, "forward", crash_after_25)
    with pytest.raises(KeyboardInterrupt):
        train(TINY, tmp_path / "run", progress=False)
    monkeypatch.setattr(open_clip.ClipLoss, "forward", real)
    resumed = train(TINY, tmp_path / "run", progress=False)  # from the step-20 checkpoint
    a = torch.load(resumed, weights_only=True)["state_dict"]
    b = torch.load(uninterrupted, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resuming_with_other_settings_is_refused(tiny_run):
    run, _ = tiny_run
    with pytest.raises(CliposcopeError, match="other settings"):
        train(
            TrainSettings(
                policy="random",
                samples=TINY.samples,
                batch_size=32,
                pool=TINY.pool,
                heldout=TINY.heldout,
            ),
            run,
        )


def test_caption_policies_order_by_area():
    pool = Pool(np.zeros((1, 4, 4, 3), np.uint8), [("cat", "dog", "bus")], [(0.05, 0.2, 0.1)])
    rng = np.random.default_rng(0)
    assert pool.ordered(0, "largest-first", rng) == ["dog", "bus", "cat"]
    assert pool.ordered(0, "smallest-first", rng) == ["cat", "bus", "dog"]
    assert sorted(pool.ordered(0, "random", rng)) == ["bus", "cat", "dog"]
    assert pool.ordered(0, "largest-first:1", rng) == ["dog", "bus", "cat"]
    with pytest.raises(CliposcopeError, match="unknown caption policy"):
        pool.ordered(0, "alphabetical", rng)


def test_pools_are_cached_and_identical(tmp_path):
    spec = PoolSpec(vocabulary_size=6, scenes_per_count=(3, 3, 0, 0), seed=4)
    first = build_pool(spec, tmp_path)
    second = build_pool(spec, tmp_path)  # from the cache file
    np.testing.assert_array_equal(first.images, second.images)
    assert first.names == second.names and len(list(tmp_path.glob("pool-*.npz"))) == 1


def test_info_nce_on_a_hand_computed_case():
    identity = np.eye(2)
    # logits = I / 1: each row's loss is -log(e / (e + 1)) = log(1 + 1/e)
    assert info_nce(identity, identity, 1.0) == pytest.approx(math.log(1 + math.exp(-1)))
    # both texts the same: logits [[1, 1], [0, 0]]; image->text rows cost log 2 each;
    # text->image rows ([1, 0] twice) cost log(1 + 1/e) and log(1 + e)
    texts = np.array([[1.0, 0.0], [1.0, 0.0]])
    image_to_text = math.log(2)
    text_to_image = (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2
    assert info_nce(identity, texts, 1.0) == pytest.approx((image_to_text + text_to_image) / 2)


def test_theory_gap_shrinks_with_dimension():
    points = simulate(dimensions=(16, 64, 256), batch_sizes=(64,), dropped=8, trials=5, seed=1)
    gaps = [p.gap for p in points]
    assert gaps[0] > gaps[1] > gaps[2] >= 0
    assert all(p.incomplete >= p.ideal for p in points)
