"""Multi-object query sets as arrays of vocabulary indices, streamed in chunks.

A query is a row of n distinct vocabulary indices in caption order. The paper's set is
every ``combinations(range(N), n)`` in lexicographic order (position k always holds the
lower index: position and identity are confounded). ``order="random"`` shows each
combination in a seeded random order, ``order="all"`` in all n! orders. Everything is
generated chunk by chunk, so memory does not grow with the number of queries.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

import numpy as np

from cliposcope.errors import CliposcopeError

CHUNK = 4096  # fixed, so seeded orders do not depend on how callers batch their work
MAX_N = 8


def check_arity(vocab_size: int, n: int) -> None:
    if not 2 <= n <= MAX_N:
        raise CliposcopeError(
            f"--n {n} is out of range", hint=f"captions hold 2 to {MAX_N} objects"
        )
    if n > vocab_size:
        raise CliposcopeError(
            f"--n {n} is more than the {vocab_size} names in the vocabulary",
            hint="use a smaller n or a larger vocabulary",
        )


def _combination_chunks(vocab_size: int, n: int, chunk: int) -> Iterator[np.ndarray]:
    combos = itertools.combinations(range(vocab_size), n)
    while block := list(itertools.islice(combos, chunk)):
        yield np.array(block, dtype=np.int64)


def _prefix_counts(vocab_size: int, n: int, slot: int) -> np.ndarray:
    """F[x] = number of lexicographic combinations whose ``slot`` element is below x."""
    remaining = n - 1 - slot
    counts = [math.comb(vocab_size - 1 - x, remaining) for x in range(vocab_size)]
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])


def unrank_combinations(ranks: np.ndarray, vocab_size: int, n: int) -> np.ndarray:
    """Lexicographic ranks -> combinations, vectorised (the combinatorial number system)."""
    ranks = np.asarray(ranks, dtype=np.int64).copy()
    out = np.empty((len(ranks), n), dtype=np.int64)
    start = np.zeros(len(ranks), dtype=np.int64)
    for slot in range(n):
        prefix = _prefix_counts(vocab_size, n, slot)
        target = ranks + prefix[start]
        element = np.searchsorted(prefix, target, side="right") - 1
        ranks -= prefix[element] - prefix[start]
        out[:, slot] = element
        start = element + 1
    return out


def sample_ranks(total: int, sample: int, seed: int) -> np.ndarray:
    """``sample`` distinct ranks out of ``total``, sorted (so the set keeps list order)."""
    if total >= 2**62:
        raise CliposcopeError(
            f"{total} combinations are too many to sample from",
            hint="use a smaller vocabulary or n",
        )
    chosen = random.Random(seed).sample(range(total), sample)
    return np.sort(np.array(chosen, dtype=np.int64))


def query_count(vocab_size: int, n: int, sample: int | None, order: str) -> int:
    combos = math.comb(vocab_size, n) if sample is None else min(sample, math.comb(vocab_size, n))
    return combos * (math.factorial(n) if order == "all" else 1)


def query_chunks(
    vocab_size: int, n: int, *, sample: int | None = None, seed: int = 0, order: str = "list"
) -> Iterator[np.ndarray]:
    """Chunks of queries, (m, n) int64; ``order`` is "list", "random" or "all"."""
    check_arity(vocab_size, n)
    if order not in ("list", "random", "all"):
        raise ValueError(f"unknown order {order!r}")
    if sample is not None and sample < 1:
        raise CliposcopeError(f"--sample {sample} is not positive", hint="e.g. --sample 5000")
    total = math.comb(vocab_size, n)
    chunk = CHUNK if order != "all" else max(1, CHUNK // math.factorial(n))
    if sample is None or sample >= total:
        combo_chunks = _combination_chunks(vocab_size, n, chunk)
    else:
        ranks = sample_ranks(total, sample, seed)
        combo_chunks = (
            unrank_combinations(ranks[i : i + chunk], vocab_size, n)
            for i in range(0, len(ranks), chunk)
        )
    permutations = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
    for index, combos in enumerate(combo_chunks):
        if order == "list":
            yield combos
        elif order == "all":
            yield combos[:, permutations].reshape(-1, n)
        else:
            rng = np.random.default_rng([seed, index])
            shuffled = rng.permuted(np.tile(np.arange(n), (len(combos), 1)), axis=1)
            yield np.take_along_axis(combos, shuffled, axis=1)
