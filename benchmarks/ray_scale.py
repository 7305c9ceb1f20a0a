"""The Ray engine against the local engine on the same work: embedding captions.

Embeds the same N captions (toy:default; `--model` for another spec) with the local
engine, then with Ray Data actor pools of 1 and 2 CPU actors on a local Ray instance, and
prints captions/s for each and Ray's overhead relative to the local engine (time of the
Ray run over the local run; Ray's figures include starting the actors and loading the
model in each, not starting Ray itself). On 2 cores the scaling these figures can show is
small; they give the per-actor throughput and overhead that docs/scale.md builds on.

    python benchmarks/ray_scale.py [--captions 20000] [--model toy:default]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=20_000)
    parser.add_argument("--model", default="toy:default")
    args = parser.parse_args()
    import ray

    from cliposcope.encoders import load_encoder
    from cliposcope.scale.ray_engine import RaySettings, embed_with_ray

    words = ("dog", "cat", "car", "bus", "pizza", "horse", "kite", "boat", "cup", "chair")
    rng = np.random.default_rng(0)
    texts = [
        " and ".join(rng.choice(words, 3, replace=False)) + f" {i}" for i in range(args.captions)
    ]
    encoder = load_encoder(args.model, device="cpu")
    started = time.perf_counter()
    reference = encoder.encode_text(texts)
    local = time.perf_counter() - started
    rows = [("local engine", local, True)]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        for actors in (1, 2):
            with tempfile.TemporaryDirectory() as shards:
                started = time.perf_counter()
                vectors, _ = embed_with_ray(
                    args.model,
                    {"device": "cpu"},
                    texts,
                    "text",
                    encoder.info.fingerprint,
                    RaySettings(actors=actors),
                    Path(shards),
                )
                seconds = time.perf_counter() - started
            rows.append(
                (
                    f"Ray, {actors} CPU actor(s)",
                    seconds,
                    bool(np.allclose(vectors, reference, atol=1e-6)),
                )
            )
    finally:
        ray.shutdown()
    print(f"{args.model}: {args.captions:,} captions, shards of 4,096, this machine")
    print(f"{'engine':<22} {'seconds':>8} {'captions/s':>11} {'vs local':>9}  same embeddings")
    for name, seconds, same in rows:
        print(
            f"{name:<22} {seconds:>8.1f} {args.captions / seconds:>11,.0f} "
            f"{seconds / local:>8.2f}x  {same}"
        )


if __name__ == "__main__":
    main()
