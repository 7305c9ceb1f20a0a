"""IOC, image-based object classification: linear heads on frozen image embeddings.

One head per caption position (which object is at position k?) and one per size role
(which object is the large one? small 1? ...); split 80/20 with a seeded permutation, Adam
1e-3, batch 32, 25 epochs as in the paper; held-out accuracy with Wilson intervals.
"""

from __future__ import annotations

import time

import numpy as np

from cliposcope.encoders.base import Encoder
from cliposcope.probes.scene_sets import SceneSet
from cliposcope.probes.toc import accuracy, train_linear_probe
from cliposcope.provenance import result_provenance
from cliposcope.results import ProbeResult

TRAIN_SHARE = 0.8


def run_ioc(
    encoder: Encoder,
    scene_set: SceneSet,
    *,
    seed: int = 0,
    epochs: int = 25,
    role: str = "model",
    progress: bool = False,
) -> ProbeResult:
    started = time.perf_counter()
    features = encoder.encode_images([s.image_path for s in scene_set.scenes], progress=progress)
    truth = scene_set.truth()
    order = np.random.default_rng([seed, 0x10C]).permutation(len(truth))
    cut = round(len(truth) * TRAIN_SHARE)
    train, test = order[:cut], order[cut:]
    classes = len(scene_set.names)

    def held_out(labels: np.ndarray, head_seed: int) -> dict:
        head = train_linear_probe(features, labels, classes, train, epochs=epochs, batch_size=32,
                                  learning_rate=1e-3, seed=head_seed)  # fmt: skip
        return accuracy(head, features[test], labels[test]).to_dict()

    per_position = [held_out(truth[:, k], seed * 1000 + k) for k in range(scene_set.n)]
    roles = scene_set.role_labels()
    per_role = {}
    for index, label in enumerate(sorted({r for row in roles for r in row})):
        rows = [q for q, row in enumerate(roles) if label in row]
        if len(rows) != len(roles):
            continue  # a role not present in every scene has no label for some images
        labels = np.array([truth[q, roles[q].index(label)] for q in range(len(roles))])
        per_role[label] = held_out(labels, seed * 1000 + 100 + index)
    return ProbeResult(
        probe="ioc",
        role=role,
        model=encoder.info.to_dict(),
        settings={
            "n": scene_set.n,
            "seed": seed,
            "epochs": epochs,
            "split": [TRAIN_SHARE, 1 - TRAIN_SHARE],
            "optimizer": "Adam",
            "learning_rate": 1e-3,
            "batch_size": 32,
        },
        metrics={
            "per_position_test_accuracy": per_position,
            "per_role_test_accuracy": per_role,
            "chance": 1 / classes,
            "classes": classes,
            "split_sizes": [len(train), len(test)],
        },
        provenance=result_provenance(
            image_count=len(truth),
            scene_fingerprint=scene_set.fingerprint(),
        ),
        wall_time_s=round(time.perf_counter() - started, 3),
    )
