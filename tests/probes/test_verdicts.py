"""Verdicts against controls: the difference interval on a published case, pairing rules,
and detection on synthetic encoders with a planted first-object effect and with none."""

from __future__ import annotations

import pytest
from tests.probes.fakes import PositionWeightedEncoder

from cliposcope.data.vocab import Vocabulary
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
        "first-object preference beyond its random-weight control: +"
    )
    assert verdict.model_figure["total"] > 0 and verdict.control == "random-init"


def test_no_effect_is_rarely_called_an_effect():
    calls = []
    for seed in range(100):
        (verdict,) = verdicts(tor_pair((1.0, 1.0, 1.0), seed, (3 * seed, 3 * seed + 1), 300))
        calls.append(verdict.ci95[0] > 0 or verdict.ci95[1] < 0)
        assert verdict.beyond_control == (verdict.ci95[0] > 0)
    # 95% intervals: at most about 5% false calls (the shared queries make the unpaired
    # interval conservative); 10 or more of 100 has probability 0.03 at 5%
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
