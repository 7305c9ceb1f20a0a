"""ViT-B-32 throughput on a CUDA GPU at fp32, fp16 and bf16, with the largest difference
from fp32 (L2-normalised embeddings). Without CUDA it says so and exits 0.

    python benchmarks/gpu.py [--captions 20000] [--images 2000]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from cliposcope.data.vocab import load_vocabulary
from cliposcope.encoders import load_encoder
from cliposcope.encoders.base import autocast

MODEL = "openclip:ViT-B-32?seed=0"


def rate(function, count: int) -> tuple[np.ndarray, float]:
    torch.cuda.synchronize()
    started = time.perf_counter()
    result = function()
    torch.cuda.synchronize()
    return result, count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=20000)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--text-batch", type=int, default=1024)
    parser.add_argument("--image-batch", type=int, default=256)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to measure (run this on a machine with one)")
        return
    words = load_vocabulary("comco").words
    captions = [
        " and ".join(c) for c in itertools.islice(itertools.combinations(words, 3), args.captions)
    ]
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.images, 3, 224, 224, generator=generator)
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, {MODEL}")
    print(f"{'precision':<10}{'text/s':>12}{'images/s':>12}{'text diff':>12}{'image diff':>12}")
    baseline = {}
    for precision in ("fp32", "fp16", "bf16"):
        encoder = load_encoder(
            MODEL,
            device="cuda",
            precision=precision,
            text_batch_size=args.text_batch,
            image_batch_size=args.image_batch,
        )
        encoder.encode_text(captions[:256])  # warm-up

        def encode_images(encoder=encoder, precision=precision):
            out = []
            with torch.inference_mode(), autocast("cuda", precision):
                for start in range(0, len(images), args.image_batch):
                    batch = images[start : start + args.image_batch].cuda(non_blocking=True)
                    out.append(encoder.model.encode_image(batch).float())
            features = torch.nn.functional.normalize(torch.cat(out), dim=-1)
            return features.cpu().numpy()

        text, text_rate = rate(lambda encoder=encoder: encoder.encode_text(captions), len(captions))
        image, image_rate = rate(encode_images, len(images))
        if precision == "fp32":
            baseline = {"text": text, "image": image}
        text_diff = float(np.abs(text - baseline["text"]).max())
        image_diff = float(np.abs(image - baseline["image"]).max())
        print(
            f"{precision:<10}{text_rate:>12.0f}{image_rate:>12.0f}{text_diff:>12.1e}"
            f"{image_diff:>12.1e}"
        )


if __name__ == "__main__":
    main()
