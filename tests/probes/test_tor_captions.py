"""TOR on real captions, pinned on a hand-made COCO fixture (10 captions, 6 images): the
selection rules (kept and dropped counts) and every figure, computed by hand, for the
cliposcope rules and for the published script's rules (--legacy-quirks); the position
figures' intervals are clustered by image where an image holds several selected captions."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter

import numpy as np
import pytest
from tests.coco_files import write_coco_pair

from cliposcope.app.cli import main
from cliposcope.data.corpus import CocoCorpus
from cliposcope.data.vocab import COMCO_NAMES
from cliposcope.encoders.base import Encoder, EncoderInfo
from cliposcope.probes.registry import run_probe
from cliposcope.probes.resampling import cluster_ratio_interval
from cliposcope.probes.tor_captions import CaptionTorSettings, legacy_objects
from cliposcope.results import ProbeResult

from .recompute import assert_share, check_retrieval, wilson

CATEGORIES = {
    1: "person",
    3: "car",
    6: "bus",
    17: "cat",
    18: "dog",
    34: "frisbee",
    58: "hot dog",
    73: "laptop",
    74: "mouse",
}
INSTANCES = {
    1: [(1, 5000), (18, 2000), (34, 100)],
    2: [(18, 3000), (58, 400)],
    3: [(17, 900), (73, 1500), (74, 50)],
    4: [(3, 4000), (6, 9000)],
    5: [(1, 800), (18, 800)],
    6: [],
}
# (image, caption, the fake encoder's weights for the caption's embedding)
CAPTIONS = [
    (1, "A man and his dog.", {"person": 1.0, "dog": 0.5}),
    (1, "A dog catching a frisbee", {"frisbee": 1.0, "dog": 0.6}),
    (1, "A man throws a frisbee to a dog", {"dog": 1.0, "frisbee": 0.5, "person": 0.3}),
    (2, "A dog eating a hot dog", {"dog": 1.0, "hot dog": 0.8}),
    (3, "A cat next to a mouse", {"cat": 1.0, "car": 0.7}),
    (3, "a cat on a laptop", {"laptop": 1.0, "cat": 0.9}),
    (4, "A bus passing a car", {"bus": 1.0, "car": 0.5}),
    (4, "cars", {"car": 1.0}),
    (5, "a person with a dog", {"dog": 1.0, "person": 0.5}),
    (6, "a hotdog cart near a dog and a cat", {"cat": 1.0, "dog": 0.5}),
]
NAMES = sorted(set(COMCO_NAMES) | set(CATEGORIES.values()))


class LookupEncoder(Encoder):
    """Names are one-hot; a caption is the weighted sum its CAPTIONS row gives."""

    def __init__(self):
        self.axis = {name: i for i, name in enumerate(NAMES)}
        self.weights = {caption: weights for _, caption, weights in CAPTIONS}
        self.info = EncoderInfo(
            family="fake",
            spec="fake:lookup",
            name="fake",
            weights_source="synthetic",
            weights_hash="none",
            embed_dim=len(NAMES),
        )

    def _encode_texts(self, texts, *, progress):
        out = np.zeros((len(texts), len(NAMES)))
        for row, text in enumerate(texts):
            for name, weight in self.weights.get(text, {text: 1.0}).items():
                out[row, self.axis[name]] = weight
        return out


def write_fixture(folder, captions_kept=None):
    """The COCO files; ``captions_kept``: indices of the CAPTIONS rows to write (all)."""
    kept = [
        (image, caption)
        for k, (image, caption, _) in enumerate(CAPTIONS)
        if captions_kept is None or k in captions_kept
    ]
    return write_coco_pair(folder, "hand", CATEGORIES, INSTANCES, kept)


def shares(figures):
    return [(f["count"], f["total"]) for f in figures]


def test_legacy_selection_rules():
    assert legacy_objects("A man and his dog.", COMCO_NAMES) == []  # "dog." is not "dog"
    assert legacy_objects("A dog eating a hot dog", COMCO_NAMES) == ["dog"]  # single words
    assert legacy_objects("a hotdog cart near a dog and a cat", COMCO_NAMES) == ["dog", "cat"]


def test_hand_made_fixture_with_the_cliposcope_rules(tmp_path):
    corpus = CocoCorpus(*write_fixture(tmp_path))
    result = run_probe("tor-captions", LookupEncoder(), corpus, CaptionTorSettings(n=2))
    assert result.provenance["selection_counts"] == {
        "ambiguous words left unresolved": 0,
        "captions": 10,
        "kept": 7,
        "dropped: names fewer than 2": 1,
        "dropped: names more than 2": 2,
    }
    m = result.metrics
    assert m["queries"] == 7
    assert shares(m["per_position_unconditional"]) == [(4, 7), (3, 7)]
    assert shares(m["per_position_conditional"]) == [(3, 6), (3, 6)]
    assert (m["topn_accuracy"]["count"], m["topn_accuracy"]["total"]) == (6, 7)
    strata = m["by_position_and_area_rank"]
    assert strata["captions"] == 6  # the tied caption is left out
    cells = strata["win_rate_by_position_and_area_rank"]
    assert shares(cells[0]) == [(4, 5), (0, 1)] and shares(cells[1]) == [(1, 1), (1, 5)]
    assert shares(strata["argmax_share_by_area_rank"]) == [(5, 6), (1, 6)]
    assert shares(
        [
            strata["first_named_wins_when_largest_first"],
            strata["first_named_wins_when_largest_later"],
            strata["largest_wins_when_named_later"],
        ]
    ) == [(4, 5), (0, 1), (1, 1)]
    assert result.settings["vocabulary"] == "instance categories"


def test_hand_made_fixture_with_the_published_rules(tmp_path):
    corpus = CocoCorpus(*write_fixture(tmp_path))
    settings = CaptionTorSettings(n=2, legacy_quirks=True)
    result = run_probe("tor-captions", LookupEncoder(), corpus, settings)
    assert result.provenance["selection_counts"] == {
        "captions": 10,
        "kept": 7,
        "dropped: names fewer than 2": 3,
    }
    m = result.metrics
    assert shares(m["per_position_unconditional"]) == [(2, 7), (5, 7)]
    assert shares(m["per_position_conditional"]) == [(1, 6), (5, 6)]
    assert (m["topn_accuracy"]["count"], m["topn_accuracy"]["total"]) == (6, 7)
    strata = m["by_position_and_area_rank"]
    assert strata["captions"] == 5
    assert shares(
        [
            strata["first_named_wins_when_largest_first"],
            strata["first_named_wins_when_largest_later"],
            strata["largest_wins_when_named_later"],
        ]
    ) == [(2, 3), (0, 2), (2, 2)]
    assert result.settings["vocabulary_size"] == 90


def check_position_and_area_rank(strata: dict, records: dict, n: int) -> None:
    """docs/protocols.md: over captions whose named objects all have distinct annotated
    areas, win rates by mention position and area rank (0 = the largest)."""
    captions, present, wins = 0, Counter(), Counter()
    for sizes, winner in zip(records["sizes"], records["retrieved_position"], strict=True):
        if any(math.isnan(size) for size in sizes) or len(set(sizes)) < n:
            continue
        captions += 1
        ranks = [sum(other > size for other in sizes) for size in sizes]
        present.update(enumerate(ranks))
        if winner >= 0:
            wins[winner, ranks[winner]] += 1
    assert strata["captions"] == captions
    for p, row in enumerate(strata["win_rate_by_position_and_area_rank"]):
        for r, figure in enumerate(row):
            assert_share(figure, wins[p, r], present[p, r])
    for r, figure in enumerate(strata["argmax_share_by_area_rank"]):
        assert_share(figure, sum(wins[p, r] for p in range(n)), captions)
    later = captions - present[0, 0]
    assert_share(strata["first_named_wins_when_largest_first"], wins[0, 0], present[0, 0])
    first_named_wins = sum(wins[0, r] for r in range(1, n))
    assert_share(strata["first_named_wins_when_largest_later"], first_named_wins, later)
    largest_wins = sum(wins[p, 0] for p in range(1, n))
    assert_share(strata["largest_wins_when_named_later"], largest_wins, later)


def check_clustered_positions(metrics: dict, records: dict, n: int) -> dict:
    """The position figures' cluster-bootstrap fields, recomputed from the records (each
    share's numerator and denominator per query, clustered by the ``image`` column, over
    the queries in its denominator); returns the metrics with those figures' intervals set
    to Wilson's, for check_retrieval to check everything else as for independent queries."""
    images = np.array(records["image"])
    position = np.array(records["retrieved_position"])
    correct = np.array(records["topn_correct"], dtype=bool)
    design = metrics["interval_design"]
    assert design["unit"] == "image" and design["method"] == "cluster bootstrap (percentile)"
    assert design["clusters"] == len(set(records["image"])) and design["queries"] == len(images)
    assert design["replicates"] == 2000 and design["seed"] == 0
    shares = [
        (metrics["first_position_bias"], position == 0, position >= 0),
        *[
            (metrics["per_position_conditional"][k], (position == k) & correct, correct)
            for k in range(n)
        ],
        *[
            (metrics["per_position_unconditional"][k], position == k, np.ones(len(images), bool))
            for k in range(n)
        ],
    ]
    for figure, numerator, denominator in shares:
        inside = denominator.astype(bool)
        expected = cluster_ratio_interval(numerator[inside], denominator[inside], images[inside])
        assert figure["ci95"] == expected["ci95"]
        assert figure["clusters"] == len(set(images[inside]))
        assert figure["design_effect"] == expected["design_effect"]
        assert figure["method"] == "cluster bootstrap (percentile)"
    assert design["design_effect"] == metrics["first_position_bias"]["design_effect"]
    independent = copy.deepcopy(metrics)
    for figure in [
        independent["first_position_bias"],
        *independent["per_position_conditional"],
        *independent["per_position_unconditional"],
    ]:
        if figure["total"]:
            figure["ci95"] = list(wilson(figure["count"], figure["total"]))
    return independent


@pytest.mark.parametrize("legacy", [False, True], ids=["cliposcope-rules", "published-rules"])
def test_every_figure_is_recomputed_from_the_records(tmp_path, legacy):
    corpus = CocoCorpus(*write_fixture(tmp_path))
    settings = CaptionTorSettings(n=2, legacy_quirks=legacy)
    result = run_probe("tor-captions", LookupEncoder(), corpus, settings)
    records = result.query_records
    weights = {caption: w for _, caption, w in CAPTIONS}
    # the fake's caption embedding is the caption's weights: the heaviest name wins
    assert records["retrieved"] == [max(weights[c], key=weights[c].get) for c in records["query"]]
    if not legacy:
        assert records["objects"] == [
            ["person", "dog"],
            ["dog", "frisbee"],
            ["dog", "hot dog"],
            ["cat", "mouse"],
            ["cat", "laptop"],
            ["bus", "car"],
            ["person", "dog"],
        ]
        assert records["sizes"] == [
            [5000, 2000],
            [2000, 100],
            [3000, 400],
            [900, 50],
            [900, 1500],
            [9000, 4000],
            [800, 800],
        ]
        assert records["image"] == ["1", "1", "2", "3", "3", "4", "5"]
    check_retrieval(
        check_clustered_positions(result.metrics, records, 2),
        records,
        2,
        legacy_texts=records["query"] if legacy else None,
        order_randomised=False,
    )
    check_position_and_area_rank(result.metrics["by_position_and_area_rank"], records, 2)


def test_sum_control_and_the_command_line(tmp_path, capsys):
    captions, instances = write_fixture(tmp_path)
    out = tmp_path / "results"
    assert (
        main(
            [
                "run",
                "tor-captions",
                "--model",
                "toy:default",
                "--null",
                "sum",
                "--n",
                "2",
                "--coco-captions",
                str(captions),
                "--coco-instances",
                str(instances),
                "--out",
                str(out),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "TOR on real captions" in printed and "toy:default [null:sum]" in printed
    files = sorted(out.glob("tor-captions_*.json"))
    assert len(files) == 2
    assert main(["report", str(out)]) == 0
    assert 'id="tor-captions"' in (out / "report.html").read_text()
    # captions alone: no sizes, so no strata, and ambiguous words stay unresolved
    assert (
        main(
            [
                "run",
                "tor-captions",
                "--model",
                "toy:default",
                "--n",
                "2",
                "--coco-captions",
                str(captions),
                "--out",
                str(tmp_path / "alone"),
                "--no-cache",
                "--quiet",
            ]
        )
        == 0
    )
    (path,) = (tmp_path / "alone").glob("*.json")
    alone = json.loads(path.read_text())
    assert alone["metrics"]["by_position_and_area_rank"]["captions"] == 0
    sizes = ProbeResult.load(path).load_records(path)["sizes"]
    assert sizes and all(math.isnan(size) for row in sizes for size in row)
    assert alone["provenance"]["selection_counts"]["ambiguous words left unresolved"] == 1


def test_settings_are_checked():
    from cliposcope.errors import CliposcopeError

    with pytest.raises(CliposcopeError, match="--n 1"):
        CaptionTorSettings(n=1)
    with pytest.raises(CliposcopeError, match="90-name list"):
        CaptionTorSettings(legacy_quirks=True, vocab="coco")


def test_a_tiny_model_on_several_captions_per_image_gets_image_clusters(tmp_path):
    from cliposcope.encoders import load_encoder

    corpus = CocoCorpus(*write_fixture(tmp_path))
    encoder = load_encoder("toy:default")
    result = run_probe("tor-captions", encoder, corpus, CaptionTorSettings(n=2))
    records = result.query_records
    # 7 captions of 5 images (images 1 and 3 give two each)
    assert records["image"] == ["1", "1", "2", "3", "3", "4", "5"]
    bias = result.metrics["first_position_bias"]
    inside = [p >= 0 for p in records["retrieved_position"]]
    assert bias["clusters"] == len(
        {i for i, kept in zip(records["image"], inside, strict=True) if kept}
    )
    assert bias["method"] == "cluster bootstrap (percentile)"
    assert bias["count"] == records["retrieved_position"].count(0) and bias["total"] == sum(inside)
    assert all(f["clusters"] == 5 for f in result.metrics["per_position_unconditional"])
    design = result.metrics["interval_design"]
    assert (design["unit"], design["clusters"], design["queries"]) == ("image", 5, 7)
    assert design["most_queries_in_a_cluster"] == 2
    # a fixed seed: a second run gives the same figures to the last bit
    again = run_probe(
        "tor-captions", encoder, CocoCorpus(*write_fixture(tmp_path)), CaptionTorSettings(n=2)
    )
    assert json.dumps(again.metrics, sort_keys=True) == json.dumps(result.metrics, sort_keys=True)


def test_one_caption_per_image_keeps_the_wilson_figures(tmp_path):
    from cliposcope.probes.stats import Proportion

    # one selected caption of each of images 1, 2, 3, 4 and 5
    corpus = CocoCorpus(*write_fixture(tmp_path, captions_kept={0, 3, 5, 6, 8}))
    result = run_probe("tor-captions", LookupEncoder(), corpus, CaptionTorSettings(n=2))
    assert result.query_records["image"] == ["1", "2", "3", "4", "5"]
    m = result.metrics
    assert m["interval_design"] == {
        "unit": "caption",
        "clusters": 5,
        "queries": 5,
        "method": "Wilson score",
        "figures": [
            "first_position_bias",
            "per_position_conditional",
            "per_position_unconditional",
        ],
    }
    for figure in [*m["per_position_conditional"], *m["per_position_unconditional"]]:
        assert figure == Proportion(figure["count"], figure["total"]).to_dict()
    bias = m["first_position_bias"]
    assert "clusters" not in bias
    assert bias["ci95"] == list(wilson(bias["count"], bias["total"]))
