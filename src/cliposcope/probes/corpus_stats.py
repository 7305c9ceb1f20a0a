"""Origin analysis: in real captions, is the object named first the largest in the image?

The paper traces the text encoders' first-object bias to training captions that name the
largest object first (its Figure 4b). This probe measures that on any caption corpus, with
no model: each caption's mentions (data.mentions) are ordered by first mention; those
annotated in the image are kept (k of them) and ranked by ground-truth area (a category's
largest instance, or the sum of its instances). Figures, for each k, with Wilson 95%
intervals: the share of captions whose first-named object is the largest (against chance
1/k, exact binomial test), where the largest and the smallest are named, and each
category's named-first rate against its mean area rank. Captions whose largest (or
smallest) object ties with another are left out of that figure.

On every corpus, annotated or not, the same figures are also computed from the named
objects' real-world size buckets (small < medium < large): a text-only proxy, reported
apart and labelled as such.

Captions of one image are not independent (COCO gives each image about five): on a corpus
whose images hold several captions, the first-is-largest figures (each k, and pooled) are
ratios of per-image sums, with a percentile cluster-bootstrap interval (images resampled
with replacement), the number of images and the design effect, and a two-sided z-test
against chance with the cluster-bootstrap standard error. A figure in
which every image holds at most one of its captions (every figure of a table corpus, whose
rows are their own clusters) keeps the exact figures: the Wilson interval and the exact
binomial test (pooled: the z-test on the Poisson-binomial count). ``interval_design`` in
each set of figures says which applied.

The counts are kept in ``OriginTally`` objects that merge associatively, so blocks of a
corpus can be tallied separately (on several workers) and summed; per image they keep two
integers per k, summed per image when tallies merge.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from cliposcope.data.corpus import CaptionRecord, CocoCorpus
from cliposcope.data.mentions import AMBIGUOUS_POLICIES, MentionMatcher, load_table
from cliposcope.data.vocab import SIZE_LARGE, SIZE_MEDIUM, SIZE_SMALL, load_vocabulary
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.presentation import BarChart, ReportSection, p_value, percent
from cliposcope.probes.registry import Probe, make_result, register_probe
from cliposcope.probes.resampling import DEFAULT_REPLICATES, bootstrap_sums
from cliposcope.probes.stats import Proportion, binomial_test
from cliposcope.progress import progress_bar
from cliposcope.results import ProbeResult
from cliposcope.settings import option

AREA_MODES = ("max", "sum")
SIZE_BUCKETS = (("small", SIZE_SMALL), ("medium", SIZE_MEDIUM), ("large", SIZE_LARGE))
PROXY_LABEL = (
    "text-only proxy: objects ranked by real-world size bucket (small < medium < large), "
    "not by measured area"
)
TRUTH_LABEL = "ground truth: objects ranked by annotated area"
CLUSTER_METHOD = "cluster bootstrap (percentile)"
CLUSTER_TEST = "two-sided z-test against chance with the cluster-bootstrap standard error"
EXACT_METHOD = "Wilson score"
EXACT_TEST = "exact two-sided binomial (pooled: z-test on the Poisson-binomial count)"
CLUSTERED_FIGURES = ["by_k[k].first_is_largest", "pooled"]


@dataclass(frozen=True)
class CorpusStatsSettings:
    area: str = option(
        "max",
        "a category's size: its largest instance (max) or all its instances together (sum)",
        choices=AREA_MODES,
    )
    ambiguous: str = option(
        "if-present",
        "ambiguous words (mouse, orange, glass): counted when "
        "the image has the category (if-present), always, or never",
        choices=AMBIGUOUS_POLICIES,
    )
    synonyms: str = option(
        "coco-synonyms",
        "synonym table: coco-synonyms (shipped), none, or a JSON file",
        metavar="TABLE",
    )
    vocab: str | None = option(
        None,
        "categories of a table corpus (default coco; COCO input uses its instance categories)",
        metavar="NAME_OR_FILE",
    )
    min_k: int = option(2, "fewest distinct objects a caption must name")
    max_k: int = option(6, "most distinct objects a caption may name")
    min_category_captions: int = option(
        20, "captions a category needs to enter the rank correlation"
    )

    def __post_init__(self):
        check_range("--min-k", self.min_k, 2, 8, hint="2 to 8 objects")
        check_range("--max-k", self.max_k, self.min_k, 8, hint="from --min-k up to 8 objects")
        check_range(
            "--min-category-captions",
            self.min_category_captions,
            1,
            hint="a positive number of captions",
        )
        if self.area not in AREA_MODES:
            raise CliposcopeError(f"unknown --area {self.area!r}", hint=" or ".join(AREA_MODES))


def _twice_rank(sizes: Sequence[float], index: int) -> int:
    """Twice the area rank (1 = largest; tied sizes share their average rank, which may
    be a half): an integer, so sums of ranks stay exact."""
    size = sizes[index]
    larger = sum(1 for s in sizes if s > size)
    equal = sum(1 for s in sizes if s == size)
    return 2 + 2 * larger + (equal - 1)


_COUNTS = ("kept", "largest_known", "smallest_known", "largest_at", "smallest_at")


@dataclass
class OriginTally:
    """Counts behind one set of figures (ground truth or proxy); ``merge`` adds another."""

    min_k: int
    max_k: int
    kept: Counter = field(default_factory=Counter)  # captions per k
    largest_known: Counter = field(default_factory=Counter)  # k -> captions with one largest
    smallest_known: Counter = field(default_factory=Counter)
    largest_at: Counter = field(default_factory=Counter)  # (k, position) -> captions
    smallest_at: Counter = field(default_factory=Counter)
    # category -> {"first": captions naming it first, "k": Counter k -> captions,
    # "rank2": Counter k -> sum of twice its area rank}: integers only, so tallies merged in
    # any grouping give the same figures to the last bit
    categories: dict[str, dict] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)  # captions left out, by reason
    # cluster (image) -> [largest_known, first is largest] for each k from min_k to max_k,
    # flat: only captions given a cluster, and only clusters with a caption whose largest
    # object is known
    clusters: dict[str, list[int]] = field(default_factory=dict)

    def add(self, named: Sequence[str], sizes: Sequence[float], cluster: str | None = None) -> None:
        """One caption: its distinct objects in mention order and their sizes; ``cluster``
        (its image) when captions share images."""
        k = len(named)
        if k < self.min_k:
            self.dropped["names no object" if k == 0 else f"names fewer than {self.min_k}"] += 1
            return
        if k > self.max_k:
            self.dropped[f"names more than {self.max_k}"] += 1
            return
        self.kept[k] += 1
        largest, smallest = max(sizes), min(sizes)
        if sizes.count(largest) == 1:
            self.largest_known[k] += 1
            at = sizes.index(largest)
            self.largest_at[k, at] += 1
            if cluster is not None:
                row = self.clusters.get(cluster)
                if row is None:
                    row = self.clusters[cluster] = [0] * (2 * (self.max_k - self.min_k + 1))
                row[2 * (k - self.min_k)] += 1
                row[2 * (k - self.min_k) + 1] += at == 0
        else:
            self.dropped["largest tied (left out of the largest figures)"] += 1
        if sizes.count(smallest) == 1:
            self.smallest_known[k] += 1
            self.smallest_at[k, sizes.index(smallest)] += 1
        else:
            self.dropped["smallest tied (left out of the smallest figures)"] += 1
        for position, category in enumerate(named):
            row = self._row(category)
            row["first"] += position == 0
            row["k"][k] += 1
            row["rank2"][k] += _twice_rank(sizes, position)

    def _row(self, category: str) -> dict:
        if category not in self.categories:
            self.categories[category] = {"first": 0, "k": Counter(), "rank2": Counter()}
        return self.categories[category]

    def to_record(self) -> dict:
        """The counts as plain JSON data (workers send tallies as data, never as code)."""

        def pairs(counter: Counter) -> list:
            return [
                [*key, value] if isinstance(key, tuple) else [key, value]
                for key, value in counter.items()
            ]

        categories = {
            name: {"first": row["first"], "k": pairs(row["k"]), "rank2": pairs(row["rank2"])}
            for name, row in self.categories.items()
        }
        return {
            "min_k": self.min_k,
            "max_k": self.max_k,
            "categories": categories,
            "dropped": dict(self.dropped),
            "clusters": {name: list(row) for name, row in self.clusters.items()},
            **{name: pairs(getattr(self, name)) for name in _COUNTS},
        }

    @classmethod
    def from_record(cls, record: dict) -> OriginTally:
        def counter(rows: list) -> Counter:
            return Counter({(tuple(row[:-1]) if len(row) > 2 else row[0]): row[-1] for row in rows})

        tally = cls(
            record["min_k"],
            record["max_k"],
            dropped=Counter(record["dropped"]),
            **{name: counter(record[name]) for name in _COUNTS},
        )
        tally.categories = {
            name: {"first": row["first"], "k": counter(row["k"]), "rank2": counter(row["rank2"])}
            for name, row in record["categories"].items()
        }
        tally.clusters = {name: list(row) for name, row in record.get("clusters", {}).items()}
        return tally

    def merge(self, other: OriginTally) -> OriginTally:
        if (self.min_k, self.max_k) != (other.min_k, other.max_k):
            raise ValueError("tallies of different k ranges do not merge")
        for name in (*_COUNTS, "dropped"):
            getattr(self, name).update(getattr(other, name))
        for category, row in other.categories.items():
            mine = self._row(category)
            mine["first"] += row["first"]
            mine["k"].update(row["k"])
            mine["rank2"].update(row["rank2"])
        for cluster, row in other.clusters.items():  # a cluster may span several blocks
            mine = self.clusters.get(cluster)
            if mine is None:
                self.clusters[cluster] = list(row)
            else:
                for index, value in enumerate(row):
                    mine[index] += value
        return self

    def is_clustered(self) -> bool:
        """Whether some cluster (image) holds more than one caption of the first-is-largest
        figures."""
        return any(sum(row[::2]) > 1 for row in self.clusters.values())

    def cluster_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(known, first): clusters × k arrays of captions whose largest object is known and
        of those that name it first, clusters in sorted order (so any merge order gives the
        same arrays)."""
        width = self.max_k - self.min_k + 1
        rows = np.array(
            [self.clusters[name] for name in sorted(self.clusters)], dtype=np.int64
        ).reshape(-1, 2 * width)
        return rows[:, 0::2], rows[:, 1::2]

    def summary(
        self, min_category_captions: int, *, replicates: int = DEFAULT_REPLICATES, seed: int = 0
    ) -> dict[str, Any]:
        """The figures; ``replicates`` and ``seed``: the cluster bootstrap's, for the
        first-is-largest figures in which some cluster holds more than one caption."""
        known_at, first_at = self.cluster_counts() if self.clusters else (None, None)
        clustered = []  # the figures given cluster intervals
        by_k = {}
        for k in range(self.min_k, self.max_k + 1):
            known, small_known = self.largest_known[k], self.smallest_known[k]
            first = Proportion(self.largest_at[k, 0], known)
            column = k - self.min_k
            if known_at is not None and (known_at[:, column] > 1).any():
                clustered.append(f"by_k[{k}].first_is_largest")
                x = known_at[:, column]
                first_figure = _clustered_share(
                    first, first_at[:, column], x, x / k, replicates=replicates, seed=seed
                ) | {"chance": 1 / k}
            else:
                first_figure = first.to_dict() | {
                    "chance": 1 / k,
                    "p_value": binomial_test(first.count, known, 1 / k),
                }
            by_k[str(k)] = {
                "captions": self.kept[k],
                "first_is_largest": first_figure,
                "largest_position": [
                    Proportion(self.largest_at[k, i], known).to_dict() for i in range(k)
                ],
                "smallest_position": [
                    Proportion(self.smallest_at[k, i], small_known).to_dict() for i in range(k)
                ],
            }
        pooled = self._pooled()
        if self.is_clustered():
            clustered.append("pooled")
            ks = np.arange(self.min_k, self.max_k + 1)
            pooled = pooled | _clustered_share(
                Proportion(pooled["count"], pooled["total"]),
                first_at.sum(axis=1),
                known_at.sum(axis=1),
                (known_at / ks).sum(axis=1),
                replicates=replicates,
                seed=seed,
            )
        return {
            "by_k": by_k,
            "pooled": pooled,
            "categories": self._categories(),
            "rank_correlation": self._rank_correlation(min_category_captions),
            "kept": sum(self.kept.values()),
            "dropped": dict(sorted(self.dropped.items())),
            "interval_design": self._interval_design(clustered, pooled, replicates, seed),
        }

    def _interval_design(
        self, clustered: list[str], pooled: dict, replicates: int, seed: int
    ) -> dict[str, Any]:
        """How the first-is-largest figures' intervals and tests were made: ``clustered``
        names those given cluster intervals (those in which a cluster holds several of
        their captions)."""
        captions = sum(self.largest_known.values())
        if not clustered:
            return {
                "unit": "caption",
                "clusters": captions,  # each caption its own cluster
                "captions": captions,
                "method": EXACT_METHOD,
                "test": EXACT_TEST,
                "figures": CLUSTERED_FIGURES,
            }
        return {
            "unit": "image",
            "clusters": pooled["clusters"],
            "captions": captions,
            "most_captions_in_a_cluster": max(sum(row[::2]) for row in self.clusters.values()),
            "method": CLUSTER_METHOD,
            "replicates": replicates,
            "seed": seed,
            "test": CLUSTER_TEST,
            "design_effect": pooled["design_effect"],
            "figures": CLUSTERED_FIGURES,
            "clustered_figures": clustered,
            "other_figures": "figures with at most one caption per cluster keep the Wilson "
            "interval and exact binomial test; the position and category figures are Wilson, "
            "captions taken as independent",
        }

    def _pooled(self) -> dict[str, Any]:
        """All k together, against the mixture of their chances (a z-test on the
        Poisson-binomial count: each caption's chance is 1/k)."""
        count = sum(self.largest_at[k, 0] for k in self.largest_known)
        total = sum(self.largest_known.values())
        expected = sum(n / k for k, n in self.largest_known.items())
        variance = sum(n * (1 / k) * (1 - 1 / k) for k, n in self.largest_known.items())
        p = float("nan")
        if variance > 0:
            p = math.erfc(abs(count - expected) / math.sqrt(variance) / math.sqrt(2))
        chance = expected / total if total else float("nan")
        return Proportion(count, total).to_dict() | {"chance": chance, "p_value": p}

    def _category_means(self, row: dict) -> tuple[int, float, float, float]:
        """(captions, chance = mean 1/k, mean area rank, mean normalised rank), summed in
        a fixed order from integer counts."""
        ks = sorted(row["k"])
        captions = sum(row["k"][k] for k in ks)
        chance = sum(row["k"][k] / k for k in ks) / captions
        rank = sum(row["rank2"][k] for k in ks) / 2 / captions
        normalised = sum((row["rank2"][k] / 2 - row["k"][k]) / (k - 1) for k in ks) / captions
        return captions, chance, rank, normalised

    def _categories(self) -> dict[str, Any]:
        figures = {}
        for category in sorted(self.categories):
            row = self.categories[category]
            captions, chance, rank, normalised = self._category_means(row)
            figures[category] = {
                "captions": captions,
                "named_first": Proportion(row["first"], captions).to_dict(),
                "chance": chance,
                "mean_area_rank": rank,
                "mean_normalised_rank": normalised,
            }
        return figures

    def _rank_correlation(self, min_captions: int) -> dict[str, Any]:
        """Spearman's rho across categories between how often a category is named first
        (over its chance) and its mean normalised area rank (0 = always the largest)."""
        rows = []
        for category in sorted(self.categories):
            row = self.categories[category]
            captions, chance, _, normalised = self._category_means(row)
            if captions >= min_captions:
                rows.append((row["first"] / captions / chance, normalised))
        result = {
            "categories": len(rows),
            "min_captions": min_captions,
            "rho": None,
            "p_value": None,
        }
        if len(rows) >= 3 and len({r[0] for r in rows}) > 1 and len({r[1] for r in rows}) > 1:
            from scipy.stats import spearmanr

            rho, p = spearmanr([r[0] for r in rows], [r[1] for r in rows])
            result |= {"rho": float(rho), "p_value": float(p)}
        return result


def cluster_bootstrap_share(
    count: np.ndarray,
    total: np.ndarray,
    expected: np.ndarray,
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> dict[str, Any]:
    """A share sum(count) / sum(total) whose rows are clusters (each with a positive
    total), from one cluster bootstrap (clusters resampled with replacement, resampling's
    ``bootstrap_sums``): the percentile 95% interval, the design effect (the bootstrap
    variance over the binomial one, p(1 - p) / sum(total)), and a two-sided z-test of the
    share against its chance sum(expected) / sum(total) whose standard error is the
    bootstrap standard deviation of share minus chance (the chance moves too where it mixes
    several k). The p-value is NaN where that deviation is 0 and the share is off chance
    (one cluster, or clusters that all agree)."""
    sums = np.column_stack([count, total, expected]).astype(np.float64)
    overall = sums.sum(axis=0)
    estimate = overall[0] / overall[1]
    replicated = bootstrap_sums(sums, replicates, seed)
    shares = replicated[:, 0] / replicated[:, 1]
    low, high = np.quantile(shares, [0.025, 0.975])
    binomial = estimate * (1 - estimate) / overall[1]
    difference = (overall[0] - overall[2]) / overall[1]
    spread = float(np.std((replicated[:, 0] - replicated[:, 2]) / replicated[:, 1], ddof=1))
    if spread > 0:
        p = math.erfc(abs(difference) / spread / math.sqrt(2))
    else:
        p = 1.0 if difference == 0 else float("nan")
    return {
        "ci95": [float(low), float(high)],
        "design_effect": float(np.var(shares, ddof=1) / binomial) if binomial > 0 else None,
        "standard_error": spread,
        "p_value": p,
    }


def _clustered_share(
    share: Proportion,
    count: np.ndarray,
    total: np.ndarray,
    expected: np.ndarray,
    *,
    replicates: int,
    seed: int,
) -> dict[str, Any]:
    """A share whose captions come in clusters (rows: clusters): its count, total and
    estimate, the cluster-bootstrap interval, the clusters it spans (those with a caption
    in its total), the design effect and the test against chance."""
    keep = total > 0
    figure = share.to_dict() | {
        "clusters": int(keep.sum()),
        "design_effect": None,
        "method": CLUSTER_METHOD,
        "p_value": float("nan"),
        "test": CLUSTER_TEST,
    }
    if not keep.any():
        return figure
    found = cluster_bootstrap_share(
        count[keep], total[keep], expected[keep], replicates=replicates, seed=seed
    )
    return figure | {
        "ci95": found["ci95"],
        "design_effect": found["design_effect"],
        "p_value": found["p_value"],
    }


def _size_of(areas: list[float], mode: str) -> float:
    return max(areas) if mode == "max" else sum(areas)


def proxy_matcher() -> tuple[MentionMatcher, dict[str, int]]:
    """Matcher over the size-bucket names (no synonym table) and each name's bucket rank."""
    buckets = {name: rank for rank, (_, names) in enumerate(SIZE_BUCKETS) for name in names}
    return MentionMatcher(tuple(buckets), None), buckets


@dataclass
class CorpusTallies:
    """Everything a pass over the corpus counts; blocks merge with ``merge``."""

    truth: OriginTally | None
    proxy: OriginTally
    captions: int = 0
    mentions: Counter = field(default_factory=Counter)  # mentions left out, by reason

    def to_record(self) -> dict:
        return {
            "truth": None if self.truth is None else self.truth.to_record(),
            "proxy": self.proxy.to_record(),
            "captions": self.captions,
            "mentions": dict(self.mentions),
        }

    @classmethod
    def from_record(cls, record: dict) -> CorpusTallies:
        truth = None if record["truth"] is None else OriginTally.from_record(record["truth"])
        return cls(
            truth,
            OriginTally.from_record(record["proxy"]),
            record["captions"],
            Counter(record["mentions"]),
        )

    def merge(self, other: CorpusTallies) -> CorpusTallies:
        if self.truth is not None and other.truth is not None:
            self.truth.merge(other.truth)
        self.proxy.merge(other.proxy)
        self.captions += other.captions
        self.mentions.update(other.mentions)
        return self


class CorpusCounter:
    """Turns caption records into tallies (the per-block work)."""

    def __init__(
        self,
        settings: CorpusStatsSettings,
        vocabulary: Sequence[str],
        sized: bool,
        clustered: bool = False,
    ):
        """``clustered``: the records' ``source`` names a cluster (an image) that several
        captions may share; table rows (False) are each their own."""
        self.settings = settings
        self.sized = sized
        self.clustered = clustered
        self.matcher = MentionMatcher(
            vocabulary, load_table(settings.synonyms), ambiguous=settings.ambiguous
        )
        self.proxy, self.buckets = proxy_matcher()

    def empty(self) -> CorpusTallies:
        s = self.settings
        truth = OriginTally(s.min_k, s.max_k) if self.sized else None
        return CorpusTallies(truth, OriginTally(s.min_k, s.max_k))

    def count(self, records: Iterable[CaptionRecord]) -> CorpusTallies:
        tallies = self.empty()
        for record in records:
            tallies.captions += 1
            cluster = record.source if self.clustered else None
            if tallies.truth is not None:
                self._truth(tallies, record, cluster)
            named = self.proxy.find(record.caption).categories
            tallies.proxy.add(named, [self.buckets[c] for c in named], cluster)
        return tallies

    def _truth(self, tallies: CorpusTallies, record: CaptionRecord, cluster: str | None) -> None:
        objects = record.objects or {}
        if not objects:
            tallies.truth.dropped["image has no annotated object"] += 1
            return
        outcome = self.matcher.find(record.caption, objects.keys())
        tallies.mentions["ambiguous words left unresolved"] += len(outcome.unresolved)
        named = outcome.categories
        kept = [c for c in named if c in objects]
        tallies.mentions["objects named but not annotated in the image"] += len(named) - len(kept)
        sizes = [_size_of(objects[c], self.settings.area) for c in kept]
        tallies.truth.add(kept, sizes, cluster)


def run_corpus_stats(
    encoder, corpus, settings: CorpusStatsSettings, *, progress: bool = False, engine=None
):
    """``corpus``: a data.corpus CocoCorpus or TableCorpus; no encoder is used. An
    ``engine`` whose ``count_corpus(corpus, counter, settings)`` gives the CorpusTallies
    replaces the local pass (the Ray engine counts on its workers)."""
    del encoder
    started = time.perf_counter()
    if isinstance(corpus, CocoCorpus) and not corpus.has_sizes():
        raise CliposcopeError(
            "COCO input needs both --coco-captions and --coco-instances",
            hint="the instances give each object's area",
        )
    vocabulary = corpus.categories or load_vocabulary(settings.vocab or "coco").words
    # COCO images hold several captions each; a table row is its own cluster
    counter = CorpusCounter(
        settings, vocabulary, corpus.has_sizes(), clustered=isinstance(corpus, CocoCorpus)
    )
    if not corpus.has_sizes():
        options = (
            ("--area", "area"),
            ("--ambiguous", "ambiguous"),
            ("--synonyms", "synonyms"),
            ("--vocab", "vocab"),
        )
        default = CorpusStatsSettings()
        changed = [
            flag for flag, name in options if getattr(settings, name) != getattr(default, name)
        ]
        if changed:
            raise CliposcopeError(
                f"{', '.join(changed)} apply to corpora with object sizes, and this one has none",
                hint="give --objects-column with --areas-column or --boxes-column; a text-only "
                "corpus gets the size-bucket proxy, which uses neither",
            )
    if engine is not None:
        tallies = engine.count_corpus(corpus, counter, settings)
        return corpus_result(corpus, settings, counter, tallies, started)
    tallies = counter.empty()
    with progress_bar(enabled=progress, unit="caption", desc="corpus") as bar:
        for batch in corpus.batches(counter.matcher.canonical):
            tallies.merge(counter.count(batch))
            bar.update(len(batch))
    return corpus_result(corpus, settings, counter, tallies, started)


def corpus_result(
    corpus, settings, counter: CorpusCounter, tallies: CorpusTallies, started: float
) -> ProbeResult:
    if tallies.captions == 0:
        raise CliposcopeError(
            f"{corpus.describe()['name']} holds no captions",
            hint="check the file and the caption column",
        )
    minimum = settings.min_category_captions
    metrics = {
        "captions": tallies.captions,
        "ground_truth": None
        if tallies.truth is None
        else tallies.truth.summary(minimum) | {"label": TRUTH_LABEL},
        "proxy": tallies.proxy.summary(minimum) | {"label": PROXY_LABEL},
        "mentions_left_out": dict(sorted(tallies.mentions.items())),
        "reader_counts": dict(sorted(corpus.counts.items())),
        "unknown_object_names": dict(getattr(corpus, "unknown_names", Counter()).most_common(10)),
    }
    source = corpus.describe()
    vocabulary = counter.matcher.vocabulary
    return make_result(
        "corpus-stats",
        None,
        model={"spec": f"corpus:{source['name']}", "family": "corpus"},
        role="corpus",
        settings=asdict(settings) | {"source": {k: v for k, v in source.items() if k != "inputs"}},
        metrics=metrics,
        started=started,
        inputs=source["inputs"],
        vocabulary={
            "source": "instance categories" if corpus.categories else settings.vocab or "coco",
            "size": len(vocabulary),
            "words": list(vocabulary),
        },
        matcher=counter.matcher.describe(),
        proxy_matcher=counter.proxy.describe(),
        libraries=("scipy", "pyarrow", "pycocotools", "inflect"),
    )


def _figures(result: ProbeResult) -> list[tuple[str, dict]]:
    metrics = result.metrics
    return [
        (name, metrics[key])
        for name, key in (("areas", "ground_truth"), ("proxy", "proxy"))
        if metrics.get(key)
    ]


def _positions(figures: list[dict]) -> str:
    return " / ".join(f"{100 * f['estimate']:.1f}" if f["total"] else "-" for f in figures)


def rows(results: Sequence[ProbeResult]):
    headers = [
        "Corpus",
        "Sizes from",
        "k",
        "Captions",
        "First is largest %",
        "Chance %",
        "p",
        "Largest named 1st / 2nd / ... %",
        "Smallest named 1st / 2nd / ... %",
    ]
    body = []
    for result in results:
        for name, figures in _figures(result):
            for k, figure in figures["by_k"].items():
                if figure["captions"] == 0:  # the JSON keeps every k; the table only filled ones
                    continue
                first = figure["first_is_largest"]
                body.append(
                    [
                        result.label,
                        name,
                        k,
                        str(figure["captions"]),
                        percent(first),
                        f"{100 * first['chance']:.1f}",
                        p_value(first["p_value"]),
                        _positions(figure["largest_position"]),
                        _positions(figure["smallest_position"]),
                    ]
                )
            pooled = figures["pooled"]
            body.append(
                [
                    result.label,
                    name,
                    "all",
                    str(figures["kept"]),
                    percent(pooled),
                    "-" if pooled["total"] == 0 else f"{100 * pooled['chance']:.1f}",
                    p_value(pooled["p_value"]),
                    "",
                    "",
                ]
            )
    return headers, body


def chart(results: Sequence[ProbeResult]) -> BarChart:
    groups = {}
    for result in results:
        name, figures = _figures(result)[0]
        for k, figure in figures["by_k"].items():
            if figure["captions"]:
                bars = [(f"named {i + 1}", f) for i, f in enumerate(figure["largest_position"])]
                groups[f"{result.label} ({name}) k={k}"] = bars
    return BarChart(
        "Where captions name the largest object (share of captions by position)", groups
    )


register_probe(
    Probe(
        name="corpus-stats",
        version=2,  # 2: intervals and tests resample images where an image has several captions
        order=90,
        summary="is the object a caption names first the largest? (no model)",
        settings=CorpusStatsSettings,
        run=run_corpus_stats,
        title="Corpus statistics: first-named vs largest object, by objects named (k)",
        rows=rows,
        data="corpus",
        report=ReportSection("Origins: caption order in the corpus", chart=chart),
        needs_model=False,
        data_fingerprints=("inputs",),
        counts_on_engine=True,
        example=lambda: CorpusStatsSettings(max_k=3, min_category_captions=1),
    )
)
