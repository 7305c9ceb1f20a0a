"""Size-first TOR: does a caption led by a large object keep it better than one led by a
small object? 4-object captions: a large object then three medium ones, versus a small
one then three medium ones; first-object accuracy (the first object is the gallery's top
match) for each, with CIs and a two-proportion test of the difference.

Per-query records, one row per caption: ``condition`` (large or small), ``query`` (the
caption), ``objects`` (caption order), ``retrieved`` (the arg-max name),
``retrieved_position`` (-1 when not a caption object: 0 is a first-object hit),
``winner_similarity`` and ``margin`` (over the runner-up).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cliposcope.data.templates import Template, load_template
from cliposcope.data.vocab import Vocabulary, load_vocabulary
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.presentation import p_value, percent
from cliposcope.probes.registry import Probe, make_result, register_probe
from cliposcope.probes.retrieval import QueryRecords, argmax_positions, winner_margins
from cliposcope.probes.stats import Proportion, two_proportion_test
from cliposcope.progress import progress_bar
from cliposcope.results import ProbeResult
from cliposcope.settings import internal, option

CONDITIONS = ("large", "small")


@dataclass(frozen=True)
class SizeFirstSettings:
    small: Vocabulary | str = internal("size-small")
    medium: Vocabulary | str = internal("size-medium")
    large: Vocabulary | str = internal("size-large")
    template: Template | str = option("and", "and | article | long | a pattern | a file")
    per_first_object: int = option(20, "captions per first object")
    followers: int = internal(3)
    seed: int = option(0, "seed for the followers")

    def __post_init__(self):
        for bucket in ("small", "medium", "large"):
            if isinstance(getattr(self, bucket), str):
                object.__setattr__(self, bucket, load_vocabulary(getattr(self, bucket)))
        check_range("followers", self.followers, 1, 7, hint="captions hold 2 to 8 objects")
        if isinstance(self.template, str):
            object.__setattr__(self, "template", load_template(self.template, 1 + self.followers))
        self.template.check_arity(1 + self.followers)
        check_range("--per-first-object", self.per_first_object, 1, hint="at least 1")
        check_range("--seed", self.seed, 0, hint="a non-negative integer")
        if len(self.medium) < self.followers:
            raise CliposcopeError(
                f"{self.medium.name} has {len(self.medium)} names for {self.followers} followers",
                hint="give more medium names",
            )
        self.gallery()

    def gallery(self) -> tuple[str, ...]:
        words = self.small.words + self.medium.words + self.large.words
        if len(set(words)) != len(words):
            duplicated = sorted({w for w in words if words.count(w) > 1})
            raise CliposcopeError(
                f"size buckets share names: {', '.join(duplicated)}", hint="each name in one bucket"
            )
        return words

    def to_dict(self) -> dict:
        return {
            "buckets": {b: getattr(self, b).name for b in ("small", "medium", "large")},
            "bucket_fingerprints": {
                b: getattr(self, b).fingerprint for b in ("small", "medium", "large")
            },
            "template": self.template.name,
            "per_first_object": self.per_first_object,
            "followers": self.followers,
            "seed": self.seed,
        }


def size_first_queries(settings: SizeFirstSettings, condition: str) -> np.ndarray:
    """(m, 1 + followers) gallery indices: a first object of the condition's bucket, then
    distinct medium objects, seeded."""
    offsets = {
        "small": 0,
        "medium": len(settings.small),
        "large": len(settings.small) + len(settings.medium),
    }
    firsts = getattr(settings, condition)
    rng = np.random.default_rng([settings.seed, CONDITIONS.index(condition)])
    rows = []
    for first in range(len(firsts)):
        for _ in range(settings.per_first_object):
            medium = rng.choice(len(settings.medium), settings.followers, replace=False)
            rows.append([offsets[condition] + first, *(offsets["medium"] + medium)])
    return np.array(rows, dtype=np.int64)


def run_size_first(
    encoder: Encoder, data: None, settings: SizeFirstSettings, *, progress: bool = False
) -> ProbeResult:
    started = time.perf_counter()
    words = settings.gallery()
    gallery = encoder.encode_text(list(words))
    digest = hashlib.sha256()
    figures: dict[str, dict] = {}
    shares: dict[str, Proportion] = {}
    records = QueryRecords(words)
    for condition in progress_bar(
        CONDITIONS, enabled=progress, desc="size-first", unit="condition"
    ):
        rows = size_first_queries(settings, condition)
        digest.update(rows.tobytes())
        captions = [settings.template.render([words[i] for i in row]) for row in rows]
        similarity = encoder.encode_text(captions) @ gallery.T
        best = np.argmax(similarity, axis=1)
        winner_similarity, margin = winner_margins(similarity)
        records.add(
            {
                "condition": [condition] * len(rows),
                "query": captions,
                "objects": rows,
                "retrieved": best,
                "retrieved_position": argmax_positions(best, rows),
                "winner_similarity": winner_similarity,
                "margin": margin,
            }
        )
        shares[condition] = Proportion(int((best == rows[:, 0]).sum()), len(rows))
        figures[f"{condition}_first"] = {
            "first_object_accuracy": shares[condition].to_dict(),
            "any_caption_object_on_top": Proportion(
                int((best[:, None] == rows).any(axis=1).sum()), len(rows)
            ).to_dict(),
            "example_caption": captions[0],
        }
    figures["difference_large_minus_small"] = shares["large"].estimate - shares["small"].estimate
    figures["p_value"] = two_proportion_test(shares["large"], shares["small"])
    figures["test"] = "two-sided two-proportion z-test"
    return make_result(
        "size-first",
        encoder,
        settings=settings.to_dict(),
        metrics=figures,
        started=started,
        query_records=records.columns(),
        query_count=sum(s.total for s in shares.values()),
        query_fingerprint=digest.hexdigest(),
    )


def size_first_rows(results: Sequence[ProbeResult]) -> tuple[list[str], list[list[str]]]:
    headers = ["Model", "Large first: 1st obj %", "Small first: 1st obj %", "Diff (pts)", "p"]
    rows = []
    for result in results:
        m = result.metrics
        rows.append(
            [
                result.label,
                percent(m["large_first"]["first_object_accuracy"]),
                percent(m["small_first"]["first_object_accuracy"]),
                f"{100 * m['difference_large_minus_small']:+.1f}",
                p_value(m["p_value"]),
            ]
        )
    return headers, rows


register_probe(
    Probe(
        name="size-first",
        order=30,
        summary="first-object TOR: large first vs small first",
        settings=SizeFirstSettings,
        run=run_size_first,
        title="Size-first TOR: first-object accuracy by size of the first object (95% CI)",
        rows=size_first_rows,
        data_fingerprints=("query_fingerprint",),
        example=lambda: SizeFirstSettings(per_first_object=1),
    )
)
