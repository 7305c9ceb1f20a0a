"""IOR (image-based object retrieval) and I2TOR (image-to-text object retrieval).

Query: a multi-object image. Gallery: the single-object reference images through the same
image encoder (IOR), or the object names through the text encoder (I2TOR). Beside the TOR
figures (conditional on a correct top-n set, MAP, NDCG, ...), the paper's IOR figure: the
share of images in which ground-truth object k scores highest among the ground-truth
objects; reported by caption position and by size role (large, small 1, small 2, ...).

Per-query records, one row per image: ``query`` (the scene id), ``objects`` (names in
caption order, as the gallery spells them), ``roles``, ``areas`` (area fractions, NaN where
unknown), TOR's retrieval columns (retrieval.QueryOutcomes) with ``retrieved_role`` ("" when
the arg-max is not one of the image's objects), and the among-truth figures' basis:
``object_similarities`` (each object's similarity, in caption order) and the position and
role of the highest of them, ``truth_winner_position`` and ``truth_winner_role``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from cliposcope.data.official import verbatim_name
from cliposcope.data.scene_sets import SceneSet
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError
from cliposcope.probes.cost import Work
from cliposcope.probes.presentation import (
    BarChart,
    FigureDefinition,
    ReportSection,
    large_first,
    one_in_n,
    padded,
    paper_scene_data,
    percent,
    position_headers,
    role_bars,
)
from cliposcope.probes.registry import BatteryRole, Probe, make_result, register_probe
from cliposcope.probes.retrieval import QueryRecords, RetrievalTally
from cliposcope.probes.stats import Proportion
from cliposcope.probes.verdicts import BiasFigure, QueryFigure
from cliposcope.results import ProbeResult
from cliposcope.settings import option

GALLERIES = {"ior": "images", "i2tor": "names"}


@dataclass(frozen=True)
class ImageRetrievalSettings:
    """IOR and I2TOR take everything else from the scene set. ``legacy_quirks`` reproduces
    the published image scripts: object names verbatim from the official file names (split
    on "_", so "hot-dog" keeps its hyphen, also as I2TOR gallery text), the top-n list in
    ascending score order (which changes MAP, NDCG, P@k and R@k), and top-n membership as
    exact membership in the list of names split from the query's file name (so "dog" is
    not found in "hot-dog_cat", as it would be by the text scripts' substring test)."""

    legacy_quirks: bool = option(
        False, "the published image scripts' name, ranking and membership quirks"
    )


def winners_among_truth(similarity: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Caption position of the ground-truth object that scores highest, per query."""
    return np.argmax(np.take_along_axis(similarity, truth, axis=1), axis=1)


def score_image_retrieval(
    similarity: np.ndarray,
    truth: np.ndarray,
    roles: Sequence[Sequence[str]],
    names: Sequence[str],
    areas: Sequence[Sequence[float | None]] | None = None,
    *,
    legacy: bool = False,
) -> tuple[dict, dict[str, list]]:
    """All IOR/I2TOR figures from a (Q, G) similarity and (Q, n) truth; with each object's
    area, also the share of images whose winner is the largest, 2nd largest, ... object.
    ``legacy``: the published scripts' scoring, with ``names`` as they spell them and each
    query's file name split into its names (``stem.split("_")``) as the list its top-n
    names must belong to. Returns the metrics and the per-image record columns (all but
    ``query``)."""
    n = truth.shape[1]
    tally = RetrievalTally(n, similarity.shape[1], legacy=legacy, membership="listed")
    # the file name's parts: the image's names in caption order, spelt as the files spell them
    listed = [[names[g] for g in row] for row in truth] if legacy else None
    outcomes = tally.update(similarity, truth, listed, names if legacy else None)
    metrics = tally.summary(names, order_randomised=False)
    winners = winners_among_truth(similarity, truth)
    described = {"objects": truth, "roles": [list(row) for row in roles]}
    if areas is not None:
        described["areas"] = [[math.nan if a is None else float(a) for a in row] for row in areas]
    records = QueryRecords(names)
    records.add(
        described
        | outcomes.columns()
        | {
            "retrieved_role": [
                roles[q][k] if k >= 0 else "" for q, k in enumerate(outcomes.retrieved_position)
            ],
            "object_similarities": np.take_along_axis(similarity, truth, axis=1).astype(np.float64),
            "truth_winner_position": winners,
            "truth_winner_role": [roles[q][k] for q, k in enumerate(winners)],
        }
    )
    queries = len(truth)
    metrics["per_position_among_truth"] = [
        Proportion(int((winners == k).sum()), queries).to_dict() for k in range(n)
    ]
    won = Counter(roles[q][winners[q]] for q in range(queries))
    present = Counter(label for row in roles for label in row)
    metrics["per_role_among_truth"] = {
        label: Proportion(won[label], present[label]).to_dict() for label in sorted(present)
    }
    if areas is not None:
        metrics["per_size_rank_among_truth"] = size_rank_shares(winners, areas, n)
    return metrics, records.columns()


def size_rank_shares(winners: np.ndarray, areas: Sequence[Sequence[float | None]], n: int):
    """Share of images whose winner is the r-th largest of their objects (r = 1 largest),
    over the images whose object areas are all known and distinct."""
    ranked = [
        (w, a)
        for w, a in zip(winners, areas, strict=True)
        if None not in a and len(set(a)) == len(a)
    ]
    counts = Counter(sorted(a, reverse=True).index(a[w]) for w, a in ranked)
    return [Proportion(counts[r], len(ranked)).to_dict() for r in range(n)]


def run_image_retrieval(
    encoder: Encoder,
    scene_set: SceneSet,
    *,
    probe: str,
    legacy: bool = False,
    progress: bool = False,
) -> ProbeResult:
    """``probe="ior"``: reference images as gallery; ``"i2tor"``: object names."""
    started = time.perf_counter()
    gallery = GALLERIES[probe]
    names = [verbatim_name(n) for n in scene_set.names] if legacy else list(scene_set.names)
    queries = encoder.encode_images([s.image_path for s in scene_set.scenes], progress=progress)
    if gallery == "images":
        missing = [name for name in scene_set.names if name not in scene_set.references]
        if missing:
            raise CliposcopeError(
                f"no single-object reference image for {', '.join(missing[:5])}",
                hint="IOR needs one per object: the official layout's single/ folder",
            )
        paths = [scene_set.references[name].image_path for name in scene_set.names]
        gallery_embeddings = encoder.encode_images(paths, progress=progress)
    else:
        gallery_embeddings = encoder.encode_text(names)
    areas = [[o.area_fraction for o in scene.objects] for scene in scene_set.scenes]
    metrics, columns = score_image_retrieval(
        queries @ gallery_embeddings.T,
        scene_set.truth(),
        scene_set.role_labels(),
        names,
        areas,
        legacy=legacy,
    )
    return make_result(
        probe,
        encoder,
        settings={
            "n": scene_set.n,
            "gallery": gallery,
            "gallery_size": len(scene_set.names),
            "legacy_quirks": legacy,
            # legacy results before the file-name list test used a substring test: a
            # result without this key is one of those, and is never taken for a new one
            **({"legacy_topn_membership": "file-name list"} if legacy else {}),
        },
        metrics=metrics,
        started=started,
        query_records={"query": [scene.id for scene in scene_set.scenes], **columns},
        query_count=len(scene_set.scenes),
        scene_fingerprint=scene_set.fingerprint(),
        scene_origin=scene_set.origin,
    )


def run_ior(
    encoder: Encoder,
    scene_set: SceneSet,
    settings: ImageRetrievalSettings,
    *,
    progress: bool = False,
) -> ProbeResult:
    return run_image_retrieval(
        encoder, scene_set, probe="ior", legacy=settings.legacy_quirks, progress=progress
    )


def run_i2tor(
    encoder: Encoder,
    scene_set: SceneSet,
    settings: ImageRetrievalSettings,
    *,
    progress: bool = False,
) -> ProbeResult:
    return run_image_retrieval(
        encoder, scene_set, probe="i2tor", legacy=settings.legacy_quirks, progress=progress
    )


FIGURES = MappingProxyType(
    {
        "per_role_among_truth/large": FigureDefinition(
            "large-object preference",
            "share of images whose highest-scoring ground-truth object is the large one "
            "(column 'large %'; chance 1/n); verdicts compare it with the control's",
        ),
        "per_role_among_truth": FigureDefinition(
            "by size role",
            "share of images whose highest-scoring ground-truth object has that size role "
            "(columns 'large %', 'small 1 %', ...)",
        ),
        "per_position_among_truth": FigureDefinition(
            "by position",
            "share of images whose highest-scoring ground-truth object is the one named at "
            "that caption position (columns 'First Obj %', ...)",
        ),
        "topn_accuracy": FigureDefinition(
            "top-n accuracy", "share of images whose n nearest gallery items are its objects"
        ),
    }
)


def image_retrieval_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    labels = large_first(label for r in results for label in r.metrics["per_role_among_truth"])
    n = max(r.settings["n"] for r in results)
    headers = ["Model", *(f"{label} %" for label in labels), *position_headers(n), "Top-n acc %"]
    rows = []
    for result in results:
        m = result.metrics
        by_role = [percent(m["per_role_among_truth"].get(label)) for label in labels]
        by_position = padded([percent(f) for f in m["per_position_among_truth"]], n)
        rows.append([result.label, *by_role, *by_position, percent(m["topn_accuracy"])])
    return headers, rows


def large_object_bias(result: ProbeResult) -> BiasFigure | None:
    """None for scenes without a large object (e.g. the official layout)."""
    large = result.metrics["per_role_among_truth"].get("large")
    if large is None:
        return None
    figure = FIGURES["per_role_among_truth/large"]
    chance = 1 / result.settings["n"]  # one large object among n
    return BiasFigure.share(figure.label, figure.definition, large["count"], large["total"], chance)


def large_object_bias_per_query(columns) -> QueryFigure | None:
    """Query (image) by query: a hit where its top ground-truth object is the large one,
    counted where it has a large object."""
    has_large = np.array(["large" in roles for roles in columns["roles"]])
    if not has_large.any():
        return None
    won = np.array([role == "large" for role in columns["truth_winner_role"]])
    return QueryFigure.of(columns["query"], won & has_large, has_large)


def ior_chart(results: Sequence[ProbeResult]) -> BarChart:
    groups = {r.label: role_bars(r.metrics["per_role_among_truth"]) for r in results}
    if any(groups.values()):
        title = "IOR: share of images whose top ground-truth object has each size role"
        return BarChart(title, groups, one_in_n(results))
    by_position = {r.label: r.metrics["per_position_among_truth"] for r in results}
    groups = {
        label: [(f"pos {k + 1}", f) for k, f in enumerate(figures)]
        for label, figures in by_position.items()
    }
    return BarChart(
        "IOR: share of images whose top ground-truth object is at each position (no size roles)",
        groups,
        one_in_n(results),
    )


def image_retrieval_in_battery(battery, scene_set) -> ImageRetrievalSettings:
    return ImageRetrievalSettings(battery.legacy_quirks)


def prefetch_scene_images(settings, encoder: Encoder, scene_set) -> None:
    encoder.encode_images([scene.image_path for scene in scene_set.scenes])


def prefetch_ior(settings, encoder: Encoder, scene_set) -> None:
    """The scenes, then the reference images of the gallery."""
    prefetch_scene_images(settings, encoder, scene_set)
    references = scene_set.references
    encoder.encode_images(
        [references[name].image_path for name in scene_set.names if name in references]
    )


def ior_paper_data(result: ProbeResult) -> str | None:
    """The paper's COCO gallery is DomainNet images: only a folder gallery matches it."""
    data = paper_scene_data(result)
    origin = result.provenance.get("scene_origin") or {}
    if data == "coco-images" and (origin.get("selection") or {}).get("gallery") != "dir":
        return None
    return data


register_probe(
    Probe(
        name="ior",
        order=40,
        summary="image-based object retrieval (reference images as gallery)",
        settings=ImageRetrievalSettings,
        run=run_ior,
        title="IOR: which ground-truth object the image embedding retrieves first, among its "
        "objects (95% CI)",
        rows=image_retrieval_rows,
        data="scenes",
        needs_image_tower=True,
        report=ReportSection("Image side: which object survives, by size (IOR)", ior_chart),
        battery=BatteryRole(image_retrieval_in_battery, in_demo=True),
        bias=large_object_bias,
        figures=FIGURES,
        bias_per_query=large_object_bias_per_query,
        bias_columns=("query", "roles", "truth_winner_role"),
        data_settings=("n", "gallery", "legacy_quirks"),
        data_fingerprints=("scene_fingerprint",),
        prefetch=prefetch_ior,
        cost=lambda settings, scene_set: Work(
            len(scene_set.scenes), images=len(scene_set.scenes) + len(scene_set.names)
        ),
        paper_data=ior_paper_data,
        example=ImageRetrievalSettings,
    )
)
register_probe(
    Probe(
        name="i2tor",
        cost=lambda settings, scene_set: Work(
            len(scene_set.scenes), texts=len(scene_set.names), images=len(scene_set.scenes)
        ),
        order=50,
        summary="image-to-text object retrieval (object names as gallery)",
        settings=ImageRetrievalSettings,
        run=run_i2tor,
        title="I2TOR: the same with object names through the text encoder as gallery (95% CI)",
        rows=image_retrieval_rows,
        data="scenes",
        needs_image_tower=True,
        battery=BatteryRole(image_retrieval_in_battery),
        bias=large_object_bias,
        figures=FIGURES,
        bias_per_query=large_object_bias_per_query,
        bias_columns=("query", "roles", "truth_winner_role"),
        data_settings=("n", "gallery", "legacy_quirks"),
        data_fingerprints=("scene_fingerprint",),
        prefetch=prefetch_scene_images,
        paper_data=paper_scene_data,
        example=ImageRetrievalSettings,
    )
)
