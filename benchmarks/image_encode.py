"""Image encoding end to end (decode + preprocess + model) against the model alone.

Generates a folder of 224-px ComCO scenes once (``--scenes``, default 500), then measures
in this process on the same model: images/s for ``encode_images`` on the files (worker
processes decode ahead of the model), and images/s for the model alone on the same images
already decoded and preprocessed into tensors. The last line is end to end as a share of
model-only.

    python benchmarks/image_encode.py [--model openclip:ViT-B-32] [--scenes 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from cliposcope.data.generate import SceneSettings, write_dataset
from cliposcope.data.layout import LayoutSpec
from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import load_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="openclip:ViT-B-32?seed=0")
    parser.add_argument("--scenes", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="default: chosen by size")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cliposcope-bench-")) / "scenes"
    settings = SceneSettings(kind="comco", count=args.scenes, layout=LayoutSpec(n=3), seed=0)
    scenes = [s for s in write_dataset(settings, folder, references=False)]
    paths = [scene.image_path for scene in scenes]
    encoder = load_encoder(args.model, image_batch_size=args.batch_size, device="cpu")
    encoder.image_workers = args.workers
    print(
        f"model {encoder.info.spec}, torch threads {torch.get_num_threads()}, "
        f"{len(paths)} PNG scenes of 224 px"
    )

    pixels = torch.stack([encoder.preprocess(load_image(path)) for path in paths])
    encoder.encode_images(paths[: args.batch_size])  # warm-up
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(pixels), args.batch_size):
            encoder.model.encode_image(pixels[start : start + args.batch_size])
    model_only = len(paths) / (time.perf_counter() - started)

    started = time.perf_counter()
    encoder.encode_images(paths)
    end_to_end = len(paths) / (time.perf_counter() - started)

    print(f"model only (pre-made tensors): {model_only:8.1f} images/s")
    print(f"end to end (files)           : {end_to_end:8.1f} images/s")
    print(f"end to end / model only: {100 * end_to_end / model_only:.1f}%")


if __name__ == "__main__":
    main()
