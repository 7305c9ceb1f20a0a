"""The "model" record results carry (EncoderInfo.to_dict): readers find the common keys at
the top and the family's own under "details", and results written before the details had
their own mapping (flat keys, device and precision under "settings") still read the same."""

from __future__ import annotations

import json

from cliposcope.report.html import _provenance
from cliposcope.results import ProbeResult

FLAT_RECORD = {  # as results recorded the model before EncoderInfo had "details"
    "family": "openclip",
    "spec": "openclip:cliposcope-tiny?seed=0",
    "name": "cliposcope-tiny",
    "weights_source": "random-init:seed=0",
    "weights_hash": "sha256:" + "0" * 64,
    "library_versions": {"torch": "2.14.1", "open_clip_torch": "3.3.0"},
    "activation": "quick_gelu",
    "context_length": 77,
    "text_causal": True,
    "text_pooling": "argmax",
    "embed_dim": 64,
    "has_image_tower": True,
    "fast_text_path": True,
    "fast_text_reason": "causal",
    "settings": {"quick_gelu": True, "precision": "bf16", "device": "cuda:0"},
    "batch_sizes": {"text": 256, "image": 32},
}


def provenance_row(model: dict) -> dict[str, str]:
    result = ProbeResult("tor", "model", model, {"seed": 3}, {}, {})
    table = _provenance([result])
    return dict(zip(table["headers"], table["rows"][0], strict=True))


def test_the_record_keeps_what_readers_use_at_the_top(tiny_openclip):
    record = json.loads(json.dumps(tiny_openclip.info.to_dict()))
    for key in ("spec", "family", "name", "weights_source", "weights_hash", "library_versions"):
        assert record[key] == getattr(tiny_openclip.info, key)
    assert record["details"]["activation"] == "gelu"
    assert "activation" not in record and "device" not in record["settings"]


def test_the_report_reads_new_and_flat_records_alike(tiny_openclip):
    new = provenance_row(json.loads(json.dumps(tiny_openclip.info.to_dict())))
    assert (new["Activation"], new["Device"], new["Precision"]) == ("gelu", "cpu", "fp32")
    old = provenance_row(FLAT_RECORD)
    assert (old["Activation"], old["Device"], old["Precision"]) == ("quick_gelu", "cuda:0", "bf16")
    assert old["Weights sha256"] == FLAT_RECORD["weights_hash"][:23]
    assert old["Model library"] == "open_clip_torch 3.3.0"
