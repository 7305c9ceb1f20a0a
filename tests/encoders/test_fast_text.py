"""The fast text path equals the library's own forward pass, and only runs where exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import l2_normalise
from cliposcope.encoders.causal_text import find_causal_text_tower
from conftest import AT_LIMIT, MIXED_CAPTIONS

TOLERANCE = 1e-5


def assert_matches_reference(encoder, captions):
    fast = encoder.encode_text(captions)
    reference = l2_normalise(encoder.encode_text_reference(captions))
    assert encoder.info.details["fast_text_path"]
    assert fast.shape == reference.shape
    assert np.abs(fast - reference).max() <= TOLERANCE
    return fast


def test_captions_cover_the_context_limit(tiny_openclip):
    tokens = tiny_openclip.tokenizer([AT_LIMIT, MIXED_CAPTIONS[2]])
    eot = tokens.max()
    assert tokens[0, -1] == eot and (tokens[0, :-1] != eot).all()  # exactly 77 real tokens
    assert tokens[1, -1] == eot  # truncated, end token forced into the last slot


@pytest.fixture(scope="module")
def vit_b32():
    return load_encoder("openclip:ViT-B-32?seed=0", text_batch_size=5)


@pytest.mark.slow
def test_open_clip_vit_b32_fast_path_equals_library_forward(vit_b32):
    fast = assert_matches_reference(vit_b32, MIXED_CAPTIONS)
    # input order: each row is the embedding of the caption at that index, alone
    for index in (0, 2, 4, 11):
        alone = l2_normalise(vit_b32.encode_text_reference([MIXED_CAPTIONS[index]]))
        assert np.abs(fast[index] - alone[0]).max() <= TOLERANCE


def test_fast_path_is_batch_composition_independent(tiny_openclip):
    rng = np.random.default_rng(0)
    captions = [MIXED_CAPTIONS[i] for i in rng.integers(0, len(MIXED_CAPTIONS), 40)]
    together = assert_matches_reference(tiny_openclip, captions)
    permutation = rng.permutation(len(captions))
    shuffled = tiny_openclip.encode_text([captions[i] for i in permutation])
    assert np.abs(shuffled - together[permutation]).max() <= TOLERANCE


def test_hf_clip_fast_path_equals_model_forward(hf_clip_dir):
    encoder = load_encoder(f"hf:{hf_clip_dir}", text_batch_size=3)
    assert encoder.info.details["text_causal"]
    assert encoder.info.settings["padding"] == "longest-in-bucket"
    fast = assert_matches_reference(encoder, MIXED_CAPTIONS)
    alone = l2_normalise(encoder.encode_text_reference([MIXED_CAPTIONS[2]]))
    assert np.abs(fast[2] - alone[0]).max() <= TOLERANCE


def test_fast_false_option_takes_reference_path(monkeypatch):
    encoder = load_encoder("openclip:cliposcope-tiny?fast=false&seed=0")
    assert not encoder.info.details["fast_text_path"]
    assert "fast=false" in encoder.info.details["fast_text_reason"]
    import cliposcope.encoders.openclip as adapter

    monkeypatch.setattr(adapter, "encode_trimmed", _forbidden)
    encoder.encode_text(["a dog"])


def _forbidden(*args, **kwargs):
    raise AssertionError("the fast path must not run here")


def test_bidirectional_open_clip_tower_is_not_routed(tmp_path, monkeypatch):
    """SigLIP-style text tower (no causal mask, last-token pooling) keeps the reference."""
    import json

    import open_clip

    config = {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "head_width": 16,
            "patch_size": 16,
        },
        "text_cfg": {
            "context_length": 16,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 1,
            "no_causal_mask": True,
            "pool_type": "last",
        },
    }
    (tmp_path / "bidir-test.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path)
    encoder = load_encoder("openclip:bidir-test?seed=0")
    assert not encoder.info.details["fast_text_path"]
    assert not encoder.info.details["text_causal"]
    assert "bidirectional" in encoder.info.details["fast_text_reason"]
    import cliposcope.encoders.openclip as adapter

    monkeypatch.setattr(adapter, "encode_trimmed", _forbidden)
    embeddings = encoder.encode_text(["a dog", "apple and pizza"])
    reference = l2_normalise(encoder.encode_text_reference(["a dog", "apple and pizza"]))
    np.testing.assert_array_equal(embeddings, reference)


@pytest.mark.slow
def test_open_clip_siglip_architecture_is_not_routed():
    encoder = load_encoder("openclip:ViT-B-16-SigLIP?seed=0")
    assert not encoder.info.details["fast_text_path"]
    assert not encoder.info.details["text_causal"]


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("attn_mask", None, "bidirectional"),
        ("text_pool_type", "last", "'last'"),
        ("text_pool_type", "first", "'first'"),
    ],
)
def test_inexact_inline_towers_are_refused(tiny_openclip, attribute, value, reason):
    import copy

    model = copy.deepcopy(tiny_openclip.model)
    setattr(model, attribute, value)
    tower, why = find_causal_text_tower(model)
    assert tower is None
    assert reason in why


def test_tower_with_appended_cls_token_is_refused():
    from open_clip.transformer import TextTransformer

    model = torch.nn.Module()
    model.text = TextTransformer(
        context_length=8, vocab_size=10, width=8, heads=2, layers=1, output_dim=4, embed_cls=True
    )
    tower, why = find_causal_text_tower(model)
    assert tower is None and "CLS" in why


def test_foreign_text_tower_is_not_routed():
    model = torch.nn.Module()
    model.text = torch.nn.Linear(2, 2)  # e.g. an HF XLM-RoBERTa wrapper in open_clip
    tower, why = find_causal_text_tower(model)
    assert tower is None and "Linear" in why


def test_hf_siglip_is_not_routed(hf_siglip_dir, monkeypatch):
    encoder = load_encoder(f"hf:{hf_siglip_dir}")
    assert not encoder.info.details["fast_text_path"]
    assert encoder.info.settings["padding"] == "max_length"
    import cliposcope.encoders.hf as adapter

    monkeypatch.setattr(adapter, "length_sorted_batches", _forbidden)
    texts = ["a dog and a cat", "apple", "a photo of pizza and a dog and a cat and apple"]
    np.testing.assert_array_equal(
        encoder.encode_text(texts), l2_normalise(encoder.encode_text_reference(texts))
    )
