"""Intervals for designs the closed-form ones do not fit: paired ratio figures and clustered
queries, by bootstrap over the units that are independent; and Holm's adjustment for a
family of tests.

Every figure here is a ratio of sums, ``sum(numerator) / sum(denominator)``: a share of
queries has denominator 1 per query, a conditional share (TOR's first-object preference
among queries whose nearest name is one of theirs) has denominator 1 only for the queries
it conditions on. A model and its control measured on the same queries are compared by
resampling those queries once and recomputing both figures on the same resample (paired);
queries that share a cluster (the captions of one image, the seeds of one prompt) are
resampled a cluster at a time. The sums per resampling unit are taken first, so a
bootstrap replicate costs one weighted sum over units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_REPLICATES = 2000


@dataclass(frozen=True)
class BootstrapDifference:
    """A paired difference of two ratio figures with its percentile bootstrap interval."""

    difference: float
    ci95: tuple[float, float]
    p_value: float
    standard_error: float
    replicates: int
    seed: int
    units: int  # resampling units: queries, or clusters
    method: str
    design_effect: float | None = None

    def to_dict(self) -> dict:
        return {
            "difference": self.difference,
            "ci95": list(self.ci95),
            "p_value": self.p_value,
            "standard_error": self.standard_error,
            "replicates": self.replicates,
            "seed": self.seed,
            "units": self.units,
            "method": self.method,
            "design_effect": self.design_effect,
        }


def unit_sums(values: np.ndarray, clusters: Sequence | None) -> np.ndarray:
    """Per-unit sums of the rows of ``values`` (queries × columns): each query its own unit,
    or the queries of a cluster summed together."""
    values = np.asarray(values, dtype=np.float64)
    if clusters is None:
        return values
    codes: dict = {}  # any hashable cluster label (text, number, tuple), in sorted order
    for label in sorted(set(clusters), key=repr):
        codes[label] = len(codes)
    index = np.fromiter((codes[label] for label in clusters), dtype=np.int64, count=len(values))
    sums = np.zeros((len(codes), values.shape[1]))
    np.add.at(sums, index, values)
    return sums


def bootstrap_sums(sums: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """Column sums of ``replicates`` resamples (with replacement) of the rows of ``sums``,
    drawn in chunks so memory stays near 32 MB whatever the number of units."""
    generator = np.random.default_rng(seed)
    units, width = sums.shape
    chunk = max(1, min(replicates, 4_000_000 // max(units * width, 1)))
    found = np.empty((replicates, width))
    for start in range(0, replicates, chunk):
        stop = min(start + chunk, replicates)
        draws = generator.integers(0, units, size=(stop - start, units))
        # how often each unit was drawn, per replicate: one bincount over the chunk, then
        # one matrix product, instead of gathering (replicates x units x width) values
        offsets = draws + units * np.arange(stop - start)[:, None]
        counts = np.bincount(offsets.ravel(), minlength=(stop - start) * units)
        found[start:stop] = counts.reshape(stop - start, units) @ sums
    return found


def _ratio_difference(sums: np.ndarray) -> np.ndarray:
    """Model ratio minus control ratio, for sums laid out as (model num, model den, control
    num, control den) along the last axis."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[..., 0] / sums[..., 1] - sums[..., 2] / sums[..., 3]


def paired_ratio_difference(
    model_numerator: Sequence[float],
    model_denominator: Sequence[float],
    control_numerator: Sequence[float],
    control_denominator: Sequence[float],
    *,
    clusters: Sequence | None = None,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> BootstrapDifference:
    """Model figure minus control figure on the same queries (row i of each column is
    query i), with a percentile interval from resampling queries, or clusters of queries,
    with replacement; the p-value is the two-sided bootstrap test of no difference
    (twice the smaller tail of the replicates around 0, at least 1/(B+1))."""
    columns = np.column_stack(
        [model_numerator, model_denominator, control_numerator, control_denominator]
    ).astype(np.float64)
    sums = unit_sums(columns, clusters)
    units = len(sums)
    estimate = float(_ratio_difference(sums.sum(axis=0)))
    replicated = _ratio_difference(bootstrap_sums(sums, replicates, seed))
    replicated = replicated[np.isfinite(replicated)]
    low, high = np.quantile(replicated, [0.025, 0.975])
    tail = min(np.mean(replicated <= 0), np.mean(replicated >= 0))
    p_value = float(min(1.0, max(2 * tail, 1 / (len(replicated) + 1))))
    method = "cluster bootstrap (percentile)" if clusters is not None else "paired bootstrap"
    design = None
    if clusters is not None:
        query_level = paired_ratio_difference(
            model_numerator,
            model_denominator,
            control_numerator,
            control_denominator,
            replicates=replicates,
            seed=seed,
        )
        se = float(np.std(replicated, ddof=1))
        design = (se / query_level.standard_error) ** 2 if query_level.standard_error else None
    return BootstrapDifference(
        difference=estimate,
        ci95=(float(low), float(high)),
        p_value=p_value,
        standard_error=float(np.std(replicated, ddof=1)),
        replicates=replicates,
        seed=seed,
        units=units,
        method=method,
        design_effect=design,
    )


def cluster_ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    clusters: Sequence,
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> dict:
    """A ratio figure (a share, possibly conditional) with a percentile interval from
    resampling whole clusters; the number of clusters and the design effect (the variance
    against the one that treats queries as independent) are recorded."""
    columns = np.column_stack([numerator, denominator]).astype(np.float64)
    sums = unit_sums(columns, clusters)
    total = sums.sum(axis=0)
    estimate = float(total[0] / total[1]) if total[1] else float("nan")
    units = len(sums)
    replicated_sums = bootstrap_sums(sums, replicates, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        replicated = replicated_sums[:, 0] / replicated_sums[:, 1]
    replicated = replicated[np.isfinite(replicated)]
    low, high = np.quantile(replicated, [0.025, 0.975])
    naive_variance = estimate * (1 - estimate) / total[1] if total[1] else float("nan")
    variance = float(np.var(replicated, ddof=1))
    return {
        "estimate": estimate,
        "ci95": [float(low), float(high)],
        "count": float(total[0]),
        "total": float(total[1]),
        "clusters": units,
        "design_effect": variance / naive_variance if naive_variance else None,
        "method": "cluster bootstrap (percentile)",
        "replicates": replicates,
        "seed": seed,
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the given order."""
    values = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    count = len(values)
    adjusted = np.empty(count)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (count - rank) * values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def clustered(clusters: Sequence | None) -> bool:
    """Whether some cluster holds more than one unit (otherwise units are independent)."""
    return clusters is not None and len(set(clusters)) < len(clusters)


def share_figure(hits: Sequence[bool], clusters: Sequence | None = None, *, seed: int = 0) -> dict:
    """A share of units with its 95% interval: Wilson's for independent units, a cluster
    bootstrap (recording clusters, design effect and method) where units cluster."""
    from cliposcope.probes.stats import Proportion

    hits = np.asarray(hits, dtype=bool)
    exact = Proportion(int(hits.sum()), len(hits)).to_dict()
    if not clustered(clusters) or not len(hits):
        return exact
    found = cluster_ratio_interval(hits, np.ones(len(hits)), clusters, seed=seed)
    return exact | {key: found[key] for key in ("ci95", "clusters", "design_effect", "method")}


def paired_share_difference(
    first: Sequence[bool], second: Sequence[bool], clusters: Sequence | None = None
) -> dict:
    """Two shares on the same units, first minus second: Newcombe's paired interval and the
    exact McNemar test for independent units (probes.stats.paired_difference); where units
    cluster, a paired cluster bootstrap interval and test, with the number of clusters and
    the design effect. The paired table is kept either way."""
    from cliposcope.probes.stats import paired_difference, paired_table

    exact = paired_difference(*paired_table(first, second))
    if not clustered(clusters) or not exact["total"]:
        return exact | {"method": "paired Newcombe interval, exact McNemar test"}
    ones = np.ones(len(first))
    found = paired_ratio_difference(first, ones, second, ones, clusters=clusters)
    return exact | {
        "ci95": list(found.ci95),
        "p_value": found.p_value,
        "method": "paired cluster bootstrap (percentile), bootstrap test",
        "clusters": found.units,
        "design_effect": found.design_effect,
        "replicates": found.replicates,
        "seed": found.seed,
    }
