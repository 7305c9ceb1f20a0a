"""How long `toy:default` takes to load in a fresh process, with the imports it needs
timed separately (open_clip's import dominates).

    python benchmarks/toy_load.py [--repeat 3]

Prints, best of the repeats: import torch, import open_clip, then cliposcope's own load of
the packaged weights, and the total.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SCRIPT = """
import json, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import open_clip
t2 = time.perf_counter()
from cliposcope.encoders import load_encoder
encoder = load_encoder("toy:default", device="cpu")
t3 = time.perf_counter()
print(json.dumps({"torch": t1 - t0, "open_clip": t2 - t1, "load": t3 - t2, "total": t3 - t0}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda run: run["total"])
    for key in ("torch", "open_clip", "load", "total"):
        print(f"{key:>10}: {best[key]:.2f} s")
    print(
        f"best of {args.repeat}: toy:default ready {best['total']:.2f} s after start, "
        f"{best['load']:.2f} s of it cliposcope's own"
    )


if __name__ == "__main__":
    main()
