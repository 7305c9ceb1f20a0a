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
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cliposcope.encoders.base import Encoder, l2_normalise
from cliposcope.errors import CliposcopeError
from cliposcope.probes.scene_sets import SceneSet
from cliposcope.probes.stats import Proportion
from cliposcope.provenance import result_provenance
from cliposcope.results import ProbeResult


def swapped(objects: Sequence[str], i: int, j: int) -> list[str]:
    out = list(objects)
    out[i], out[j] = out[j], out[i]
    return out


@dataclass(frozen=True)
class MatchingPair:
    image: int
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
        pairs.append(MatchingPair(image, correct, tuple(wrong)))
    return pairs


def caption(objects: Sequence[str]) -> str:
    return " and ".join(objects)


def embed_captions(encoder: Encoder, captions: list[tuple[str, ...]], split: bool) -> np.ndarray:
    """Plain: encode each joined caption. Split: mean of per-object embeddings, renormalised."""
    unique = list(dict.fromkeys(captions))
    if split:
        names = sorted({name for objects in unique for name in objects})
        name_embeddings = dict(zip(names, encoder.encode_text(names), strict=True))
        vectors = l2_normalise(np.stack([np.mean([name_embeddings[o] for o in objects], axis=0)
                                         for objects in unique]))  # fmt: skip
    else:
        vectors = encoder.encode_text([caption(objects) for objects in unique])
    lookup = {objects: row for row, objects in enumerate(unique)}
    return vectors[[lookup[objects] for objects in captions]]


def matching_accuracy(image_embeddings, correct_embeddings, wrong_embeddings, images) -> Proportion:
    correct = np.einsum("ij,ij->i", image_embeddings[images], correct_embeddings)
    wrong = np.einsum("ij,ij->i", image_embeddings[images], wrong_embeddings)
    return Proportion(int((correct > wrong).sum()), len(images))


def run_matching(
    encoder: Encoder,
    scene_set: SceneSet,
    *,
    position: int | None = None,
    role: str = "model",
    progress: bool = False,
) -> ProbeResult:
    """``position``: 1-based biased position for every image; None: each image's large
    object (from the ground truth)."""
    started = time.perf_counter()
    images = encoder.encode_images([s.image_path for s in scene_set.scenes], progress=progress)
    metrics: dict = {}
    for scenario in (1, 2):
        pairs = []
        for index, scene in enumerate(scene_set.scenes):
            biased = _biased_position(scene, position)
            pairs += matching_pairs(scene.names, biased, scene_set.names, scenario, index)
        image_index = np.array([p.image for p in pairs])
        figures = {}
        for method, split in (("plain", False), ("split_mean", True)):
            correct = embed_captions(encoder, [p.correct for p in pairs], split)
            wrong = embed_captions(encoder, [p.wrong for p in pairs], split)
            figures[method] = matching_accuracy(images, correct, wrong, image_index).to_dict()
        figures["mitigation_change"] = (
            figures["split_mean"]["estimate"] - figures["plain"]["estimate"]
        )
        figures["example"] = {
            "correct": caption(pairs[0].correct),
            "wrong": caption(pairs[0].wrong),
        }
        metrics[f"scenario_{scenario}"] = figures
    return ProbeResult(
        probe="matching",
        role=role,
        model=encoder.info.to_dict(),
        settings={
            "n": scene_set.n,
            "biased_position": position if position is not None else "large object",
            "distractors": "every gallery object not in the image",
            "comparison": "strict >",
        },
        metrics=metrics,
        provenance=result_provenance(
            image_count=len(scene_set.scenes),
            scene_fingerprint=scene_set.fingerprint(),
        ),
        wall_time_s=round(time.perf_counter() - started, 3),
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
