"""The decomposition of a bias into architecture, learned and total, on planted results:
a model that weights its first-named object 2x and a 'random-weight' control that weights
every position alike, both measured with the position-matched gallery."""

from __future__ import annotations

import math

import pytest

from cliposcope.data.vocab import Vocabulary, load_vocabulary
from cliposcope.probes.decomposition import decomposition_rows, decompositions
from cliposcope.probes.registry import run_probe
from cliposcope.probes.stats import Proportion
from cliposcope.probes.tor import TorSettings
from cliposcope.probes.verdicts import verdicts

from .fakes import PositionWeightedEncoder

WORDS = Vocabulary("planted", load_vocabulary("comco").words[:24])
SETTINGS = TorSettings(WORDS, n=3, sample=400, gallery="position-matched")


def planted(control_role: str = "null:random-init"):
    model = PositionWeightedEncoder((2.0, 1.0, 1.0), noise=0.6, noise_seed=1)
    control = PositionWeightedEncoder((1.2, 1.0, 1.0), noise=0.6, noise_seed=2)
    control.info = type(control.info)(**{**control.info.to_dict(), "spec": "fake:control"})
    first = run_probe("tor", model, None, SETTINGS)
    first.provenance["controls"] = {control_role.removeprefix("null:"): "fake:control"}
    second = run_probe("tor", control, None, SETTINGS, role=control_role)
    return first, second


@pytest.fixture(scope="module")
def pair():
    return planted()


def test_the_three_parts_add_up_under_both_protocols(pair):
    model, control = pair
    found = decompositions([model, control])
    assert [d.protocol for d in found] == [
        "the paper's gallery (the names alone)",
        "position-matched gallery",
    ]
    keys = {
        found[0].protocol: "first_position_bias",
        found[1].protocol: "position_matched_first_object",
    }
    for row in found:
        key = keys[row.protocol]
        mine, theirs = model.metrics[key], control.metrics[key]
        assert row.chance == pytest.approx(1 / 3)
        assert row.model_share == mine["estimate"] and row.control_share == theirs["estimate"]
        assert row.architecture.estimate == pytest.approx(theirs["estimate"] - 1 / 3)
        assert row.total.estimate == pytest.approx(mine["estimate"] - 1 / 3)
        assert row.learned.estimate == pytest.approx(mine["estimate"] - theirs["estimate"])
        assert math.isclose(
            row.architecture.estimate + row.learned.estimate, row.total.estimate, abs_tol=1e-12
        )
        low, high = Proportion(theirs["count"], theirs["total"]).ci95
        assert row.architecture.ci95 == pytest.approx((low - 1 / 3, high - 1 / 3))
        low, high = Proportion(mine["count"], mine["total"]).ci95
        assert row.total.ci95 == pytest.approx((low - 1 / 3, high - 1 / 3))
        assert row.learned.ci95[0] < row.learned.estimate < row.learned.ci95[1]
        assert row.total.estimate > 0.1  # the planted first-object weight


def test_learned_is_the_paired_verdict(pair):
    model, control = pair
    paper = decompositions([model, control])[0]
    verdict = verdicts([model, control])[0]
    assert paper.learned.estimate == verdict.difference
    assert paper.learned.ci95 == tuple(verdict.ci95)
    assert paper.learned_method == verdict.method
    matched = decompositions([model, control])[1]
    assert matched.learned_method.startswith("paired Newcombe")  # a plain share per caption


def test_only_random_weight_controls_decompose():
    model, control = planted("null:sum")
    assert verdicts([model, control]) and decompositions([model, control]) == []


def test_rows_show_points_with_signs(pair):
    headers, rows = decomposition_rows(decompositions(list(pair)))
    assert headers[6].startswith("Architecture") and len(rows) == 2
    assert all(cell[0] in "+-" for row in rows for cell in row[6:])


def test_the_export_holds_three_rows_per_protocol(pair):
    from cliposcope.report.export import tidy_rows

    rows = [r for r in tidy_rows(list(pair)) if r["role"] == "decomposition"]
    assert [(r["figure"], r["group"]) for r in rows[:3]] == [
        ("architecture", "the paper's gallery (the names alone)"),
        ("learned", "the paper's gallery (the names alone)"),
        ("total", "the paper's gallery (the names alone)"),
    ]
    assert len(rows) == 6
    found = decompositions(list(pair))
    assert rows[4]["estimate"] == found[1].learned.estimate


def test_a_caption_prefix_names_its_protocol():
    from dataclasses import replace

    prefixed = replace(SETTINGS, caption_prefix="a photo of")
    model = run_probe("tor", PositionWeightedEncoder((2.0, 1.0, 1.0)), None, prefixed)
    model.provenance["controls"] = {"random-init": "fake:control"}
    control = PositionWeightedEncoder((1.0, 1.0, 1.0), noise=0.5)
    control.info = type(control.info)(**{**control.info.to_dict(), "spec": "fake:control"})
    twin = run_probe("tor", control, None, prefixed, role="null:random-init")
    assert [d.protocol for d in decompositions([model, twin])] == [
        "the paper's gallery (the names alone), captions after 'a photo of'",
        "position-matched gallery, captions after 'a photo of'",
    ]
