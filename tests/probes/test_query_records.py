"""Per-query records: every figure a probe reports is recomputed, exactly, from the records
written beside its result (by tests/probes/recompute.py, from the definitions of
docs/protocols.md): first through the real command (`cliposcope run paper`, reading the
saved JSON and Parquet files back), then on small cases whose records are known by
construction."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cliposcope.app.cli import main
from cliposcope.data.generate import SceneSettings, write_dataset
from cliposcope.data.layout import LayoutSpec
from cliposcope.data.scene_sets import split_scenes
from cliposcope.data.vocab import Vocabulary
from cliposcope.encoders import load_encoder
from cliposcope.errors import CliposcopeError
from cliposcope.probes.ioc import IocSettings
from cliposcope.probes.ior import ImageRetrievalSettings, score_image_retrieval
from cliposcope.probes.queries import CHUNK
from cliposcope.probes.registry import run_probe
from cliposcope.probes.retrieval import QueryRecords, RetrievalTally
from cliposcope.probes.size_first import SizeFirstSettings
from cliposcope.probes.toc import TocSettings
from cliposcope.probes.tor import TorSettings
from cliposcope.results import ProbeResult, records_path_for

from .fakes import PositionWeightedEncoder, SceneLookupEncoder, word_vector
from .recompute import (
    and_caption,
    assert_share,
    check_attention,
    check_image_retrieval,
    check_matching,
    check_retrieval,
)

# ------------------------------------------------------------------------------------------
# Through the command: `cliposcope run paper`, read back from the saved files


@pytest.fixture(scope="module", params=[False, True], ids=["exact", "legacy"])
def paper_run(request, tmp_path_factory) -> tuple[Path, bool]:
    legacy = request.param
    out = tmp_path_factory.mktemp("paper")
    argv = ["run", "paper", "--model", "toy:default", "--count", "12", "--out", str(out)]
    argv += ["--no-cache", "--quiet", "--tor-sample", "300"]
    argv += ["--legacy-quirks"] if legacy else ["--null", "random-init"]
    assert main(argv) == 0
    return out, legacy


def saved_results(folder: Path) -> list[tuple[ProbeResult, dict]]:
    found = []
    for path in sorted(folder.glob("*.json")):
        result = ProbeResult.load(path)
        found.append((result, result.load_records(path)))
    return found


@pytest.mark.slow
def test_every_figure_of_the_paper_battery_is_recomputed_from_its_records(paper_run):
    folder, legacy = paper_run
    checked = Counter()
    for result, records in saved_results(folder):
        assert result.records["rows"] == len(next(iter(records.values())))
        assert result.records["columns"] == list(records)
        metrics, n = result.metrics, result.settings.get("n")
        if result.probe == "tor":
            assert result.settings["protocol"] == ("paper" if legacy else "balanced")
            queries = records["query"]
            assert queries == [and_caption(names) for names in records["objects"]]
            check_retrieval(
                metrics,
                records,
                n,
                legacy_texts=queries if legacy else None,
                order_randomised=not legacy,
            )
        elif result.probe in ("ior", "i2tor"):
            check_image_retrieval(metrics, records, n, legacy=legacy)
        elif result.probe == "matching":
            check_matching(metrics, records, legacy=legacy)
        elif result.probe == "attention":
            check_attention(metrics, records)
        else:
            pytest.fail(f"no recomputation for {result.probe}")
        checked[result.probe] += 1
    roles = 1 if legacy else 2  # the model, and its random-weight control
    assert checked == {p: roles for p in ("tor", "ior", "i2tor", "matching", "attention")}


@pytest.mark.slow
def test_matching_biases_the_large_object_of_each_image(paper_run):
    folder, _ = paper_run
    results = {(r.probe, r.role): records for r, records in saved_results(folder)}
    ior = results["ior", "model"]
    large_at = {
        q: roles.index("large") for q, roles in zip(ior["query"], ior["roles"], strict=True)
    }
    matching = results["matching", "model"]
    assert set(matching["query"]) == set(large_at)
    for scene, biased in zip(matching["query"], matching["biased_position"], strict=True):
        assert biased == large_at[scene]


def test_no_records_leaves_no_parquet_file(tmp_path):
    argv = ["run", "tor", "--model", "toy:default", "--sample", "20", "--out", str(tmp_path)]
    assert main([*argv, "--no-cache", "--quiet", "--no-records"]) == 0
    (path,) = tmp_path.glob("*.json")
    assert not list(tmp_path.glob("*.parquet"))
    result = ProbeResult.load(path)
    assert result.records is None
    with pytest.raises(CliposcopeError, match="no per-query records"):
        result.load_records(path)


def test_a_tampered_records_file_is_refused(tmp_path):
    encoder = PositionWeightedEncoder((2.0, 1.0, 1.0))
    result = run_probe("tor", encoder, None, TorSettings(n=3, sample=30))
    path = result.save(tmp_path / "tor.json")
    records_file = records_path_for(path)
    saved = ProbeResult.load(path)
    assert saved.load_records(path) == result.query_records
    table = pq.read_table(records_file)
    flipped = [not value for value in table.column("topn_correct").to_pylist()]
    index = table.column_names.index("topn_correct")
    pq.write_table(table.set_column(index, "topn_correct", pa.array(flipped)), records_file)
    with pytest.raises(CliposcopeError, match="does not match the hash"):
        saved.load_records(path)
    records_file.unlink()
    with pytest.raises(CliposcopeError, match="not found"):
        saved.load_records(path)


# ------------------------------------------------------------------------------------------
# Small cases whose records are known


NAMES = ["cat", "dog", "car", "carrot"]
# Three queries of two objects each against a gallery of four names.
SIMILARITY = np.array(
    [
        [0.5, 0.75, 0.125, 0.25],  # dog and cat: dog wins over cat by 0.25, top-2 correct
        [0.75, 0.625, 0.5, 0.0],  # cat and car: cat wins over dog; top-2 {cat, dog} wrong
        [0.125, 0.625, 0.875, 0.5],  # carrot and dog: car wins (not named), "car" in "carrot"
    ]
)
TRUTH = np.array([[1, 0], [0, 2], [3, 1]])
CAPTIONS = ["dog and cat", "cat and car", "carrot and dog"]
KNOWN = {
    "objects": [["dog", "cat"], ["cat", "car"], ["carrot", "dog"]],
    "retrieved": ["dog", "cat", "car"],
    "retrieved_position": [0, 0, -1],
    "winner_similarity": [0.75, 0.75, 0.875],
    "margin": [0.25, 0.125, 0.25],
}


def records_of(legacy: bool) -> dict:
    tally = RetrievalTally(2, len(NAMES), legacy=legacy)
    outcomes = tally.update(SIMILARITY, TRUTH, CAPTIONS, NAMES)
    records = QueryRecords(NAMES)
    records.add({"query": CAPTIONS, "objects": TRUTH, **outcomes.columns()})
    return records.columns()


def test_the_retrieval_core_records_each_query_exactly():
    assert records_of(legacy=False) == {
        "query": CAPTIONS,
        **KNOWN,
        "topn_correct": [True, False, False],
        "top_n": [["dog", "cat"], ["cat", "dog"], ["car", "dog"]],
    }
    assert records_of(legacy=True) == {
        "query": CAPTIONS,
        **KNOWN,
        # the published test: every top-n name is a substring of the caption
        "topn_correct": [True, False, True],
        "top_n": [["cat", "dog"], ["dog", "cat"], ["dog", "car"]],  # ascending
    }


def test_records_gather_chunks_in_order():
    records = QueryRecords(NAMES)
    records.add({"query": ["a"], "retrieved": np.array([3]), "margin": np.array([0.5])})
    records.add({"query": ["b", "c"], "retrieved": np.array([0, 1]), "margin": np.array([0, 1])})
    assert records.columns() == {
        "query": ["a", "b", "c"],
        "retrieved": ["carrot", "cat", "dog"],
        "margin": [0.5, 0, 1],
    }


FIVE = Vocabulary("five", ("apple", "bear", "cat", "dog", "egg"))


@pytest.mark.parametrize(
    "settings",
    [
        TorSettings(FIVE, n=3),
        TorSettings(FIVE, n=3, all_orders=True),
        TorSettings(FIVE, n=3, protocol="paper"),
        TorSettings(FIVE, n=3, protocol="paper", legacy_quirks=True),
        TorSettings(FIVE, n=3, gallery="position-matched"),
    ],
    ids=["balanced", "all-orders", "paper", "legacy", "position-matched"],
)
def test_tor_records_of_an_encoder_that_keeps_the_first_object(settings):
    """Caption = 3 x first object + the others: the first object wins every query, and the
    three named objects are the top 3. The encoder ignores the filler word, so each
    position-matched gallery holds the bare names, and the first object wins there too."""
    result = run_probe("tor", PositionWeightedEncoder((3.0, 1.0, 1.0)), None, settings)
    records = result.query_records
    queries = result.metrics["queries"]
    assert queries == (60 if settings.all_orders else 10)
    assert records["query"] == [and_caption(names) for names in records["objects"]]
    assert len({tuple(names) for names in records["objects"]}) == queries
    assert records["retrieved"] == [names[0] for names in records["objects"]]
    assert records["retrieved_position"] == [0] * queries
    assert records["topn_correct"] == [True] * queries
    assert all(
        sorted(top) == sorted(names)
        for top, names in zip(records["top_n"], records["objects"], strict=True)
    )
    if settings.protocol == "paper":  # list order
        assert all(names == sorted(names) for names in records["objects"])
    if settings.gallery == "position-matched":
        firsts = [[names[0]] * 3 for names in records["objects"]]
        assert records["matched_gallery_retrieved"] == firsts
    check_retrieval(
        result.metrics,
        records,
        3,
        legacy_texts=records["query"] if settings.legacy_quirks else None,
        order_randomised=settings.protocol == "balanced",
    )


def test_tor_records_of_several_chunks_recompute_every_figure():
    """Past one chunk of queries, the means are sums of chunk sums: recomputed the same
    way, they are exact too."""
    noisy = PositionWeightedEncoder((1.5, 1.0, 1.0), dim=64, noise=2.0)
    result = run_probe("tor", noisy, None, TorSettings(n=3, sample=10_000))
    assert result.metrics["queries"] == 10_000 > 2 * CHUNK
    assert 0 < result.metrics["argmax_outside_caption"]["count"] < 10_000
    check_retrieval(result.metrics, result.query_records, 3, order_randomised=True, chunk=CHUNK)


def test_image_retrieval_records_of_a_hand_made_case():
    # gallery: 0 cat, 1 dog, 2 car, 3 cup; two images of 3 objects (caption order)
    truth = np.array([[0, 1, 2], [3, 0, 1]])
    roles = [["large", "small 1", "small 2"], ["small 1", "large", "small 2"]]
    areas = [[0.5, 0.25, 0.125], [None, 0.5, 0.25]]
    similarity = np.array([[0.875, 0.25, 0.5, 0.75], [0.125, 0.375, 0.75, 0.625]])
    metrics, records = score_image_retrieval(
        similarity, truth, roles, ["cat", "dog", "car", "cup"], areas
    )
    unknown, *known = records["areas"][1]
    assert math.isnan(unknown) and known == [0.5, 0.25]
    assert records["areas"][0] == [0.5, 0.25, 0.125]
    assert {column: values for column, values in records.items() if column != "areas"} == {
        "objects": [["cat", "dog", "car"], ["cup", "cat", "dog"]],
        "roles": roles,
        "retrieved": ["cat", "car"],
        "retrieved_position": [0, -1],
        "winner_similarity": [0.875, 0.75],
        "margin": [0.125, 0.125],
        "topn_correct": [False, False],
        "top_n": [["cat", "cup", "car"], ["car", "cup", "dog"]],
        "retrieved_role": ["large", ""],
        "object_similarities": [[0.875, 0.25, 0.5], [0.625, 0.125, 0.375]],
        "truth_winner_position": [0, 0],
        "truth_winner_role": ["large", "small 1"],
    }
    records["query"] = ["first", "second"]
    check_image_retrieval(metrics, records, 3, legacy=False)


@pytest.fixture(scope="module")
def scene_set(tmp_path_factory):
    layout = LayoutSpec(n=3, order="random")
    settings = SceneSettings(kind="comco", count=4, layout=layout, seed=3)
    folder = tmp_path_factory.mktemp("scenes") / "scenes"
    return split_scenes(write_dataset(settings, folder, singles="used"))  # a small gallery


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_matching_records_hold_each_pair_and_its_similarities(scene_set):
    """Images embed their objects weighted by area, captions weight the first object 2x:
    every similarity in the records is the cosine of those sums."""
    scenes = [*scene_set.scenes, *scene_set.references.values()]
    encoder = SceneLookupEncoder(scenes, lambda area, k: area, text_weights=(2.0, 1.0, 1.0))
    result = run_probe("matching", encoder, scene_set)
    records = result.query_records
    by_id = {scene.id: scene for scene in scene_set.scenes}
    distractors = len(scene_set.names) - 3
    assert len(records["query"]) == len(scene_set.scenes) * distractors

    def caption_vector(caption: str) -> np.ndarray:
        names = caption.split(" and ")
        return unit(
            sum(w * word_vector(name, 256) for w, name in zip((2, 1, 1), names, strict=True))
        )

    def split_vector(caption: str) -> np.ndarray:
        return unit(sum(unit(word_vector(name, 256)) for name in caption.split(" and ")) / 3)

    for q, scene_id in enumerate(records["query"]):
        scene = by_id[scene_id]
        image = unit(sum(o.area_fraction * word_vector(o.name, 256) for o in scene.objects))
        assert records["objects"][q] == scene.names
        assert records["biased_position"][q] == [o.role for o in scene.objects].index("large")
        for scenario in (1, 2):
            for kind in ("correct", "wrong"):
                text = records[f"scenario_{scenario}_{kind}_caption"][q]
                for method, vector in (("plain", caption_vector), ("split_mean", split_vector)):
                    recorded = records[f"scenario_{scenario}_{method}_{kind}_similarity"][q]
                    assert recorded == pytest.approx(float(image @ vector(text)), abs=1e-6)
    check_matching(result.metrics, records, legacy=False)


class UniformAttention(SceneLookupEncoder):
    """CLS attention spread evenly over a 7 x 7 patch grid."""

    capabilities = frozenset({"cls_attention"})

    def cls_attention(self, images, layer=-1):
        return np.ones((len(images), 7, 7))


def test_attention_records_with_uniform_attention_hold_each_mask_share(scene_set):
    """Attention spread evenly: an object's share is the share of the (square) image its
    mask covers."""
    encoder = UniformAttention(scene_set.scenes, lambda area, k: 1.0)
    result = run_probe("attention", encoder, scene_set)
    records = result.query_records
    assert len(records["query"]) == 3 * len(scene_set.scenes)
    columns = ("query", "position", "object", "role", "share")
    rows = iter(zip(*(records[c] for c in columns), strict=True))
    for scene, roles in zip(scene_set.scenes, scene_set.role_labels(), strict=True):
        for k, (obj, mask) in enumerate(zip(scene.objects, scene.load_masks(), strict=True)):
            query, position, name, role, share = next(rows)
            assert (query, position, name, role) == (scene.id, k, obj.name, roles[k])
            assert share == pytest.approx(float(mask.mean()), abs=1e-6)
    assert records["area"] == [o.area_fraction for s in scene_set.scenes for o in s.objects]
    check_attention(result.metrics, records)


@pytest.mark.slow
def test_ior_and_i2tor_records_under_legacy_quirks(scene_set):
    encoder = load_encoder("toy:default")
    for probe in ("ior", "i2tor"):
        settings = ImageRetrievalSettings(legacy_quirks=True)
        result = run_probe(probe, encoder, scene_set, settings)
        records = result.query_records
        assert records["query"] == [scene.id for scene in scene_set.scenes]
        check_image_retrieval(result.metrics, records, 3, legacy=True)


def test_size_first_records_of_an_encoder_that_keeps_the_first_object():
    settings = SizeFirstSettings(per_first_object=2)
    result = run_probe("size-first", PositionWeightedEncoder((3.0, 1.0, 1.0, 1.0)), None, settings)
    records, metrics = result.query_records, result.metrics
    assert records["query"] == [and_caption(names) for names in records["objects"]]
    assert records["retrieved"] == [names[0] for names in records["objects"]]
    by_condition = {}
    for condition in ("large", "small"):
        rows = [q for q, c in enumerate(records["condition"]) if c == condition]
        bucket = getattr(settings, condition).words
        assert len(rows) == 2 * len(bucket)
        assert all(records["objects"][q][0] in bucket for q in rows)
        first = [records["retrieved_position"][q] == 0 for q in rows]
        named = [records["retrieved_position"][q] >= 0 for q in rows]
        figures = metrics[f"{condition}_first"]
        assert_share(figures["first_object_accuracy"], sum(first), len(rows))
        assert_share(figures["any_caption_object_on_top"], sum(named), len(rows))
        by_condition[condition] = sum(first) / len(rows)
    assert sum(records["retrieved_position"]) == 0  # the first object always wins
    assert metrics["difference_large_minus_small"] == by_condition["large"] - by_condition["small"]


def test_toc_records_hold_each_held_out_caption_and_head():
    settings = TocSettings(objects="simco-shapes", n=2, per_class=10, epochs=2)
    result = run_probe("toc", load_encoder("toy:default"), None, settings)
    records, metrics = result.query_records, result.metrics
    _, validation, test = metrics["split_sizes"]
    assert len(records["query"]) == 2 * (validation + test)
    for caption, k, true in zip(
        records["query"], records["position"], records["true"], strict=True
    ):
        assert caption.split(" and ")[k].split(" ", 2)[2] == true  # "a {colour} {object}"
    for split, key in (
        ("test", "per_position_test_accuracy"),
        ("validation", "per_position_validation_accuracy"),
    ):
        for k, figure in enumerate(metrics[key]):
            rows = [
                q
                for q in range(len(records["query"]))
                if records["split"][q] == split and records["position"][q] == k
            ]
            right = sum(records["true"][q] == records["predicted"][q] for q in rows)
            assert_share(figure, right, len(rows))


def test_ioc_records_hold_each_held_out_image_and_head(scene_set):
    result = run_probe("ioc", load_encoder("toy:default"), scene_set, IocSettings(epochs=2))
    records, metrics = result.query_records, result.metrics
    by_id = {scene.id: scene for scene in scene_set.scenes}
    roles_of = dict(zip((s.id for s in scene_set.scenes), scene_set.role_labels(), strict=True))
    for query, position, role, true in zip(
        records["query"], records["position"], records["role"], records["true"], strict=True
    ):
        assert by_id[query].names[position] == true
        assert roles_of[query][position] == role
    heads = defaultdict(list)
    for head, position, role, true, predicted in zip(
        *(records[c] for c in ("head", "position", "role", "true", "predicted")), strict=True
    ):
        heads[head, position if head == "position" else role].append(true == predicted)
    for k, figure in enumerate(metrics["per_position_test_accuracy"]):
        assert_share(figure, sum(heads["position", k]), len(heads["position", k]))
    assert sorted(metrics["per_role_test_accuracy"]) == sorted(
        label for head, label in heads if head == "role"
    )
    for label, figure in metrics["per_role_test_accuracy"].items():
        assert_share(figure, sum(heads["role", label]), len(heads["role", label]))
