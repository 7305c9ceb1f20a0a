"""The Ray engine against the local engine on the same work: embedding captions.

Embeds the same N captions (toy:default; `--model` for another spec) with the local
engine, then with Ray Data actor pools of 1 and 2 CPU actors on a local Ray instance, and
prints captions/s for each and Ray's overhead relative to the local engine (time of the
Ray run over the local run; Ray's figures include starting the actors and loading the
model in each, not starting Ray itself). On 2 cores the scaling these figures can show is
small; they give the per-actor throughput and overhead that docs/scale.md builds on.

    python benchmarks/ray_scale.py [--captions 20000] [--model toy:default]

``--per-core``: one CPU thread each, the local engine against one Ray actor with one CPU,
on ComCO n=3 captions (list order, then shuffled: the Ray engine's shards must regroup the
families of captions that start alike for its shared-prefix path). Prints each engine's
captions/s per core, the actor's start (start + model load, timed on a one-caption run and
taken off the Ray time) and the ratio Ray / local.

    python benchmarks/ray_scale.py --per-core --captions 8192 --model 'openclip:ViT-B-32?seed=0'
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def timed_ray_run(model: str, texts: list[str], fingerprint: str) -> tuple[np.ndarray, float]:
    from cliposcope.scale.ray_engine import RaySettings, embed_with_ray

    with tempfile.TemporaryDirectory() as shards:
        started = time.perf_counter()
        vectors, _ = embed_with_ray(
            model,
            {"device": "cpu"},
            texts,
            "text",
            fingerprint,
            RaySettings(actors=1),
            Path(shards),
        )
        return vectors, time.perf_counter() - started


def per_core(model: str, count: int) -> None:
    import random

    import ray
    import torch
    from text_encode import comco_list_order

    from cliposcope.encoders import load_encoder

    texts = comco_list_order(count, 3)
    random.Random(0).shuffle(texts)
    torch.set_num_threads(1)
    encoder = load_encoder(model, device="cpu")
    started = time.perf_counter()
    reference = encoder.encode_text(texts)
    local_rate = count / (time.perf_counter() - started)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        _, start_s = timed_ray_run(model, texts[:1], encoder.info.fingerprint)
        vectors, ray_s = timed_ray_run(model, texts, encoder.info.fingerprint)
    finally:
        ray.shutdown()
    ray_rate = count / (ray_s - start_s)
    same = bool(np.allclose(vectors, reference, atol=1e-5))
    print(f"{model}: {count:,} ComCO n=3 captions (shuffled), one CPU thread per engine")
    print(f"local engine, 1 thread:      {local_rate:8,.0f} captions/s")
    print(f"Ray, 1 actor of 1 CPU:       {ray_rate:8,.0f} captions/s  (after its start)")
    print(f"Ray actor start + model load: {start_s:7.1f} s (a one-caption run)")
    print(f"same embeddings (1e-5): {same}")
    print(f"per-core ratio Ray / local: {ray_rate / local_rate:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=20_000)
    parser.add_argument("--model", default="toy:default")
    parser.add_argument("--per-core", action="store_true", help="one thread each, ComCO")
    args = parser.parse_args()
    if args.per_core:
        per_core(args.model, args.captions)
        return
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
