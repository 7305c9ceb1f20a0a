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

    def __init__(
        self,
        weights=(1.0, 1.0, 1.0, 1.0),
        dim: int = 256,
        filler: str = "something",
        noise: float = 0.0,
        noise_seed: int = 0,
    ):
        self.weights = weights
        self.dim = dim
        self.filler = filler
        self.noise, self.noise_seed = noise, noise_seed  # per-caption Gaussian noise
        self.calls = 0
        self.info = EncoderInfo(
            family="fake",
            spec=f"fake:weights={','.join(map(str, weights))}",
            name="fake",
            weights_source="synthetic",
            weights_hash="none",
            embed_dim=dim,
            towers=("text", "image"),
        )

    def _encode_texts(self, texts, *, progress):
        self.calls += 1
        out = np.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            for k, word in enumerate(text.split(" and ")):
                if word != self.filler:
                    out[row] += self.weights[k % len(self.weights)] * word_vector(word, self.dim)
            if self.noise and " and " in text:  # captions only: the gallery stays exact
                key = hashlib.sha256(f"{self.noise_seed}|{text}".encode()).digest()[:8]
                rng = np.random.default_rng(int.from_bytes(key, "little"))
                out[row] += self.noise * rng.normal(size=self.dim)
        return out


class SceneLookupEncoder(Encoder):
    """Images are looked up by path in a scene set: the embedding is a weighted sum of the
    objects' word vectors, weighted by ``image_weight(area_fraction, position)``. Texts are
    embedded as PositionWeightedEncoder does, with ``text_weights``."""

    def __init__(self, scenes, image_weight, text_weights=(1.0, 1.0, 1.0, 1.0), dim: int = 256):
        self.by_path = {str(s.image_path): s for s in scenes}
        self.image_weight = image_weight
        self.text = PositionWeightedEncoder(text_weights, dim)
        self.dim = dim
        self.info = self.text.info

    def _encode_texts(self, texts, *, progress):
        return self.text._encode_texts(texts, progress=progress)

    def _encode_images(self, images, *, progress):
        out = np.zeros((len(images), self.dim))
        for row, path in enumerate(images):
            scene = self.by_path[str(path)]
            for k, obj in enumerate(scene.objects):
                out[row] += self.image_weight(obj.area_fraction, k) * word_vector(
                    obj.name, self.dim
                )
        return out
