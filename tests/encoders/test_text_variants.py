"""Text architecture switches (attn, pool, pos) on open_clip and toy towers: each does what
it says, is recorded in spec, details and fingerprint, carries over to the random-weight
control, and turns the exact trimmed text path off instead of computing something else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cliposcope.encoders import load_encoder
from cliposcope.encoders.openclip import random_init_spec
from cliposcope.errors import CliposcopeError

TINY = "openclip:cliposcope-tiny?seed=0"
TEXTS = ["apple and pizza and desk", "desk and pizza and apple", "a dog", "a dog and a cat"]


def load(options: str = ""):
    return load_encoder(TINY + options, text_batch_size=4)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ("&attn=bidirectional", "bidirectional"),
        ("&pool=mean", "pool=mean"),
        ("&attn=bidirectional&pool=mean&pos=none", "bidirectional"),
    ],
)
def test_a_switched_tower_leaves_the_fast_path_and_matches_the_reference(options, reason):
    encoder = load(options)
    details = encoder.info.details
    assert details["fast_text_path"] is False and reason in details["fast_text_reason"]
    assert details["prefix_sharing"] is False
    np.testing.assert_array_equal(
        encoder.encode_text(TEXTS), l2(encoder.encode_text_reference(TEXTS))
    )


def l2(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_shipped_tower_keeps_its_exact_fast_path():
    encoder = load("&attn=causal&pool=eot&pos=learned")
    assert encoder.info.details["fast_text_path"] is True
    assert encoder.info.details["text_architecture"] == {
        "attn": "causal",
        "pool": "eot",
        "pos": "learned",
    }


@pytest.mark.parametrize("pool", ["eot", "mean"])
def test_no_mask_and_no_positions_is_order_blind(pool):
    """The same tokens in another order: a bidirectional tower without positions cannot
    tell the two captions apart."""
    encoder = load(f"&attn=bidirectional&pos=none&pool={pool}")
    first, reordered = encoder.encode_text(TEXTS[:2])
    np.testing.assert_allclose(first, reordered, atol=1e-5)
    assert not torch.any(encoder.model.positional_embedding)
    assert not encoder.model.positional_embedding.requires_grad


def test_the_shipped_tower_is_not_order_blind():
    first, reordered = load().encode_text(TEXTS[:2])
    assert np.abs(first - reordered).max() > 1e-3


def test_mean_pooling_by_hand():
    """With the blocks and the final norm taken out and an identity projection, the mean-
    pooled text feature is the mean of token plus position embeddings over the tokens from
    start-of-text to end-of-text."""
    encoder = load("&pool=mean")
    model = encoder.model
    model.transformer.forward = lambda x, attn_mask=None: x
    model.ln_final = torch.nn.Identity()
    width = model.token_embedding.embedding_dim
    model.text_projection = torch.nn.Parameter(torch.eye(width))
    tokens = encoder.tokenizer(["a dog"])
    end = int(tokens.argmax(dim=-1))
    with torch.no_grad():
        expected = (model.token_embedding(tokens[0]) + model.positional_embedding)[: end + 1]
        expected = expected.mean(dim=0)
        got = model.encode_text(tokens)[0]
    torch.testing.assert_close(got, expected)


def test_switches_reach_the_fingerprint_and_the_control():
    shipped, switched = load(), load("&attn=bidirectional&pool=mean")
    assert shipped.info.fingerprint != switched.info.fingerprint
    control = random_init_spec(switched.info, seed=1)
    assert control == "openclip:cliposcope-tiny?seed=1&attn=bidirectional&pool=mean"
    assert random_init_spec(shipped.info, seed=1) == "openclip:cliposcope-tiny?seed=1"


def test_toy_models_take_the_switches():
    encoder = load_encoder("toy:default?attn=bidirectional&pos=none", text_batch_size=8)
    assert encoder.info.spec == "toy:default?attn=bidirectional&pos=none"
    assert encoder.info.details["text_causal"] is False
    first, reordered = encoder.encode_text(TEXTS[:2])
    np.testing.assert_allclose(first, reordered, atol=1e-5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("&attn=sideways", "attn='sideways'"),
        ("&pool=max", "pool='max'"),
        ("&pos=sinusoidal", "pos='sinusoidal'"),
    ],
)
def test_unknown_switches_are_one_clear_error(options, message):
    with pytest.raises(CliposcopeError, match=message):
        load(options)
