"""IOC, image-based object classification: linear heads on frozen image embeddings.

One head per caption position (which object is at position k?) and one per size role
(which object is the large one? small 1? ...); split 80/20 with a seeded permutation, Adam
1e-3, batch 32, 25 epochs as in the paper; held-out accuracy with Wilson intervals.

Per-query records, one row per held-out image and head: ``query`` (the scene id),
``head`` ("position" or "role"), ``position`` (from 0) and ``role`` of the object the head
names in that image, ``true`` and ``predicted`` (object names).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cliposcope.data.scene_sets import SceneSet
from cliposcope.encoders.base import Encoder
from cliposcope.errors import check_range
from cliposcope.probes.cost import scene_work
from cliposcope.probes.linear_probe import accuracy, predict, train_linear_probe
from cliposcope.probes.presentation import large_first, percent, position_headers
from cliposcope.probes.registry import BatteryRole, Probe, make_result, register_probe
from cliposcope.results import ProbeResult
from cliposcope.settings import option

TRAIN_SHARE = 0.8


@dataclass(frozen=True)
class IocSettings:
    seed: int = option(0, "seed for the split and the heads")
    epochs: int = option(25, "training epochs per head")

    def __post_init__(self):
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        check_range("--epochs", self.epochs, 1, hint="at least one epoch")


def run_ioc(
    encoder: Encoder, scene_set: SceneSet, settings: IocSettings, *, progress: bool = False
) -> ProbeResult:
    started = time.perf_counter()
    seed, epochs = settings.seed, settings.epochs
    features = encoder.encode_images([s.image_path for s in scene_set.scenes], progress=progress)
    truth = scene_set.truth()
    order = np.random.default_rng([seed, 0x10C]).permutation(len(truth))
    cut = round(len(truth) * TRAIN_SHARE)
    train, test = order[:cut], order[cut:]
    classes = len(scene_set.names)
    names = np.array(scene_set.names, dtype=object)
    roles = scene_set.role_labels()
    records: dict[str, list] = defaultdict(list)

    def held_out(head_kind: str, positions: np.ndarray, head_seed: int) -> dict:
        """Train a head on the object at ``positions[q]`` of each image q; its test figure
        (and records)."""
        labels = truth[np.arange(len(truth)), positions]
        head = train_linear_probe(
            features,
            labels,
            classes,
            train,
            epochs=epochs,
            batch_size=32,
            learning_rate=1e-3,
            seed=head_seed,
        )
        predicted = predict(head, features[test])
        records["query"] += [scene_set.scenes[q].id for q in test]
        records["head"] += [head_kind] * len(test)
        records["position"] += positions[test].tolist()
        records["role"] += [roles[q][positions[q]] for q in test]
        records["true"] += names[labels[test]].tolist()
        records["predicted"] += names[predicted].tolist()
        return accuracy(predicted, labels[test]).to_dict()

    per_position = [
        held_out("position", np.full(len(truth), k), seed * 1000 + k) for k in range(scene_set.n)
    ]
    per_role = {}
    for index, label in enumerate(sorted({r for row in roles for r in row})):
        rows = [q for q, row in enumerate(roles) if label in row]
        if len(rows) != len(roles):
            continue  # a role not present in every scene has no label for some images
        positions = np.array([row.index(label) for row in roles])
        per_role[label] = held_out("role", positions, seed * 1000 + 100 + index)
    return make_result(
        "ioc",
        encoder,
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
        started=started,
        query_records=dict(records),
        image_count=len(truth),
        scene_fingerprint=scene_set.fingerprint(),
        scene_origin=scene_set.origin,
    )


def ioc_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    labels = large_first(label for r in results for label in r.metrics["per_role_test_accuracy"])
    n = max(r.settings["n"] for r in results)
    headers = ["Model", *position_headers(n, "Obj acc %")]
    headers += [f"{label} acc %" for label in labels] + ["Chance %"]
    rows = []
    for result in results:
        m = result.metrics
        rows.append(
            [result.label]
            + [percent(f) for f in m["per_position_test_accuracy"]]
            + [percent(m["per_role_test_accuracy"].get(label)) for label in labels]
            + [f"{100 * m['chance']:.1f}"]
        )
    return headers, rows


register_probe(
    Probe(
        name="ioc",
        cost=scene_work,
        order=80,
        summary="image-based object classification (linear heads on image embeddings)",
        settings=IocSettings,
        run=run_ioc,
        title="IOC: held-out accuracy of linear heads on image embeddings (95% CI)",
        rows=ioc_rows,
        data="scenes",
        needs_image_tower=True,
        battery=BatteryRole(
            lambda battery, scene_set: IocSettings(seed=battery.seed), opt_in="ioc"
        ),
        data_settings=("n",),
        data_fingerprints=("scene_fingerprint",),
        example=lambda: IocSettings(epochs=2),
    )
)
