"""Corpus statistics with several captions per image: the first-is-largest figures are
clustered by image (cluster-bootstrap interval, clusters, design effect, cluster-robust
test), on a hand-computed three-image corpus; one caption per image keeps the exact
figures; on simulated corpora with a planted intra-image correlation the clustered
interval keeps its coverage where Wilson's does not; and the command line records the
clusters in the saved result."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tests.coco_files import write_coco_pair

from cliposcope.app.cli import main
from cliposcope.data.corpus import CaptionRecord, CocoCorpus
from cliposcope.probes.corpus_stats import (
    CorpusCounter,
    CorpusStatsSettings,
    CorpusTallies,
    run_corpus_stats,
)
from cliposcope.probes.resampling import bootstrap_sums
from cliposcope.probes.stats import Proportion, binomial_test, wilson_interval

CATEGORIES = {1: "person", 6: "bus", 17: "cat", 18: "dog", 34: "frisbee", 73: "laptop"}
# image id -> [(category id, area)]
INSTANCES = {
    1: [(18, 5000), (34, 100)],  # dog > frisbee
    2: [(1, 800), (6, 9000)],  # person < bus
    3: [(17, 900), (73, 1500)],  # cat < laptop
}
# every caption names two objects; by image (captions, first is largest):
# image 1: 4 of 4 (all name the dog first), image 2: 0 of 3, image 3: 2 of 3
CAPTIONS = [
    (1, "A dog catching a frisbee"),
    (1, "a dog jumps for a frisbee"),
    (1, "The dog and its frisbee on the lawn"),
    (1, "A brown dog with a red frisbee"),
    (2, "A person waiting for a bus"),
    (2, "a person standing by a bus"),
    (2, "A person runs after the bus"),
    (3, "A laptop with a cat beside it"),
    (3, "a laptop and a sleeping cat"),
    (3, "A cat lying on a laptop"),
]
BY_IMAGE = [(4, 4), (3, 0), (3, 2)]  # (captions, first is largest) of images 1, 2, 3


def write_coco(folder, captions) -> tuple:
    return write_coco_pair(folder, "clustered", CATEGORIES, INSTANCES, captions, 100)


def test_three_images_of_several_captions_give_the_hand_computed_clustered_figures(tmp_path):
    result = run_corpus_stats(
        None, CocoCorpus(*write_coco(tmp_path, CAPTIONS)), CorpusStatsSettings()
    )
    truth = result.metrics["ground_truth"]
    first = truth["by_k"]["2"]["first_is_largest"]
    assert (first["count"], first["total"], first["clusters"]) == (6, 10, 3)
    assert first["estimate"] == 0.6
    # 2,000 resamples of the three images (seed 0): (first is largest, captions, chance)
    rows = np.array([[y, x, x / 2] for x, y in BY_IMAGE], dtype=float)
    replicated = bootstrap_sums(rows, 2000, 0)
    shares = replicated[:, 0] / replicated[:, 1]
    assert first["ci95"] == np.quantile(shares, [0.025, 0.975]).tolist()
    # the captions of an image agree, so the interval is wider than Wilson's, by far
    low, high = wilson_interval(6, 10)
    assert first["ci95"] != [low, high]
    assert first["ci95"][1] - first["ci95"][0] > high - low
    design_effect = np.var(shares, ddof=1) / (0.6 * 0.4 / 10)
    assert first["design_effect"] == pytest.approx(design_effect, rel=1e-12)
    assert first["design_effect"] > 2
    assert first["method"] == "cluster bootstrap (percentile)"
    # z = (0.6 - 0.5) / the resamples' standard deviation (chance is 1/2 in every resample)
    z = 0.1 / np.std(shares, ddof=1)
    assert first["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    assert first["test"] == (
        "two-sided z-test against chance with the cluster-bootstrap standard error"
    )
    pooled = truth["pooled"]  # one k: the same figure
    assert (pooled["count"], pooled["total"], pooled["clusters"]) == (6, 10, 3)
    assert pooled["ci95"] == first["ci95"]
    assert pooled["p_value"] == pytest.approx(first["p_value"])
    design = truth["interval_design"]
    assert design["unit"] == "image" and design["clusters"] == 3 and design["captions"] == 10
    assert design["most_captions_in_a_cluster"] == 4
    assert design["clustered_figures"] == ["by_k[2].first_is_largest", "pooled"]
    assert (design["replicates"], design["seed"]) == (2000, 0)
    # the other figures stay per caption
    assert truth["by_k"]["2"]["largest_position"][0] == Proportion(6, 10).to_dict()
    # a fixed seed: the same figures on every run
    again = run_corpus_stats(
        None, CocoCorpus(*write_coco(tmp_path, CAPTIONS)), CorpusStatsSettings()
    )
    assert json.dumps(again.metrics, sort_keys=True) == json.dumps(result.metrics, sort_keys=True)


def test_one_caption_per_image_keeps_the_exact_figures(tmp_path):
    # the first caption of each image: image 1 (dog first, largest), 2 (person), 3 (laptop)
    single = [CAPTIONS[0], CAPTIONS[4], CAPTIONS[7]]
    result = run_corpus_stats(
        None, CocoCorpus(*write_coco(tmp_path, single)), CorpusStatsSettings()
    )
    truth = result.metrics["ground_truth"]
    first = truth["by_k"]["2"]["first_is_largest"]
    assert first == Proportion(2, 3).to_dict() | {
        "chance": 0.5,
        "p_value": binomial_test(2, 3, 0.5),
    }
    pooled = truth["pooled"]
    assert pooled == Proportion(2, 3).to_dict() | {
        "chance": 0.5,
        "p_value": math.erfc(abs(2 - 1.5) / math.sqrt(3 / 4) / math.sqrt(2)),
    }
    assert truth["interval_design"]["unit"] == "caption"
    assert truth["interval_design"]["method"] == "Wilson score"
    assert truth["interval_design"]["clusters"] == 3


def test_tallies_split_inside_an_image_merge_to_the_whole(tmp_path):
    corpus = CocoCorpus(*write_coco(tmp_path, CAPTIONS))
    counter = CorpusCounter(CorpusStatsSettings(), corpus.categories, sized=True, clustered=True)
    records = [r for batch in corpus.batches(counter.matcher.canonical) for r in batch]
    whole = counter.count(records)
    merged = counter.empty()
    for start in range(0, len(records), 3):  # every image split across blocks
        block = counter.count(records[start : start + 3]).to_record()
        merged.merge(CorpusTallies.from_record(json.loads(json.dumps(block))))
    assert merged.truth.clusters == whole.truth.clusters
    assert [merged.truth.clusters[i][:2] for i in "123"] == [list(row) for row in BY_IMAGE]
    assert json.dumps(merged.truth.summary(1), sort_keys=True) == json.dumps(
        whole.truth.summary(1), sort_keys=True
    )


DOG_FIRST, CAT_FIRST = "a dog and a cat", "a cat and a dog"
DOG_LARGER = {"dog": [100.0], "cat": [10.0]}


def simulated_figures(mean: float, corpora: int, seed: int, replicates: int = 400) -> list[dict]:
    """The first-is-largest figure of ``corpora`` simulated COCO-like corpora, counted as
    the probe counts them: 60 images of 5 captions, each naming a dog (larger) and a cat;
    each image names the dog first with its own probability, drawn from a Beta of the
    given mean and an intra-image correlation of 0.3 (a + b = 1 / 0.3 - 1)."""
    counter = CorpusCounter(CorpusStatsSettings(), ("dog", "cat"), sized=True, clustered=True)
    spread = 1 / 0.3 - 1
    rng = np.random.default_rng(seed)
    figures = []
    for corpus in range(corpora):
        chance = rng.beta(mean * spread, (1 - mean) * spread, size=60)
        dog_first = rng.random((60, 5)) < chance[:, None]
        records = [
            CaptionRecord(DOG_FIRST if first else CAT_FIRST, DOG_LARGER, str(image))
            for image in range(60)
            for first in dog_first[image]
        ]
        summary = counter.count(records).truth.summary(1, replicates=replicates, seed=corpus)
        figures.append(summary["by_k"]["2"]["first_is_largest"])
    return figures


@pytest.mark.slow
def test_the_clustered_interval_covers_where_wilson_undercovers():
    figures = simulated_figures(0.6, 250, seed=7)
    assert all(f["clusters"] == 60 and f["total"] == 300 for f in figures)
    wilson = [wilson_interval(f["count"], f["total"]) for f in figures]
    naive = np.mean([low <= 0.6 <= high for low, high in wilson])
    clustered = np.mean([f["ci95"][0] <= 0.6 <= f["ci95"][1] for f in figures])
    assert naive < 0.90  # design effect 1 + 4 * 0.3 = 2.2: about 80 %
    assert clustered >= 0.90
    assert np.median([f["design_effect"] for f in figures]) == pytest.approx(2.2, rel=0.25)


@pytest.mark.slow
def test_the_clustered_test_keeps_its_size_where_the_exact_binomial_does_not():
    figures = simulated_figures(0.5, 250, seed=11, replicates=200)  # chance: 1/2
    exact = np.mean([binomial_test(f["count"], f["total"], 0.5) < 0.05 for f in figures])
    clustered = np.mean([f["p_value"] < 0.05 for f in figures])
    assert exact > 0.10  # about 0.2 with a design effect of 2.2
    assert clustered <= 0.09


def test_the_command_line_records_the_clusters(tmp_path, capsys):
    captions, instances = write_coco(tmp_path, CAPTIONS)
    out = tmp_path / "results"
    command = ["corpus", "stats", "--coco-captions", str(captions)]
    command += ["--coco-instances", str(instances), "--out", str(out), "--quiet"]
    assert main(command) == 0
    (path,) = out.glob("corpus-stats_*.json")
    saved = json.loads(path.read_text())["metrics"]["ground_truth"]
    assert saved["interval_design"]["unit"] == "image"
    assert saved["interval_design"]["clusters"] == 3
    first = saved["by_k"]["2"]["first_is_largest"]
    assert (first["clusters"], first["count"], first["total"]) == (3, 6, 10)
    assert first["design_effect"] > 2
    assert main(["table", str(path)]) == 0
    assert "First is largest %" in capsys.readouterr().out
