"""Shared-prefix text encoding equals the library's own forward pass (1e-5 in fp32), in
input order, for captions sharing 0..n leading objects, at and past the 77-token context,
for open_clip and transformers CLIP; towers outside its assumptions never enter it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import cliposcope.encoders.prefix_sharing as prefix_sharing
from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import l2_normalise
from cliposcope.encoders.prefix_sharing import plan_groups
from conftest import AT_LIMIT, BEYOND_LIMIT

TOLERANCE = 1e-5
OBJECTS = ["person", "bicycle", "teddy bear", "hot dog", "car", "dog", "cup", "pizza"]


def shared_prefix_captions(n: int = 4) -> list[str]:
    """Captions sharing k = 0..n leading objects with others, plus context-limit cases, in a
    shuffled order so that input order differs from every sort order."""
    captions = [" and ".join(c) for c in itertools.permutations(OBJECTS[:5], n)][:60]
    captions += [" and ".join(c) for c in itertools.combinations(OBJECTS, 3)]
    captions += [
        AT_LIMIT,
        AT_LIMIT + " dog",
        BEYOND_LIMIT,
        BEYOND_LIMIT + " and a cat",
        "person",
        "person and",
        "a",
        "",
        captions[0],
        captions[0],
    ]
    order = np.random.default_rng(0).permutation(len(captions))
    return [captions[i] for i in order]


def assert_shared_path_is_exact(encoder, captions) -> np.ndarray:
    assert encoder.info.details["prefix_sharing"], encoder.info.details["prefix_sharing_reason"]
    shared = encoder.encode_text(captions)
    reference = l2_normalise(encoder.encode_text_reference(captions))
    assert np.abs(shared - reference).max() <= TOLERANCE
    return shared


def test_open_clip_shared_prefix_equals_library_forward(tiny_openclip, monkeypatch):
    calls = []
    real = prefix_sharing.encode_shared
    monkeypatch.setattr(
        "cliposcope.encoders.openclip.encode_shared",
        lambda *a, **k: calls.append(1) or real(*a, **k),
    )
    captions = shared_prefix_captions()
    shared = assert_shared_path_is_exact(tiny_openclip, captions)
    assert calls  # the path really ran
    alone = l2_normalise(tiny_openclip.encode_text_reference([captions[7]]))
    assert np.abs(shared[7] - alone[0]).max() <= TOLERANCE  # row i is caption i


@pytest.mark.slow
def test_open_clip_vit_b32_shared_prefix_equals_library_forward():
    encoder = load_encoder("openclip:ViT-B-32?seed=0", text_batch_size=16)
    assert_shared_path_is_exact(encoder, shared_prefix_captions())


def test_hf_clip_shared_prefix_equals_model_forward(hf_clip_dir):
    encoder = load_encoder(f"hf:{hf_clip_dir}", text_batch_size=7)
    assert_shared_path_is_exact(encoder, shared_prefix_captions())


@pytest.mark.parametrize("family", ["openclip", "hf"])
def test_the_trimmed_path_alone_is_still_exact(family, hf_clip_dir):
    spec = f"hf:{hf_clip_dir}?" if family == "hf" else "openclip:cliposcope-tiny?seed=0&"
    encoder = load_encoder(f"{spec}prefix=false")
    assert encoder.info.details["fast_text_path"] and not encoder.info.details["prefix_sharing"]
    assert encoder.info.details["prefix_sharing_reason"] == "disabled by prefix=false"
    captions = shared_prefix_captions()
    reference = l2_normalise(encoder.encode_text_reference(captions))
    assert np.abs(encoder.encode_text(captions) - reference).max() <= TOLERANCE


def test_plan_groups_on_hand_made_rows():
    rows = [
        (9, 1, 2, 3, 99),  # 0: shares (9, 1, 2) with 1 and 2
        (9, 1, 2, 4, 99),  # 1
        (9, 1, 2, 5, 6, 99),  # 2
        (9, 7, 99),  # 3: shares only the start token: alone
        (9, 1, 99),  # 4: shares (9, 1) with 0..2, but their run shares more: alone
        (8, 99),  # 5: nothing
    ]
    plan = plan_groups(rows)
    assert plan.groups == [(3, [0, 1, 2])]
    assert sorted(plan.alone) == [3, 4, 5]
    # the pooled (last) token is never part of a shared prefix, even for equal rows
    assert plan_groups([(9, 1, 99), (9, 1, 99)]).groups == [(2, [0, 1])]


def test_towers_outside_the_assumptions_never_enter(hf_siglip_dir, tiny_openclip, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("shared-prefix path used")

    siglip = load_encoder(f"hf:{hf_siglip_dir}")
    assert not siglip.info.details["prefix_sharing"]
    fast_off = load_encoder("openclip:cliposcope-tiny?seed=0&fast=false")
    assert not fast_off.info.details["prefix_sharing"]
    assert "trimmed path" in fast_off.info.details["prefix_sharing_reason"]
    monkeypatch.setattr("cliposcope.encoders.hf.encode_shared", forbidden)
    monkeypatch.setattr("cliposcope.encoders.openclip.encode_shared", forbidden)
    siglip.encode_text(["a dog and a cat", "a dog and a cup"])
    fast_off.encode_text(["a dog and a cat", "a dog and a cup"])


def test_blocks_it_cannot_take_apart_are_refused(tiny_openclip):
    import copy

    from cliposcope.encoders.causal_text import find_causal_text_tower
    from cliposcope.encoders.prefix_sharing import openclip_stack

    model = copy.deepcopy(tiny_openclip.model)
    model.transformer.resblocks[0].ln_1_kv = model.transformer.resblocks[0].ln_1  # cross-attn
    tower, _ = find_causal_text_tower(model)
    assert openclip_stack(tower) is None


def test_hf_legacy_argmax_pooling_is_followed(hf_clip_dir):
    """Configs from before transformers' eos fix (eos_token_id == 2) pool at the highest id;
    the shared-prefix path reads the same position."""
    encoder = load_encoder(f"hf:{hf_clip_dir}", text_batch_size=5)
    encoder.model.text_model.eos_token_id = 2
    captions = shared_prefix_captions()[:40]
    assert_shared_path_is_exact(encoder, captions)


def test_text_chunks_follow_sorted_order_so_families_share_a_chunk():
    from cliposcope.encoders.prefix_sharing import chunks_by_start

    texts = ["dog and cat", "apple and dog", "dog and apple", "apple and cat", "cat and dog"]
    chunks = [list(chunk) for chunk in chunks_by_start(texts, 2)]
    assert chunks == [[3, 1], [4, 2], [0]]  # apple and cat/dog, cat and dog, dog and ...
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(texts)))


def test_a_shuffled_batch_larger_than_a_chunk_equals_the_reference(monkeypatch):
    """Chunks in sorted order scatter back to the input order, on both text paths."""
    import random

    import cliposcope.encoders.openclip as openclip_module
    from cliposcope.encoders import load_encoder

    monkeypatch.setattr(openclip_module, "TOKENIZE_CHUNK", 16)
    words = ["dog", "cat", "apple", "pizza", "car", "bus"]
    texts = [f"a photo of {a} and {b}" for a in words for b in words if a != b]
    random.Random(1).shuffle(texts)
    for spec in ("openclip:cliposcope-tiny?seed=2", "openclip:cliposcope-tiny?seed=2&prefix=false"):
        encoder = load_encoder(spec)
        reference = l2_normalise(encoder.encode_text_reference(texts))
        gap = np.abs(encoder.encode_text(texts) - reference).max()
        assert gap < 1e-5, (spec, gap)
