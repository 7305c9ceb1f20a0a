from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cliposcope.errors import CliposcopeError
from cliposcope.probes.queries import query_chunks, query_count, unrank_combinations
from cliposcope.probes.stats import Proportion, binomial_test, two_proportion_test, wilson_interval


def test_wilson_interval_known_values():
    low, high = wilson_interval(8, 10)  # textbook: 0.4902 .. 0.9433
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_wilson_interval_covers_the_true_rate_about_95_percent():
    rng = np.random.default_rng(0)
    for rate in (0.05, 0.33, 0.9):
        counts = rng.binomial(400, rate, size=2000)
        covered = [lo <= rate <= hi for lo, hi in (wilson_interval(int(c), 400) for c in counts)]
        assert 0.93 <= np.mean(covered) <= 0.97, rate


def test_binomial_and_two_proportion_tests():
    assert binomial_test(2, 2, 0.5) == pytest.approx(0.5)
    assert binomial_test(5, 10, 0.5) == pytest.approx(1.0)
    assert binomial_test(60, 100, 1 / 3) < 1e-6
    same = two_proportion_test(Proportion(50, 100), Proportion(50, 100))
    assert same == pytest.approx(1.0)
    # z = 0.2 / sqrt(0.5 * 0.5 * 2/100) = 2.828 -> p = 0.00468
    assert two_proportion_test(Proportion(60, 100), Proportion(40, 100)) == pytest.approx(
        0.00468, abs=1e-4
    )


def all_queries(*args, **kwargs):
    return np.concatenate(list(query_chunks(*args, **kwargs)))


def test_paper_query_set_is_combinations_in_list_order():
    queries = all_queries(7, 3)
    assert queries.tolist() == [list(c) for c in itertools.combinations(range(7), 3)]


def test_unranking_matches_lexicographic_order():
    combos = np.array(list(itertools.combinations(range(11), 4)))
    assert (unrank_combinations(np.arange(len(combos)), 11, 4) == combos).all()


def test_sampled_queries_are_distinct_sorted_and_seeded():
    first = all_queries(90, 4, sample=3000, seed=5)
    again = all_queries(90, 4, sample=3000, seed=5)
    other = all_queries(90, 4, sample=3000, seed=6)
    assert (first == again).all() and not (first == other).all()
    assert len({tuple(row) for row in first}) == 3000
    assert (np.diff(first, axis=1) > 0).all()  # list order inside each query
    assert all_queries(90, 8, sample=10, seed=0).shape == (10, 8)  # C(90,8) ~ 7.7e10


def test_all_orders_put_every_object_equally_often_at_every_position():
    queries = all_queries(6, 3, order="all")
    assert len(queries) == math.comb(6, 3) * 6 == query_count(6, 3, None, "all")
    counts = np.zeros((6, 3), dtype=int)
    for k in range(3):
        np.add.at(counts[:, k], queries[:, k], 1)
    assert (counts == counts[0, 0]).all()


def test_random_orders_are_balanced_within_chance():
    from scipy.stats import chisquare

    queries = all_queries(30, 3, order="random", seed=1)
    assert sorted(map(tuple, np.sort(queries, axis=1))) == list(
        itertools.combinations(range(30), 3)
    )  # the same combinations, reordered
    counts = np.zeros((30, 3), dtype=int)
    for k in range(3):
        np.add.at(counts[:, k], queries[:, k], 1)
    for row in counts:  # each object's positions: uniform
        assert chisquare(row).pvalue > 1e-3
    assert chisquare(counts[:, 0], counts.sum(axis=1) / 3).pvalue > 1e-3


@pytest.mark.parametrize(("vocab", "n"), [(90, 1), (90, 9), (3, 4)])
def test_bad_arity_is_a_clear_error(vocab, n):
    with pytest.raises(CliposcopeError, match="--n"):
        all_queries(vocab, n)
