"""Out of accelerator memory, an encoder halves the tower's batch size and retries the whole
call (down to 1, then one clear error), and records it in ``info.details`` so the
provenance written with the results says what ran. Simulated on the CPU: a fake encoder
(and a real tiny one, patched) raises torch's OutOfMemoryError for batches too large."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from cliposcope.cache import CachedEncoder
from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import Encoder, EncoderInfo, batched
from cliposcope.errors import CliposcopeError

TEXTS = [f"caption number {i}" for i in range(37)]
DIM = 6


def features_of(data: bytes) -> np.ndarray:
    """Deterministic, unnormalised features of one input."""
    digest = hashlib.sha256(data).digest()
    return np.frombuffer(digest[: 4 * DIM], dtype=np.uint32).astype(np.float32) / 2**32 - 0.5


def out_of_memory() -> torch.OutOfMemoryError:
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


class FittingEncoder(Encoder):
    """Runs out of memory whenever a tower's batch size is above its limit."""

    def __init__(self, *, text=32, image=16, text_limit=8, image_limit=4, error=None):
        self.text_batch_size, self.image_batch_size = text, image
        self.limits = {"text": text_limit, "image": image_limit}
        self.error = error or out_of_memory
        self.passes: list[tuple[str, int]] = []  # (tower, batch size) of every call
        self.info = EncoderInfo(
            spec="fake:oom",
            family="fake",
            name="oom",
            weights_source="none",
            weights_hash="sha256:" + "0" * 64,
            embed_dim=DIM,
            towers=("text", "image"),
            details={"batch_sizes": self._batch_sizes()},
        )

    def _run(self, tower: str, size: int, items: list[bytes]) -> np.ndarray:
        self.passes.append((tower, size))
        rows = []
        for batch in batched(items, size):
            if len(batch) > self.limits[tower]:
                raise self.error()
            rows.extend(features_of(item) for item in batch)
        return np.stack(rows)

    def _encode_texts(self, texts, *, progress):
        return self._run("text", self.text_batch_size, [t.encode() for t in texts])

    def _encode_images(self, images, *, progress):
        return self._run("image", self.image_batch_size, [i.tobytes() for i in images])


def images(count: int = 11) -> list[Image.Image]:
    return [Image.new("RGB", (8, 8), (i * 20, 255 - i * 20, i)) for i in range(count)]


def test_text_batches_halve_until_they_fit_and_give_the_same_embeddings(caplog):
    encoder = FittingEncoder(text=32, text_limit=8)
    with caplog.at_level(logging.WARNING, logger="cliposcope.encoders.base"):
        backed_off = encoder.encode_text(TEXTS)
    started_small = FittingEncoder(text=8, text_limit=8).encode_text(TEXTS)
    assert backed_off.tobytes() == started_small.tobytes()
    assert encoder.passes == [("text", 32), ("text", 16), ("text", 8)]
    assert encoder.text_batch_size == 8 and encoder.image_batch_size == 16
    assert encoder.info.details["batch_sizes"] == {"text": 8, "image": 16}
    assert encoder.info.details["oom_backoffs"] == [
        {"tower": "text", "from": 32, "to": 16},
        {"tower": "text", "from": 16, "to": 8},
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "out of memory at text batch 32 on cpu: retrying with 16",
        "out of memory at text batch 16 on cpu: retrying with 8",
    ]


def test_the_smaller_batch_size_stays_for_later_calls():
    encoder = FittingEncoder(text=16, text_limit=8)
    encoder.encode_text(TEXTS)
    encoder.encode_text(TEXTS[:20])
    assert encoder.passes == [("text", 16), ("text", 8), ("text", 8)]
    assert len(encoder.info.details["oom_backoffs"]) == 1


def test_images_back_off_on_their_own():
    encoder = FittingEncoder(text=32, image=16, text_limit=64, image_limit=4)
    pictures = images()
    backed_off = encoder.encode_images(pictures + pictures[:3])  # repeats encoded once
    started_small = FittingEncoder(image=4, image_limit=4).encode_images(pictures + pictures[:3])
    assert backed_off.tobytes() == started_small.tobytes()
    assert encoder.passes == [("image", 16), ("image", 8), ("image", 4)]
    assert encoder.info.details["batch_sizes"] == {"text": 32, "image": 4}
    assert [entry["tower"] for entry in encoder.info.details["oom_backoffs"]] == ["image"] * 2
    encoder.encode_text(TEXTS)  # the text tower fits as it is
    assert encoder.passes[-1] == ("text", 32) and encoder.text_batch_size == 32


def test_nothing_changes_when_memory_suffices(caplog):
    encoder = FittingEncoder(text=8, image=4)
    details = json.dumps(encoder.info.to_dict(), sort_keys=True)
    with caplog.at_level(logging.WARNING, logger="cliposcope.encoders.base"):
        encoder.encode_text(TEXTS)
        encoder.encode_images(images())
    assert json.dumps(encoder.info.to_dict(), sort_keys=True) == details
    assert "oom_backoffs" not in encoder.info.details and not caplog.records
    assert encoder.passes == [("text", 8), ("image", 4)]


def test_out_of_memory_at_batch_size_one_is_one_clear_error():
    encoder = FittingEncoder(text=4, text_limit=0)
    with pytest.raises(CliposcopeError, match="ran out of memory on cpu") as raised:
        encoder.encode_text(TEXTS)
    assert "one at a time" in raised.value.message and "OutOfMemoryError" in raised.value.message
    assert "--precision fp16" in raised.value.hint and "smaller model" in raised.value.hint
    assert encoder.passes == [("text", 4), ("text", 2), ("text", 1)]
    assert encoder.info.details["oom_backoffs"][-1] == {"tower": "text", "from": 2, "to": 1}


def test_other_errors_are_not_retried():
    encoder = FittingEncoder(text=32, text_limit=8, error=lambda: RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        encoder.encode_text(TEXTS)
    assert encoder.passes == [("text", 32)] and encoder.text_batch_size == 32
    assert "oom_backoffs" not in encoder.info.details


def test_the_record_a_cache_writes_with_results_shows_the_backoff(tmp_path):
    encoder = FittingEncoder(text=16, text_limit=8)
    cached = CachedEncoder(encoder, cache_dir=tmp_path, storage="fp16")  # a copied info
    cached.encode_text(TEXTS)
    record = json.loads(json.dumps(cached.info.to_dict()))
    assert record["details"]["batch_sizes"] == {"text": 8, "image": 16}
    assert record["details"]["oom_backoffs"] == [{"tower": "text", "from": 16, "to": 8}]
    assert record["settings"]["cache_storage"] == "fp16"


@pytest.fixture(scope="module")
def tiny():
    """Its own tiny model: the batch sizes it ends with must not leak into other tests."""
    return load_encoder("openclip:cliposcope-tiny?seed=0", text_batch_size=8, image_batch_size=4)


def fail_once(encoder, name: str, monkeypatch) -> list[int]:
    """Patch encoder.<name> to run out of memory on its first pass, then delegate."""
    original, sizes = getattr(encoder, name), []

    def flaky(items, *, progress):
        tower = "text" if name == "_encode_texts" else "image"
        sizes.append(getattr(encoder, f"{tower}_batch_size"))
        if len(sizes) == 1:
            raise out_of_memory()
        return original(items, progress=progress)

    monkeypatch.setattr(encoder, name, flaky)
    return sizes


def test_a_real_model_retried_gives_exactly_the_unpatched_embeddings(tiny, monkeypatch):
    texts = [*TEXTS[:13], "a photo of a dog", "", "cat and dog and a red apple"]
    pictures = images(7)
    started = tiny.encode_text(texts), tiny.encode_images(pictures)
    tiny.text_batch_size, tiny.image_batch_size = 4, 2  # the sizes the retries will use
    text_reference, image_reference = tiny.encode_text(texts), tiny.encode_images(pictures)
    tiny.text_batch_size, tiny.image_batch_size = 8, 4
    text_sizes = fail_once(tiny, "_encode_texts", monkeypatch)
    image_sizes = fail_once(tiny, "_encode_images", monkeypatch)
    assert tiny.encode_text(texts).tobytes() == text_reference.tobytes()
    assert tiny.encode_images(pictures).tobytes() == image_reference.tobytes()
    assert text_sizes == [8, 4] and image_sizes == [4, 2]
    # other batches, other orders of summation: equal to rounding to what was asked for
    for asked, reference in zip(started, (text_reference, image_reference), strict=True):
        np.testing.assert_allclose(asked, reference, atol=1e-5)
    assert tiny.info.details["batch_sizes"] == {"text": 4, "image": 2}
    assert tiny.info.details["oom_backoffs"] == [
        {"tower": "text", "from": 8, "to": 4},
        {"tower": "image", "from": 4, "to": 2},
    ]


def test_apples_mps_out_of_memory_backs_off_as_well():
    """On MPS torch raises a plain RuntimeError for it."""

    def mps_out_of_memory():
        return RuntimeError("MPS backend out of memory (MPS allocated: 17.00 GB)")

    encoder = FittingEncoder(error=mps_out_of_memory)
    reference = FittingEncoder(text=8)
    np.testing.assert_array_equal(encoder.encode_text(TEXTS), reference.encode_text(TEXTS))
    assert encoder.text_batch_size == 8
