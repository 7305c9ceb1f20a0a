"""Text encoding speed: open_clip's own encode_text vs cliposcope's exact paths.

Two caption sets, each timed in this process on the same model, starting from strings
(tokenisation included):

* 2,000 captions over random COCO-object combinations in random order (little shared
  prefix: the trimmed path does the work);
* the first 20,000 ComCO n=3 captions in list order, as TOR's paper protocol builds them
  (every caption shares its first objects with its neighbours: the shared-prefix path).

The library's encode_text always runs the full 77-token context, so its cost per caption
does not depend on the caption; it is timed on a seeded sample of each set (``--reference``,
default 2,000) and the max abs difference is taken on that sample (``--check-all``: on every
caption, which takes about 16 minutes for 20,000 at 21 captions/s). Prints captions/s and
the ratio for each set; the last line is the ComCO ratio.

    python benchmarks/text_encode.py [--model openclip:ViT-B-32] [--check-all]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

import numpy as np
import torch

from cliposcope.data.vocab import COCO_CLASSES, load_vocabulary
from cliposcope.encoders import load_encoder


def coco_captions(count: int, n_objects: int, seed: int) -> list[str]:
    """Captions like 'apple and pizza and desk' over random COCO-object combinations."""
    rng = random.Random(seed)
    combos = list(itertools.combinations(COCO_CLASSES, n_objects))
    return [" and ".join(rng.sample(combo, n_objects)) for combo in rng.sample(combos, count)]


def comco_list_order(count: int, n_objects: int) -> list[str]:
    words = load_vocabulary("comco").words
    combos = itertools.islice(itertools.combinations(words, n_objects), count)
    return [" and ".join(combo) for combo in combos]


def timed(function, *args) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def measure(
    encoder, name: str, captions: list[str], reference_count: int, check_all: bool, seed: int
) -> float:
    fast, fast_s = timed(encoder.encode_text, captions)
    rng = np.random.default_rng(seed)
    sample = (
        np.arange(len(captions))
        if check_all
        else np.sort(rng.choice(len(captions), min(reference_count, len(captions)), replace=False))
    )
    reference, reference_s = timed(encoder.encode_text_reference, [captions[i] for i in sample])
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    max_diff = float(np.abs(reference - fast[sample]).max())
    reference_rate = len(sample) / reference_s
    fast_rate = len(captions) / fast_s
    ratio = fast_rate / reference_rate
    print(f"{name}: {len(captions)} captions")
    print(f"  library encode_text : {reference_rate:9.1f} captions/s (timed on {len(sample)})")
    print(f"  cliposcope          : {fast_rate:9.1f} captions/s ({fast_s:.1f}s for all)")
    print(f"  max abs difference  : {max_diff:.2e} on {len(sample)} captions")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="openclip:ViT-B-32?seed=0")
    parser.add_argument("--coco", type=int, default=2000, help="random-order COCO captions")
    parser.add_argument("--comco", type=int, default=20000, help="list-order ComCO captions")
    parser.add_argument("--n", type=int, default=3, help="objects per caption")
    parser.add_argument(
        "--reference",
        type=int,
        default=2000,
        help="captions the library path is timed and compared on",
    )
    parser.add_argument("--check-all", action="store_true", help="compare every caption")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    encoder = load_encoder(args.model, text_batch_size=args.batch_size, device="cpu")
    details = encoder.info.details
    if not details["fast_text_path"]:
        raise SystemExit(f"{args.model} has no fast text path: {details['fast_text_reason']}")
    print(
        f"model {encoder.info.spec}, torch threads {torch.get_num_threads()}, "
        f"shared prefix: {details['prefix_sharing_reason']}"
    )
    encoder.encode_text(coco_captions(64, args.n, args.seed + 1))  # warm-up
    coco = measure(
        encoder,
        "COCO objects, random order",
        coco_captions(args.coco, args.n, args.seed),
        args.reference,
        args.check_all,
        args.seed,
    )
    print(f"speed ratio (COCO random order): {coco:.2f}x")
    comco = measure(
        encoder,
        "ComCO n=3, list order",
        comco_list_order(args.comco, args.n),
        args.reference,
        args.check_all,
        args.seed,
    )
    print(f"speed ratio (ComCO list order): {comco:.2f}x")


if __name__ == "__main__":
    main()
