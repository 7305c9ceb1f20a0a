"""Embedding caches on users' disks are keyed by ``EncoderInfo.fingerprint``: for the same
model it must never change. The pinned values were taken before EncoderInfo moved the
family-specific fields into ``details``; a change meant to give new fingerprints bumps
EMBEDDING_FORMAT_VERSION and updates them here."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cliposcope.encoders import load_encoder

# The versions installed when the values were taken. The fingerprint rightly follows them,
# so the pins replace whatever this machine has.
PINNED_VERSIONS = {"torch": "2.14.1", "open_clip_torch": "3.3.0"}


@pytest.mark.parametrize(
    ("spec", "precision", "fingerprint"),
    [
        ("toy:default", "fp32", "6d4404ea883aee52a2f5eccb32f6121d081f23e1715fe4c0a61a0d336ae9b009"),
        (
            "openclip:cliposcope-tiny?seed=0",
            "fp32",
            "ac02168000e3a7a0b17175b35ad23179faf83ba5801382f9d44210cdb0f3aa28",
        ),
        (
            "openclip:cliposcope-tiny?seed=0",
            "bf16",
            "254cf8a5f18be4f5fc56461bd2df78e0428d407759ccaed3eb66424ae730f828",
        ),
        (
            "openclip:cliposcope-tiny?quickgelu=true&seed=0",
            "fp32",
            "d4e38a75c1b58fca1f7d4013800ed2179a98376d077676510ec63ab92b962203",
        ),
    ],
)
def test_fingerprints_of_known_models_never_change(spec, precision, fingerprint):
    info = load_encoder(spec, device="cpu", precision=precision).info
    assert replace(info, library_versions=PINNED_VERSIONS).fingerprint == fingerprint


def test_only_what_changes_the_numbers_enters_the_fingerprint(tiny_openclip):
    info = tiny_openclip.info
    fast_path_off = {**info.details, "fast_text_path": False, "batch_sizes": {"text": 1}}
    assert replace(info, details=fast_path_off).fingerprint == info.fingerprint
    assert replace(info, weights_source="elsewhere").fingerprint == info.fingerprint
    on_gpu = replace(info, device="cuda:0").fingerprint
    assert replace(info, device="cuda:1").fingerprint == on_gpu != info.fingerprint
    assert replace(info, details={**info.details, "activation": "x"}).fingerprint != (
        info.fingerprint
    )
    assert replace(info, settings={"quick_gelu": True}).fingerprint != info.fingerprint
    upgraded = {**info.library_versions, "open_clip_torch": "999"}
    assert replace(info, library_versions=upgraded).fingerprint != info.fingerprint
