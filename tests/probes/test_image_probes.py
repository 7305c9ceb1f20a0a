"""Image-side probes: hand-made cases for every figure, synthetic encoders with known
biases, and end-to-end runs on random-weight open_clip and transformers CLIP models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cliposcope.data.generate import SceneSettings, write_dataset
from cliposcope.data.layout import LayoutSpec
from cliposcope.data.scene_sets import split_scenes
from cliposcope.probes.attention import AttentionSettings, object_attention, patch_coverage
from cliposcope.probes.ior import score_image_retrieval
from cliposcope.probes.matching import MatchingSettings, matching_pairs
from cliposcope.probes.registry import run_probe

from .fakes import SceneLookupEncoder


def estimates(figures):
    return [f["estimate"] for f in figures]


def test_ior_conditional_figure_on_a_hand_made_case():
    truth = np.array([[0, 1], [2, 3], [1, 3]])
    roles = [["large", "small 1"], ["small 1", "large"], ["large", "small 1"]]
    similarity = np.array(
        [
            [0.9, 0.8, 0.1, 0.0],  # top-2 {0, 1} correct, winner at position 1
            [0.0, 0.1, 0.7, 0.9],  # top-2 {3, 2} correct, winner at position 2
            [0.9, 0.8, 0.1, 0.7],  # top-2 {0, 1} wrong (0 is not in the image)
        ]
    )
    m, _ = score_image_retrieval(similarity, truth, roles, ["a", "b", "c", "d"])
    assert m["topn_accuracy"]["count"] == 2
    assert estimates(m["per_position_conditional"]) == [0.5, 0.5]
    assert estimates(m["per_position_among_truth"]) == pytest.approx([2 / 3, 1 / 3])
    assert m["per_role_among_truth"]["large"]["estimate"] == 1.0  # the large one wins each time


def test_ior_figures_on_a_hand_made_case():
    # gallery: 0 cat, 1 dog, 2 car, 3 cup; two images of 3 objects (caption order)
    truth = np.array([[0, 1, 2], [3, 0, 1]])
    roles = [["large", "small 1", "small 2"], ["small 1", "large", "small 2"]]
    similarity = np.array(
        [
            [0.9, 0.2, 0.5, 0.8],  # winner overall: cat (pos 1); top-3 {cat, cup, car}: wrong
            [0.1, 0.3, 0.7, 0.6],  # winner overall: car (not in image); among truth: cup (pos 1)
        ]
    )
    m, _ = score_image_retrieval(similarity, truth, roles, ["cat", "dog", "car", "cup"])
    assert estimates(m["per_position_among_truth"]) == [1.0, 0.0, 0.0]  # image 2: cup > dog > cat
    assert m["per_role_among_truth"]["large"]["estimate"] == 0.5  # cat wins in image 1 only
    assert m["per_role_among_truth"]["small 1"]["estimate"] == 0.5  # cup wins in image 2
    assert m["per_role_among_truth"]["small 2"]["estimate"] == 0.0
    assert m["topn_accuracy"]["estimate"] == 0.0
    assert m["per_position_conditional"][0]["total"] == 0  # no correct top-3: undefined
    assert estimates(m["per_position_unconditional"]) == [0.5, 0.0, 0.0]
    # image 1 ranked [cat, cup, car]: hits at ranks 1 and 3 -> AP = (1 + 2/3) / 3
    # image 2 ranked [car, cup, dog]: hits at ranks 2 and 3 -> AP = (1/2 + 2/3) / 3
    assert m["ap"]["estimate"] == pytest.approx(((1 + 2 / 3) / 3 + (1 / 2 + 2 / 3) / 3) / 2)


def test_matching_pairs_follow_the_published_construction():
    vocabulary = ["apple", "bear", "cat", "dog", "egg"]
    objects = ["cat", "apple", "dog"]  # the large object is the second, apple
    first = matching_pairs(objects, 1, vocabulary, scenario=1)
    assert [p.correct for p in first] == [("apple", "cat", "dog")] * 2  # apple swapped to front
    assert [p.wrong for p in first] == [("bear", "cat", "dog"), ("egg", "cat", "dog")]
    second = matching_pairs(objects, 1, vocabulary, scenario=2)
    assert second[0].correct == ("cat", "dog", "apple")  # apple swapped to the end
    # published: wrong is built from the FRONT-swapped list, minus its last element, then d
    assert [p.wrong for p in second] == [("apple", "cat", "bear"), ("apple", "cat", "egg")]


def test_matching_accuracy_is_strict_on_hand_made_embeddings():
    from cliposcope.probes.matching import matching_accuracy, pair_similarities

    images = np.array([[1.0, 0.0], [0.0, 1.0]])
    correct = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    wrong = np.array([[0.0, 1.0], [0.0, 1.0], [0.8, 0.6]])  # second pair ties: not right
    pair_images = np.array([0, 1, 0])
    correct_similarity = pair_similarities(images, correct, pair_images)
    wrong_similarity = pair_similarities(images, wrong, pair_images)
    assert correct_similarity.tolist() == [1.0, 1.0, 0.6]
    assert wrong_similarity.tolist() == [0.0, 1.0, 0.8]
    result = matching_accuracy(correct_similarity, wrong_similarity)
    assert (result.count, result.total) == (1, 3)


def test_attention_mass_on_hand_made_maps():
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True  # top-left patch of a 2x2 grid, fully covered
    mask[2, 2] = True  # a quarter of the bottom-right patch
    coverage = patch_coverage(mask, (2, 2))
    np.testing.assert_allclose(coverage, [[1.0, 0.0], [0.0, 0.25]])
    attention = np.array([[0.4, 0.1], [0.1, 0.2]])
    other = np.zeros((2, 2))
    other[0, 1] = 1.0
    masses = object_attention(attention, np.stack([coverage, other]))
    np.testing.assert_allclose(masses, [(0.4 + 0.25 * 0.2) / 0.8, 0.1 / 0.8])


@pytest.fixture(scope="module")
def scene_set(tmp_path_factory):
    settings = SceneSettings(kind="comco", count=60, layout=LayoutSpec(n=3, order="random"), seed=5)
    return split_scenes(write_dataset(settings, tmp_path_factory.mktemp("s") / "scenes"))


def role_share(result, role):
    return result.metrics["per_role_among_truth"][role]["estimate"]


@pytest.mark.slow
def test_ior_recovers_a_size_bias_and_reports_none_without_one(scene_set):
    scenes = [*scene_set.scenes, *scene_set.references.values()]
    by_area = SceneLookupEncoder(scenes, lambda area, k: area)
    biased = run_probe("ior", by_area, scene_set)
    assert role_share(biased, "large") > 0.95
    blind = SceneLookupEncoder(scenes, lambda area, k: 1.0)
    flat = run_probe("ior", blind, scene_set)
    for role in ("large", "small 1", "small 2"):
        assert abs(role_share(flat, role) - 1 / 3) < 0.2  # 60 images: near uniform
    # the large object sits at a random caption position, so positions stay near uniform
    assert max(estimates(biased.metrics["per_position_among_truth"])) < 0.6


@pytest.mark.slow
def test_matching_recovers_the_biases(scene_set):
    scenes = [*scene_set.scenes, *scene_set.references.values()]
    encoder = SceneLookupEncoder(scenes, lambda area, k: area, text_weights=(3, 1, 1))
    result = run_probe("matching", encoder, scene_set)
    first, second = result.metrics["scenario_1"], result.metrics["scenario_2"]
    assert first["plain"]["estimate"] > 0.95  # the first-named large object carries it
    assert second["plain"]["estimate"] < 0.1  # the wrong caption leads with the large object
    assert second["split_mean"]["estimate"] > second["plain"]["estimate"] + 0.5  # mitigation
    assert result.metrics["scenario_2"]["mitigation_change"] > 0.5


@pytest.mark.slow
def test_random_vit_b32_end_to_end(scene_set, tmp_path):
    from cliposcope.encoders import load_encoder

    encoder = load_encoder("openclip:ViT-B-32?seed=0")
    small = split_scenes([*scene_set.scenes[:6], *scene_set.references.values()])
    for result in (
        run_probe("ior", encoder, small),
        run_probe("matching", encoder, small, MatchingSettings(position=1)),
        run_probe(
            "attention", encoder, small, AttentionSettings(overlays=2, artifacts_dir=tmp_path)
        ),
    ):
        record = json.loads(result.to_json())
        assert record["model"]["spec"] == "openclip:ViT-B-32?seed=0"
        assert record["model"]["weights_hash"].startswith("sha256:")
        assert record["provenance"]["scene_fingerprint"] == small.fingerprint()
    shares = result.metrics["mean_share_by_role"]
    assert set(shares) == {"large", "small 1", "small 2"}
    assert 0 < shares["large"]["estimate"] < 1
    assert result.metrics["grid"] == [7, 7] and len(list(tmp_path.glob("*.png"))) == 2


def test_hf_clip_end_to_end_with_attention(scene_set, hf_clip_dir):
    from cliposcope.encoders import load_encoder

    encoder = load_encoder(f"hf:{hf_clip_dir}")
    maps = encoder.cls_attention([scene_set.scenes[0].image_path], layer=-1)
    assert maps.shape == (1, 4, 4) and 0 < maps.sum() < 1  # CLS->CLS weight is left out
    small = split_scenes([*scene_set.scenes[:5], *scene_set.references.values()])
    result = run_probe("attention", encoder, small, AttentionSettings(layer=0))
    assert result.settings["layer"] == 0 and result.metrics["grid"] == [4, 4]
    ior = run_probe("i2tor", encoder, small)
    assert ior.probe == "i2tor" and ior.model["family"] == "hf"


@pytest.mark.slow
def test_ioc_reads_the_object_the_embedding_keeps(tmp_path):
    from cliposcope.data.sprites import sprite_names

    settings = SceneSettings(
        kind="comco",
        count=200,
        layout=LayoutSpec(n=3, order="random"),
        objects=sprite_names()[:8],
        seed=2,
    )
    few = split_scenes(write_dataset(settings, tmp_path / "few"))
    scenes = [*few.scenes, *few.references.values()]
    only_large = SceneLookupEncoder(scenes, lambda area, k: float(area > 0.1))
    result = run_probe("ioc", only_large, few)
    by_role = result.metrics["per_role_test_accuracy"]
    assert by_role["large"]["estimate"] > 0.9
    assert by_role["small 1"]["estimate"] < 0.5  # chance is 1/8, plus what exclusion gives
    assert result.metrics["split_sizes"] == [160, 40]
    again = run_probe("ioc", only_large, few)
    assert again.metrics == result.metrics  # seeded split and heads


def test_size_rank_shares_by_hand():
    from cliposcope.probes.ior import size_rank_shares

    winners = np.array([0, 2, 1, 1])
    areas = [[0.5, 0.1, 0.2], [0.1, 0.3, 0.2], [0.2, 0.2, 0.1], [0.1, None, 0.3]]
    shares = size_rank_shares(winners, areas, 3)  # the tied and the unknown images drop out
    assert [(s["count"], s["total"]) for s in shares] == [(1, 2), (1, 2), (0, 2)]
