"""Corpus statistics at scale: a synthetic caption table streamed in flat memory.

Writes two JSONL corpora (60,000 and 600,000 captions, each with object names and areas),
runs `cliposcope corpus stats` on each in its own process, and prints wall time, captions/s
and peak RSS, then the RSS of the large run relative to the small one (the streaming
claim: flat memory, within 20 %) and relative to a process that only imports the CLI.

    python benchmarks/corpus_stats.py [--small 60000] [--large 600000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A run of the command line in this process, reporting its own peak RSS (KiB) last.
RUNNER = """
import resource, sys
from cliposcope.app.cli import main
code = main(sys.argv[1:]) if len(sys.argv) > 1 else 0
print("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""
OBJECTS = (
    "man",
    "woman",
    "dog",
    "cat",
    "car",
    "bus",
    "horse",
    "pizza",
    "laptop",
    "bench",
    "umbrella",
    "kite",
    "boat",
    "train",
    "elephant",
    "giraffe",
    "cup",
    "chair",
    "teddy bear",
    "hot dog",
)
CATEGORY = {"man": "person", "woman": "person"}
LINKS = ("next to", "with", "near", "and", "beside", "behind", "holding")


def write_corpus(path: Path, count: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(count):
            k = rng.randint(1, 6)
            words = rng.sample(OBJECTS, k)
            caption = "A " + words[0]
            for word in words[1:]:
                caption += f" {rng.choice(LINKS)} a {word}"
            names = [CATEGORY.get(w, w) for w in words]
            if len(set(names)) < len(names):  # man and woman: one person, the larger area
                names, words = list(dict.fromkeys(names)), None
            areas = [round(rng.uniform(50, 5000), 1) for _ in names]
            row = {"caption": caption + ".", "objects": names, "areas": areas}
            handle.write(json.dumps(row) + "\n")


def run(corpus: Path, out: Path) -> tuple[float, int]:
    argv = [sys.executable, "-c", RUNNER]
    if corpus is not None:
        argv += [
            "corpus",
            "stats",
            "--input",
            str(corpus),
            "--objects-column",
            "objects",
            "--areas-column",
            "areas",
            "--out",
            str(out),
            "--quiet",
        ]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    rss = int(done.stderr.rsplit("peak_rss_kib", 1)[1].split()[0])
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=60_000)
    parser.add_argument("--large", type=int, default=600_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _, baseline = run(None, root)
        rows = []
        for count in (args.small, args.large):
            corpus = root / f"captions-{count}.jsonl"
            write_corpus(corpus, count)
            seconds, rss = run(corpus, root / f"out-{count}")
            size = corpus.stat().st_size / 2**20
            rows.append((count, size, seconds, rss))
    print("corpus stats on synthetic JSONL (objects + areas columns), 1 process each")
    print(f"{'captions':>9} {'MiB':>6} {'seconds':>8} {'captions/s':>11} {'peak RSS MiB':>13}")
    for count, size, seconds, rss in rows:
        print(
            f"{count:>9,} {size:>6.1f} {seconds:>8.1f} {count / seconds:>11,.0f} "
            f"{rss / 1024:>13.1f}"
        )
    (_, _, _, small), (_, _, seconds, large) = rows
    print(f"import-only process: {baseline / 1024:.1f} MiB peak RSS")
    print(
        f"large run: {seconds:.1f} s; peak RSS {large / small:.3f}x the small run's "
        f"(+{(large - small) / 1024:.1f} MiB; above import-only: small "
        f"{(small - baseline) / 1024:.1f} MiB, large {(large - baseline) / 1024:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
