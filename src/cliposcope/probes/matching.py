"""Image-text matching under the two scenarios of the paper, and the split-caption
mitigation (appendix).

For an image with objects O (caption order) and a biased position b, for every distractor
d not in O (built exactly as the published script does):
* scenario 1 (bias helps): correct = O with b swapped to the front; wrong = d followed by
  that list minus its first element;
* scenario 2 (bias hurts): correct = O with b swapped to the end; wrong = (O with b swapped
  to the front) minus its last element, then d.
Accuracy = share of (image, distractor) pairs with cos(image, correct) > cos(image, wrong),
strictly. The mitigation embeds a caption as the renormalised mean of one caption per
object, and is scored on the same pairs in the same run.

Per-query records, one row per (image, distractor) pair, the same pairs in both scenarios:
``query`` (the scene id), ``objects`` (caption order), ``biased_position`` (from 0),
``distractor``; per scenario S, ``scenario_S_correct_caption`` and
``scenario_S_wrong_caption``; per scenario and method M (plain, split_mean),
``scenario_S_M_correct_similarity``, ``scenario_S_M_wrong_similarity`` and
``scenario_S_M_ranked_right`` (correct strictly above wrong).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from cliposcope.data.official import verbatim_name
from cliposcope.data.scene_sets import SceneSet
from cliposcope.data.templates import Template
from cliposcope.encoders.base import Encoder, l2_normalise
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.cost import scene_work
from cliposcope.probes.presentation import (
    BarChart,
    FigureDefinition,
    ReportSection,
    paper_scene_data,
    percent,
)
from cliposcope.probes.registry import BatteryRole, Probe, make_result, register_probe
from cliposcope.probes.stats import Proportion
from cliposcope.probes.verdicts import BiasFigure, QueryFigure
from cliposcope.results import ProbeResult
from cliposcope.settings import option

CAPTIONS = Template("and")  # the published matching captions: "apple and pizza and desk"


@dataclass(frozen=True)
class MatchingSettings:
    position: int | None = option(
        None, "biased position, 1-based (default: each image's large object)", metavar="K"
    )
    legacy_quirks: bool = option(
        False,
        "captions from the names as the official file names "
        'spell them ("hot-dog"), as the published script builds them',
    )

    def __post_init__(self):
        if self.position is not None:
            check_range("--position", self.position, 1, hint="a caption position, from 1")


def swapped(objects: Sequence[str], i: int, j: int) -> list[str]:
    out = list(objects)
    out[i], out[j] = out[j], out[i]
    return out


@dataclass(frozen=True)
class MatchingPair:
    image: int
    distractor: str
    correct: tuple[str, ...]
    wrong: tuple[str, ...]


def matching_pairs(
    objects: Sequence[str], biased: int, vocabulary: Sequence[str], scenario: int, image: int = 0
) -> list[MatchingPair]:
    """All (correct, wrong) object lists for one image, in vocabulary order of distractors."""
    n = len(objects)
    if not 0 <= biased < n:
        raise CliposcopeError(f"biased position {biased + 1} is outside 1..{n}", hint="--position")
    front = swapped(objects, biased, 0)
    correct = tuple(front if scenario == 1 else swapped(objects, biased, n - 1))
    pairs = []
    for distractor in vocabulary:
        if distractor in objects:
            continue
        wrong = [distractor, *front[1:]] if scenario == 1 else [*front[:-1], distractor]
        pairs.append(MatchingPair(image, distractor, correct, tuple(wrong)))
    return pairs


def caption(objects: Sequence[str], legacy: bool = False) -> str:
    return CAPTIONS.render([verbatim_name(o) for o in objects] if legacy else objects)


def embed_captions(
    encoder: Encoder,
    captions: list[tuple[str, ...]],
    split: bool,
    legacy: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Plain: encode each joined caption. Split: mean of per-object embeddings, renormalised."""
    unique = list(dict.fromkeys(captions))
    if split:
        names = sorted({name for objects in unique for name in objects})
        texts = [caption([name], legacy) for name in names]
        embeddings = encoder.encode_text(texts, progress=progress)
        name_embeddings = dict(zip(names, embeddings, strict=True))
        vectors = l2_normalise(
            np.stack([np.mean([name_embeddings[o] for o in objects], axis=0) for objects in unique])
        )
    else:
        texts = [caption(objects, legacy) for objects in unique]
        vectors = encoder.encode_text(texts, progress=progress)
    lookup = {objects: row for row, objects in enumerate(unique)}
    return vectors[[lookup[objects] for objects in captions]]


def pair_similarities(
    image_embeddings: np.ndarray, caption_embeddings: np.ndarray, images: np.ndarray
) -> np.ndarray:
    """cos(image, caption) of each pair, ``images`` giving each pair's image row."""
    return np.einsum("ij,ij->i", image_embeddings[images], caption_embeddings)


def matching_accuracy(correct_similarity: np.ndarray, wrong_similarity: np.ndarray) -> Proportion:
    return Proportion(int((correct_similarity > wrong_similarity).sum()), len(correct_similarity))


def pair_columns(scenes: Sequence, pairs: Sequence[MatchingPair], biased: Sequence[int]) -> dict:
    """The record columns that describe each (image, distractor) pair."""
    return {
        "query": [scenes[p.image].id for p in pairs],
        "objects": [scenes[p.image].names for p in pairs],
        "biased_position": [biased[p.image] for p in pairs],
        "distractor": [p.distractor for p in pairs],
    }


def run_matching(
    encoder: Encoder, scene_set: SceneSet, settings: MatchingSettings, *, progress: bool = False
) -> ProbeResult:
    """The biased position is ``settings.position`` for every image, or each image's large
    object (from the ground truth) when it is None."""
    started = time.perf_counter()
    position, legacy = settings.position, settings.legacy_quirks
    images = encoder.encode_images([s.image_path for s in scene_set.scenes], progress=progress)
    scenes = scene_set.scenes
    biased = [_biased_position(scene, position) for scene in scenes]
    metrics: dict = {}
    records: dict[str, list] = {}
    for scenario in (1, 2):
        pairs = []
        for index, scene in enumerate(scenes):
            pairs += matching_pairs(scene.names, biased[index], scene_set.names, scenario, index)
        if not pairs:
            raise CliposcopeError(
                "no image of the scene set admits a distractor: every gallery object is in it",
                hint="matching needs objects outside each image; use a larger vocabulary",
            )
        if scenario == 1:  # scenario 2 pairs each image with the same distractors
            records = pair_columns(scenes, pairs, biased)
        prefix = f"scenario_{scenario}"
        records[f"{prefix}_correct_caption"] = [caption(p.correct, legacy) for p in pairs]
        records[f"{prefix}_wrong_caption"] = [caption(p.wrong, legacy) for p in pairs]
        image_index = np.array([p.image for p in pairs])
        figures = {}
        for method, split in (("plain", False), ("split_mean", True)):
            correct = embed_captions(encoder, [p.correct for p in pairs], split, legacy, progress)
            wrong = embed_captions(encoder, [p.wrong for p in pairs], split, legacy, progress)
            correct_similarity = pair_similarities(images, correct, image_index)
            wrong_similarity = pair_similarities(images, wrong, image_index)
            figures[method] = matching_accuracy(correct_similarity, wrong_similarity).to_dict()
            records[f"{prefix}_{method}_correct_similarity"] = correct_similarity.tolist()
            records[f"{prefix}_{method}_wrong_similarity"] = wrong_similarity.tolist()
            records[f"{prefix}_{method}_ranked_right"] = (
                correct_similarity > wrong_similarity
            ).tolist()
        figures["mitigation_change"] = (
            figures["split_mean"]["estimate"] - figures["plain"]["estimate"]
        )
        figures["example"] = {
            "correct": records[f"{prefix}_correct_caption"][0],
            "wrong": records[f"{prefix}_wrong_caption"][0],
        }
        metrics[f"scenario_{scenario}"] = figures
    return make_result(
        "matching",
        encoder,
        settings={
            "n": scene_set.n,
            "biased_position": position if position is not None else "large object",
            "distractors": "every gallery object not in the image",
            "comparison": "strict >",
            "legacy_quirks": legacy,
        },
        metrics=metrics,
        started=started,
        query_records=records,
        image_count=len(scene_set.scenes),
        scene_fingerprint=scene_set.fingerprint(),
        scene_origin=scene_set.origin,
    )


def _biased_position(scene, position: int | None) -> int:
    if position is not None:
        return position - 1
    roles = [o.role for o in scene.objects]
    if "large" not in roles:
        raise CliposcopeError(
            f"scene {scene.id} has no large object to bias on",
            hint="give --position K, or use one-large scenes",
        )
    return roles.index("large")


FIGURES = MappingProxyType(
    {
        "plain": FigureDefinition(
            "accuracy",
            "share of (image, distractor) pairs whose image is strictly closer to the "
            "correct caption than to the wrong one (scenario 1: the biased object named "
            "first, the bias helps; 2: named last, it hurts)",
        ),
        "split_mean": FigureDefinition(
            "split-mean accuracy",
            "the same, with each caption embedded as the renormalised mean of one caption "
            "per object (the appendix's mitigation)",
        ),
        "order_effect": FigureDefinition(
            "order effect in matching",
            "scenario 1 accuracy minus scenario 2 accuracy on the same pairs, in points; "
            "verdicts compare it with the control's",
        ),
    }
)


def matching_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "Model",
        "Biased pos",
        "Scenario 1 %",
        "Scenario 2 %",
        "S1 split-mean %",
        "S2 split-mean %",
        "Order effect (points)",
    ]
    rows = []
    for result in results:
        m = result.metrics
        rows.append(
            [
                result.label,
                str(result.settings["biased_position"]),
                percent(m["scenario_1"]["plain"]),
                percent(m["scenario_2"]["plain"]),
                percent(m["scenario_1"]["split_mean"]),
                percent(m["scenario_2"]["split_mean"]),
                _points(m["scenario_1"]["plain"], m["scenario_2"]["plain"]),
            ]
        )
    return headers, rows


def _points(helps: dict, hurts: dict) -> str:
    first, second = helps.get("estimate"), hurts.get("estimate")
    if first is None or second is None:
        return "-"
    return f"{100 * (first - second):+.1f}"


def order_effect(result: ProbeResult) -> BiasFigure:
    """Accuracy when the bias helps minus when it hurts (plain captions). The standard
    error takes the two shares as independent, which overstates it (they are measured on
    the same pairs); verdicts use the paired per-pair figure instead."""
    helps, hurts = (result.metrics[f"scenario_{k}"]["plain"] for k in (1, 2))
    first, second = (
        Proportion(helps["count"], helps["total"]),
        Proportion(hurts["count"], hurts["total"]),
    )
    error = math.hypot(
        *(math.sqrt(p.estimate * (1 - p.estimate) / p.total) for p in (first, second))
    )
    figure = FIGURES["order_effect"]
    return BiasFigure(
        figure.label,
        figure.definition,
        first.estimate - second.estimate,
        error,
        signed=True,
    )


def order_effect_per_query(columns) -> QueryFigure:
    """Pair by pair (the same pairs in both scenarios): ranked right when the bias helps
    minus ranked right when it hurts; the pairs of one image are one cluster."""
    helps = np.asarray(columns["scenario_1_plain_ranked_right"], dtype=np.float64)
    hurts = np.asarray(columns["scenario_2_plain_ranked_right"], dtype=np.float64)
    ids = [f"{image}|{d}" for image, d in zip(columns["query"], columns["distractor"], strict=True)]
    return QueryFigure.of(ids, helps - hurts, clusters=columns["query"])


def matching_chart(results: Sequence[ProbeResult]) -> BarChart:
    groups = {}
    for result in results:
        groups[result.label] = [
            (f"S{k} {short}", result.metrics[f"scenario_{k}"][method])
            for short, method in (("plain", "plain"), ("split", "split_mean"))
            for k in (1, 2)
        ]
    title = "Image-text matching accuracy (scenario 1: bias helps; 2: bias hurts)"
    return BarChart(title, groups, 0.5)


def matching_paper_data(result: ProbeResult) -> str | None:
    """The paper biases the large object."""
    if result.settings.get("biased_position") != "large object":
        return None
    return paper_scene_data(result)


register_probe(
    Probe(
        name="matching",
        cost=scene_work,
        order=60,
        summary="image-text matching, both scenarios, with the split-caption mitigation",
        settings=MatchingSettings,
        run=run_matching,
        title="Image-text matching: share of (image, distractor) pairs ranked right (95% CI)",
        rows=matching_rows,
        data="scenes",
        needs_image_tower=True,
        report=ReportSection(
            "Image-text matching and the split-caption mitigation", matching_chart
        ),
        battery=BatteryRole(
            lambda battery, scene_set: MatchingSettings(battery.position, battery.legacy_quirks),
            in_demo=True,
        ),
        bias=order_effect,
        figures=FIGURES,
        bias_per_query=order_effect_per_query,
        bias_columns=(
            "query",
            "distractor",
            "scenario_1_plain_ranked_right",
            "scenario_2_plain_ranked_right",
        ),
        data_settings=("n", "biased_position", "legacy_quirks"),
        data_fingerprints=("scene_fingerprint",),
        paper_data=matching_paper_data,
        example=MatchingSettings,
    )
)
