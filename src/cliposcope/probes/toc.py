"""TOC, text-based object classification: one linear probe per caption position.

Captions look like "a red car and a blue dog and a green cup and a pink bowl". For each
position k a linear head on the frozen, normalised text embedding predicts the object (or
the colour) at position k; higher held-out accuracy at k = more of slot k survives in the
embedding. The probed slot is explicit (``target="object"`` or ``"colour"``), unlike the
published script whose default probed a colour slot its captions never contained.

Sampling and splits use numpy/torch generators seeded explicitly: no set iteration, so
nothing depends on PYTHONHASHSEED.

Per-query records, one row per held-out caption and head: ``query`` (the caption),
``split`` (test or validation), ``position`` (the head's caption position, from 0),
``true`` and ``predicted`` (names of the probed slot).
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cliposcope.data.templates import Template
from cliposcope.data.vocab import Vocabulary, load_vocabulary
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.linear_probe import accuracy, predict, train_linear_probe
from cliposcope.probes.presentation import percent, position_headers
from cliposcope.probes.registry import Probe, make_result, register_probe
from cliposcope.progress import progress_bar
from cliposcope.results import ProbeResult
from cliposcope.settings import internal, option

TARGETS = ("object", "colour")
SPLIT = (0.75, 0.10, 0.15)  # train / validation / test, as in the paper
CAPTIONS = Template("article")  # "a red car and a blue dog and ..."


@dataclass(frozen=True)
class TocSettings:
    objects: Vocabulary | str = option("comco", "object names", flag="--vocab")
    colours: Vocabulary | str = option("simco-colours", "colour names")
    n: int = option(4, "objects per caption (2-8), default 4")
    target: str = option("object", "which slot the heads predict", choices=TARGETS)
    per_class: int = option(60, "captions per class")
    seed: int = option(0, "seed for captions, splits and heads")
    epochs: int = option(10, "training epochs per head")
    batch_size: int = internal(32)
    learning_rate: float = internal(1e-3)

    def __post_init__(self):
        for name in ("objects", "colours"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, load_vocabulary(getattr(self, name)))
        if self.target not in TARGETS:
            raise CliposcopeError(f"unknown TOC target {self.target!r}", hint=" or ".join(TARGETS))
        check_range("--n", self.n, 2, 8, hint="2 to 8 objects")
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        check_range("--epochs", self.epochs, 1, hint="at least one epoch")
        check_range("batch_size", self.batch_size, 1)
        check_range("learning_rate", self.learning_rate, 0.0)
        for vocab in (self.objects, self.colours):
            if len(vocab) < self.n:
                raise CliposcopeError(
                    f"vocabulary {vocab.name} has {len(vocab)} names, fewer than n={self.n}",
                    hint="captions need n distinct objects and colours",
                )
        if self.per_class < 10:
            raise CliposcopeError(f"--per-class {self.per_class} is too small", hint="at least 10")

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "target": self.target,
            "objects": self.objects.name,
            "objects_fingerprint": self.objects.fingerprint,
            "colours": self.colours.name,
            "colours_fingerprint": self.colours.fingerprint,
            "per_class": self.per_class,
            "seed": self.seed,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "optimizer": "Adam",
            "split": list(SPLIT),
            "caption_form": "a {colour} {object} and a {colour} {object} ...",
        }


def balanced_slots(classes: int, n: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """(classes*per_class, n) labels, each class exactly per_class times at every position,
    distinct within a row, positions drawn independently of each other."""
    rows = classes * per_class
    labels = np.stack(
        [rng.permutation(np.repeat(np.arange(classes), per_class)) for _ in range(n)], 1
    )
    for _ in range(100):
        clashes = [
            (i, k)
            for k in range(1, n)
            for i in np.nonzero((labels[:, :k] == labels[:, k : k + 1]).any(axis=1))[0]
        ]
        if not clashes:
            return labels
        for i, k in clashes:  # swap within column k keeps every class count intact
            for j in rng.permutation(rows):
                a, b = labels[i, k], labels[j, k]
                if a != b and b not in np.delete(labels[i], k) and a not in np.delete(labels[j], k):
                    labels[i, k], labels[j, k] = b, a
                    break
    raise CliposcopeError("could not balance the TOC captions", hint="use more classes than n")


def build_captions(settings: TocSettings) -> tuple[list[str], np.ndarray]:
    """Captions and the (N, n) labels of the probed slot at each position."""
    rng = np.random.default_rng([settings.seed, 0x70C])
    probed, other = (
        (settings.objects, settings.colours)
        if settings.target == "object"
        else (settings.colours, settings.objects)
    )
    labels = balanced_slots(len(probed), settings.n, settings.per_class, rng)
    others = np.stack([rng.choice(len(other), settings.n, replace=False) for _ in labels])
    captions = []
    for probed_row, other_row in zip(labels, others, strict=True):
        parts = []
        for p, o in zip(probed_row, other_row, strict=True):
            obj, colour = (
                (probed.words[p], other.words[o])
                if settings.target == "object"
                else (other.words[o], probed.words[p])
            )
            parts.append(f"{colour} {obj}")
        captions.append(CAPTIONS.render(parts))
    return captions, labels


def split_indices(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.random.default_rng([seed, 0x5917]).permutation(count)
    train_end = round(count * SPLIT[0])
    val_end = train_end + round(count * SPLIT[1])
    return order[:train_end], order[train_end:val_end], order[val_end:]


def run_toc(
    encoder: Encoder, data: None, settings: TocSettings, *, progress: bool = False
) -> ProbeResult:
    started = time.perf_counter()
    captions, labels = build_captions(settings)
    features = encoder.encode_text(captions, progress=progress)
    probed = settings.objects if settings.target == "object" else settings.colours
    classes = len(probed)
    label_names = np.array(probed.words, dtype=object)
    train, val, test = split_indices(len(captions), settings.seed)
    per_position, validation = [], []
    records: dict[str, list] = defaultdict(list)
    for k in progress_bar(range(settings.n), enabled=progress, desc="TOC heads", unit="head"):
        head = train_linear_probe(
            features,
            labels[:, k],
            classes,
            train,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            seed=settings.seed * 1000 + k,
        )
        for split, rows, figures in (("test", test, per_position), ("validation", val, validation)):
            predicted = predict(head, features[rows])
            figures.append(accuracy(predicted, labels[rows, k]).to_dict())
            records["query"] += [captions[row] for row in rows]
            records["split"] += [split] * len(rows)
            records["position"] += [k] * len(rows)
            records["true"] += label_names[labels[rows, k]].tolist()
            records["predicted"] += label_names[predicted].tolist()
    digest = hashlib.sha256("\n".join(captions).encode()).hexdigest()
    return make_result(
        "toc",
        encoder,
        settings=settings.to_dict(),
        metrics={
            "per_position_test_accuracy": per_position,
            "per_position_validation_accuracy": validation,
            "chance": 1 / classes,
            "classes": classes,
            "split_sizes": [len(train), len(val), len(test)],
        },
        started=started,
        query_records=dict(records),
        caption_count=len(captions),
        caption_fingerprint=digest,
        example_caption=captions[0],
    )


def toc_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    n = max(r.settings["n"] for r in results)
    headers = ["Model", "Probed slot", *position_headers(n, "Obj acc %"), "Chance %"]
    rows = []
    for result in results:
        accuracies = [percent(f) for f in result.metrics["per_position_test_accuracy"]]
        chance = f"{100 * result.metrics['chance']:.1f}"
        rows.append([result.label, result.settings["target"], *accuracies, chance])
    return headers, rows


register_probe(
    Probe(
        name="toc",
        order=20,
        summary="text-based object classification (linear probes)",
        settings=TocSettings,
        run=run_toc,
        title="TOC: held-out accuracy of a linear probe per position (95% CI)",
        rows=toc_rows,
        data_settings=("n",),
        data_fingerprints=("caption_fingerprint",),
        example=lambda: TocSettings(objects="simco-shapes", n=2, per_class=10, epochs=2),
    )
)
