"""Verdicts against controls: the difference interval on a published case, pairing rules,
and detection on synthetic encoders with a planted first-object effect and with none."""

from __future__ import annotations

import pytest
from tests.probes.fakes import PositionWeightedEncoder

from cliposcope.data.vocab import Vocabulary
from cliposcope.probes.presentation import p_value
from cliposcope.probes.registry import run_probe
from cliposcope.probes.stats import Proportion, newcombe_difference_interval
from cliposcope.probes.tor import TorSettings
from cliposcope.probes.verdicts import (
    BiasFigure,
    compare,
    data_key,
    verdicts,
)

WORDS = Vocabulary("fake words", tuple(f"w{i:02d}" for i in range(30)))


def test_the_difference_interval_on_newcombes_worked_example():
    # Newcombe (1998), 56/70 - 48/80 = 0.2: the hybrid score interval is 0.0524 to 0.3339
    low, high = newcombe_difference_interval(Proportion(56, 70), Proportion(48, 80))
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=5e-5)


def tor_pair(model_weights, seed: int, noise_seeds=(1, 2), sample: int = 600):
    settings = TorSettings(WORDS, n=3, sample=sample, seed=seed)
    model = PositionWeightedEncoder(model_weights, noise=0.6, noise_seed=noise_seeds[0])
    control = PositionWeightedEncoder((1.0, 1.0, 1.0), noise=0.6, noise_seed=noise_seeds[1])
    control.info = type(control.info)(**{**control.info.to_dict(), "spec": "fake:control"})
    first = run_probe("tor", model, None, settings)
    first.provenance["controls"] = {"random-init": "fake:control"}
    second = run_probe("tor", control, None, settings, role="null:random-init")
    return [first, second]


def test_a_planted_first_object_effect_is_detected():
    # the first object weighs 4% more than the others: about +14 points of preference
    (verdict,) = verdicts(tor_pair((1.04, 1.0, 1.0), seed=0))
    assert verdict.beyond_control and verdict.difference > 0.05 and verdict.p_value < 1e-4
    assert verdict.sentence.startswith(
        "first-object preference beyond its random-weight control: 48.7% against 34.7%, "
        "+14.0 points (95% CI +10.1 to +17.8, paired Newcombe interval), p = 3.2e-12"
    )
    assert verdict.model_figure["total"] > 0 and verdict.control == "random-init"
    # every arg-max lands on a caption object here, so the share is a plain one
    assert verdict.method == "paired Newcombe interval, exact McNemar test"
    assert verdict.design["units"] == 600 and sum(verdict.design["table"]) == 600


@pytest.mark.slow
def test_no_effect_is_rarely_called_an_effect():
    calls = []
    for seed in range(100):
        (verdict,) = verdicts(tor_pair((1.0, 1.0, 1.0), seed, (3 * seed, 3 * seed + 1), 300))
        calls.append(verdict.beyond_control or verdict.below_control)
        assert verdict.beyond_control == (verdict.p_value < 0.05 and verdict.difference > 0)
    # tests at 5%: at most about 5 false calls of 100; 10 or more has probability 0.03
    assert sum(calls) <= 9, sum(calls)


def test_only_results_on_the_same_data_and_the_recorded_control_are_compared():
    model, control = tor_pair((1.4, 1.0, 1.0), seed=0)
    other_data = run_probe(
        "tor",
        PositionWeightedEncoder((1.0, 1.0, 1.0)),
        None,
        TorSettings(WORDS, n=3, sample=600, seed=9),
        role="null:random-init",
    )
    assert len(verdicts([model, control, other_data])) == 1
    model.provenance["controls"] = {"random-init": "fake:someone-else"}
    assert verdicts([model, control]) == []
    del model.provenance["controls"]  # older results: the one control of the same data
    assert len(verdicts([model, control])) == 1


def test_results_on_other_words_or_another_template_are_never_compared():
    model, control = tor_pair((1.04, 1.0, 1.0), seed=0)
    other_words = Vocabulary("other words", tuple(f"v{i:02d}" for i in range(30)))
    for settings in (
        TorSettings(other_words, n=3, sample=600, seed=0),
        TorSettings(WORDS, n=3, sample=600, seed=0, template="article"),
    ):
        elsewhere = run_probe(
            "tor", PositionWeightedEncoder((1.0, 1.0, 1.0)), None, settings, role="null:random-init"
        )
        assert data_key(elsewhere) != data_key(control)  # same rows, other captions
        expected = [v.control_figure for v in verdicts([model, control])]
        assert [v.control_figure for v in verdicts([model, elsewhere, control])] == expected
        del model.provenance["controls"]  # even unrecorded: only the control of the same data
        assert [v.control_figure for v in verdicts([model, elsewhere, control])] == expected
        model.provenance["controls"] = {"random-init": "fake:control"}


def test_the_sum_control_pairs_with_its_model_despite_its_own_setting():
    from dataclasses import replace

    settings = TorSettings(WORDS, n=3, sample=600, seed=0)
    encoder = PositionWeightedEncoder((1.04, 1.0, 1.0), noise=0.6)
    model = run_probe("tor", encoder, None, settings)
    model.provenance["controls"] = {"sum": encoder.info.spec}
    summed = run_probe(
        "tor", encoder, None, replace(settings, caption_embedding="sum"), role="null:sum"
    )
    (verdict,) = verdicts([model, summed])
    assert verdict.control == "sum" and verdict.sentence.startswith(
        "first-object preference beyond its order-blind sum control"
    )


def test_figures_that_are_not_one_share_compare_by_their_standard_errors():
    # 0.40 (se 0.03) against 0.30 (se 0.04): +10 points, se 0.05, z = 2
    model = BiasFigure("order effect", "gap", 0.40, 0.03)
    control = BiasFigure("order effect", "gap", 0.30, 0.04)
    difference, (low, high), p = compare(model, control)
    assert difference == pytest.approx(0.10)
    assert (low, high) == pytest.approx((0.10 - 1.959964 * 0.05, 0.10 + 1.959964 * 0.05))
    assert p == pytest.approx(0.0455003, rel=1e-5)  # two-sided normal tail at z = 2
    assert model.to_dict()["ci95"] == pytest.approx(
        [0.40 - 1.959964 * 0.03, 0.40 + 1.959964 * 0.03]
    )
    share = BiasFigure.share("b", "f", 30, 100)
    assert share.error == pytest.approx((0.3 * 0.7 / 100) ** 0.5) and share.measured
    assert not BiasFigure.share("b", "f", 0, 0).measured


def test_a_paired_comparison_of_a_hand_made_table():
    from cliposcope.probes.verdicts import QueryFigure, compare_paired

    # 10 queries: both hit 3, model only 4, control only 1, neither 2 -> +0.3
    model = QueryFigure.of(range(10), [1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
    control = QueryFigure.of(range(10), [1, 1, 1, 0, 0, 0, 0, 1, 0, 0])
    found = compare_paired(model, control)
    assert found.difference == pytest.approx(0.3) and found.design["table"] == [3, 4, 1, 2]
    # exact McNemar: 4 of 5 discordant pairs, two-sided binomial at 1/2 = 2 * 6/32
    assert found.p_value == pytest.approx(0.375)
    from cliposcope.probes.stats import newcombe_paired_interval

    assert found.ci95 == pytest.approx(newcombe_paired_interval(3, 4, 1, 2))


def test_a_conditional_or_clustered_figure_is_compared_by_a_recorded_bootstrap():
    import numpy as np

    from cliposcope.probes.verdicts import QueryFigure, compare_paired

    rng = np.random.default_rng(0)
    counted = rng.random((2, 400)) < 0.7
    hit = rng.random((2, 400)) < 0.5
    model = QueryFigure.of(range(400), hit[0] & counted[0], counted[0])
    control = QueryFigure.of(range(400), hit[1] & counted[1], counted[1])
    found = compare_paired(model, control)
    assert found.method.startswith("paired bootstrap")
    assert found.difference == pytest.approx(model.estimate - control.estimate)
    assert found.design == {
        "unit": "query",
        "units": 400,
        "queries": 400,
        "replicates": 2000,
        "seed": 0,
    }
    assert compare_paired(model, control) == found  # the seed is fixed
    scenes = [i // 5 for i in range(400)]
    clustered = compare_paired(
        QueryFigure.of(range(400), hit[0], clusters=scenes),
        QueryFigure.of(range(400), hit[1], clusters=scenes),
    )
    assert clustered.method.startswith("paired cluster bootstrap")
    assert clustered.design["unit"] == "cluster" and clustered.design["units"] == 80
    assert clustered.design["design_effect"] > 0
    # clusters that are all distinct are no clusters
    assert QueryFigure.of(range(3), [1, 0, 1], clusters=["a", "b", "c"]).clusters is None


def test_control_queries_in_another_order_are_paired_by_id_and_others_are_not():
    from cliposcope.probes.verdicts import QueryFigure

    model = QueryFigure.of(["a", "b", "c"], [1, 0, 1])
    control = QueryFigure.of(["c", "a", "b"], [0, 1, 1])
    aligned = control.aligned_with(model)
    assert aligned.ids == ["a", "b", "c"] and aligned.numerator.tolist() == [1, 1, 0]
    assert QueryFigure.of(["a", "b", "d"], [0, 1, 1]).aligned_with(model) is None
    assert QueryFigure.of(["a", "a", "b"], [0, 1, 1]).aligned_with(model) is None


def test_verdicts_of_saved_results_pair_from_their_record_files(tmp_path):
    from cliposcope.results import ProbeResult

    model, control = tor_pair((1.04, 1.0, 1.0), seed=0)
    (in_memory,) = verdicts([model, control])
    loaded = []
    for index, result in enumerate((model, control)):
        result.save(tmp_path / f"{index}.json")
        loaded.append(ProbeResult.load(tmp_path / f"{index}.json"))
    (from_files,) = verdicts(loaded)
    assert from_files.method == in_memory.method and from_files.ci95 == in_memory.ci95
    assert from_files.unpaired == in_memory.unpaired and from_files.unpaired is not None


def test_without_records_the_verdict_is_unpaired_and_says_why(caplog):
    model, control = tor_pair((1.04, 1.0, 1.0), seed=0)
    control.query_records = None  # as with --no-records, never saved
    (verdict,) = verdicts([model, control])
    assert verdict.method == "unpaired Newcombe interval, two-proportion z-test"
    assert "no per-query records" in verdict.design["unpaired_because"]
    assert verdict.unpaired is None
    assert "compared unpaired" in caplog.text
    difference, interval, p = compare(
        BiasFigure.share("b", "f", **_counts(verdict.model_figure)),
        BiasFigure.share("b", "f", **_counts(verdict.control_figure)),
    )
    assert (verdict.difference, verdict.ci95, verdict.p_value) == (difference, interval, p)


def _counts(figure: dict) -> dict:
    return {"count": figure["count"], "total": figure["total"]}


def test_a_family_of_verdicts_is_judged_on_holms_adjusted_p_values():
    from cliposcope.probes.resampling import holm

    results = []
    for seed, weights in enumerate([(1.04, 1.0, 1.0), (1.0, 1.0, 1.0), (1.01, 1.0, 1.0)]):
        pair = tor_pair(weights, seed=seed, noise_seeds=(2 * seed + 5, 2 * seed + 6))
        pair[0].model["spec"] = f"fake:model-{seed}"
        results += pair
    found = verdicts(results)
    assert len(found) == 3 and all(v.family == 3 for v in found)
    assert [v.p_adjusted for v in found] == pytest.approx(holm([v.p_value for v in found]))
    for verdict in found:
        assert verdict.beyond_control == (verdict.p_adjusted < 0.05 and verdict.difference > 0)
        assert f"Holm-adjusted p = {p_value(verdict.p_adjusted)} over 3" in verdict.sentence
        record = verdict.to_dict()
        assert record["p_holm"] == verdict.p_adjusted and record["family"] == 3


def test_a_random_weight_control_with_the_models_own_weights_gives_no_verdict(caplog):
    model, control = tor_pair((1.04, 1.0, 1.0), seed=0)
    model.model["weights_hash"] = control.model["weights_hash"] = "ab" * 32
    assert verdicts([model, control]) == []
    assert "has the model's own weights" in caplog.text
    control.model["weights_hash"] = "cd" * 32
    assert len(verdicts([model, control])) == 1
