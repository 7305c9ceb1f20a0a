"""Streaming: TOR's memory grows with the number of queries only by its per-query records.

Peak RSS of the real command is measured by benchmarks/tor_memory.py (a fresh process per
run); here tracemalloc watches every Python and numpy allocation of the probe itself.
"""

from __future__ import annotations

import tracemalloc

import pytest

from cliposcope.data.vocab import Vocabulary, load_vocabulary
from cliposcope.probes.registry import run_probe
from cliposcope.probes.tor import TorSettings

from .fakes import PositionWeightedEncoder

# A record (caption, objects, top-n names, the winner and its figures) takes about 0.5 kB
# at n=4; scoring itself holds one chunk at a time.
RECORD_BYTES_PER_QUERY = 600


def peak_bytes(settings: TorSettings) -> tuple[int, int]:
    encoder = PositionWeightedEncoder((2, 1, 1, 1), dim=64)
    tracemalloc.start()
    try:
        result = run_probe("tor", encoder, None, settings)
        return tracemalloc.get_traced_memory()[1], result.provenance["query_count"]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_full_query_set_streams_but_for_its_records():
    vocab = Vocabulary("forty", load_vocabulary("comco").words[:40])
    peak_bytes(TorSettings(vocab, n=2))  # warm-up: caches and lazy imports
    small, small_count = peak_bytes(TorSettings(vocab, n=3))
    large, large_count = peak_bytes(TorSettings(vocab, n=4))
    assert (small_count, large_count) == (9_880, 91_390)
    records = RECORD_BYTES_PER_QUERY * (large_count - small_count)
    assert large <= 1.2 * small + records, (small, large)


@pytest.mark.slow
def test_sampled_query_set_grows_only_by_its_rank_index_and_records():
    comco = load_vocabulary("comco")
    peak_bytes(TorSettings(comco, n=4, sample=2_000))
    small, small_count = peak_bytes(TorSettings(comco, n=4, sample=20_000))
    large, count = peak_bytes(TorSettings(comco, n=4, sample=200_000))
    assert count == 200_000
    # drawing K distinct ranks holds them once (Python's sampler: < 100 bytes per rank)
    records = RECORD_BYTES_PER_QUERY * (count - small_count)
    assert large <= 1.2 * small + 100 * 200_000 + records, (small, large)
