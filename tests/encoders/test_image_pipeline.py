"""Images are decoded ahead of the model by worker processes, and each distinct image is
encoded once; neither changes a single number."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import image_batches
from cliposcope.errors import CliposcopeError


def write_images(folder, count: int):
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"{i:03d}.png"
        Image.new("RGB", (64, 64), (i * 7 % 256, i * 13 % 256, i * 29 % 256)).save(path)
        paths.append(path)
    return paths


def test_workers_give_the_same_embeddings_as_the_main_process(tmp_path):
    paths = write_images(tmp_path / "images", 20)
    inline = load_encoder("openclip:cliposcope-tiny?seed=0", image_batch_size=4)
    inline.image_workers = 0
    pooled = load_encoder("openclip:cliposcope-tiny?seed=0", image_batch_size=4)
    pooled.image_workers = 2
    # equal up to float rounding (elementwise kernels may take other vector paths per thread)
    np.testing.assert_allclose(inline.encode_images(paths), pooled.encode_images(paths), atol=1e-6)


def test_duplicate_images_are_encoded_once(tmp_path, monkeypatch):
    paths = write_images(tmp_path / "images", 3)
    copy = tmp_path / "copy.png"
    copy.write_bytes(paths[0].read_bytes())
    encoder = load_encoder("openclip:cliposcope-tiny?seed=0")
    seen = []
    real = encoder._encode_images

    def counting(images, *, progress):
        seen.append(len(images))
        return real(images, progress=progress)

    monkeypatch.setattr(encoder, "_encode_images", counting)
    inputs = [paths[0], paths[1], copy, paths[1], paths[2], paths[0]]
    out = encoder.encode_images(inputs)
    assert seen == [3]  # three distinct contents
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[1], out[3])
    monkeypatch.undo()
    np.testing.assert_allclose(out, encoder.encode_images(inputs), atol=1e-6)


def test_a_corrupt_image_in_a_worker_is_one_clear_error(tmp_path):
    paths = write_images(tmp_path / "images", 8)
    paths[5].write_bytes(b"not an image")
    try:
        list(
            image_batches(
                paths, lambda image: torch.zeros(1), batch_size=2, device="cpu", workers=2
            )
        )
    except CliposcopeError as error:
        assert "005.png" in str(error) and "\n" not in str(error)
    else:
        raise AssertionError("the corrupt image went unnoticed")
