"""Corpus statistics: a hand-made 12-caption COCO fixture with every figure computed by
hand (images with two captions: the first-is-largest figures clustered by image), the
text-only proxy on hand-made captions, tallies that merge, and the generator's COCO export
with a planted caption order recovered."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from tests.coco_files import write_coco_pair

from cliposcope.app.cli import main
from cliposcope.data.corpus import CocoCorpus, TableColumns, TableCorpus
from cliposcope.errors import CliposcopeError
from cliposcope.probes.corpus_stats import (
    CorpusCounter,
    CorpusStatsSettings,
    CorpusTallies,
    OriginTally,
    run_corpus_stats,
)
from cliposcope.probes.registry import run_probe
from cliposcope.probes.resampling import bootstrap_sums

CATEGORIES = {
    1: "person",
    2: "bicycle",
    3: "car",
    4: "motorcycle",
    18: "dog",
    23: "bear",
    34: "frisbee",
    46: "wine glass",
    47: "cup",
    55: "orange",
    58: "hot dog",
    73: "laptop",
    74: "mouse",
    88: "teddy bear",
}
# image id -> [(category id, area, iscrowd)]
INSTANCES = {
    1: [(1, 5000, 0), (18, 2000, 0), (34, 100, 0)],
    2: [(18, 3000, 0), (58, 400, 0)],
    3: [(46, 300, 0), (46, 150, 0), (47, 400, 0)],  # wine glass: max 300 < cup < sum 450
    4: [(73, 4000, 0), (74, 150, 0)],
    5: [(88, 1000, 0), (1, 800, 0), (1, 9000, 1)],  # the crowd must not count
    6: [(55, 50, 0), (3, 6000, 0)],
    7: [(2, 700, 0), (1, 900, 0), (3, 900, 0)],  # person and car tie
    8: [],
}
CAPTIONS = [
    (1, "A man throws a frisbee to his dog."),  # person frisbee dog: largest 1st, smallest 2nd
    (1, "A dog and a frisbee on the grass near a bike"),  # bike: no bicycle/motorcycle there
    (2, "A dog eyeing a hot dog on a plate"),  # dog hot-dog (plate is not a category here)
    (2, "Hot dogs next to a dog"),  # hot-dog dog: largest 2nd
    (3, "Two wine glasses and a glass of water beside a cup"),  # wine-glass cup
    (3, "A cup in front of a wine glass"),  # cup wine-glass
    (4, "A laptop with a mouse and a cup of orange juice"),  # cup: not in the image
    (5, "A teddy bear sitting with a child"),  # teddy 1000 > person 800 (crowd left out)
    (5, "a bear and a person"),  # bear: no bear there, so the teddy bear
    (6, "An orange next to a car"),  # largest 2nd
    (7, "A person riding a bike past a car"),  # person bicycle car: largest tied
    (8, "A dog on a couch"),  # no annotations
]


def write_fixture(folder: Path) -> tuple[Path, Path]:
    return write_coco_pair(folder, "hand", CATEGORIES, INSTANCES, CAPTIONS, 100)


def cluster_bootstrap(images: list[tuple[float, float, float]]) -> tuple[list[float], float]:
    """(interval, p-value) of a clustered share from its images' (captions, first is
    largest, chance expected): the percentile interval of the share over 2,000 resamples
    of the images (seed 0), and the two-sided z-test of share minus chance with the
    standard deviation of its resamples."""
    totals, counts, expected = (
        np.array(column, dtype=float) for column in zip(*images, strict=True)
    )
    replicated = bootstrap_sums(np.column_stack([counts, totals, expected]), 2000, 0)
    low, high = np.quantile(replicated[:, 0] / replicated[:, 1], [0.025, 0.975])
    spread = np.std((replicated[:, 0] - replicated[:, 2]) / replicated[:, 1], ddof=1)
    difference = (counts.sum() - expected.sum()) / totals.sum()
    return [float(low), float(high)], math.erfc(abs(difference) / spread / math.sqrt(2))


def as_json(value) -> str:
    """Figures as JSON text, where NaN (0 of 0) equals itself."""
    return json.dumps(value, sort_keys=True)


def counts(figures: list[dict]) -> list[int]:
    return [f["count"] for f in figures]


@pytest.fixture()
def hand(tmp_path):
    return CocoCorpus(*write_fixture(tmp_path))


def test_hand_made_coco_fixture_gives_the_hand_computed_figures(hand):
    result = run_probe("corpus-stats", None, hand, CorpusStatsSettings(), role="corpus")
    truth = result.metrics["ground_truth"]
    two, three = truth["by_k"]["2"], truth["by_k"]["3"]
    # k=2: captions 2-10; first is largest in 2, 3, 6 (cup 400 > 300), 7, 8, 9; by image
    # 1-6 (captions whose largest is known, first is largest): (1, 1), (2, 1), (2, 1),
    # (1, 1), (2, 2), (1, 0): images 2, 3 and 5 give two captions, so the figure is clustered
    assert two["captions"] == 9
    first = two["first_is_largest"]
    assert (first["count"], first["total"], first["clusters"]) == (6, 9, 6)
    by_image = [(1, 1, 1 / 2), (2, 1, 1), (2, 1, 1), (1, 1, 1 / 2), (2, 2, 1), (1, 0, 1 / 2)]
    interval, p = cluster_bootstrap(by_image)
    assert first["ci95"] == interval and first["p_value"] == pytest.approx(p, rel=1e-12)
    assert first["method"] == "cluster bootstrap (percentile)"
    assert counts(two["largest_position"]) == [6, 3]
    assert counts(two["smallest_position"]) == [3, 6]
    # k=3: caption 1 (person first) and 11 (largest tied; smallest bicycle is named 2nd):
    # one caption of one image, so the exact figures
    assert three["captions"] == 2
    assert "clusters" not in three["first_is_largest"]
    assert counts(three["largest_position"]) == [1, 0, 0]
    assert three["largest_position"][0]["total"] == 1
    assert three["first_is_largest"]["p_value"] == pytest.approx(1 / 3)
    assert counts(three["smallest_position"]) == [0, 2, 0]
    assert [truth["by_k"][k]["captions"] for k in "456"] == [0, 0, 0]
    pooled = truth["pooled"]
    expected = 9 / 2 + 1 / 3
    assert (pooled["count"], pooled["total"], pooled["clusters"]) == (7, 10, 6)
    assert pooled["chance"] == pytest.approx(expected / 10)
    # by image: (captions, first is largest, chance expected); image 1 adds its k=3 caption
    by_image[0] = (2, 2, 1 / 2 + 1 / 3)
    interval, p = cluster_bootstrap(by_image)
    assert pooled["ci95"] == interval and pooled["p_value"] == pytest.approx(p, rel=1e-12)
    design = truth["interval_design"]
    assert (design["unit"], design["clusters"], design["captions"]) == ("image", 6, 10)
    assert design["clustered_figures"] == ["by_k[2].first_is_largest", "pooled"]
    assert design["design_effect"] == pooled["design_effect"]
    assert truth["kept"] == 11
    assert truth["dropped"] == {
        "image has no annotated object": 1,
        "largest tied (left out of the largest figures)": 1,
    }
    assert result.metrics["mentions_left_out"] == {
        "ambiguous words left unresolved": 1,
        "objects named but not annotated in the image": 1,
    }
    # person: captions 1 (rank 1 of 3, first), 8 and 9 (rank 2 of 2), 11 (tied: rank 1.5 of 3,
    # first)
    person = truth["categories"]["person"]
    assert person["captions"] == 4
    assert person["named_first"]["count"] == 2
    assert person["mean_area_rank"] == pytest.approx((1 + 2 + 2 + 1.5) / 4)
    assert person["mean_normalised_rank"] == pytest.approx((0 + 1 + 1 + 0.25) / 4)
    assert person["chance"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 2 + 1 / 3) / 4)
    assert truth["categories"]["wine glass"]["mean_area_rank"] == 2  # max: 300 < 400
    assert truth["categories"]["teddy bear"]["captions"] == 2  # "bear" resolved to it
    assert "bear" not in truth["categories"]
    assert result.metrics["reader_counts"] == {"crowd annotations left out": 1}
    assert result.metrics["captions"] == 12


def test_area_sum_changes_what_is_largest(hand):
    truth = run_corpus_stats(None, hand, CorpusStatsSettings(area="sum")).metrics["ground_truth"]
    assert truth["categories"]["wine glass"]["mean_area_rank"] == 1  # sum: 450 > 400
    assert counts(truth["by_k"]["2"]["largest_position"]) == [6, 3]  # captions 5 and 6 swap


def test_provenance_names_inputs_and_tables(hand, tmp_path):
    result = run_corpus_stats(None, hand, CorpusStatsSettings())
    inputs = result.provenance["inputs"]
    from cliposcope.hashing import file_sha256

    assert [i["name"] for i in inputs] == ["captions_hand.json", "instances_hand.json"]
    assert inputs[1]["sha256"] == file_sha256(tmp_path / "instances_hand.json")
    matcher = result.provenance["matcher"]
    assert matcher["table"]["name"] == "coco-synonyms" and matcher["table"]["version"] == 1
    assert matcher["ambiguous"] == "if-present" and matcher["inflect"]
    assert result.provenance["vocabulary"]["source"] == "instance categories"
    assert set(result.provenance["library_versions"]) >= {"pyarrow", "pycocotools", "inflect"}
    assert result.model == {"spec": "corpus:captions_hand", "family": "corpus"}


PROXY_CAPTIONS = [
    "an elephant next to an apple",  # large small
    "a spoon beside a bus",  # small large
    "a dog, a cup and a house",  # medium small large
    "a chair and a table",  # medium medium: both tied
    "two giraffes and a mouse",  # large small
    "nothing to see here",
]


def test_the_text_only_proxy_on_hand_made_captions(tmp_path):
    path = tmp_path / "captions.jsonl"
    path.write_text("".join(json.dumps({"text": c}) + "\n" for c in PROXY_CAPTIONS))
    result = run_corpus_stats(
        None, TableCorpus(path, TableColumns(caption="text")), CorpusStatsSettings()
    )
    assert result.metrics["ground_truth"] is None
    proxy = result.metrics["proxy"]
    assert "proxy" in proxy["label"]
    two, three = proxy["by_k"]["2"], proxy["by_k"]["3"]
    assert two["captions"] == 4
    assert counts(two["largest_position"]) == [2, 1]
    assert counts(two["smallest_position"]) == [1, 2]
    assert counts(three["largest_position"]) == [0, 0, 1]
    assert counts(three["smallest_position"]) == [0, 1, 0]
    assert proxy["dropped"] == {
        "names no object": 1,
        "largest tied (left out of the largest figures)": 1,
        "smallest tied (left out of the smallest figures)": 1,
    }


def test_tallies_merge_to_the_whole(hand):
    settings = CorpusStatsSettings()
    counter = CorpusCounter(settings, hand.categories, sized=True, clustered=True)
    records = [r for batch in hand.batches(counter.matcher.canonical) for r in batch]
    whole = counter.count(records)
    # blocks of 5: image 3's two captions (the 5th and 6th) fall in different blocks
    parts = [counter.count(records[i : i + 5]) for i in range(0, len(records), 5)]
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    travelled = CorpusTallies.from_record(json.loads(json.dumps(merged.to_record())))
    assert as_json(travelled.truth.summary(1)) == as_json(merged.truth.summary(1))
    assert as_json(merged.truth.summary(1)) == as_json(whole.truth.summary(1))
    assert as_json(merged.proxy.summary(1)) == as_json(whole.proxy.summary(1))
    assert (merged.captions, merged.mentions) == (whole.captions, whole.mentions)
    assert travelled.truth.clusters == whole.truth.clusters
    assert merged.truth.clusters["3"] == [2, 1] + [0] * 8  # k=2: both captions, one first
    assert "pooled" in merged.truth.summary(1)["interval_design"]["clustered_figures"]


def test_rank_correlation_across_categories():
    tally = OriginTally(2, 6)
    # "big" is always larger and named first 3 times in 4; "mid" in between; "tiny" never
    for named, sizes in [
        (["big", "tiny"], [9, 1]),
        (["big", "mid"], [9, 5]),
        (["big", "tiny"], [9, 1]),
        (["mid", "big"], [5, 9]),
        (["mid", "tiny"], [5, 1]),
        (["tiny", "mid"], [1, 5]),
    ]:
        tally.add(named, sizes)
    correlation = tally.summary(1)["rank_correlation"]
    assert correlation["categories"] == 3
    assert correlation["rho"] == pytest.approx(-1.0)
    assert tally.summary(5)["rank_correlation"]["rho"] is None  # too few captions each


def test_table_formats_agree(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "caption": "A dog chasing a frisbee by a car",
            "names": ["dog", "Frisbees", "car"],
            "boxes": [[0, 0, 10, 30], [5, 5, 2, 2], [0, 0, 40, 40]],
        },
        {
            "caption": "an elephant and a giraffe",
            "names": ["elephant", "giraffe", "unicorn"],
            "boxes": [[0, 0, 20, 20], [1, 1, 5, 5], [0, 0, 1, 1]],
        },
    ]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    csv = tmp_path / "c.csv"
    import csv as csv_module

    with csv.open("w", newline="") as handle:
        writer = csv_module.writer(handle)
        writer.writerow(["caption", "names", "boxes"])
        for r in rows:
            writer.writerow([r["caption"], json.dumps(r["names"]), json.dumps(r["boxes"])])
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    columns = TableColumns(objects="names", boxes="boxes")
    results = [
        run_corpus_stats(None, TableCorpus(p, columns), CorpusStatsSettings())
        for p in (jsonl, csv, parquet)
    ]
    truth = results[0].metrics["ground_truth"]
    # dog 300, frisbee 4, car 1600: car (named 3rd) is largest; elephant 400 > giraffe 25
    assert counts(truth["by_k"]["3"]["largest_position"]) == [0, 0, 1]
    assert counts(truth["by_k"]["2"]["largest_position"]) == [1, 0]
    assert results[0].metrics["unknown_object_names"] == {"unicorn": 1}
    for other in results[1:]:
        assert as_json(other.metrics) == as_json(results[0].metrics)
    # read as corners, the frisbee's box (5, 5)-(2, 2) is impossible
    xyxy = TableCorpus(jsonl, TableColumns(objects="names", boxes="boxes", box_format="xyxy"))
    with pytest.raises(
        CliposcopeError, match=r"row 1: box \[5.0, 5.0, 2.0, 2.0\] has a negative side"
    ):
        run_corpus_stats(None, xyxy, CorpusStatsSettings())


@pytest.mark.slow
def test_cli_writes_result_table_and_report(tmp_path, capsys):
    captions, instances = write_fixture(tmp_path)
    out = tmp_path / "results"
    assert (
        main(
            [
                "corpus",
                "stats",
                "--coco-captions",
                str(captions),
                "--coco-instances",
                str(instances),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "corpus:captions_hand  areas" in printed and "66.7 (42.9-90.0)" in printed
    files = sorted(out.glob("corpus-stats_*.json"))
    assert len(files) == 1
    assert main(["table", str(files[0])]) == 0
    assert "First is largest %" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert 'id="corpus-stats"' in page and "Origins: caption order in the corpus" in page
    assert "corpus-stats plot" in page


@pytest.mark.slow
def test_generated_coco_export_recovers_the_planted_order(tmp_path):
    """70 % of captions name the large object first; corpus stats finds 70 % within its
    interval and the largest object's positions equal the generator's own record."""
    instances = tmp_path / "coco" / "instances_planted.json"
    assert (
        main(
            [
                "generate",
                "comco",
                "--objects",
                "3",
                "--order",
                "large-first:0.7",
                "--count",
                "240",
                "--size",
                "64",
                "--gap",
                "2",
                "--seed",
                "5",
                "--out",
                str(tmp_path / "scenes"),
                "--coco-json",
                str(instances),
                "--quiet",
            ]
        )
        == 0
    )
    captions = instances.with_name("captions_planted.json")
    result = run_corpus_stats(None, CocoCorpus(captions, instances), CorpusStatsSettings())
    three = result.metrics["ground_truth"]["by_k"]["3"]
    low, high = three["first_is_largest"]["ci95"]
    assert low <= 0.7 <= high
    from cliposcope.data.scenes import read_manifest

    scenes = [s for s in read_manifest(tmp_path / "scenes") if s.condition != "single"]
    recorded = Counter(
        s.names.index(next(o.name for o in s.objects if o.role == "large")) for s in scenes
    )
    assert three["captions"] == 240
    assert counts(three["largest_position"]) == [recorded[k] for k in range(3)]
    smallest = Counter()
    for scene in scenes:
        areas = [o.area_fraction for o in scene.objects]
        if areas.count(min(areas)) == 1:
            smallest[areas.index(min(areas))] += 1
    assert counts(three["smallest_position"]) == [smallest[k] for k in range(3)]


def test_text_only_corpora_refuse_options_they_cannot_use(tmp_path):
    path = tmp_path / "captions.jsonl"
    path.write_text(json.dumps({"caption": "a dog and a bus"}) + "\n")
    corpus = TableCorpus(path)
    for settings in (
        CorpusStatsSettings(area="sum"),
        CorpusStatsSettings(ambiguous="always"),
        CorpusStatsSettings(vocab="comco"),
    ):
        with pytest.raises(CliposcopeError, match="apply to corpora with object sizes"):
            run_corpus_stats(None, corpus, settings)


def test_csv_details_and_unknown_label_cap(tmp_path, monkeypatch):
    import cliposcope.data.corpus as corpus_module

    path = tmp_path / "excel.csv"
    rows = [
        'a dog by a mouse,"[""dog"", ""mouse""]","[5, 1]"',
        "an empty image,,",
        'zebra and lion,"[""zebra"", ""lion"", ""tiger""]","[1, 2, 3]"',
    ]
    path.write_bytes(b"\xef\xbb\xbfcaption,names,areas\n" + "\n".join(rows).encode() + b"\n")
    monkeypatch.setattr(corpus_module, "_UNKNOWN_KEPT", 1)
    corpus = TableCorpus(path, TableColumns(objects="names", areas="areas"))
    result = run_corpus_stats(None, corpus, CorpusStatsSettings())
    truth = result.metrics["ground_truth"]
    assert counts(truth["by_k"]["2"]["largest_position"]) == [1, 0]  # mouse is a plain label
    assert truth["dropped"]["image has no annotated object"] == 1
    assert result.metrics["unknown_object_names"] == {"lion": 1, "(other names)": 1}


def test_a_local_hugging_face_dataset_reads_like_the_file(tmp_path, monkeypatch):
    from cliposcope.data.corpus import HubCorpus

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "dataset"
    folder.mkdir()
    rows = [
        {"caption": "a dog and a bus", "objects": ["dog", "bus"], "areas": [1.0, 5.0]},
        {
            "caption": "an elephant by an apple",
            "objects": ["elephant", "apple"],
            "areas": [9.0, 1.0],
        },
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = TableColumns(objects="objects", areas="areas")
    hub = run_corpus_stats(None, HubCorpus(f"hf:{folder}", columns), CorpusStatsSettings())
    table = run_corpus_stats(
        None, TableCorpus(folder / "train.jsonl", columns), CorpusStatsSettings()
    )
    assert as_json(hub.metrics) == as_json(table.metrics)
    assert hub.provenance["inputs"][0]["name"] == "train.jsonl"
    with pytest.raises(CliposcopeError, match="no column 'text'"):
        HubCorpus(f"hf:{folder}", TableColumns(caption="text"))
    with pytest.raises(CliposcopeError, match="split 'test'"):
        HubCorpus(f"hf:{folder}@test")
