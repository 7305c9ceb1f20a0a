"""Pitfalls a run warns about: too few TOR queries for a useful interval, and a model
measured with random weights."""

from __future__ import annotations

import logging

import pytest

from cliposcope.app.runs import warn_if_random
from cliposcope.encoders import load_encoder
from cliposcope.probes.tor import warn_if_too_few


@pytest.mark.parametrize(
    ("queries", "n", "warned"), [(40, 3, True), (341, 3, True), (342, 3, False), (385, 2, False)]
)
def test_too_few_queries_for_a_five_point_interval_are_warned_about(caplog, queries, n, warned):
    # 1.96 * sqrt(1/3 * 2/3 / 342) = 0.04998; 1.96 * sqrt(1/4 / 385) = 0.04994
    with caplog.at_level(logging.WARNING, logger="cliposcope"):
        warn_if_too_few(queries, n)
    messages = [record.getMessage() for record in caplog.records]
    assert bool(messages) == warned
    if warned:
        assert f"TOR on {queries} queries at n={n}" in messages[0]
        assert "342 or more queries" in messages[0]


def test_a_model_with_random_weights_is_named_as_such(caplog):
    with caplog.at_level(logging.WARNING, logger="cliposcope"):
        warn_if_random(load_encoder("openclip:cliposcope-toy?seed=3"))
        warn_if_random(load_encoder("toy:default"))
    [message] = [record.getMessage() for record in caplog.records]
    assert message.startswith("openclip:cliposcope-toy?seed=3 has random weights")
