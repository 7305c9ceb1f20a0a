"""Coverage of cliposcope's 95% intervals, measured by simulation rather than assumed.

For each experimental design, planted effects are simulated many times; for each method
the share of replications whose interval holds the planted value (coverage, goal 0.95)
and, with no effect planted, the share that declares one (false-positive rate, goal at
most 0.05) are printed, for the method cliposcope uses beside the naive one it replaces:

* independent: two samples of queries (Newcombe's interval for independent proportions;
  naive: Wald).
* paired unconditional: model and control answer the same queries, correlated (Newcombe's
  interval for paired proportions; naive: the independent one).
* paired conditional: a share among the queries that meet a condition, which differs
  between model and control (paired bootstrap over queries; naive: independent Newcombe).
* clustered: a share over queries in clusters of 5 with intra-cluster correlation 0.3
  (cluster bootstrap; naive: Wilson).
* paired, clustered: model and control on the same queries, in clusters of 5 with
  intra-cluster correlation 0.3, as matching's pairs of one scene (paired cluster
  bootstrap; naive: Newcombe's paired interval, which ignores the clusters).

The methods marked "cliposcope" are those its verdicts and figures use (probes.verdicts,
probes.resampling); the bootstrap here draws --bootstrap replicates (verdicts draw 2,000).

    python benchmarks/interval_coverage.py [--replications 2000] [--sizes 200,1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cliposcope.probes.resampling import cluster_ratio_interval, paired_ratio_difference
from cliposcope.probes.stats import (
    Z95,
    Proportion,
    newcombe_difference_interval,
    newcombe_paired_interval,
    wilson_interval,
)

CLUSTER_SIZE = 5
INTRA_CLUSTER_CORRELATION = 0.3


def holds(interval: tuple[float, float], value: float) -> bool:
    return interval[0] <= value <= interval[1]


def wald_difference(a: Proportion, b: Proportion) -> tuple[float, float]:
    pa, pb = a.count / a.total, b.count / b.total
    half = Z95 * np.sqrt(pa * (1 - pa) / a.total + pb * (1 - pb) / b.total)
    return pa - pb - half, pa - pb + half


def independent(rng, n, effect, replicates):
    p_control = 0.45
    a = Proportion(int(rng.binomial(n, p_control + effect)), n)
    b = Proportion(int(rng.binomial(n, p_control)), n)
    return {"Newcombe (independent)": newcombe_difference_interval(a, b)}, {
        "Wald": wald_difference(a, b)
    }


def correlated_pairs(rng, n, p_model, p_control, rho=0.5):
    """Binary outcomes of model and control on the same queries, correlated through a
    shared latent normal (a Gaussian copula)."""
    from scipy.stats import norm

    shared = rng.standard_normal(n)
    own = rng.standard_normal((2, n))
    latent = np.sqrt(rho) * shared + np.sqrt(1 - rho) * own
    model = latent[0] < norm.ppf(p_model)
    control = latent[1] < norm.ppf(p_control)
    return model, control


def paired_unconditional(rng, n, effect, replicates):
    model, control = correlated_pairs(rng, n, 0.45 + effect, 0.45)
    a = int(np.sum(model & control))
    b = int(np.sum(model & ~control))
    c = int(np.sum(~model & control))
    d = n - a - b - c
    naive = newcombe_difference_interval(
        Proportion(int(model.sum()), n), Proportion(int(control.sum()), n)
    )
    return {"Newcombe (paired)": newcombe_paired_interval(a, b, c, d)}, {
        "Newcombe (independent)": naive
    }


def paired_conditional(rng, n, effect, replicates):
    """First-object share among queries whose nearest name is one of theirs: the
    condition holds for about 60% (model) and 50% (control) of the queries."""
    in_model, in_control = correlated_pairs(rng, n, 0.6, 0.5)
    first_model, first_control = correlated_pairs(rng, n, 0.5 + effect, 0.5)
    model_count, control_count = (
        int(np.sum(first_model & in_model)),
        int(np.sum(first_control & in_control)),
    )
    boot = paired_ratio_difference(
        first_model & in_model,
        in_model,
        first_control & in_control,
        in_control,
        replicates=replicates,
        seed=int(rng.integers(2**31)),
    )
    naive = newcombe_difference_interval(
        Proportion(model_count, int(in_model.sum())),
        Proportion(control_count, int(in_control.sum())),
    )
    return {"paired bootstrap": boot.ci95}, {"Newcombe (independent)": naive}


def clustered(rng, n, effect, replicates):
    """A share of 0.4 + effect over clusters of 5 queries (beta-binomial, ICC 0.3); the
    planted value is the share itself, the 'no effect' case tests p = 0.4."""
    p = 0.4 + effect
    spread = 1 / INTRA_CLUSTER_CORRELATION - 1
    clusters = n // CLUSTER_SIZE
    cluster_p = rng.beta(p * spread, (1 - p) * spread, size=clusters)
    outcomes = (rng.random((clusters, CLUSTER_SIZE)) < cluster_p[:, None]).ravel()
    ids = np.repeat(np.arange(clusters), CLUSTER_SIZE)
    figure = cluster_ratio_interval(
        outcomes, np.ones_like(outcomes), ids, replicates=replicates, seed=int(rng.integers(2**31))
    )
    naive = wilson_interval(int(outcomes.sum()), len(outcomes))
    return {"cluster bootstrap": tuple(figure["ci95"])}, {"Wilson (queries independent)": naive}


def clustered_paired(rng, n, effect, replicates):
    """Each cluster of 5 draws a model and a control probability (Beta, ICC 0.3, means
    0.45 + effect and 0.45, correlated through a Gaussian copula); each query draws one
    uniform that both compare with their probability, so the pair is correlated too."""
    from scipy.stats import beta, norm

    spread = 1 / INTRA_CLUSTER_CORRELATION - 1
    clusters = n // CLUSTER_SIZE
    shared = rng.standard_normal(clusters)
    latent = np.sqrt(0.5) * shared + np.sqrt(0.5) * rng.standard_normal((2, clusters))
    means = (0.45 + effect, 0.45)
    p_model, p_control = (
        beta.ppf(norm.cdf(latent[k]), means[k] * spread, (1 - means[k]) * spread) for k in (0, 1)
    )
    draws = rng.random((clusters, CLUSTER_SIZE))
    model = (draws < p_model[:, None]).ravel()
    control = (draws < p_control[:, None]).ravel()
    ids = np.repeat(np.arange(clusters), CLUSTER_SIZE)
    ones = np.ones(len(model))
    boot = paired_ratio_difference(
        model,
        ones,
        control,
        ones,
        clusters=ids,
        replicates=replicates,
        seed=int(rng.integers(2**31)),
    )
    a = int(np.sum(model & control))
    b = int(np.sum(model & ~control))
    c = int(np.sum(~model & control))
    naive = newcombe_paired_interval(a, b, c, len(model) - a - b - c)
    return {"paired cluster bootstrap": boot.ci95}, {"Newcombe (paired, no clusters)": naive}


DESIGNS = {
    "independent": (independent, 0.0),
    "paired unconditional": (paired_unconditional, 0.0),
    "paired conditional": (paired_conditional, 0.0),
    "clustered (ICC 0.3, 5 per cluster)": (clustered, 0.4),
    "paired, clustered (ICC 0.3, 5 per cluster)": (clustered_paired, 0.0),
}


def measure(design, size, effect, replications, replicates, seed):
    """Coverage of each method's interval for the planted ``effect`` (whose true value is
    ``truth_offset + effect``), over ``replications`` simulated experiments."""
    simulate, truth_offset = DESIGNS[design]
    rng = np.random.default_rng(seed)
    covered: dict[str, int] = {}
    for _ in range(replications):
        ours, naive = simulate(rng, size, effect, replicates)
        for name, interval in {**ours, **naive}.items():
            covered[name] = covered.get(name, 0) + holds(interval, truth_offset + effect)
    ours_names = list(simulate(np.random.default_rng(0), size, effect, 10)[0])
    return {name: count / replications for name, count in covered.items()}, ours_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=2000)
    parser.add_argument("--sizes", default="200,1000", help="queries per simulated experiment")
    parser.add_argument("--bootstrap", type=int, default=999, help="bootstrap replicates")
    parser.add_argument("--effect", type=float, default=0.05, help="planted effect")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"{args.replications} replications per cell; planted effect {args.effect:+.2f}")
    header = f"{'design':<44} {'n':>5}  {'method':<52} {'coverage':>8} {'false pos.':>10}"
    print(header)
    print("-" * len(header))
    for design in DESIGNS:
        for size in sizes:
            started = time.perf_counter()
            coverage, ours = measure(
                design, size, args.effect, args.replications, args.bootstrap, args.seed
            )
            null, _ = measure(design, size, 0.0, args.replications, args.bootstrap, args.seed + 1)
            for method in coverage:
                mark = "cliposcope" if method in ours else "naive"
                print(
                    f"{design:<44} {size:>5}  {method + ' (' + mark + ')':<52} "
                    f"{coverage[method]:>8.3f} {1 - null[method]:>10.3f}"
                )
            print(f"{'':<44} {'':>5}  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
