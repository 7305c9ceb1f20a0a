from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from cliposcope.data.vocab import Vocabulary, load_vocabulary
from cliposcope.probes.registry import run_probe
from cliposcope.probes.size_first import SizeFirstSettings, size_first_queries
from cliposcope.probes.toc import TocSettings, balanced_slots, build_captions

from .fakes import PositionWeightedEncoder

OBJECTS = Vocabulary("objects", load_vocabulary("comco").words[:20])
COLOURS = load_vocabulary("simco-colours")


def test_balanced_slots_are_exactly_balanced_and_distinct():
    labels = balanced_slots(12, 4, 25, np.random.default_rng(0))
    assert labels.shape == (300, 4)
    for k in range(4):
        assert (np.bincount(labels[:, k], minlength=12) == 25).all()
    assert all(len(set(row)) == 4 for row in labels)


def test_captions_name_the_probed_slot():
    captions, labels = build_captions(TocSettings(OBJECTS, COLOURS, n=3, per_class=10))
    first = captions[0]
    assert first.count(" and ") == 2 and first.startswith(("a ", "an "))
    names = [OBJECTS.words[i] for i in labels[0]]
    assert [part.split(" ", 2)[2] for part in first.split(" and ")] == names
    colour_captions, colour_labels = build_captions(
        TocSettings(OBJECTS, COLOURS, n=3, per_class=10, target="colour")
    )
    assert colour_captions[0].split(" and ")[0].split(" ")[1] == COLOURS.words[colour_labels[0, 0]]


@pytest.mark.slow
def test_caption_sampling_does_not_depend_on_hash_seed():
    code = (
        "import hashlib; from cliposcope.probes.toc import TocSettings, build_captions; "
        "from cliposcope.data.vocab import load_vocabulary as v; "
        "c, _ = build_captions(TocSettings(v('comco'), v('simco-colours'), per_class=10)); "
        "print(hashlib.sha256('|'.join(c).encode()).hexdigest())"
    )

    def digest(hash_seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        argv = [sys.executable, "-c", code]
        return subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout

    assert len({digest(seed) for seed in ("1", "2", "random")}) == 1


def test_probe_reads_what_the_embedding_keeps():
    """An encoder that keeps only the first object: head 1 learns it, the others sit at
    chance. The colour words are ignored by this fake, so colour heads are at chance."""

    class FirstObjectOnly(PositionWeightedEncoder):
        def _encode_texts(self, texts, *, progress):
            names = [t.split(" and ")[0].split(" ", 2)[2] for t in texts]
            return super()._encode_texts(names, progress=progress)

    settings = TocSettings(OBJECTS, COLOURS, n=3, per_class=40, epochs=10)
    result = run_probe("toc", FirstObjectOnly((1,)), None, settings)
    accuracy = [f["estimate"] for f in result.metrics["per_position_test_accuracy"]]
    assert accuracy[0] > 0.9
    assert all(a < 0.2 for a in accuracy[1:])  # chance is 1/20
    assert result.metrics["chance"] == 1 / 20
    assert result.settings["target"] == "object"
    again = run_probe("toc", FirstObjectOnly((1,)), None, settings)
    assert again.metrics == result.metrics  # deterministic training


def test_size_first_queries_follow_the_design():
    settings = SizeFirstSettings(per_first_object=3)
    words = settings.gallery()
    large = size_first_queries(settings, "large")
    assert len(large) == len(settings.large) * 3
    assert all(words[row[0]] in settings.large.words for row in large)
    assert all(words[i] in settings.medium.words for row in large for i in row[1:])
    assert all(len(set(row)) == 4 for row in large)


def test_size_first_measures_first_object_accuracy():
    result = run_probe(
        "size-first", PositionWeightedEncoder((3, 1, 1, 1)), None, SizeFirstSettings()
    )
    large = result.metrics["large_first"]["first_object_accuracy"]
    small = result.metrics["small_first"]["first_object_accuracy"]
    assert large["estimate"] > 0.95 and small["estimate"] > 0.95
    assert result.metrics["p_value"] > 0.01  # this fake does not care about size
