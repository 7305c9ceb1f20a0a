"""TOR, text-based object retrieval: which object of a multi-object caption does its
embedding retrieve from a gallery of the bare object names?

Protocols (see docs/protocols.md):
* ``paper``: every combination in list order, the published figures; ``legacy_quirks``
  reproduces the published scripts bug for bug, for audits.
* ``balanced``: each combination in a seeded random order (or all n! orders), so that
  position is not confounded with identity; CIs, a first-position test, per-object rates.

Per-query records, one row per caption: ``query`` (the caption), ``objects`` (names in
caption order), then retrieval.QueryOutcomes's columns (``retrieved`` as a name, ``top_n``
as names) and, with the position-matched gallery, ``matched_gallery_retrieved`` (the name
retrieved from gallery k, per position k). They take memory in proportion to the query
count (about 0.5 kB a query at n=4) until the result is saved.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from cliposcope.data.templates import Template, load_template
from cliposcope.data.vocab import Vocabulary, load_vocabulary
from cliposcope.encoders.base import Encoder, l2_normalise
from cliposcope.encoders.registry import warn_untrained_names
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.cost import Work
from cliposcope.probes.presentation import (
    BarChart,
    FigureDefinition,
    ReportSection,
    one_in_n,
    p_value,
    padded,
    percent,
    position_headers,
)
from cliposcope.probes.queries import check_arity, query_chunks, query_count
from cliposcope.probes.registry import BatteryRole, Probe, make_result, register_probe
from cliposcope.probes.retrieval import (
    GALLERY_COLUMNS,
    MatchedGalleryTally,
    QueryRecords,
    RetrievalTally,
)
from cliposcope.probes.stats import Proportion, binomial_test
from cliposcope.probes.verdicts import BiasFigure, BiasReading, QueryFigure
from cliposcope.progress import progress_bar
from cliposcope.results import ProbeResult
from cliposcope.settings import internal, option

log = logging.getLogger(__name__)
PROTOCOLS = ("paper", "balanced")
GALLERIES = ("plain", "position-matched")
CAPTION_EMBEDDINGS = ("encoder", "sum")


@dataclass(frozen=True)
class TorSettings:
    vocab: Vocabulary | str = option(
        "comco", "comco | coco | simco-shapes | ... | FILE", flag="--vocab"
    )
    n: int = option(3, "objects per caption (2-8), default 3")
    protocol: str = option("balanced", "balanced (default) or paper", choices=PROTOCOLS)
    template: Template | str = option(
        "and", "and | article | long | a pattern with {1}..{n} | a file of patterns"
    )
    sample: int | None = option(None, "K combinations drawn with --seed", metavar="K")
    seed: int = option(0, "seed for sampling and orders")
    all_orders: bool = option(False, "balanced: every order of each combination")
    legacy_quirks: bool = option(
        False, "paper: reproduce the published scripts' substring/ascending bugs"
    )
    gallery: str = option(
        "plain",
        "plain (the names) or position-matched (each name where it stands in the caption, "
        "--filler in the other slots, so every object is compared at its own slot)",
        choices=GALLERIES,
    )
    filler: str = option("something", "neutral word, position-matched gallery")
    caption_prefix: str = option(
        "",
        "text put before every caption and never in the gallery, e.g. 'a photo of': a name is "
        "then no prefix of its caption (the causal-mask artifact)",
    )
    # "sum": each caption embedded as the normalised sum of its objects' name embeddings,
    # an encoder with no notion of order (the --null sum control).
    caption_embedding: str = internal("encoder")

    def __post_init__(self):
        check_range("--n", self.n, 2, hint="captions hold 2 to 8 objects")
        if isinstance(self.vocab, str):
            object.__setattr__(self, "vocab", load_vocabulary(self.vocab))
        if isinstance(self.template, str):
            object.__setattr__(self, "template", load_template(self.template, self.n))
        if self.protocol not in PROTOCOLS:
            raise CliposcopeError(
                f"unknown protocol {self.protocol!r}", hint=f"one of {', '.join(PROTOCOLS)}"
            )
        if self.legacy_quirks and self.protocol != "paper":
            raise CliposcopeError(
                "--legacy-quirks reproduces the published scripts",
                hint="use it with --protocol paper",
            )
        if self.all_orders and self.protocol != "balanced":
            raise CliposcopeError(
                "--all-orders applies to the balanced protocol", hint="use --protocol balanced"
            )
        if self.gallery not in GALLERIES:
            raise CliposcopeError(f"unknown gallery {self.gallery!r}", hint=" or ".join(GALLERIES))
        if not self.filler.strip():
            raise CliposcopeError(f"--filler {self.filler!r} is empty", hint="e.g. something")
        if self.caption_prefix != self.caption_prefix.strip() or "\n" in self.caption_prefix:
            raise CliposcopeError(
                f"--caption-prefix {self.caption_prefix!r} has surrounding spaces or a newline",
                hint="give the words alone, e.g. --caption-prefix 'a photo of'",
            )
        if self.caption_embedding not in CAPTION_EMBEDDINGS:
            raise CliposcopeError(
                f"unknown caption embedding {self.caption_embedding!r}",
                hint=" or ".join(CAPTION_EMBEDDINGS),
            )
        if self.sample is not None:
            check_range("--sample", self.sample, 1, hint="a positive number of combinations")
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        self.template.check_arity(self.n)
        check_arity(len(self.vocab), self.n)

    def caption(self, objects: Sequence[str]) -> str:
        """The caption of ``objects`` in this order: template, after the caption prefix."""
        text = self.template.render(list(objects))
        return f"{self.caption_prefix} {text}" if self.caption_prefix else text

    @property
    def order(self) -> str:
        if self.protocol == "paper":
            return "list"
        return "all" if self.all_orders else "random"

    def to_dict(self) -> dict:
        return {
            "protocol": self.protocol,
            "n": self.n,
            "template": self.template.name,
            "vocabulary": self.vocab.name,
            "vocabulary_size": len(self.vocab),
            "vocabulary_fingerprint": self.vocab.fingerprint,
            "sample": self.sample,
            "seed": self.seed,
            "order": self.order,
            "legacy_quirks": self.legacy_quirks,
            "gallery": self.gallery,
            "filler": self.filler if self.gallery == "position-matched" else None,
            "caption_prefix": self.caption_prefix,
            "caption_embedding": self.caption_embedding,
        }


def matched_galleries(encoder: Encoder, settings: TorSettings) -> list[np.ndarray]:
    """Gallery k: each name at slot k of the caption (prefix included), the other slots the
    filler word."""
    galleries = []
    for slot in range(settings.n):
        texts = []
        for word in settings.vocab.words:
            objects = [settings.filler] * settings.n
            objects[slot] = word
            texts.append(settings.caption(objects))
        galleries.append(encoder.encode_text(texts))
    return galleries


def matched_preferred_positions(similarities: Sequence[np.ndarray], rows: np.ndarray):
    """For each caption, the position k whose object, placed at slot k with fillers around
    it, is the nearest of the caption's own objects: ``similarities[k]`` is (Q, names)
    against gallery k, ``rows`` (Q, n) the names in caption order."""
    own = np.stack(
        [similarity[np.arange(len(rows)), rows[:, k]] for k, similarity in enumerate(similarities)],
        axis=1,
    )
    return np.argmax(own, axis=1)


def matched_first_object(count: int, queries: int, n: int, order_randomised: bool) -> dict:
    """Share of captions whose position-matched nearest own object is the first-named,
    against 1/n (exact binomial test where the order is randomised, as in
    RetrievalTally.first_position_bias)."""
    share = Proportion(count, queries)
    return {
        **share.to_dict(),
        "expected_if_order_blind": 1 / n,
        "ratio_to_expected": share.estimate * n if queries else float("nan"),
        "p_value": binomial_test(count, queries, 1 / n) if order_randomised else None,
        "test": "exact two-sided binomial" if order_randomised else "none: list order",
    }


def run_tor(
    encoder: Encoder, data: None, settings: TorSettings, *, progress: bool = False
) -> ProbeResult:
    """Score every query of the settings' query set, chunk by chunk."""
    started = time.perf_counter()
    sum_control = settings.caption_embedding == "sum"
    words = settings.vocab.words
    gallery = encoder.encode_text(list(words))
    matched = (
        matched_galleries(encoder, settings) if settings.gallery == "position-matched" else None
    )
    tally = RetrievalTally(settings.n, len(words), legacy=settings.legacy_quirks)
    matched_tally = MatchedGalleryTally(settings.n)
    records = QueryRecords(words, (*GALLERY_COLUMNS, "matched_gallery_retrieved"))
    matched_preferred: Counter = Counter()
    data_digest = hashlib.sha256()  # the captions: words, template, then the object rows
    data_digest.update("\n".join([*words, settings.template.name]).encode("utf-8"))
    if settings.caption_prefix:  # digests of unprefixed queries stay what they were
        data_digest.update(f"\nprefix:{settings.caption_prefix}".encode())
    combinations = math.comb(len(words), settings.n)
    used = combinations if settings.sample is None else min(settings.sample, combinations)
    if settings.sample is not None and settings.sample > combinations:
        message = "--sample %d exceeds the %d combinations of %d names at n=%d: all are used"
        log.warning(message, settings.sample, combinations, len(words), settings.n)
    total = query_count(len(words), settings.n, settings.sample, settings.order)
    chunks = query_chunks(
        len(words), settings.n, sample=settings.sample, seed=settings.seed, order=settings.order
    )
    with progress_bar(total=total, enabled=progress, unit="query", desc="TOR") as bar:
        for rows in chunks:
            data_digest.update(rows.tobytes())
            captions = [settings.caption([words[i] for i in row]) for row in rows]
            if sum_control:
                embeddings = l2_normalise(gallery[rows].sum(axis=1))
            else:
                embeddings = encoder.encode_text(captions, progress=progress)
            outcomes = tally.update(embeddings @ gallery.T, rows, captions, words)
            chunk_records = {"query": captions, "objects": rows, **outcomes.columns()}
            if matched is not None:
                similarities = [embeddings @ g.T for g in matched]
                chunk_records["matched_gallery_retrieved"] = matched_tally.update(
                    similarities, rows
                )
                preferred = matched_preferred_positions(similarities, rows)
                chunk_records["matched_preferred_position"] = preferred
                matched_preferred.update(preferred.tolist())
            records.add(chunk_records)
            bar.update(len(rows))
    # how to read the figures, said once they exist (a run that fails says only why)
    warn_untrained_names(
        encoder.info, words, f"vocabulary {settings.vocab.name}", "use --vocab toy"
    )
    warn_if_too_few(total, settings.n)
    metrics = tally.summary(words, order_randomised=settings.order != "list")
    if matched is not None:
        metrics["position_matched_gallery"] = matched_tally.summary()
        metrics["position_matched_first_object"] = matched_first_object(
            matched_preferred[0], tally.queries, settings.n, settings.order != "list"
        )
    return make_result(
        "tor",
        encoder,
        settings=settings.to_dict(),
        metrics=metrics,
        started=started,
        query_records=records.columns(),
        query_count=tally.queries,
        combinations_used=used,
        query_fingerprint=data_digest.hexdigest(),
        example_caption=settings.caption(words[: settings.n]),
    )


def tor_in_battery(battery, scene_set) -> TorSettings:
    """TOR on the scene set's own vocabulary and object count."""
    vocabulary = Vocabulary(battery.vocabulary_name, scene_set.names)
    if battery.legacy_quirks:  # the published script: list order, its scoring quirks
        return TorSettings(
            vocabulary,
            n=scene_set.n,
            protocol="paper",
            legacy_quirks=True,
            sample=battery.tor_sample,
            seed=battery.seed,
        )
    return TorSettings(
        vocabulary,
        n=scene_set.n,
        sample=battery.tor_sample,
        seed=battery.seed,
        all_orders=battery.tor_all_orders,
    )


FIGURES = MappingProxyType(
    {
        "per_position_unconditional": FigureDefinition(
            "argmax share",
            "share of all queries whose nearest name is the object named at that position",
        ),
        "per_position_conditional": FigureDefinition(
            "in correct top-n",
            "share of the queries whose n nearest names are exactly the caption's objects "
            "whose nearest name is the object named at that position (the published figure)",
        ),
        "topn_accuracy": FigureDefinition(
            "top-n accuracy", "share of queries whose n nearest names are the caption's objects"
        ),
        "first_position_bias": FigureDefinition(
            "first-object preference",
            "share of the queries whose nearest name is one of the caption's objects whose "
            "nearest name is the first-named one (chance 1/n; 'x chance' divides by 1/n); "
            "verdicts compare it with the control's",
        ),
        "position_matched_first_object": FigureDefinition(
            "position-matched first-object",
            "share of queries for which, of the caption's objects each placed where it "
            "stands in the caption with --filler elsewhere, the first-named one is nearest "
            "(no gallery text is the whole caption's prefix, though under a causal mask the "
            "first slot's still shares its leading words; chance 1/n)",
        ),
    }
)


def _shown_figure(result: ProbeResult) -> tuple[str, str]:
    """(metrics key, label) of the per-position figure a table shows for this protocol."""
    if result.settings["protocol"] == "paper":
        return "per_position_conditional", "in correct top-n"
    return "per_position_unconditional", "argmax share"


def tor_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    n = max(r.settings["n"] for r in results)
    headers = ["Model", "Protocol", "Figure", *position_headers(n)]
    headers += ["Top-n acc %", "First-object preference %", "x chance", "p (vs chance)"]
    matched = any("position_matched_first_object" in r.metrics for r in results)
    if matched:  # the figure with every object at its own slot, beside the paper's
        headers.append("Position-matched first-object %")
    rows = []
    for result in results:
        m = result.metrics
        key, figure = _shown_figure(result)
        bias = m["first_position_bias"]
        ratio = bias.get("ratio_to_expected")
        protocol = result.settings["protocol"] + (
            " (legacy)" if result.settings["legacy_quirks"] else ""
        )
        if result.settings.get("caption_prefix"):
            protocol += f", prefix {result.settings['caption_prefix']!r}"
        rows.append(
            [
                result.label,
                protocol,
                figure,
                *padded([percent(f) for f in m[key]], n),
                percent(m["topn_accuracy"]),
                percent(bias),
                "-" if ratio is None else f"{ratio:.2f}",
                p_value(bias.get("p_value")),
                *([percent(m.get("position_matched_first_object"))] if matched else []),
            ]
        )
    return headers, rows


def tor_chart(results: Sequence[ProbeResult]) -> BarChart:
    groups = {}
    for result in results:
        key, _ = _shown_figure(result)
        groups[result.label] = [(f"pos {k + 1}", f) for k, f in enumerate(result.metrics[key])]
    title = "TOR: share of captions whose nearest name is the object at each position"
    return BarChart(title, groups, one_in_n(results))


def tor_bias(result: ProbeResult) -> BiasFigure:
    bias = result.metrics["first_position_bias"]
    figure = FIGURES["first_position_bias"]
    chance = 1 / result.settings["n"]
    return BiasFigure.share(figure.label, figure.definition, bias["count"], bias["total"], chance)


def tor_matched_bias(result: ProbeResult) -> BiasFigure | None:
    """The first-object preference under the position-matched gallery (None without it)."""
    bias = result.metrics.get("position_matched_first_object")
    if bias is None:
        return None
    figure = FIGURES["position_matched_first_object"]
    chance = 1 / result.settings["n"]
    return BiasFigure.share(figure.label, figure.definition, bias["count"], bias["total"], chance)


def tor_matched_bias_per_query(columns) -> QueryFigure:
    """Caption by caption: a hit where the first-named object is the nearest of the
    caption's objects, each placed at its own slot."""
    position = np.asarray(columns["matched_preferred_position"])
    return QueryFigure.of(columns["query"], position == 0)


def tor_bias_per_query(columns) -> QueryFigure:
    """Query by query: a hit where the arg-max is the first-named object, counted where the
    arg-max is one of the caption's objects; the caption's image is its cluster where the
    records name one (real captions)."""
    position = np.asarray(columns["retrieved_position"])
    return QueryFigure.of(
        columns["query"], position == 0, position >= 0, clusters=columns.get("image")
    )


# Below this many queries, a 95% interval on a share near chance is wider than +-5 points.
USEFUL_HALF_WIDTH = 0.05


def warn_if_too_few(queries: int, n: int) -> None:
    chance = 1 / n
    half_width = 1.96 * math.sqrt(chance * (1 - chance) / queries)
    if half_width > USEFUL_HALF_WIDTH:
        enough = math.ceil(1.96**2 * chance * (1 - chance) / USEFUL_HALF_WIDTH**2)
        log.warning(
            "TOR on %d queries at n=%d: a 95%% interval on a share near chance spans about "
            "+-%.0f points; %d or more queries (--sample) narrow it to +-5",
            queries,
            n,
            100 * half_width,
            enough,
        )


def tor_cost(settings: TorSettings, data: None) -> Work:
    """Every caption is a query and an encoded text (none with the sum control), beside
    the gallery of names and the position-matched galleries."""
    words = len(settings.vocab.words)
    queries = query_count(words, settings.n, settings.sample, settings.order)
    captions = 0 if settings.caption_embedding == "sum" else queries
    galleries = words * (1 + (settings.n if settings.gallery == "position-matched" else 0))
    return Work(queries, texts=captions + galleries)


def prefetch_tor(settings: TorSettings, encoder: Encoder, data) -> None:
    """The names, then every caption in the order ``run_tor`` asks for them."""
    if settings.caption_embedding != "encoder":
        return
    words = settings.vocab.words
    encoder.encode_text(list(words))
    chunks = query_chunks(
        len(words), settings.n, sample=settings.sample, seed=settings.seed, order=settings.order
    )
    encoder.encode_text(
        [settings.caption([words[i] for i in row]) for rows in chunks for row in rows]
    )


def tor_paper_data(result: ProbeResult) -> str | None:
    """The paper's TOR tables use the 90 ComCO names, its protocol and the "and" template."""
    from cliposcope.data.vocab import load_vocabulary

    settings = result.settings
    published_rules = settings.get("protocol") == "paper" and settings.get("template") == "and"
    comco = load_vocabulary("comco").fingerprint
    if settings.get("vocabulary_fingerprint") == comco and published_rules:
        return "comco-names"
    return None


register_probe(
    Probe(
        name="tor",
        order=10,
        summary="text-based object retrieval",
        settings=TorSettings,
        run=run_tor,
        title="TOR: which caption position the embedding retrieves (95% CI)",
        rows=tor_rows,
        report=ReportSection("Text side: which named object survives (TOR)", tor_chart),
        controls={"sum": lambda settings: replace(settings, caption_embedding="sum")},
        battery=BatteryRole(tor_in_battery, in_demo=True),
        bias=tor_bias,
        figures=FIGURES,
        bias_per_query=tor_bias_per_query,
        bias_columns=("query", "retrieved_position"),
        bias_protocol="the paper's gallery (the names alone)",
        protocol_note=lambda result: (
            f"captions after {result.settings['caption_prefix']!r}"
            if result.settings.get("caption_prefix")
            else ""
        ),
        bias_readings={
            "position-matched gallery": BiasReading(
                tor_matched_bias,
                tor_matched_bias_per_query,
                ("query", "matched_preferred_position"),
            )
        },
        data_settings=("n", "protocol", "gallery", "filler", "caption_prefix", "legacy_quirks"),
        data_fingerprints=("query_fingerprint",),
        prefetch=prefetch_tor,
        cost=tor_cost,
        paper_data=tor_paper_data,
        example=lambda: TorSettings(n=3, sample=24),
    )
)
