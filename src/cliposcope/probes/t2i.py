"""Text-to-image: does a generator draw the object named first more often than later ones?

Prompts name n objects. Each sampled combination is shown in balanced orders (its n cyclic
rotations, or all n! permutations), so every object stands at every position equally
often and position is not confounded with identity; every prompt is drawn with the same
seed list, so it is not confounded with the sampling noise either. A detector says which
named objects each image holds. Figures: presence by prompt position, the first-minus-last
difference on the same images (Newcombe interval, exact McNemar test), the all-present
rate, per-object presence (objects a generator never draws show up there), and two
controls from the same run: each object prompted alone (can the generator draw it at
all?) and detections of objects the prompt did not name (the detector's false alarms).
With ``size_order``, the same combinations of large, medium and small objects are also
named large-to-small and small-to-large.

Images and detections live in a content-keyed store (generation.store): a rerun continues
where it stopped, and another detector scores the same images without drawing them again.

Per-query records, one row per image of the design: ``prompt``, ``arm`` (balanced,
large-first, small-first or solo), ``combination`` (its index within the arm), ``objects``
(prompt order), ``seed``, ``present`` (per named object, under the run's presence rule),
``off_prompt_detections`` (vocabulary objects detected but not named) and ``image`` (its
key in the image store).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cliposcope.data.templates import load_template
from cliposcope.data.vocab import SIZE_LARGE, SIZE_MEDIUM, SIZE_SMALL, load_vocabulary
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.generation.base import Request, StoredImage
from cliposcope.generation.rig import Rig
from cliposcope.generation.store import detection_key
from cliposcope.probes.presentation import (
    BarChart,
    ReportSection,
    p_value,
    percent,
    position_headers,
)
from cliposcope.probes.registry import Probe, make_result, register_probe
from cliposcope.probes.resampling import paired_share_difference, share_figure
from cliposcope.probes.stats import Proportion
from cliposcope.progress import progress_bar
from cliposcope.results import ProbeResult
from cliposcope.settings import internal, option

# Twelve COCO objects in three real-world sizes that the sprite pack (the planted: stand-in)
# can draw and COCO detectors report.
T2I_OBJECTS = (
    "bus",
    "train",
    "elephant",
    "giraffe",
    "dog",
    "horse",
    "bicycle",
    "sheep",
    "apple",
    "banana",
    "cup",
    "scissors",
)
ORDERS = ("cyclic", "all")
SIZE_BUCKETS = (("large", SIZE_LARGE), ("medium", SIZE_MEDIUM), ("small", SIZE_SMALL))
BALANCED, LARGE_FIRST, SMALL_FIRST, SOLO = "balanced", "large-first", "small-first", "solo"
_ENUMERATE_LIMIT = 200_000
# Options that multiply the work have maxima, and so has the design as a whole, checked
# before anything is loaded: at 8 minutes an image on a CPU (docs/t2i.md, "Cost"), a
# million images is years of CPU and days of GPU time.
MAX_COMBINATIONS = 100_000
MAX_SEEDS_PER_PROMPT = 10_000
MAX_EXAMPLES = 10_000
MAX_IMAGES = 1_000_000


@dataclass(frozen=True)
class T2ISettings:
    n: int = option(3, "objects named per prompt (2-5)")
    vocab: str | None = option(
        None,
        "object names (default: 12 COCO objects of three sizes: " + ", ".join(T2I_OBJECTS) + ")",
        metavar="NAME_OR_FILE",
    )
    combinations: int = option(
        12,
        "object combinations sampled from the vocabulary (all of them when fewer exist)",
        metavar="K",
    )
    orders: str = option(
        "cyclic",
        "orders per combination: cyclic (its n rotations) or all "
        "(n!); both put every object at every position equally often",
        choices=ORDERS,
    )
    seeds_per_prompt: int = option(
        4, "images per prompt; every prompt gets the same seeds", metavar="S"
    )
    template: str = option(
        "article", "how names are joined: and, article, long, or a pattern with {1}..{n}"
    )
    prefix: str = option("a photo of ", "text before the named objects")
    size_order: bool = option(
        False,
        "also name one large, (medium,) small object large-to-"
        "small and small-to-large (n of 2 or 3; size buckets)",
    )
    solo: bool = option(True, "also prompt each object alone (can the generator draw it?)")
    threshold: float | None = option(
        None,
        "detection score threshold (default: the "
        "detector's); for clip: the false-positive rate its "
        "per-label thresholds are calibrated to",
    )
    examples: int = option(12, "thumbnails with detections saved for the report")
    seed: int = option(0, "samples the combinations and the seed list")
    artifacts_dir: Path | None = internal(None)

    def __post_init__(self):
        check_range("--n", self.n, 2, 5, hint="prompts naming 2 to 5 objects")
        check_range(
            "--combinations",
            self.combinations,
            1,
            MAX_COMBINATIONS,
            hint=f"1 to {MAX_COMBINATIONS:,}, e.g. 12",
        )
        check_range(
            "--seeds-per-prompt",
            self.seeds_per_prompt,
            1,
            MAX_SEEDS_PER_PROMPT,
            hint=f"1 to {MAX_SEEDS_PER_PROMPT:,}, e.g. 4",
        )
        check_range(
            "--examples", self.examples, 0, MAX_EXAMPLES, hint=f"0 (none) to {MAX_EXAMPLES:,}"
        )
        if self.orders not in ORDERS:
            raise CliposcopeError(f"unknown --orders {self.orders!r}", hint=" or ".join(ORDERS))
        if self.threshold is not None:
            check_range("--threshold", self.threshold, 0.0, 1.0, hint="a score in 0..1")
        if self.size_order and self.n > 3:
            raise CliposcopeError(
                f"--size-order names one object per size bucket; --n "
                f"{self.n} needs more than the three buckets",
                hint="use --n 2 or --n 3 with --size-order",
            )
        load_template(self.template, self.n)
        check_design_size(design_words(self), self)


def design_words(settings: T2ISettings) -> tuple[str, ...]:
    """The vocabulary a run's prompts draw from."""
    if settings.vocab is None:
        return T2I_OBJECTS
    return tuple(load_vocabulary(settings.vocab).words)


def design_size(words: Sequence[str], settings: T2ISettings) -> tuple[int, int]:
    """(prompts, images) of the design ``build_design`` makes, counted without making it."""
    orders = math.factorial(settings.n) if settings.orders == "all" else settings.n
    prompts = min(settings.combinations, math.comb(len(words), settings.n)) * orders
    if settings.size_order:
        buckets = ("large", "small") if settings.n == 2 else ("large", "medium", "small")
        arms = math.prod(sum(size_bucket(w) == b for w in words) for b in buckets)
        prompts += 2 * min(settings.combinations, arms)
    if settings.solo:
        prompts += len(words)
    return prompts, prompts * settings.seeds_per_prompt


def check_design_size(words: Sequence[str], settings: T2ISettings) -> None:
    """Refuse, before any image is drawn or any memory taken, a design of more than
    MAX_IMAGES images."""
    prompts, images = design_size(words, settings)
    if images > MAX_IMAGES:
        raise CliposcopeError(
            f"the design asks for {images:,} images ({prompts:,} prompts x "
            f"{settings.seeds_per_prompt:,} seeds per prompt), more than {MAX_IMAGES:,}",
            hint="fewer --combinations or --seeds-per-prompt, --orders cyclic, or a smaller "
            "--vocab (an image takes minutes on a CPU: docs/t2i.md, Cost)",
        )


@dataclass(frozen=True)
class Prompt:
    """A prompt of the design: its arm, the combination it orders, its objects in prompt
    order and its text."""

    arm: str
    combination: int
    objects: tuple[str, ...]
    text: str


def sample_combinations(
    size: int, n: int, count: int, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """``count`` distinct n-subsets of range(size) (all of them when fewer exist), sorted."""
    total = math.comb(size, n)
    if count >= total:
        return list(itertools.combinations(range(size), n))
    if total <= _ENUMERATE_LIMIT:
        every = list(itertools.combinations(range(size), n))
        return [every[i] for i in sorted(rng.choice(total, size=count, replace=False))]
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < count:
        chosen.add(tuple(sorted(int(i) for i in rng.choice(size, size=n, replace=False))))
    return sorted(chosen)


def orderings(objects: Sequence[str], orders: str) -> list[tuple[str, ...]]:
    """The balanced orders of one combination: each object once at each position (cyclic)
    or (n-1)! times at each position (all)."""
    objects = tuple(objects)
    if orders == "all":
        return list(itertools.permutations(objects))
    return [objects[k:] + objects[:k] for k in range(len(objects))]


def size_bucket(name: str) -> str | None:
    for bucket, names in SIZE_BUCKETS:
        if name in names:
            return bucket
    return None


def size_combinations(
    words: Sequence[str], n: int, count: int, rng: np.random.Generator
) -> list[tuple[str, ...]]:
    """Combinations of one object per size bucket (large, small; or large, medium, small),
    listed largest first."""
    buckets = ("large", "small") if n == 2 else ("large", "medium", "small")
    members = {b: [w for w in words if size_bucket(w) == b] for b in buckets}
    empty = [b for b in buckets if not members[b]]
    if empty:
        raise CliposcopeError(
            f"--size-order needs a {' and a '.join(empty)} object in the "
            "vocabulary (size buckets from data.vocab)",
            hint="e.g. bus (large), dog (medium), apple (small)",
        )
    every = list(itertools.product(*(members[b] for b in buckets)))
    if count >= len(every):
        return every
    return [every[i] for i in sorted(rng.choice(len(every), size=count, replace=False))]


def build_design(words: Sequence[str], settings: T2ISettings) -> list[Prompt]:
    """Every prompt of a run, in a fixed order: balanced arm, size arms, solo prompts."""
    rng = np.random.default_rng([settings.seed, 1])
    template = load_template(settings.template, settings.n)

    def text(objects: Sequence[str]) -> str:
        return settings.prefix + template.render(list(objects))

    prompts = []
    for c, combination in enumerate(
        sample_combinations(len(words), settings.n, settings.combinations, rng)
    ):
        base = [words[i] for i in rng.permutation(combination)]
        prompts += [
            Prompt(BALANCED, c, order, text(order)) for order in orderings(base, settings.orders)
        ]
    if settings.size_order:
        for c, large_first in enumerate(
            size_combinations(words, settings.n, settings.combinations, rng)
        ):
            small_first = tuple(reversed(large_first))
            prompts.append(Prompt(LARGE_FIRST, c, large_first, text(large_first)))
            prompts.append(Prompt(SMALL_FIRST, c, small_first, text(small_first)))
    if settings.solo:
        solo = template if template.pattern is None else load_template("article", 1)
        prompts += [
            Prompt(SOLO, i, (word,), settings.prefix + solo.render([word]))
            for i, word in enumerate(words)
        ]
    return prompts


def seed_list(settings: T2ISettings) -> list[int]:
    """The seeds every prompt is drawn with (distinct lists for distinct --seed values)."""
    rng = np.random.default_rng([settings.seed, 2])
    return [int(s) for s in rng.choice(1 << 31, size=settings.seeds_per_prompt, replace=False)]


@dataclass
class Observation:
    prompt: Prompt
    seed: int
    image: StoredImage
    present: tuple[bool, ...]  # per object of the prompt
    off_prompt: int  # vocabulary objects the prompt did not name, detected anyway


def _draw_missing(
    rig: Rig, requests: list[Request], counts: dict, progress: bool
) -> list[StoredImage]:
    """The stored image of every request: drawn where missing, else read from the store."""
    generator, store = rig.generator, rig.store
    keys = [request.key(generator.fingerprint) for request in requests]
    # a prompt that occurs twice in the design (a size-arm order equal to a balanced one)
    # is drawn once
    missing = list(
        {k: r for k, r in zip(keys, requests, strict=True) if not store.has_image(k)}.items()
    )
    counts["images_reused"] = len(set(keys)) - len(missing)
    counts["images_generated"] = len(missing)
    stored: dict[str, StoredImage] = {}
    with progress_bar(total=len(missing), enabled=progress, unit="image", desc="generate") as bar:
        for start in range(0, len(missing), generator.batch_size):
            batch = missing[start : start + generator.batch_size]
            drawn = generator.generate([request for _, request in batch])
            for (key, request), picture in zip(batch, drawn, strict=True):
                stored[key] = store.save_image(key, request, picture, generator.info)
            bar.update(len(batch))
    for key in dict.fromkeys(keys):
        if key not in stored:
            stored[key] = store.image(key)
    return [stored[key] for key in keys]


def _detect_missing(
    rig: Rig, images: list[StoredImage], labels: Sequence[str], counts: dict, progress: bool
) -> list[list]:
    detector, store = rig.detector, rig.store
    keys = [detection_key(detector.fingerprint, image.key, labels) for image in images]
    known = {key: store.detections(key) for key in dict.fromkeys(keys)}
    missing = [key for key, detections in known.items() if detections is None]
    image_of = dict(zip(keys, images, strict=True))
    counts["detections_reused"] = len(known) - len(missing)
    counts["detections_run"] = len(missing)
    with progress_bar(total=len(missing), enabled=progress, unit="image", desc="detect") as bar:
        for start in range(0, len(missing), detector.batch_size):
            batch = missing[start : start + detector.batch_size]
            results = detector.detect([image_of[key] for key in batch], labels)
            for key, detections in zip(batch, results, strict=True):
                store.save_detections(key, detections, detector.info)
                known[key] = detections
            bar.update(len(batch))
    return [known[key] for key in keys]


def calibrated_thresholds(
    prompts: Sequence[Prompt],
    found: Sequence[list],
    labels: Sequence[str],
    false_positive_rate: float,
) -> dict[str, float]:
    """Per label, the score that images whose prompt omits the label exceed at the given
    rate (the upper quantile of their scores): a similarity above it counts as present."""
    thresholds = {}
    for label in labels:
        negatives = [
            d.score
            for prompt, detections in zip(prompts, found, strict=True)
            if label not in prompt.objects
            for d in detections
            if d.label == label
        ]
        if not negatives:
            raise CliposcopeError(
                f"no image without {label!r} in its prompt to calibrate on",
                hint="use a vocabulary larger than --n",
            )
        thresholds[label] = float(np.quantile(negatives, 1 - false_positive_rate, method="higher"))
    return thresholds


def check_rule(rig: Rig, settings: T2ISettings, words: Sequence[str]) -> None:
    """Refuse, before any image is drawn, a rule the stored detections cannot honour."""
    detector = rig.detector
    if detector.calibrated:
        if len(words) == settings.n and not settings.solo:
            raise CliposcopeError(
                f"{detector.info['spec']} calibrates each label on images "
                "whose prompt omits it, and every prompt names every object",
                hint="a vocabulary larger than --n, or keep --solo",
            )
    elif settings.threshold is not None and settings.threshold < detector.floor:
        raise CliposcopeError(
            f"--threshold {settings.threshold} is below the lowest score "
            f"{detector.info['spec']} keeps ({detector.floor})",
            hint=f"a threshold of at least {detector.floor}",
        )


def presence_rule(rig: Rig, settings: T2ISettings, prompts, found, labels):
    """(is_present(detections, label), record of the rule) for the run's detector."""
    detector = rig.detector
    threshold = detector.default_threshold if settings.threshold is None else settings.threshold
    if detector.calibrated:
        cut = calibrated_thresholds(prompts, found, labels, threshold)

        def is_present(detections, label):
            return any(d.label == label and d.score > cut[label] for d in detections)

        return is_present, {
            "kind": "calibrated per label",
            "false_positive_rate": threshold,
            "thresholds": cut,
        }

    def is_present(detections, label):
        return any(d.label == label and d.score >= threshold for d in detections)

    return is_present, {"kind": "score threshold", "threshold": threshold}


def combination_clusters(observations: Sequence[Observation]) -> list[tuple[str, int]]:
    """The images of one combination (its orders and seeds) are one cluster: they share
    objects, so their presences are correlated."""
    return [(o.prompt.arm, o.prompt.combination) for o in observations]


def position_figures(observations: Sequence[Observation], n: int) -> dict:
    """Presence by position, first minus last paired on the same images and all present,
    with intervals that resample whole combinations where a combination has several
    images (probes.resampling)."""
    clusters = combination_clusters(observations)
    by_position = [share_figure([o.present[k] for o in observations], clusters) for k in range(n)]
    return {
        "images": len(observations),
        "combinations": len(set(clusters)),
        "presence_by_position": by_position,
        "first_minus_last": paired_share_difference(
            [o.present[0] for o in observations], [o.present[-1] for o in observations], clusters
        ),
        "all_present": share_figure([all(o.present) for o in observations], clusters),
    }


def per_object_figures(observations: Sequence[Observation], words: Sequence[str], n: int) -> dict:
    figures = {}
    for word in words:
        at = [[o for o in observations if o.prompt.objects[k] == word] for k in range(n)]
        present = [sum(o.present[k] for o in at[k]) for k in range(n)]
        shown = [len(at[k]) for k in range(n)]
        if not sum(shown):  # not in any sampled combination
            continue
        figures[word] = {
            "presence": Proportion(sum(present), sum(shown)).to_dict(),
            "by_position": [
                Proportion(p, s).to_dict() for p, s in zip(present, shown, strict=True)
            ],
        }
    return figures


def size_arm_figures(observations: Sequence[Observation]) -> dict:
    """Each size arm's presence by position, and the largest and smallest object's presence
    when named first versus last, paired on the same combination and seed."""
    arms = {
        arm: [o for o in observations if o.prompt.arm == arm] for arm in (LARGE_FIRST, SMALL_FIRST)
    }
    n = len(arms[LARGE_FIRST][0].prompt.objects)
    figures = {arm: position_figures(items, n) for arm, items in arms.items()}
    paired = {(o.prompt.combination, o.seed): o for o in arms[SMALL_FIRST]}
    pairs = [(o, paired[(o.prompt.combination, o.seed)]) for o in arms[LARGE_FIRST]]
    large_first = [a.present[0] for a, _ in pairs]
    large_last = [b.present[-1] for _, b in pairs]
    small_last = [a.present[-1] for a, _ in pairs]
    small_first = [b.present[0] for _, b in pairs]
    clusters = [a.prompt.combination for a, _ in pairs]
    figures["largest_named_first_minus_last"] = paired_share_difference(
        large_first, large_last, clusters
    )
    figures["smallest_named_first_minus_last"] = paired_share_difference(
        small_first, small_last, clusters
    )
    return figures


def slug(text: str, limit: int = 60) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "prompt"


def save_examples(
    folder: Path, observations: Sequence[Observation], found_by_key: dict, is_present, count: int
) -> list[str]:
    """Thumbnails (at most 256 px) of the first ``count`` images, one per prompt, with the
    named objects' detections drawn: a green box for a detection counted as present."""
    import shutil

    from cliposcope.atomic import publish_folder, staged_folder

    with staged_folder(folder) as staging:
        written = _draw_examples(staging, observations, found_by_key, is_present, count)
        if folder.exists():  # thumbnails of an earlier run of the same pair: replaced whole
            shutil.rmtree(folder)
        publish_folder(staging, folder)
    return written


def _draw_examples(staging: Path, observations, found_by_key, is_present, count) -> list[str]:
    from PIL import ImageDraw

    written, seen = [], set()
    for observation in observations:
        if len(written) == count:
            break
        if observation.prompt.text in seen:
            continue
        seen.add(observation.prompt.text)
        image = observation.image.load()
        scale = min(1.0, 256 / max(image.size))
        thumbnail = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        )
        draw = ImageDraw.Draw(thumbnail)
        detections = found_by_key[observation.image.key]
        marks = []
        for label in observation.prompt.objects:
            hits = [d for d in detections if d.label == label and is_present([d], label)]
            marks.append(("+" if hits else "-") + label)
            for d in hits:
                if d.box is not None:
                    draw.rectangle([v * scale for v in d.box], outline=(0, 170, 0), width=2)
                    draw.text((d.box[0] * scale + 2, d.box[1] * scale + 1), label, fill=(0, 120, 0))
        draw.text((2, thumbnail.height - 12), " ".join(marks), fill=(200, 0, 0))
        name = f"{len(written):02d}-{slug(observation.prompt.text)}.png"
        thumbnail.save(staging / name, format="PNG")
        written.append(name)
    return written


def run_t2i(encoder, rig: Rig, settings: T2ISettings, *, progress: bool = False) -> ProbeResult:
    started = time.perf_counter()
    if settings.vocab is None:
        words, vocabulary = T2I_OBJECTS, "t2i-default"
    else:
        loaded = load_vocabulary(settings.vocab)
        words, vocabulary = loaded.words, loaded.name
    if len(words) < settings.n:
        raise CliposcopeError(
            f"{len(words)} objects cannot fill prompts of {settings.n}",
            hint="a larger vocabulary or a smaller --n",
        )
    rig.generator.check_objects(words)
    rig.detector.check_labels(words)
    check_rule(rig, settings, words)
    prompts = build_design(words, settings)
    seeds = seed_list(settings)
    pairs = [(prompt, seed) for prompt in prompts for seed in seeds]
    requests = [Request(prompt.text, prompt.objects, seed) for prompt, seed in pairs]
    counts: dict = {"prompts": len(prompts), "images": len(requests)}
    images = _draw_missing(rig, requests, counts, progress)
    counts["blanked_by_safety_checker"] = sum(
        bool(image.record.get("safety_checker_flagged")) for image in images
    )
    labels = list(words)
    found = _detect_missing(rig, images, labels, counts, progress)
    is_present, rule = presence_rule(rig, settings, [p for p, _ in pairs], found, labels)
    observations = []
    for (prompt, seed), image, detections in zip(pairs, images, found, strict=True):
        present = tuple(is_present(detections, label) for label in prompt.objects)
        off = sum(is_present(detections, label) for label in labels if label not in prompt.objects)
        observations.append(Observation(prompt, seed, image, present, off))
    balanced = [o for o in observations if o.prompt.arm == BALANCED]
    metrics = position_figures(balanced, settings.n)
    metrics["per_object"] = per_object_figures(balanced, words, settings.n)
    metrics["never_drawn"] = [
        w for w, f in metrics["per_object"].items() if f["presence"]["count"] == 0
    ]
    metrics["controls"] = {}
    if not rig.detector.calibrated:  # calibration sets that rate itself
        others = len(words) - settings.n
        metrics["controls"]["off_prompt_detections"] = Proportion(
            sum(o.off_prompt for o in balanced), len(balanced) * others
        ).to_dict()
    solo = [o for o in observations if o.prompt.arm == SOLO]
    if solo:
        metrics["controls"]["solo_presence"] = Proportion(
            sum(o.present[0] for o in solo), len(solo)
        ).to_dict()
        metrics["controls"]["solo_by_object"] = {
            o_word: Proportion(
                sum(o.present[0] for o in solo if o.prompt.objects[0] == o_word), len(seeds)
            ).to_dict()
            for o_word in words
        }
    if settings.size_order:
        metrics["size_order"] = size_arm_figures(observations)
    records = {
        "prompt": [o.prompt.text for o in observations],
        "arm": [o.prompt.arm for o in observations],
        "combination": [o.prompt.combination for o in observations],
        "objects": [list(o.prompt.objects) for o in observations],
        "seed": [o.seed for o in observations],
        "present": [list(o.present) for o in observations],
        "off_prompt_detections": [o.off_prompt for o in observations],
        "image": [o.image.key for o in observations],
    }
    examples = []
    if settings.artifacts_dir is not None and settings.examples:
        by_key = {image.key: detections for image, detections in zip(images, found, strict=True)}
        examples = save_examples(
            Path(settings.artifacts_dir), balanced, by_key, is_present, settings.examples
        )
    digest = hashlib.sha256(
        json.dumps([[r.prompt, list(r.objects), r.seed] for r in requests]).encode("utf-8")
    ).hexdigest()
    return make_result(
        "t2i",
        None,
        model=rig.generator.info,
        settings={
            "n": settings.n,
            "vocabulary": vocabulary,
            "words": list(words),
            "combinations": len({p.combination for p in prompts if p.arm == BALANCED}),
            "orders": settings.orders,
            "seeds_per_prompt": settings.seeds_per_prompt,
            "seeds": seeds,
            "template": settings.template,
            "prefix": settings.prefix,
            "example_prompt": prompts[0].text,
            "size_order": settings.size_order,
            "solo": settings.solo,
            "seed": settings.seed,
            "detector": rig.detector.info["spec"],
            "presence_rule": rule,
        },
        metrics=metrics,
        started=started,
        query_records=records,
        libraries=rig.libraries,
        detector=rig.detector.info,
        evidence=rig.detector.evidence,
        image_store=str(Path(rig.store.root).absolute()),
        counts=counts,
        design_fingerprint=digest,
        examples=examples,
        examples_folder=str(settings.artifacts_dir) if examples else None,
    )


def rows(results: Sequence[ProbeResult]):
    n = max(r.settings["n"] for r in results)
    headers = [
        "Generator",
        "Detector",
        "Images",
        *position_headers(n, "named %"),
        "First - last, pts (p)",
        "All present %",
        "Alone %",
        "Never drawn",
    ]
    body = []
    for result in results:
        m = result.metrics
        cells = [percent(f) for f in m["presence_by_position"]]
        difference = m["first_minus_last"]
        low, high = difference["ci95"]
        gap = (
            f"{100 * difference['estimate']:+.1f} ({100 * low:+.1f} to {100 * high:+.1f}; "
            f"p={p_value(difference['p_value'])})"
        )
        solo = m["controls"].get("solo_presence")
        body.append(
            [
                result.label,
                result.settings["detector"],
                str(m["images"]),
                *(cells + ["-"] * (n - len(cells))),
                gap,
                percent(m["all_present"]),
                percent(solo) if solo else "-",
                ", ".join(m["never_drawn"]) or "-",
            ]
        )
    return headers, body


def chart(results: Sequence[ProbeResult]) -> BarChart:
    groups = {
        r.label: [
            (f"named {k + 1}", figure) for k, figure in enumerate(r.metrics["presence_by_position"])
        ]
        for r in results
    }
    solos = [
        r.metrics["controls"]["solo_presence"]["estimate"]
        for r in results
        if "solo_presence" in r.metrics["controls"]
    ]
    reference = float(np.mean(solos)) if solos else None
    return BarChart(
        "Text-to-image: object detected, by prompt position (dashed: prompted alone)",
        groups,
        reference,
    )


def examples_folder(settings: T2ISettings, out: Path, role: str, rig) -> T2ISettings:
    """OUT/t2i-examples/<readable pair>-<digest>: one folder per generator, detector and
    settings, as result files are named."""
    generator, detector = rig.generator_spec, rig.detector_spec
    readable = slug(f"{Path(generator.partition('?')[0]).name} {detector.partition('?')[0]}")
    digest = hashlib.sha256(f"{generator}|{detector}|{settings!r}".encode()).hexdigest()[:8]
    return replace(settings, artifacts_dir=out / "t2i-examples" / f"{readable}-{digest}")


USAGE = """\
example (a machine with the model hub and a GPU):
  cliposcope run t2i --generator diffusers:stabilityai/stable-diffusion-2-1-base \\
      --detector torchvision:fasterrcnn_resnet50_fpn_v2 --device cuda --precision fp16 \\
      --out results/t2i

check the pipeline first, offline and in seconds, against planted truth:
  cliposcope run t2i --generator planted:0.9,0.6,0.3 --detector truth:planted --out /tmp/t2i

images and detections are kept under --images by content key: a rerun resumes, and another
--detector scores the same images without drawing them again (docs/t2i.md).
"""


register_probe(
    Probe(
        name="t2i",
        version=2,  # 2: intervals resample whole combinations
        order=110,
        summary="text-to-image: is the object named first drawn more often? (generator + detector)",
        settings=T2ISettings,
        run=run_t2i,
        title="Text-to-image: presence of each named object by prompt position (95% CI)",
        rows=rows,
        data="generation",
        report=ReportSection(
            "Text-to-image generation (object named first)", chart, images="t2i-examples/*/*.png"
        ),
        needs_model=False,
        data_settings=("n",),
        data_fingerprints=("design_fingerprint",),
        artifacts=examples_folder,
        epilog=USAGE,
        example=lambda: T2ISettings(combinations=2, seeds_per_prompt=2, examples=2),
    )
)
