"""Verdicts against controls: the difference interval on a published case, pairing rules,
and detection on synthetic encoders with a planted first-object effect and with none."""

from __future__ import annotations

import pytest
from tests.probes.fakes import PositionWeightedEncoder

from cliposcope.data.vocab import Vocabulary
from cliposcope.probes.registry import run_probe
from cliposcope.probes.stats import Proportion
from cliposcope.probes.tor import TorSettings
from cliposcope.probes.verdicts import newcombe_difference_interval, verdicts

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
    assert verdict.sentence.startswith("first-object preference beyond its random-weight "
                                       "control: +")  # fmt: skip
    assert verdict.model_figure["total"] > 0 and verdict.control == "random-init"


def test_no_effect_is_rarely_called_an_effect():
    calls = []
    for seed in range(40):
        (verdict,) = verdicts(tor_pair((1.0, 1.0, 1.0), seed, (3 * seed, 3 * seed + 1), 300))
        calls.append(verdict.ci95[0] > 0 or verdict.ci95[1] < 0)
        assert verdict.beyond_control == (verdict.ci95[0] > 0)
    # 95% intervals: about 5% false calls; 5 or more of 40 has probability 0.14 at 5%, and
    # the shared queries make the unpaired interval conservative
    assert sum(calls) <= 5, sum(calls)


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
