"""IOR (image-based object retrieval) and I2TOR (image-to-text object retrieval).

Query: a multi-object image. Gallery: the single-object reference images through the same
image encoder (IOR), or the object names through the text encoder (I2TOR). Beside the TOR
figures (conditional on a correct top-n set, MAP, NDCG, ...), the paper's IOR figure: the
share of images in which ground-truth object k scores highest among the ground-truth
objects; reported by caption position and by size role (large, small 1, small 2, ...).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from cliposcope.encoders.base import Encoder
from cliposcope.probes.scene_sets import SceneSet
from cliposcope.probes.stats import Proportion
from cliposcope.probes.tor_metrics import RetrievalTally
from cliposcope.provenance import result_provenance
from cliposcope.results import ProbeResult


def winners_among_truth(similarity: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Caption position of the ground-truth object that scores highest, per query."""
    return np.argmax(np.take_along_axis(similarity, truth, axis=1), axis=1)


def image_retrieval_metrics(
    similarity: np.ndarray,
    truth: np.ndarray,
    roles: Sequence[Sequence[str]],
    names: Sequence[str],
) -> dict:
    """All IOR/I2TOR figures from a (Q, G) similarity and (Q, n) truth."""
    n = truth.shape[1]
    tally = RetrievalTally(n, similarity.shape[1])
    tally.update(similarity, truth)
    metrics = tally.summary(names, order_randomised=False)
    winners = winners_among_truth(similarity, truth)
    queries = len(truth)
    metrics["per_position_among_truth"] = [
        Proportion(int((winners == k).sum()), queries).to_dict() for k in range(n)
    ]
    won = Counter(roles[q][winners[q]] for q in range(queries))
    present = Counter(label for row in roles for label in row)
    metrics["per_role_among_truth"] = {
        label: Proportion(won[label], present[label]).to_dict() for label in sorted(present)
    }
    return metrics


def run_image_retrieval(
    encoder: Encoder,
    scene_set: SceneSet,
    *,
    gallery: str = "images",
    role: str = "model",
    progress: bool = False,
) -> ProbeResult:
    """``gallery="images"``: IOR; ``gallery="names"``: I2TOR."""
    started = time.perf_counter()
    queries = encoder.encode_images([s.image_path for s in scene_set.scenes], progress=progress)
    if gallery == "images":
        paths = [scene_set.references[name].image_path for name in scene_set.names]
        gallery_embeddings = encoder.encode_images(paths, progress=progress)
    else:
        gallery_embeddings = encoder.encode_text(list(scene_set.names))
    metrics = image_retrieval_metrics(
        queries @ gallery_embeddings.T, scene_set.truth(), scene_set.role_labels(), scene_set.names
    )
    return ProbeResult(
        probe="ior" if gallery == "images" else "i2tor",
        role=role,
        model=encoder.info.to_dict(),
        settings={"n": scene_set.n, "gallery": gallery, "gallery_size": len(scene_set.names)},
        metrics=metrics,
        provenance=result_provenance(
            query_count=len(scene_set.scenes),
            scene_fingerprint=scene_set.fingerprint(),
        ),
        wall_time_s=round(time.perf_counter() - started, 3),
    )
