"""The t2i probe's design, statistics and bookkeeping, checked against known truth: the
planted: stand-in draws each prompt position's object with a set probability, and the
truth: stand-in reads back what it drew."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from cliposcope.errors import CliposcopeError
from cliposcope.generation.base import Detection, Detector, DetectorOptions, GenerationOptions
from cliposcope.generation.registry import load_generator
from cliposcope.generation.rig import Rig, open_rig
from cliposcope.generation.store import ImageStore
from cliposcope.probes.registry import run_probe
from cliposcope.probes.stats import (
    newcombe_paired_interval,
    paired_difference,
    paired_table,
    wilson_interval,
)
from cliposcope.probes.t2i import (
    BALANCED,
    LARGE_FIRST,
    SMALL_FIRST,
    SOLO,
    T2I_OBJECTS,
    T2ISettings,
    build_design,
    calibrated_thresholds,
    orderings,
    seed_list,
    size_bucket,
)

# The whole module builds a tiny diffusion pipeline and detector (the full suite).
pytestmark = pytest.mark.slow

PLANTED = (0.9, 0.6, 0.3)


def rig_for(store: Path, generator: str = "planted:0.9,0.6,0.3", detector: str = "truth:planted"):
    return open_rig(generator, detector, store, GenerationOptions(), DetectorOptions())


@pytest.mark.parametrize("orders", ["cyclic", "all"])
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_every_object_stands_at_every_position_equally_often(n, orders):
    settings = T2ISettings(n=n, combinations=7, orders=orders, solo=False)
    prompts = build_design(T2I_OBJECTS, settings)
    per_combination = math.factorial(n) if orders == "all" else n
    assert len(prompts) == 7 * per_combination
    counts = Counter((word, k) for p in prompts for k, word in enumerate(p.objects))
    for word in {w for p in prompts for w in p.objects}:
        at = [counts[(word, k)] for k in range(n)]
        assert len(set(at)) == 1 and at[0] > 0, (word, at)
    by_combination = Counter(p.combination for p in prompts)
    assert set(by_combination.values()) == {per_combination}
    for c in by_combination:  # the orders of one combination are its distinct orderings
        orders_of_c = [p.objects for p in prompts if p.combination == c]
        assert len(set(orders_of_c)) == per_combination
        assert len({frozenset(o) for o in orders_of_c}) == 1


def test_cyclic_orders_are_the_rotations():
    assert orderings(("a", "b", "c"), "cyclic") == [
        ("a", "b", "c"),
        ("b", "c", "a"),
        ("c", "a", "b"),
    ]
    assert len(orderings(("a", "b", "c"), "all")) == 6


def test_the_design_is_fixed_by_the_seed_and_shares_one_seed_list():
    one = build_design(T2I_OBJECTS, T2ISettings(seed=3))
    assert one == build_design(T2I_OBJECTS, T2ISettings(seed=3))
    assert one != build_design(T2I_OBJECTS, T2ISettings(seed=4))
    assert seed_list(T2ISettings(seed=3)) == seed_list(T2ISettings(seed=3))
    assert len(set(seed_list(T2ISettings(seeds_per_prompt=6)))) == 6
    assert one[0].text == "a photo of " + " and ".join(
        ("an " if w[0] in "aeiou" else "a ") + w for w in one[0].objects
    )
    solo = [p for p in one if p.arm == SOLO]
    assert [p.objects for p in solo] == [(w,) for w in T2I_OBJECTS]
    assert solo[0].text == "a photo of a bus"


def test_size_arms_name_the_same_objects_large_to_small_and_back():
    prompts = build_design(T2I_OBJECTS, T2ISettings(n=3, size_order=True, solo=False))
    large = [p for p in prompts if p.arm == LARGE_FIRST]
    small = [p for p in prompts if p.arm == SMALL_FIRST]
    assert len(large) == len(small) == 12
    for a, b in zip(large, small, strict=True):
        assert [size_bucket(w) for w in a.objects] == ["large", "medium", "small"]
        assert b.objects == tuple(reversed(a.objects)) and a.combination == b.combination


def test_mcnemar_and_newcombe_on_a_hand_computed_table():
    # 44 images: both present 12, first only 9, last only 2, neither 21.
    figure = paired_difference(12, 9, 2, 21)
    assert figure["estimate"] == pytest.approx(7 / 44)
    # exact McNemar: 2 * P(X <= 2), X ~ Bin(11, 1/2) = 2 * (1 + 11 + 55) / 2048
    assert figure["p_value"] == pytest.approx(134 / 2048)
    # Newcombe (method 10): margins 21/44 and 14/44 with their Wilson limits, and
    # phi = (12*21 - 9*2 - 44/2) / sqrt(21*23*14*30) = 212 / sqrt(202860)
    p1, p2 = 21 / 44, 14 / 44
    l1, u1 = wilson_interval(21, 44)
    l2, u2 = wilson_interval(14, 44)
    phi = 212 / math.sqrt(21 * 23 * 14 * 30)
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    assert figure["ci95"] == pytest.approx([low, high])
    assert figure["ci95"] == pytest.approx([0.0112, 0.2954], abs=5e-5)
    assert paired_difference(5, 0, 0, 5)["p_value"] == 1.0
    # all pairs concordant: phi = 0 and both margins are 3/3, so the limits are -/+ the
    # distance from 1 to Wilson's lower limit for 3 of 3
    reach = 1 - wilson_interval(3, 3)[0]
    assert newcombe_paired_interval(3, 0, 0, 0) == pytest.approx((-reach, reach))
    assert paired_table([True, True, False, False], [True, False, True, False]) == (1, 1, 1, 1)


def test_calibrated_thresholds_are_the_upper_quantile_of_off_prompt_scores():
    from cliposcope.probes.t2i import Prompt

    prompts = [Prompt(BALANCED, 0, ("dog",), "")] + [
        Prompt(BALANCED, i, ("cat",), "") for i in range(1, 21)
    ]
    found = [[Detection("dog", 0.9)]] + [[Detection("dog", i / 100)] for i in range(1, 21)]
    found = [[*f, Detection("cat", 0.5)] for f in found]
    cut = calibrated_thresholds(prompts, found, ["dog"], 0.05)
    # 20 off-prompt dog scores 0.01..0.20: the 95% quantile ("higher") is the 20th-ranked
    # value at index ceil(0.95 * 19) = 19 -> 0.20
    assert cut == {"dog": pytest.approx(0.20)}
    everywhere = [Prompt(BALANCED, 0, ("cat", "dog"), "")]
    with pytest.raises(CliposcopeError, match="no image without 'cat'"):
        calibrated_thresholds(everywhere, [[Detection("cat", 0.5)]], ["cat"], 0.05)


@pytest.fixture(scope="module")
def planted_result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    settings = T2ISettings(
        combinations=40, seeds_per_prompt=5, size_order=True, artifacts_dir=folder / "examples"
    )
    return run_probe("t2i", None, rig_for(folder / "store"), settings), folder


def inside(figure, value) -> bool:
    low, high = figure["ci95"]
    return low <= value <= high


def test_planted_presence_rates_are_recovered_within_their_intervals(planted_result):
    result, _ = planted_result
    m = result.metrics
    assert m["images"] == 40 * 3 * 5
    for figure, planted in zip(m["presence_by_position"], PLANTED, strict=True):
        assert inside(figure, planted), (figure, planted)
    assert inside(m["all_present"], 0.9 * 0.6 * 0.3)
    first_minus_last = m["first_minus_last"]
    assert inside(first_minus_last, 0.9 - 0.3)
    # the 15 images of a combination (3 orders x 5 seeds) are one cluster: 40 clusters,
    # resampled whole; the test's p-value reaches its floor 1/(B + 1)
    assert first_minus_last["clusters"] == 40 and m["combinations"] == 40
    assert first_minus_last["method"].startswith("paired cluster bootstrap")
    assert first_minus_last["p_value"] == pytest.approx(1 / 2001)
    for figure in (*m["presence_by_position"], m["all_present"]):
        assert figure["clusters"] == 40 and figure["design_effect"] > 0
    assert inside(m["controls"]["solo_presence"], 0.9)
    assert m["controls"]["off_prompt_detections"]["count"] == 0  # truth never hallucinates
    for word, figure in m["per_object"].items():  # each object 0.6 on average over positions
        assert inside(figure["presence"], 0.6), word
    assert m["never_drawn"] == []
    sizes = m["size_order"]
    assert inside(sizes["largest_named_first_minus_last"], 0.6)
    assert inside(sizes["smallest_named_first_minus_last"], 0.6)
    assert inside(sizes[LARGE_FIRST]["presence_by_position"][1], 0.6)


def test_the_result_records_what_reproduces_it(planted_result):
    result, folder = planted_result
    assert result.probe == "t2i" and result.model["spec"] == "planted:0.9,0.6,0.3"
    assert result.settings["detector"] == "truth:planted"
    assert result.settings["presence_rule"] == {"kind": "score threshold", "threshold": 0.5}
    assert len(result.settings["seeds"]) == 5
    counts = result.provenance["counts"]
    design = build_design(T2I_OBJECTS, T2ISettings(combinations=40, size_order=True))
    repeated = len(design) - len({p.text for p in design})  # size-arm orders also balanced
    assert repeated > 0 and counts["images"] == 5 * len(design)
    assert counts["images_generated"] == counts["images"] - 5 * repeated  # each drawn once
    assert counts["blanked_by_safety_checker"] == 0
    assert result.provenance["evidence"].startswith("ground truth")
    assert len(result.provenance["design_fingerprint"]) == 64
    examples = sorted((folder / "examples").glob("*.png"))
    assert [p.name for p in examples] == result.provenance["examples"] and len(examples) == 12


def counted(figure: dict) -> tuple[int, int]:
    return figure["count"], figure["total"]


def presence_figures(rows: list[dict], n: int) -> dict:
    """docs/protocols.md, "Text-to-image": presence by position, first minus last paired on
    the same images, all present."""
    firsts = [row["present"][0] for row in rows]
    lasts = [row["present"][-1] for row in rows]
    table = [
        sum(f and last for f, last in zip(firsts, lasts, strict=True)),
        sum(f and not last for f, last in zip(firsts, lasts, strict=True)),
        sum(last and not f for f, last in zip(firsts, lasts, strict=True)),
        sum(not (f or last) for f, last in zip(firsts, lasts, strict=True)),
    ]
    return {
        "images": len(rows),
        "presence_by_position": [(sum(r["present"][k] for r in rows), len(rows)) for k in range(n)],
        "table": table,
        "all_present": (sum(all(r["present"]) for r in rows), len(rows)),
    }


def assert_presence_figures(figures: dict, rows: list[dict], n: int) -> None:
    expected = presence_figures(rows, n)
    assert figures["images"] == expected["images"]
    assert [counted(f) for f in figures["presence_by_position"]] == expected["presence_by_position"]
    assert figures["first_minus_last"]["table"] == expected["table"]
    assert counted(figures["all_present"]) == expected["all_present"]


def test_every_figure_is_recomputed_from_the_records(planted_result):
    result, _ = planted_result
    records, m, n = result.query_records, result.metrics, result.settings["n"]
    rows = [
        dict(zip(records, values, strict=True)) for values in zip(*records.values(), strict=True)
    ]
    seeds = result.settings["seeds"]
    drawn = Counter((row["arm"], row["prompt"]) for row in rows)  # each prompt with every seed
    assert set(drawn.values()) == {len(seeds)}
    assert all(row["seed"] in seeds for row in rows)
    balanced = [row for row in rows if row["arm"] == BALANCED]
    assert_presence_figures(m, balanced, n)
    for word, figure in m["per_object"].items():
        at = [[r["present"][k] for r in balanced if r["objects"][k] == word] for k in range(n)]
        assert [counted(f) for f in figure["by_position"]] == [(sum(a), len(a)) for a in at]
        assert counted(figure["presence"]) == (sum(map(sum, at)), sum(map(len, at)))
    assert m["never_drawn"] == [w for w, f in m["per_object"].items() if not f["presence"]["count"]]
    controls = m["controls"]
    others = len(result.settings["words"]) - n
    off_prompt = sum(r["off_prompt_detections"] for r in balanced)
    assert counted(controls["off_prompt_detections"]) == (off_prompt, len(balanced) * others)
    solo = [row for row in rows if row["arm"] == SOLO]
    assert counted(controls["solo_presence"]) == (sum(r["present"][0] for r in solo), len(solo))
    for word, figure in controls["solo_by_object"].items():
        alone = [r["present"][0] for r in solo if r["objects"] == [word]]
        assert counted(figure) == (sum(alone), len(seeds)) and len(alone) == len(seeds)
    arms = {arm: [r for r in rows if r["arm"] == arm] for arm in (LARGE_FIRST, SMALL_FIRST)}
    for arm, arm_rows in arms.items():
        assert_presence_figures(m["size_order"][arm], arm_rows, n)
    reversed_order = {(r["combination"], r["seed"]): r for r in arms[SMALL_FIRST]}
    pairs = [(r, reversed_order[r["combination"], r["seed"]]) for r in arms[LARGE_FIRST]]
    for key, first, last in (
        ("largest_named_first_minus_last", lambda a, b: a[0], lambda a, b: b[-1]),
        ("smallest_named_first_minus_last", lambda a, b: b[0], lambda a, b: a[-1]),
    ):
        table = Counter(
            (first(a["present"], b["present"]), last(a["present"], b["present"])) for a, b in pairs
        )
        expected = [table[True, True], table[True, False], table[False, True], table[False, False]]
        assert m["size_order"][key]["table"] == expected


def test_an_object_never_drawn_is_named(tmp_path):
    result = run_probe(
        "t2i",
        None,
        rig_for(tmp_path, "planted:1,1,0"),
        T2ISettings(
            n=3,
            combinations=4,
            seeds_per_prompt=2,
            solo=False,
            vocab=str(_vocab(tmp_path, ["dog", "bus", "cup", "apple"])),
        ),
    )
    m = result.metrics
    assert [f["estimate"] for f in m["presence_by_position"]] == [1.0, 1.0, 0.0]
    assert m["first_minus_last"]["estimate"] == 1.0 and m["never_drawn"] == []
    result = run_probe(
        "t2i",
        None,
        rig_for(tmp_path, "planted:0"),
        T2ISettings(n=2, combinations=2, seeds_per_prompt=1, solo=False),
    )
    assert result.metrics["never_drawn"] == list(result.metrics["per_object"])
    assert 2 < len(result.metrics["never_drawn"]) <= 4  # the two combinations' objects


def _vocab(folder: Path, words: list[str]) -> Path:
    path = folder / "words.txt"
    path.write_text("\n".join(words) + "\n")
    return path


def test_a_rerun_resumes_and_another_detector_reuses_the_images(tmp_path):
    settings = T2ISettings(n=2, combinations=6, seeds_per_prompt=2)
    first = run_probe("t2i", None, rig_for(tmp_path), settings)
    images = first.provenance["counts"]["images"]
    assert first.provenance["counts"]["images_generated"] == images
    # an interrupted run: some images and detections were never written
    stored = sorted((tmp_path / "images").glob("*/*.json"))
    for record in stored[::3]:
        record.unlink()
    for detections in sorted((tmp_path / "detections").glob("*/*.json"))[::2]:
        detections.unlink()
    again = run_probe("t2i", None, rig_for(tmp_path), settings)
    counts = again.provenance["counts"]
    assert counts["images_generated"] == len(stored[::3])
    assert counts["images_reused"] == images - len(stored[::3])
    assert 0 < counts["detections_run"] < images
    assert json.dumps(again.metrics, sort_keys=True) == json.dumps(first.metrics, sort_keys=True)
    rescored = run_probe("t2i", None, rig_for(tmp_path, detector="clip:toy:default"), settings)
    counts = rescored.provenance["counts"]
    assert counts["images_generated"] == 0 and counts["detections_run"] == images
    rule = rescored.settings["presence_rule"]
    assert rule["kind"] == "calibrated per label" and set(rule["thresholds"]) == set(T2I_OBJECTS)
    assert "weaker evidence" in rescored.provenance["evidence"]


def test_a_damaged_store_record_is_one_clear_error(tmp_path):
    settings = T2ISettings(n=2, combinations=1, seeds_per_prompt=1, solo=False)
    run_probe("t2i", None, rig_for(tmp_path), settings)
    record = sorted((tmp_path / "images").glob("*/*.json"))[0]
    payload = json.loads(record.read_text())
    payload["truth"] = [{"label": "dog", "box": ["x", 0, 1, 1]}]
    record.write_text(json.dumps(payload))
    with pytest.raises(CliposcopeError, match="not four numbers") as caught:
        run_probe("t2i", None, rig_for(tmp_path), settings)
    assert "delete it" in caught.value.hint


class RuleDetector(Detector):
    """Reports the named objects a rule lets through, plus 'always' objects everywhere."""

    def __init__(self, hides=(), always=(), only_first=False):
        self.hides, self.always, self.only_first = set(hides), set(always), only_first
        self.identity = {
            "kind": "rule",
            "hides": sorted(hides),
            "always": sorted(always),
            "only_first": only_first,
        }
        self.info = {"spec": "rule:test", "family": "rule", "evidence": "a test rule"}

    def detect(self, images, labels):
        found = []
        for image in images:
            named = image.record["objects"][:1] if self.only_first else image.record["objects"]
            shown = (set(named) - self.hides) | self.always
            found.append([Detection(label, 0.9) for label in labels if label in shown])
        return found


def rule_rig(store: Path, detector: Detector) -> Rig:
    generator = load_generator("planted:1", GenerationOptions())
    return Rig(generator, detector, ImageStore(store), ("torch",))


def test_per_object_solo_and_off_prompt_figures_on_a_hand_counted_design(tmp_path):
    # 4 objects, pairs: all 6 combinations x 2 orders x 1 seed = 12 images; every object is
    # at each position 3 times. The detector never sees "cup" and sees "dog" everywhere.
    words = _vocab(tmp_path, ["dog", "bus", "cup", "apple"])
    settings = T2ISettings(n=2, combinations=6, seeds_per_prompt=1, vocab=str(words))
    result = run_probe(
        "t2i", None, rule_rig(tmp_path / "s", RuleDetector(hides={"cup"}, always={"dog"})), settings
    )
    m = result.metrics
    assert [(f["count"], f["total"]) for f in m["presence_by_position"]] == [(9, 12), (9, 12)]
    assert m["first_minus_last"]["table"] == [6, 3, 3, 0]  # cup first 3 times, last 3 times
    assert m["first_minus_last"]["estimate"] == 0.0 and m["first_minus_last"]["p_value"] == 1.0
    assert (m["all_present"]["count"], m["all_present"]["total"]) == (6, 12)
    assert m["never_drawn"] == ["cup"]
    presence = {
        w: (f["presence"]["count"], f["presence"]["total"]) for w, f in m["per_object"].items()
    }
    assert presence == {"dog": (6, 6), "bus": (6, 6), "cup": (0, 6), "apple": (6, 6)}
    assert [(f["count"], f["total"]) for f in m["per_object"]["bus"]["by_position"]] == [
        (3, 3),
        (3, 3),
    ]
    # off the prompt: "dog" in the 6 images whose prompt omits it, of 12 x 2 chances
    off = m["controls"]["off_prompt_detections"]
    assert (off["count"], off["total"]) == (6, 24)
    solo = m["controls"]["solo_presence"]
    assert (solo["count"], solo["total"]) == (3, 4)
    assert {w: f["count"] for w, f in m["controls"]["solo_by_object"].items()} == {
        "dog": 1,
        "bus": 1,
        "cup": 0,
        "apple": 1,
    }
    records = result.query_records
    assert records["arm"] == [BALANCED] * 12 + [SOLO] * 4
    for objects, present in zip(records["objects"], records["present"], strict=True):
        assert present == [name != "cup" for name in objects]
    assert records["off_prompt_detections"] == [int("dog" not in o) for o in records["objects"]]


def test_size_arms_pair_the_largest_and_the_smallest_object_by_identity(tmp_path):
    # a detector blind to small objects: the largest is present wherever it is named, the
    # smallest nowhere, whichever end of the prompt it is at
    small = {w for w in T2I_OBJECTS if size_bucket(w) == "small"}
    settings = T2ISettings(n=3, combinations=5, seeds_per_prompt=2, size_order=True, solo=False)
    result = run_probe("t2i", None, rule_rig(tmp_path, RuleDetector(hides=small)), settings)
    sizes = result.metrics["size_order"]
    assert sizes["largest_named_first_minus_last"]["table"] == [10, 0, 0, 0]
    assert sizes["smallest_named_first_minus_last"]["table"] == [0, 0, 0, 10]
    for arm, present in ((LARGE_FIRST, [10, 10, 0]), (SMALL_FIRST, [0, 10, 10])):
        assert [f["count"] for f in sizes[arm]["presence_by_position"]] == present
    # a detector that sees only the object named first: both objects gain from going first
    result = run_probe("t2i", None, rule_rig(tmp_path, RuleDetector(only_first=True)), settings)
    sizes = result.metrics["size_order"]
    assert sizes["largest_named_first_minus_last"]["table"] == [0, 10, 0, 0]
    assert sizes["smallest_named_first_minus_last"]["table"] == [0, 10, 0, 0]


@pytest.mark.parametrize(
    ("table", "phi"),
    [
        ((2, 9, 12, 21), -66 / math.sqrt(11 * 33 * 14 * 30)),  # a*d - b*c < 0: taken as it is
        ((5, 5, 5, 6), 0.0),  # 0 < a*d - b*c = 5 <= n/2 = 10.5: the correction makes it 0
    ],
)
def test_newcombe_phi_below_zero_and_within_the_correction(table, phi):
    a, b, c, d = table
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n)
    l2, u2 = wilson_interval(a + c, n)
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    assert newcombe_paired_interval(*table) == pytest.approx((low, high))


def test_a_new_threshold_rescores_the_stored_detections(tmp_path):
    settings = T2ISettings(n=2, combinations=6, seeds_per_prompt=2)
    clip = "clip:toy:default"
    first = run_probe("t2i", None, rig_for(tmp_path, detector=clip), settings)
    looser = run_probe(
        "t2i",
        None,
        rig_for(tmp_path, detector=clip),
        T2ISettings(n=2, combinations=6, seeds_per_prompt=2, threshold=0.3),
    )
    counts = looser.provenance["counts"]
    assert counts["images_generated"] == 0 and counts["detections_run"] == 0
    assert looser.settings["presence_rule"]["false_positive_rate"] == 0.3
    assert first.settings["presence_rule"]["false_positive_rate"] == 0.05
    strict = first.settings["presence_rule"]["thresholds"]
    loose = looser.settings["presence_rule"]["thresholds"]
    assert all(loose[w] <= strict[w] for w in strict) and loose != strict
    assert "off_prompt_detections" not in first.metrics["controls"]  # calibration sets it


def test_a_damaged_store_image_is_one_clear_error(tmp_path):
    settings = T2ISettings(n=2, combinations=1, seeds_per_prompt=1, solo=False)
    run_probe("t2i", None, rig_for(tmp_path), settings)
    for detections in (tmp_path / "detections").glob("*/*.json"):
        detections.unlink()
    image = sorted((tmp_path / "images").glob("*/*.png"))[0]
    image.write_bytes(b"\x89PNG broken")
    with pytest.raises(CliposcopeError, match="cannot be read"):
        run_probe(
            "t2i", None, rig_for(tmp_path, "planted:0.9,0.6,0.3", "clip:toy:default"), settings
        )
