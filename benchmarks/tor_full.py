"""The complete ComCO TOR n=3 query set (117,480 captions) through the command line.

Runs `cliposcope run tor --vocab comco --n 3` (paper protocol by default: every
combination in list order) on a random-weight ViT-B-32 with no cache, times it end to
end, and times open_clip's own encode_text on a 2,000-caption sample of the same set in
the same process, extrapolated to the whole set (its cost per caption is fixed: it always
runs the full 77-token context). The last line is the ratio.

    python benchmarks/tor_full.py [--protocol paper|balanced] [--sample 2000]
"""

from __future__ import annotations

import argparse
import itertools
import math
import tempfile
import time

import numpy as np

from cliposcope.app.cli import main as cliposcope
from cliposcope.data.vocab import load_vocabulary
from cliposcope.encoders import load_encoder

MODEL = "openclip:ViT-B-32?seed=0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="paper", choices=("paper", "balanced"))
    parser.add_argument("--sample", type=int, default=2000, help="captions for the reference")
    args = parser.parse_args()

    words = load_vocabulary("comco").words
    total = math.comb(len(words), 3)
    out = tempfile.mkdtemp(prefix="cliposcope-tor-full-")
    started = time.perf_counter()
    code = cliposcope(
        [
            "run",
            "tor",
            "--model",
            MODEL,
            "--vocab",
            "comco",
            "--n",
            "3",
            "--protocol",
            args.protocol,
            "--no-cache",
            "--quiet",
            "--device",
            "cpu",
            "--out",
            out,
        ]
    )
    full_s = time.perf_counter() - started
    if code != 0:
        raise SystemExit(code)

    encoder = load_encoder(MODEL, device="cpu")
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(total, args.sample, replace=False).tolist())
    sample = [
        " and ".join(c) for i, c in enumerate(itertools.combinations(words, 3)) if i in chosen
    ]
    started = time.perf_counter()
    encoder.encode_text_reference(sample)
    reference_rate = len(sample) / (time.perf_counter() - started)
    reference_s = total / reference_rate
    print(f"{total} captions ({args.protocol} protocol), {MODEL}, CPU")
    print(f"cliposcope run tor, end to end: {full_s:8.1f} s ({full_s / 60:.1f} min)")
    print(f"open_clip encode_text         : {reference_rate:8.1f} captions/s on {len(sample)}")
    print(f"  extrapolated to the set     : {reference_s:8.0f} s ({reference_s / 60:.1f} min)")
    print(f"ratio: {reference_s / full_s:.1f}x")


if __name__ == "__main__":
    main()
