"""Scene generation speed: 224-px ComCO-style scenes with 4 objects (one large).

Measures composing alone and composing plus writing the PNGs (image and mask), in one
process, and prints images/s; the last line is the end-to-end figure.

    python benchmarks/generate_scenes.py [--count 400] [--kind comco]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from cliposcope.data.generate import SceneSettings, compose_scene, write_dataset
from cliposcope.data.layout import LayoutSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--kind", default="comco", choices=("comco", "simco"))
    args = parser.parse_args()
    settings = SceneSettings(kind=args.kind, count=args.count, size=224, layout=LayoutSpec(n=4))
    compose_scene(settings, 0)  # warm-up: sprite cache, lazy imports

    started = time.perf_counter()
    for index in range(args.count):
        compose_scene(settings, index)
    compose_rate = args.count / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_dataset(settings, f"{folder}/out", references=False)
        write_rate = args.count / (time.perf_counter() - started)

    print(f"{args.kind}, 224 px, 4 objects (one large), {args.count} scenes, 1 process")
    print(f"compose only        : {compose_rate:6.1f} images/s")
    print(f"compose + write PNGs: {write_rate:6.1f} images/s")


if __name__ == "__main__":
    main()
