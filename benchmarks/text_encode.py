"""Text encoding speed: open_clip's own encode_text vs cliposcope's exact fast path.

Both paths start from strings (tokenisation included) and run in this process on the
same model, so the ratio compares like with like. Prints sentences/s for each, the max
abs difference between their L2-normalised embeddings, and the ratio as the last line.

    python benchmarks/text_encode.py [--model openclip:ViT-B-32] [--count 3000] [--n 3]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

import numpy as np
import torch

from cliposcope.data.vocab import COCO_CLASSES
from cliposcope.encoders import load_encoder


def coco_captions(count: int, n_objects: int, seed: int) -> list[str]:
    """Captions like 'apple and pizza and desk' over random COCO-object combinations."""
    rng = random.Random(seed)
    combos = list(itertools.combinations(COCO_CLASSES, n_objects))
    return [" and ".join(rng.sample(combo, n_objects)) for combo in rng.sample(combos, count)]


def timed(function, *args) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="openclip:ViT-B-32")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--n", type=int, default=3, help="objects per caption")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    encoder = load_encoder(args.model, text_batch_size=args.batch_size)
    if not encoder.info.fast_text_path:
        raise SystemExit(f"{args.model} has no fast text path: {encoder.info.fast_text_reason}")
    captions = coco_captions(args.count, args.n, args.seed)
    encoder.encode_text(captions[:64])  # warm-up: allocator, thread pool
    print(
        f"model {encoder.info.spec}, torch threads {torch.get_num_threads()}, "
        f"{len(captions)} captions of {args.n} COCO objects"
    )

    reference, reference_s = timed(encoder.encode_text_reference, captions)
    fast, fast_s = timed(encoder.encode_text, captions)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    max_diff = float(np.abs(reference - fast).max())

    print(
        f"library encode_text : {len(captions) / reference_s:9.1f} sentences/s ({reference_s:.2f}s)"
    )
    print(f"cliposcope fast path: {len(captions) / fast_s:9.1f} sentences/s ({fast_s:.2f}s)")
    print(f"max abs difference  : {max_diff:.2e}")
    print(f"speed ratio: {reference_s / fast_s:.2f}x")


if __name__ == "__main__":
    main()
