"""Bootstrap intervals for paired and clustered designs, Holm's adjustment, and their
coverage measured on simulated data."""

from __future__ import annotations

import numpy as np
import pytest

from cliposcope.probes.resampling import (
    cluster_ratio_interval,
    holm,
    paired_ratio_difference,
    unit_sums,
)


def test_holm_on_a_hand_computed_family():
    # sorted 0.01, 0.02, 0.03, 0.04 -> 4*0.01, 3*0.02, 2*0.03 (0.06), 1*0.04 -> monotone max
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_unit_sums_add_the_queries_of_a_cluster():
    values = np.array([[1, 1], [0, 1], [1, 0], [1, 1]])
    sums = unit_sums(values, ["b", "a", "b", "c"])
    assert sums.tolist() == [[0, 1], [2, 1], [1, 1]]  # clusters in sorted order a, b, c


def test_a_model_against_itself_differs_by_nothing():
    rng = np.random.default_rng(1)
    first = rng.random(300) < 0.4
    condition = rng.random(300) < 0.7
    found = paired_ratio_difference(first & condition, condition, first & condition, condition)
    assert found.difference == 0 and found.ci95 == (0.0, 0.0) and found.p_value == 1.0


def test_the_paired_bootstrap_recovers_a_planted_conditional_difference():
    rng = np.random.default_rng(2)
    n = 4000
    condition_model, condition_control = rng.random(n) < 0.6, rng.random(n) < 0.5
    first_model, first_control = rng.random(n) < 0.7, rng.random(n) < 0.5
    found = paired_ratio_difference(
        first_model & condition_model,
        condition_model,
        first_control & condition_control,
        condition_control,
        replicates=500,
        seed=0,
    )
    expected = (first_model & condition_model).sum() / condition_model.sum() - (
        first_control & condition_control
    ).sum() / condition_control.sum()
    assert found.difference == pytest.approx(expected)
    assert found.ci95[0] < 0.2 < found.ci95[1] and found.p_value < 0.01
    assert found.units == n and found.replicates == 500 and found.method == "paired bootstrap"
    again = paired_ratio_difference(
        first_model & condition_model,
        condition_model,
        first_control & condition_control,
        condition_control,
        replicates=500,
        seed=0,
    )
    assert again == found  # the seed fixes the interval


def test_the_cluster_interval_counts_clusters_and_widens_with_correlation():
    rng = np.random.default_rng(3)
    clusters = 300
    shared = rng.random(clusters) < 0.5  # every query of a cluster alike: ICC 1
    outcomes = np.repeat(shared, 5)
    ids = np.repeat(np.arange(clusters), 5)
    figure = cluster_ratio_interval(outcomes, np.ones(len(outcomes)), ids, replicates=500)
    assert figure["clusters"] == clusters and figure["estimate"] == pytest.approx(shared.mean())
    assert figure["design_effect"] == pytest.approx(5, rel=0.25)  # 1 + (m - 1) * ICC
    independent = cluster_ratio_interval(
        outcomes, np.ones(len(outcomes)), np.arange(len(outcomes)), replicates=500
    )
    assert independent["design_effect"] == pytest.approx(1, rel=0.2)
    width = figure["ci95"][1] - figure["ci95"][0]
    assert width > 2 * (independent["ci95"][1] - independent["ci95"][0])


@pytest.mark.slow
def test_coverage_of_the_methods_cliposcope_uses_on_simulated_designs():
    """A small version of benchmarks/interval_coverage.py: 300 replications per design;
    the naive interval undercovers the clustered design, ours does not."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "interval_coverage.py"
    spec = importlib.util.spec_from_file_location("interval_coverage", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    for design in benchmark.DESIGNS:
        coverage, ours = benchmark.measure(design, 200, 0.05, 300, 299, seed=0)
        for method, share in coverage.items():
            if method in ours:
                assert 0.9 <= share <= 0.99, (design, method, share)
    clustered = next(d for d in benchmark.DESIGNS if d.startswith("clustered"))
    coverage, ours = benchmark.measure(clustered, 200, 0.05, 300, 299, seed=1)
    naive = next(method for method in coverage if method not in ours)
    assert coverage[naive] < 0.88 < coverage[ours[0]]


def test_shares_of_independent_units_keep_their_exact_figures():
    from cliposcope.probes.resampling import paired_share_difference, share_figure
    from cliposcope.probes.stats import Proportion, paired_difference

    hits = [True, False, True, True]
    assert share_figure(hits) == Proportion(3, 4).to_dict()
    assert share_figure(hits, ["a", "b", "c", "d"]) == Proportion(3, 4).to_dict()
    first, second = [True, True, False, False, True], [True, False, True, False, False]
    found = paired_share_difference(first, second, clusters=None)
    assert found == paired_difference(1, 2, 1, 1) | {
        "method": "paired Newcombe interval, exact McNemar test"
    }


def test_shares_of_clustered_units_resample_the_clusters():
    from cliposcope.probes.resampling import paired_share_difference, share_figure

    rng = np.random.default_rng(4)
    clusters = [(arm, c) for arm in ("x", "y") for c in range(50) for _ in range(4)]
    shared = np.repeat(rng.random(100) < 0.5, 4)  # every unit of a cluster alike
    figure = share_figure(shared, clusters)
    assert figure["clusters"] == 100 and figure["count"] == int(shared.sum())
    assert figure["design_effect"] == pytest.approx(4, rel=0.35)
    other = np.repeat(rng.random(100) < 0.3, 4)
    found = paired_share_difference(shared, other, clusters)
    assert found["clusters"] == 100 and found["method"].startswith("paired cluster bootstrap")
    assert found["estimate"] == pytest.approx(shared.mean() - other.mean())
    assert found["table"] == [
        int(np.sum(shared & other)),
        int(np.sum(shared & ~other)),
        int(np.sum(~shared & other)),
        int(np.sum(~shared & ~other)),
    ]


def test_bootstrap_sums_equal_the_gathered_reference():
    """The replicates count each unit's draws and take one matrix product; the reference
    gathers the drawn rows and adds them, from the same random draws."""
    from cliposcope.probes.resampling import bootstrap_sums

    rng = np.random.default_rng(5)
    for units, width in ((1, 2), (7, 4), (3000, 2)):
        sums = rng.random((units, width))
        found = bootstrap_sums(sums, 777, seed=11)
        draws = np.random.default_rng(11)
        chunk = max(1, min(777, 4_000_000 // (units * width)))
        reference = np.concatenate(
            [
                sums[draws.integers(0, units, size=(min(chunk, 777 - start), units))].sum(axis=1)
                for start in range(0, 777, chunk)
            ]
        )
        np.testing.assert_allclose(found, reference, rtol=1e-12, atol=1e-9)
