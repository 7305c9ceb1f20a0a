"""A model meeting object names it was never trained on says so: toy:default knows the
20 names of the lab's pool, and `--vocab toy` gives exactly those."""

from __future__ import annotations

import logging

from cliposcope.data.vocab import load_vocabulary
from cliposcope.encoders import load_encoder
from cliposcope.encoders.registry import trained_names
from cliposcope.lab.pool import PoolSpec
from cliposcope.probes.registry import run_probe
from cliposcope.probes.tor import TorSettings


def test_the_toy_vocabulary_is_the_pool_the_toy_was_trained_on():
    assert load_vocabulary("toy").words == PoolSpec().vocabulary
    assert len(load_vocabulary("toy").words) == 20


def test_toy_default_warns_about_names_outside_its_training_and_not_inside(caplog):
    encoder = load_encoder("toy:default")
    assert trained_names(encoder.info) == PoolSpec().vocabulary
    with caplog.at_level(logging.WARNING, logger="cliposcope"):
        run_probe("tor", encoder, None, TorSettings(n=2, sample=5))
    [warning] = [r.getMessage() for r in caplog.records if "trained on" in r.getMessage()]
    assert "toy:default was trained on 20 object names; 70 of the 90 names" in warning
    assert "--vocab toy" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cliposcope"):
        run_probe("tor", encoder, None, TorSettings(n=2, sample=5, vocab="toy"))
    assert not [r for r in caplog.records if "trained on" in r.getMessage()]


def test_other_models_know_no_list_and_are_not_warned_about():
    assert trained_names(load_encoder("openclip:cliposcope-toy?seed=3").info) is None
