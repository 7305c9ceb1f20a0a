"""TOR on real captions: which object of a real multi-object caption does its embedding
retrieve from a gallery of the bare object names?

Captions are selected by the mention matcher (data.mentions): those naming exactly n
distinct vocabulary objects, ordered by first mention; with instance annotations, an
ambiguous word counts only when the image has the category. The figures are the ComCO
TOR's (per-position conditional and unconditional shares, top-n accuracy, MAP, ...). Real
captions are not in a randomised order (they tend to name the largest object first), so
there is no order-blind test; instead, where the image's annotations give every named
object a distinct area, the win rate is also stratified by mention position and area rank,
which tells position and size apart.

``legacy_quirks`` reproduces the published COCO script's selection: the 90-name ComCO
list, an object counts when the name is one of ``caption.split()`` (single words, case and
punctuation kept, so "dog." and "hot dog" never match), objects ordered by
``caption.index(name)``; and its scoring quirks (substring top-n test, ascending top-n).

Per-query records, one row per selected caption: TOR's columns (``query`` is the caption),
``sizes``, the annotated size of each named object in mention order (NaN where the image
does not give every named object a size), and ``image``, the caption's image (COCO: the
image id as text; a table: "row N", each caption its own).

Captions of one image are not independent (COCO gives each image about five). When some
image holds more than one selected caption, the position figures (``first_position_bias``,
``per_position_conditional``, ``per_position_unconditional``) get percentile
cluster-bootstrap intervals over images instead of Wilson's, with the number of images
(``clusters``) and the ``design_effect``; ``interval_design`` says which applied.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cliposcope.data.mentions import AMBIGUOUS_POLICIES, MentionMatcher, default_table
from cliposcope.data.vocab import COMCO_NAMES, load_vocabulary
from cliposcope.encoders.base import Encoder, l2_normalise
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.presentation import (
    BarChart,
    ReportSection,
    one_in_n,
    padded,
    percent,
    position_headers,
)
from cliposcope.probes.registry import Probe, make_result, register_probe
from cliposcope.probes.resampling import DEFAULT_REPLICATES, cluster_ratio_interval
from cliposcope.probes.retrieval import QueryRecords, RetrievalTally
from cliposcope.probes.stats import Proportion
from cliposcope.probes.tor import tor_bias
from cliposcope.progress import progress_bar
from cliposcope.results import ProbeResult
from cliposcope.settings import internal, option

CAPTION_EMBEDDINGS = ("encoder", "sum")
CHUNK = 1024
CLUSTER_METHOD = "cluster bootstrap (percentile)"
CLUSTERED_FIGURES = [
    "first_position_bias",
    "per_position_conditional",
    "per_position_unconditional",
]


@dataclass(frozen=True)
class CaptionTorSettings:
    n: int = option(3, "distinct objects a caption must name (2-8)")
    vocab: str | None = option(
        None,
        "object names (default: the instances file's categories, "
        "else coco; with --legacy-quirks the 90 ComCO names)",
        metavar="NAME_OR_FILE",
    )
    ambiguous: str = option(
        "if-present",
        "ambiguous words: counted when the image has the category (if-present), always, or never",
        choices=AMBIGUOUS_POLICIES,
    )
    legacy_quirks: bool = option(
        False,
        "the published COCO script's selection (split() "
        "tokens, str.index order, 90 names) and scoring quirks",
    )
    limit: int | None = option(None, "use the first K selected captions", metavar="K")
    caption_embedding: str = internal("encoder")

    def __post_init__(self):
        check_range("--n", self.n, 2, 8, hint="captions naming 2 to 8 objects")
        if self.limit is not None:
            check_range("--limit", self.limit, 1, hint="a positive number of captions")
        if self.legacy_quirks and self.vocab is not None:
            raise CliposcopeError(
                "--legacy-quirks uses the published 90-name list",
                hint="drop --vocab, or drop --legacy-quirks",
            )
        if self.caption_embedding not in CAPTION_EMBEDDINGS:
            raise CliposcopeError(
                f"unknown caption embedding {self.caption_embedding!r}",
                hint=" or ".join(CAPTION_EMBEDDINGS),
            )


def legacy_objects(caption: str, names: Sequence[str]) -> list[str]:
    """The published selection: names among ``caption.split()``, by ``caption.index``."""
    tokens = caption.split()
    found = [name for name in names if name in tokens]
    return sorted(found, key=caption.index)


@dataclass
class SelectedCaption:
    caption: str
    objects: list[str]  # in mention order
    sizes: list[float] | None  # annotated sizes in the same order, when all are known
    image: str = ""  # the caption's image (CaptionRecord.source): its cluster

    def recorded_sizes(self) -> list[float]:
        """The sizes as the records hold them: NaN for every object when unknown."""
        if self.sizes is None:
            return [math.nan] * len(self.objects)
        return [float(size) for size in self.sizes]


def select_captions(
    corpus, settings: CaptionTorSettings, words: Sequence[str], counts: Counter
) -> list[SelectedCaption]:
    matcher = MentionMatcher(words, default_table(), ambiguous=settings.ambiguous)
    selected = []
    for batch in corpus.batches(matcher.canonical):
        for record in batch:
            counts["captions"] += 1
            if settings.legacy_quirks:
                named = legacy_objects(record.caption, words)
            else:
                present = record.objects.keys() if record.objects else None
                outcome = matcher.find(record.caption, present)
                counts["ambiguous words left unresolved"] += len(outcome.unresolved)
                named = outcome.categories
            if len(named) != settings.n:
                counts[
                    f"dropped: names {'fewer' if len(named) < settings.n else 'more'} "
                    f"than {settings.n}"
                ] += 1
                continue
            objects = record.objects or {}
            sizes = [max(objects[c]) for c in named] if all(c in objects for c in named) else None
            selected.append(SelectedCaption(record.caption, named, sizes, record.source))
            if settings.limit is not None and len(selected) == settings.limit:
                counts["kept"] = len(selected)
                return selected
    counts["kept"] = len(selected)
    return selected


@dataclass
class PositionSizeTally:
    """Win counts by mention position and area rank (1 = largest), for captions whose
    named objects all have annotated, distinct sizes."""

    n: int

    def __post_init__(self):
        self.present = np.zeros((self.n, self.n), dtype=np.int64)
        self.wins = np.zeros((self.n, self.n), dtype=np.int64)
        self.captions = 0

    def update(self, sizes: list[float], winner: int) -> None:
        if len(set(sizes)) < len(sizes):
            return
        self.captions += 1
        ranks = np.argsort(np.argsort(-np.asarray(sizes)))
        for position, rank in enumerate(ranks):
            self.present[position, rank] += 1
        if winner >= 0:
            self.wins[winner, ranks[winner]] += 1

    def summary(self) -> dict:
        cells = [
            [
                Proportion(int(self.wins[p, r]), int(self.present[p, r])).to_dict()
                for r in range(self.n)
            ]
            for p in range(self.n)
        ]
        by_rank = [
            Proportion(int(self.wins[:, r].sum()), self.captions).to_dict() for r in range(self.n)
        ]
        largest_first = int(self.present[0, 0])
        later = self.captions - largest_first
        return {
            "captions": self.captions,
            "win_rate_by_position_and_area_rank": cells,
            "argmax_share_by_area_rank": by_rank,
            "first_named_wins_when_largest_first": Proportion(
                int(self.wins[0, 0]), largest_first
            ).to_dict(),
            "first_named_wins_when_largest_later": Proportion(
                int(self.wins[0, 1:].sum()), later
            ).to_dict(),
            "largest_wins_when_named_later": Proportion(
                int(self.wins[1:, 0].sum()), later
            ).to_dict(),
        }


def _plain(value) -> float | None:
    """A numpy number as a Python float (None stays None)."""
    return None if value is None else float(value)


def _cluster_interval(
    numerator: np.ndarray,
    denominator: np.ndarray,
    images: np.ndarray,
    *,
    replicates: int,
    seed: int,
) -> dict:
    """The cluster-bootstrap fields of one share: its interval, the images it spans (those
    with a query in its denominator) and its design effect."""
    keep = denominator > 0
    if not keep.any():
        return {"clusters": 0, "design_effect": None, "method": CLUSTER_METHOD}
    interval = cluster_ratio_interval(
        numerator[keep], denominator[keep], images[keep].tolist(), replicates=replicates, seed=seed
    )
    return {
        "ci95": interval["ci95"],
        "clusters": interval["clusters"],
        "design_effect": _plain(interval["design_effect"]),
        "method": CLUSTER_METHOD,
    }


def cluster_position_figures(
    metrics: dict,
    images: Sequence[str],
    positions: np.ndarray,
    correct: np.ndarray,
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> dict:
    """The position figures of ``metrics`` (RetrievalTally.summary) with cluster-bootstrap
    intervals over images where some image holds more than one query, and
    ``interval_design`` recording the design either way. ``positions``: each query's
    retrieved position (-1: outside its objects); ``correct``: its top-n test."""
    images = np.asarray(images, dtype=str)
    positions = np.asarray(positions)
    correct = np.asarray(correct, dtype=bool)
    clusters = len(np.unique(images))
    queries = len(images)
    if clusters == queries:
        metrics["interval_design"] = {
            "unit": "caption",
            "clusters": clusters,
            "queries": queries,
            "method": "Wilson score",
            "figures": CLUSTERED_FIGURES,
        }
        return metrics

    def clustered(figure: dict, numerator, denominator) -> dict:
        numerator = np.asarray(numerator, dtype=np.float64)
        denominator = np.asarray(denominator, dtype=np.float64)
        found = _cluster_interval(numerator, denominator, images, replicates=replicates, seed=seed)
        return figure | found

    inside = positions >= 0
    metrics["first_position_bias"] = clustered(
        metrics["first_position_bias"], positions == 0, inside
    )
    everyone = np.ones(queries)
    for k, figure in enumerate(metrics["per_position_conditional"]):
        metrics["per_position_conditional"][k] = clustered(
            figure, (positions == k) & correct, correct
        )
    for k, figure in enumerate(metrics["per_position_unconditional"]):
        metrics["per_position_unconditional"][k] = clustered(figure, positions == k, everyone)
    metrics["interval_design"] = {
        "unit": "image",
        "clusters": clusters,
        "queries": queries,
        "most_queries_in_a_cluster": int(np.unique(images, return_counts=True)[1].max()),
        "method": CLUSTER_METHOD,
        "replicates": replicates,
        "seed": seed,
        "design_effect": metrics["first_position_bias"]["design_effect"],
        "figures": CLUSTERED_FIGURES,
        "other_figures": "Wilson score or normal, captions taken as independent",
    }
    return metrics


def run_tor_captions(
    encoder: Encoder, corpus, settings: CaptionTorSettings, *, progress: bool = False
) -> ProbeResult:
    started = time.perf_counter()
    if settings.legacy_quirks:
        words, vocabulary = COMCO_NAMES, "comco (published list)"
    elif settings.vocab is not None:
        loaded = load_vocabulary(settings.vocab)
        words, vocabulary = loaded.words, loaded.name
    else:
        words = corpus.categories or load_vocabulary("coco").words
        vocabulary = "instance categories" if corpus.categories else "coco"
    counts: Counter = Counter()
    selected = select_captions(corpus, settings, words, counts)
    if not selected:
        raise CliposcopeError(
            f"no caption names exactly {settings.n} objects of the vocabulary",
            hint=f"selection counts: {dict(sorted(counts.items()))}",
        )
    index = {word: i for i, word in enumerate(words)}
    gallery = encoder.encode_text(list(words))
    tally = RetrievalTally(settings.n, len(words), legacy=settings.legacy_quirks)
    strata = PositionSizeTally(settings.n)
    records = QueryRecords(words)
    positions, correct = [], []  # per query, for the clustered intervals
    digest = hashlib.sha256()
    with progress_bar(total=len(selected), enabled=progress, unit="caption", desc="TOR") as bar:
        for start in range(0, len(selected), CHUNK):
            chunk = selected[start : start + CHUNK]
            truth = np.array([[index[o] for o in item.objects] for item in chunk])
            captions = [item.caption for item in chunk]
            for caption in captions:
                digest.update(caption.encode("utf-8") + b"\n")
            if settings.caption_embedding == "sum":
                embeddings = l2_normalise(gallery[truth].sum(axis=1))
            else:
                embeddings = encoder.encode_text(captions)
            similarity = embeddings @ gallery.T
            outcomes = tally.update(similarity, truth, captions, words)
            records.add(
                {
                    "query": captions,
                    "objects": truth,
                    **outcomes.columns(),
                    "sizes": [item.recorded_sizes() for item in chunk],
                    "image": [item.image for item in chunk],
                }
            )
            positions.append(outcomes.retrieved_position)
            correct.append(outcomes.topn_correct)
            for item, winner in zip(chunk, outcomes.retrieved_position, strict=True):
                if item.sizes is not None:
                    strata.update(item.sizes, int(winner))
            bar.update(len(chunk))
    metrics = tally.summary(words, order_randomised=False)
    cluster_position_figures(
        metrics,
        [item.image for item in selected],
        np.concatenate(positions),
        np.concatenate(correct),
    )
    metrics["by_position_and_area_rank"] = strata.summary()
    origin = corpus.describe()
    return make_result(
        "tor-captions",
        encoder,
        settings={
            "n": settings.n,
            "vocabulary": vocabulary,
            "vocabulary_size": len(words),
            "ambiguous": settings.ambiguous,
            "legacy_quirks": settings.legacy_quirks,
            "limit": settings.limit,
            "caption_embedding": settings.caption_embedding,
            "selection": "published split()/str.index rules"
            if settings.legacy_quirks
            else "mention matcher (synonyms, plurals, longest match, ambiguity rule)",
            "source": {k: v for k, v in origin.items() if k != "inputs"},
        },
        metrics=metrics,
        started=started,
        query_records=records.columns(),
        inputs=origin["inputs"],
        selection_counts=dict(sorted(counts.items())),
        reader_counts=dict(sorted(corpus.counts.items())),
        unknown_object_names=dict(getattr(corpus, "unknown_names", Counter()).most_common(10)),
        query_count=tally.queries,
        query_fingerprint=digest.hexdigest(),
        example_caption=selected[0].caption,
    )


def rows(results: Sequence[ProbeResult]):
    n = max(r.settings["n"] for r in results)
    headers = [
        "Model",
        "Selection",
        "Captions",
        *position_headers(n, "Obj % (in top-n)"),
        "Top-n acc %",
        "1st named wins: largest 1st / later %",
    ]
    body = []
    for result in results:
        m = result.metrics
        strata = m["by_position_and_area_rank"]
        split = (
            f"{percent(strata['first_named_wins_when_largest_first'])} / "
            f"{percent(strata['first_named_wins_when_largest_later'])}"
        )
        selection = "legacy" if result.settings["legacy_quirks"] else "matcher"
        body.append(
            [
                result.label,
                selection,
                str(m["queries"]),
                *padded([percent(f) for f in m["per_position_conditional"]], n),
                percent(m["topn_accuracy"]),
                split,
            ]
        )
    return headers, body


def chart(results: Sequence[ProbeResult]) -> BarChart:
    groups = {
        r.label: [(f"pos {k + 1}", f) for k, f in enumerate(r.metrics["per_position_conditional"])]
        for r in results
    }
    return BarChart(
        "TOR on real captions: nearest name by mention position (in correct top-n)",
        groups,
        one_in_n(results),
    )


def tor_captions_paper_data(result: ProbeResult) -> str | None:
    source = result.settings.get("source") or {}
    return "coco-captions" if source.get("kind") == "coco" else None


register_probe(
    Probe(
        name="tor-captions",
        version=2,  # 2: intervals resample images where an image has several captions
        order=100,
        summary="TOR on real captions (COCO or any caption table)",
        settings=CaptionTorSettings,
        run=run_tor_captions,
        title="TOR on real captions: which mention position the embedding retrieves (95% CI)",
        rows=rows,
        data="corpus",
        report=ReportSection("Text side on real captions (TOR)", chart),
        controls={"sum": lambda settings: replace(settings, caption_embedding="sum")},
        bias=tor_bias,
        data_settings=("n", "legacy_quirks"),
        data_fingerprints=("inputs", "query_fingerprint"),
        paper_data=tor_captions_paper_data,
        example=lambda: CaptionTorSettings(n=2),
    )
)
