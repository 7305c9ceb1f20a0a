"""Peak RSS of `cliposcope run tor` at 20k and 200k queries: the embeddings stream, so
what grows with the query count is the per-query records (about 0.5 kB a query at n=4,
held until the result is saved; `--no-records` drops them from the outputs, not yet from
memory).

Each run is a fresh process (no embedding cache, so every caption is encoded); the
script prints both peaks and their ratio as the last line.

    python benchmarks/tor_memory.py [--model SPEC] [--small 20000] [--large 200000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

CHILD = """
import resource, runpy, sys
sys.argv = ["cliposcope"] + sys.argv[1:]
try:
    runpy.run_module("cliposcope", run_name="__main__")
except SystemExit as stop:
    if stop.code:
        raise
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_kb(model: str, queries: int, out: str) -> tuple[int, float]:
    argv = [
        "run",
        "tor",
        "--model",
        model,
        "--n",
        "4",
        "--sample",
        str(queries),
        "--no-cache",
        "--quiet",
        "--out",
        out,
    ]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - started
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("PEAK_RSS_KB"))
    return int(line.split()[1]), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="openclip:cliposcope-tiny?seed=0")
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        small, small_s = peak_rss_kb(args.model, args.small, out)
        large, large_s = peak_rss_kb(args.model, args.large, out)
    print(f"model {args.model}, n=4 ComCO captions, no cache")
    print(f"{args.small:>8} queries: peak RSS {small / 1024:7.1f} MiB ({small_s:.0f}s)")
    print(f"{args.large:>8} queries: peak RSS {large / 1024:7.1f} MiB ({large_s:.0f}s)")
    print(f"peak RSS ratio (large/small): {large / small:.3f}")


if __name__ == "__main__":
    main()
