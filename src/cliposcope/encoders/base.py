"""The encoder protocol every adapter implements, and the helpers they share."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from cliposcope.errors import CliposcopeError, describe_exception
from cliposcope.hashing import image_key

logger = logging.getLogger(__name__)

ImageInput = str | Path | Image.Image

# Bump when a change to cliposcope itself can change stored embeddings.
EMBEDDING_FORMAT_VERSION = 1

PRECISIONS = ("fp32", "fp16", "bf16")
# An exact fast text path (trimmed, shared-prefix) must match the library's forward within
# this at each precision: fp32 agrees to rounding; half precisions round every activation,
# so two orders of summation differ by a few units in their last place.
EXACT_PATH_TOLERANCE = {"fp32": 1e-5, "fp16": 1e-2, "bf16": 5e-2}
DEVICE_FORMS = "auto, cpu, cuda, cuda:N or mps"
# Abilities an encoder may declare beyond encode_text/encode_images; probes ask supports().
CAPABILITIES = ("cls_attention",)


def resolve_device(requested: str) -> str:
    """'auto' -> cuda when present, else mps, else cpu; anything else is checked to exist."""
    import torch

    requested = requested.strip().lower()
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", requested):
        raise CliposcopeError(
            f"device {requested!r} is not one I know", hint=f"expected {DEVICE_FORMS}"
        )
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CliposcopeError(
                f"device {requested} asked for, but torch sees no CUDA GPU",
                hint="use --device cpu (or auto)",
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise CliposcopeError(
                f"device {requested} asked for, but torch sees {torch.cuda.device_count()} GPU(s)",
                hint=f"cuda:0 .. cuda:{torch.cuda.device_count() - 1}",
            )
        return f"cuda:{index}"
    if requested == "mps" and not torch.backends.mps.is_available():
        raise CliposcopeError("device mps asked for, but it is not available", hint="--device cpu")
    return requested


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise CliposcopeError(
            f"precision {precision!r} is not one I know",
            hint=f"expected one of {', '.join(PRECISIONS)}",
        )
    return precision


def autocast(device: str, precision: str):
    """Mixed precision for the model's forward pass; fp32 runs as it is."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.partition(":")[0], dtype=dtype)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``family:target[?key=value&...]`` spec (see specs.parse_spec): what every
    family's loader takes besides the LoadOptions."""

    family: str
    target: str
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def canonical(self) -> str:
        """The spec string with options sorted, so equal specs print equally."""
        text = f"{self.family}:{self.target}"
        if self.options:
            text += "?" + "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return text

    def __str__(self) -> str:
        return self.canonical

    def option(self, key: str, default: str | None = None) -> str | None:
        return self.options.get(key, default)

    def bool_option(self, key: str, default: bool | None = None) -> bool | None:
        raw = self.options.get(key)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise CliposcopeError(
            f"option {key}={raw!r} in spec {self.canonical!r} is not a boolean",
            hint=f"write {key}=true or {key}=false",
        )

    def int_option(self, key: str, default: int) -> int:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise CliposcopeError(
                f"option {key}={raw!r} in spec {self.canonical!r} is not an integer",
                hint=f"write e.g. {key}=0",
            ) from None

    def check_options(self, allowed: Mapping[str, str]) -> None:
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            known = ", ".join(f"{k} ({v})" for k, v in allowed.items()) or "none"
            raise CliposcopeError(
                f"unknown option(s) {', '.join(unknown)} in spec {self.canonical!r}",
                hint=f"options known for {self.family}: {known}",
            )


@dataclass(frozen=True)
class LoadOptions:
    """What every family's loader takes besides the spec: where and how to run."""

    device: str = "auto"
    precision: str = "fp32"
    text_batch_size: int = 256
    image_batch_size: int = 32
    image_workers: int | None = None  # None: chosen by image_batches

    def __post_init__(self):
        check_precision(self.precision)
        if self.image_workers is not None and self.image_workers < 0:
            raise CliposcopeError(
                f"image_workers {self.image_workers} is negative",
                hint="0 decodes in the main process",
            )
        for name in ("text_batch_size", "image_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise CliposcopeError(f"{name} {value!r} is not a positive integer", hint="e.g. 64")

    def resolved(self) -> LoadOptions:
        """The same options with 'auto' turned into the device actually used, refused where
        this torch cannot run the precision on that device (it would fall back silently)."""
        from dataclasses import replace

        device = resolve_device(self.device)
        check_autocast(device, self.precision)
        return replace(self, device=device)


def check_autocast(device: str, precision: str) -> None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch warns, then disables, unsupported autocast
            with autocast(device, precision):
                pass
    except (UserWarning, RuntimeError) as error:
        raise CliposcopeError(
            f"precision {precision} is not available on {device} with this torch ({error})",
            hint="use --precision fp32, or another device",
        ) from None


TOWERS = ("text", "image")
# Details that change the numbers. They enter the fingerprint under their own names, as
# they did when they were fields of EncoderInfo, so caches written then are still found.
FINGERPRINTED_DETAILS = ("activation", "context_length")


@dataclass(frozen=True)
class EncoderInfo:
    """What a result must record about the encoder that produced it.

    The fields are common to every family. ``settings`` holds the family's settings that
    change the numbers (e.g. quick_gelu), which enter the fingerprint; ``details`` holds
    what the family reports about itself (activation, context length, text pooling, which
    exact fast paths are on and why, batch sizes, ...), of which only
    FINGERPRINTED_DETAILS enter the fingerprint. ``library`` names the distribution whose
    version can change the embeddings (the family's own library; torch always counts).
    """

    spec: str
    family: str
    name: str
    weights_source: str
    weights_hash: str
    embed_dim: int
    device: str = "cpu"
    precision: str = "fp32"
    towers: tuple[str, ...] = ("text",)
    library: str | None = None
    library_versions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        unknown = set(self.towers) - set(TOWERS)
        if "text" not in self.towers or unknown:
            raise ValueError(f"towers {self.towers!r}: expected 'text', optionally 'image'")

    @property
    def has_image_tower(self) -> bool:
        return "image" in self.towers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def fingerprint(self) -> str:
        """Identifies the function texts/images -> embeddings, for caching.

        The fast text paths are left out on purpose: they are only enabled where they were
        proven equal to the reference path, so all may share a cache. Precision and the
        kind of device enter (embeddings of different precision never mix); the device
        index does not, since cuda:0 and cuda:1 compute the same function. The payload is
        laid out as it was before the family details moved into ``details``: embedding
        caches on users' disks are keyed by it.
        """
        settings = {
            **self.settings,
            "precision": self.precision,
            "device": self.device.partition(":")[0],
        }
        payload = {
            "format": EMBEDDING_FORMAT_VERSION,
            "spec": self.spec,
            "weights_hash": self.weights_hash,
            **{key: self.details.get(key) for key in FINGERPRINTED_DETAILS},
            "settings": settings,
            "torch": self.library_versions.get("torch"),
            "library": self.library_versions.get(self.library or ""),
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


class _ImageItems:
    """Images decoded and preprocessed one by one (in DataLoader workers when there are
    many): a failure comes back as data, so the main process raises one clear error."""

    def __init__(self, items: list, transform):
        self.items, self.transform = items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        try:
            return self.transform(load_image(self.items[index]))
        except CliposcopeError as error:
            return ("error", error.message, error.hint)


def _stack_or_error(batch: list):
    import torch

    for item in batch:
        if isinstance(item, tuple):
            return item
    return torch.stack(batch)


def image_batches(items: list, transform, *, batch_size: int, device: str, workers: int | None):
    """Batches of preprocessed pixels on ``device``, decoded ahead of the model by worker
    processes (pinned memory on CUDA). ``workers=None``: up to 4, fewer on small machines,
    none for a handful of images or for in-memory images."""
    import os

    from torch.utils.data import DataLoader

    if workers is None:
        files = all(isinstance(item, (str, Path)) for item in items)
        many = len(items) >= 2 * batch_size
        workers = min(4, max(1, (os.cpu_count() or 1) - 1)) if files and many else 0
    loader = DataLoader(
        _ImageItems(items, transform),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_stack_or_error,
        pin_memory=device.startswith("cuda"),
    )
    for batch in loader:
        if isinstance(batch, tuple):
            raise CliposcopeError(batch[1], hint=batch[2])
        yield batch.to(device, non_blocking=True)


class Encoder(ABC):
    """Texts and images to L2-normalised float32 embeddings, shape (N, D), in input order.

    Optional abilities are declared in ``capabilities`` (names from CAPABILITIES) and asked
    for with ``supports``; a wrapper forwards them explicitly.
    """

    info: EncoderInfo
    capabilities: frozenset[str] = frozenset()
    device: str = "cpu"
    precision: str = "fp32"
    text_batch_size: int = 256
    image_batch_size: int = 32
    image_workers: int | None = None

    def _batch_sizes(self) -> dict[str, int]:
        return {"text": self.text_batch_size, "image": self.image_batch_size}

    def _take_options(self, options: LoadOptions | None) -> None:
        """Where and how this encoder runs (the device resolved from 'auto')."""
        options = (options or LoadOptions()).resolved()
        self.device, self.precision = options.device, options.precision
        self.text_batch_size = options.text_batch_size
        self.image_batch_size = options.image_batch_size
        self.image_workers = options.image_workers

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def cls_attention(self, images: Sequence[ImageInput], layer: int = -1) -> np.ndarray:
        """(N, grid_h, grid_w) attention of the CLS token to the patches of one ViT block."""
        raise CliposcopeError(
            f"{self.info.spec} exposes no CLS attention maps",
            hint="attention probes need a ViT image tower with a CLS token (e.g. ViT-B-32)",
        )

    def encode_text(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        features = self._backing_off_on_oom(
            "text", lambda: self._encode_texts(texts, progress=progress)
        )
        return self._finite(l2_normalise(features), "text")

    def encode_images(self, images: Sequence[ImageInput], *, progress: bool = False) -> np.ndarray:
        if not self.info.has_image_tower:
            raise CliposcopeError(
                f"{self.info.spec} is a text-only encoder and cannot embed images",
                hint="use a model with an image tower; `cliposcope models` lists the families",
            )
        images = list(images)
        if not images:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        # The same file (or the same pixels) is encoded once, wherever it recurs.
        keys = [image_key(item) for item in images]
        first: dict[bytes, int] = {}
        for index, key in enumerate(keys):
            first.setdefault(key, index)
        unique = [images[i] for i in first.values()]
        features = self._backing_off_on_oom(
            "image", lambda: self._encode_images(unique, progress=progress)
        )
        features = self._finite(l2_normalise(features), "image")
        row = {key: position for position, key in enumerate(first)}
        return features[[row[key] for key in keys]]

    def _backing_off_on_oom(self, tower: str, encode: Callable[[], np.ndarray]) -> np.ndarray:
        """``encode()``, retried whole with the tower's batch size halved each time the
        accelerator runs out of memory, down to 1. The smaller size stays for later calls,
        and ``info.details`` records it ("batch_sizes", "oom_backoffs"), so the provenance
        written with the results says what ran. With no OOM nothing changes."""
        attribute = f"{tower}_batch_size"
        while True:
            try:
                return encode()
            except Exception as error:
                if not _is_out_of_memory(error):
                    raise
                size = getattr(self, attribute)
                if size <= 1:
                    raise CliposcopeError(
                        f"{self.info.spec} ran out of memory on {self.device} encoding "
                        f"{tower}s one at a time ({describe_exception(error)})",
                        hint="free the device of other work, or use --precision fp16 (or "
                        "bf16), a smaller model, or --device cpu",
                    ) from None
            # out of the except block, so the failed pass's frames (and tensors) are gone
            _release_memory()
            smaller = size // 2
            logger.warning(
                "out of memory at %s batch %d on %s: retrying with %d",
                tower,
                size,
                self.device,
                smaller,
            )
            setattr(self, attribute, smaller)
            details = self.info.details  # shared with wrappers that copied the info
            details["batch_sizes"] = self._batch_sizes()
            details.setdefault("oom_backoffs", []).append(
                {"tower": tower, "from": size, "to": smaller}
            )

    def _finite(self, embeddings: np.ndarray, kind: str) -> np.ndarray:
        """No figure may rest on a NaN or infinite embedding."""
        bad = ~np.isfinite(embeddings).all(axis=1)
        if bad.any():
            raise CliposcopeError(
                f"{self.info.spec} gave non-finite {kind} embeddings for {int(bad.sum())} of "
                f"{len(embeddings)} inputs (first: #{int(np.argmax(bad))})",
                hint="the weights or the input overflow; check the checkpoint, or use fp32",
            )
        return embeddings

    @abstractmethod
    def _encode_texts(self, texts: list[str], *, progress: bool) -> np.ndarray:
        """Raw (unnormalised) text features, in input order."""

    def _encode_images(self, images: list[ImageInput], *, progress: bool) -> np.ndarray:
        raise NotImplementedError


def _is_out_of_memory(error: BaseException) -> bool:
    """torch's out-of-memory error (torch.OutOfMemoryError, alias torch.cuda's), or the
    plain RuntimeError Apple's MPS backend raises for it."""
    torch = sys.modules.get("torch")
    if torch is None:  # torch never loaded: nothing of it can have run out of memory
        return False
    kind = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    if isinstance(error, kind):
        return True
    return isinstance(error, RuntimeError) and str(error).startswith("MPS backend out of memory")


def _release_memory() -> None:
    """What a failed pass held, handed back before the retry."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    if torch is not None and torch.backends.mps.is_available():
        torch.mps.empty_cache()


class ForwardingEncoder(Encoder):
    """An encoder around another one (a cache, a distributed engine): it overrides
    ``encode_text``/``encode_images``, and the model's abilities, device, precision and
    attention maps are the wrapped encoder's."""

    wrapped: Encoder

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        return self.wrapped.capabilities

    @property
    def device(self) -> str:  # type: ignore[override]
        return self.wrapped.device

    @property
    def precision(self) -> str:  # type: ignore[override]
        return self.wrapped.precision

    def cls_attention(self, images: Sequence[ImageInput], layer: int = -1) -> np.ndarray:
        """Attention maps are not embeddings: computed by the wrapped encoder."""
        return self.wrapped.cls_attention(images, layer)

    def _encode_texts(self, texts: list[str], *, progress: bool) -> np.ndarray:
        raise NotImplementedError  # encode_text is overridden


def load_torch_file(path: Path, *, required: set[str], what: str, hint: str) -> dict:
    """A torch file read weights-only (tensors and plain data, never code) that must be a
    dict holding ``required`` keys; anything else (a crafted pickle, a truncated or
    foreign file) is one clear error."""
    import torch

    from cliposcope.errors import describe_exception

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CliposcopeError(
            f"cannot read {what} {path}: {describe_exception(error)}", hint=hint
        ) from None
    if not isinstance(state, dict) or not required <= set(state):
        raise CliposcopeError(
            f"{path} is not a {what} (expected keys {sorted(required)})", hint=hint
        )
    return state


def refuse_non_finite(module, spec: str) -> None:
    """Refuse weights holding NaN or infinity: every embedding would be garbage."""
    import torch

    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CliposcopeError(
                f"{spec} has non-finite weights (NaN or inf in {name})",
                hint="the checkpoint is corrupt or diverged in training; use another one",
            )


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


@contextmanager
def quiet_weight_loading():
    """transformers draws a bar per weight load; ours are the ones that count work."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
