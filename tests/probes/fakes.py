"""Synthetic encoders with a known bias, so tests can check the probes recover it."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from cliposcope.encoders.base import Encoder, EncoderInfo


@lru_cache(maxsize=4096)
def word_vector(word: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).normal(size=dim)


class PositionWeightedEncoder(Encoder):
    """A caption's embedding is a weighted sum of its objects' word vectors.

    ``weights[k]`` multiplies the object at position k: (1, 1, 1) is position-blind,
    (3, 1, 1) favours the first object. Objects are found by splitting on " and ", and
    the ``filler`` word counts as no object.
    """

    def __init__(self, weights=(1.0, 1.0, 1.0, 1.0), dim: int = 256, filler: str = "something"):
        self.weights = weights
        self.dim = dim
        self.filler = filler
        self.calls = 0
        self.info = EncoderInfo(
            family="fake", spec=f"fake:weights={','.join(map(str, weights))}", name="fake",
            weights_source="synthetic", weights_hash="none", library_versions={},
            activation="none", context_length=None, text_causal=False, text_pooling="none",
            embed_dim=dim, has_image_tower=False, fast_text_path=False, fast_text_reason="fake",
        )  # fmt: skip

    def _encode_texts(self, texts, *, progress):
        self.calls += 1
        out = np.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            for k, word in enumerate(text.split(" and ")):
                if word != self.filler:
                    out[row] += self.weights[k % len(self.weights)] * word_vector(word, self.dim)
        return out
