"""The encoder protocol every adapter implements, and the helpers they share."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from cliposcope.errors import CliposcopeError

ImageInput = str | Path | Image.Image

# Bump when a change to cliposcope itself can change stored embeddings.
EMBEDDING_FORMAT_VERSION = 1


@dataclass(frozen=True)
class EncoderInfo:
    """What a result must record about the encoder that produced it."""

    family: str
    spec: str
    name: str
    weights_source: str
    weights_hash: str
    library_versions: dict[str, str]
    activation: str
    context_length: int | None
    text_causal: bool
    text_pooling: str
    embed_dim: int
    has_image_tower: bool
    fast_text_path: bool
    fast_text_reason: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """Identifies the function texts/images -> embeddings, for caching.

        The fast text path is left out on purpose: it is only enabled where it was proven
        equal to the reference path (max abs diff <= 1e-5), so both may share a cache.
        """
        family_library = {
            "openclip": "open_clip_torch",
            "hf": "transformers",
            "st": "sentence-transformers",
        }.get(self.family)
        payload = {
            "format": EMBEDDING_FORMAT_VERSION,
            "spec": self.spec,
            "weights_hash": self.weights_hash,
            "activation": self.activation,
            "context_length": self.context_length,
            "settings": self.settings,
            "torch": self.library_versions.get("torch"),
            "library": self.library_versions.get(family_library or "", None),
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


class Encoder(ABC):
    """Texts and images to L2-normalised float32 embeddings, shape (N, D), in input order."""

    info: EncoderInfo

    def encode_text(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        return l2_normalise(self._encode_texts(texts, progress=progress))

    def encode_images(self, images: Sequence[ImageInput], *, progress: bool = False) -> np.ndarray:
        if not self.info.has_image_tower:
            raise CliposcopeError(
                f"{self.info.spec} is a text-only encoder and cannot embed images",
                hint="use an openclip: or hf: model for image probes",
            )
        images = list(images)
        if not images:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        return l2_normalise(self._encode_images(images, progress=progress))

    @abstractmethod
    def _encode_texts(self, texts: list[str], *, progress: bool) -> np.ndarray:
        """Raw (unnormalised) text features, in input order."""

    def _encode_images(self, images: list[ImageInput], *, progress: bool) -> np.ndarray:
        raise NotImplementedError


def check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise CliposcopeError(
            "encode_text got a single string, expected a list of strings",
            hint="wrap it in a list: encode_text([text])",
        )
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise CliposcopeError(
                f"text #{index} is {type(text).__name__} {text!r}, expected str",
                hint="pass a list of strings",
            )
    return texts


def l2_normalise(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def load_image(item: ImageInput) -> Image.Image:
    """An RGB PIL image from a path or an image; corrupt or missing files raise clearly."""
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    path = Path(item)
    if not path.is_file():
        raise CliposcopeError(f"image file not found: {path}", hint="check the path")
    try:
        with Image.open(path) as image:
            image.load()
            # Same as the libraries' own preprocessing: alpha is dropped, not composited.
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CliposcopeError(
            f"cannot read image {path}: {error}",
            hint="the file is corrupt, truncated or not an image; re-create or remove it",
        ) from None


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Indices grouped into batches of similar length (stable, so ties keep input order)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def activation_name(module) -> str:
    """The activation functions found in a torch module, e.g. 'quick_gelu' or 'gelu'."""
    names = {
        "QuickGELU": "quick_gelu",
        "GELU": "gelu",
        "GELUTanh": "gelu_tanh",
        "SiLU": "silu",
        "ReLU": "relu",
    }
    found = sorted({names[type(m).__name__] for m in module.modules() if type(m).__name__ in names})
    return "+".join(found) if found else "unknown"
