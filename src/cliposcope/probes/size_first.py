"""Size-first TOR: does a caption led by a large object keep it better than one led by a
small object? 4-object captions: a large object then three medium ones, versus a small
one then three medium ones; first-object accuracy (the first object is the gallery's top
match) for each, with CIs and a two-proportion test of the difference.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from cliposcope.data.templates import Template
from cliposcope.data.vocab import Vocabulary, load_vocabulary
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError
from cliposcope.probes.stats import Proportion, two_proportion_test
from cliposcope.provenance import result_provenance
from cliposcope.results import ProbeResult

CONDITIONS = ("large", "small")


@dataclass(frozen=True)
class SizeFirstSettings:
    small: Vocabulary = field(default_factory=lambda: load_vocabulary("size-small"))
    medium: Vocabulary = field(default_factory=lambda: load_vocabulary("size-medium"))
    large: Vocabulary = field(default_factory=lambda: load_vocabulary("size-large"))
    template: Template = field(default_factory=lambda: Template("and"))
    per_first_object: int = 20
    followers: int = 3
    seed: int = 0

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
    encoder: Encoder, settings: SizeFirstSettings, *, role: str = "model", progress: bool = False
) -> ProbeResult:
    started = time.perf_counter()
    words = settings.gallery()
    gallery = encoder.encode_text(list(words))
    digest = hashlib.sha256()
    figures: dict[str, dict] = {}
    shares: dict[str, Proportion] = {}
    for condition in tqdm(CONDITIONS, disable=not progress, desc="size-first"):
        rows = size_first_queries(settings, condition)
        digest.update(rows.tobytes())
        captions = [settings.template.render([words[i] for i in row]) for row in rows]
        best = np.argmax(encoder.encode_text(captions) @ gallery.T, axis=1)
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
    return ProbeResult(
        probe="size-first",
        role=role,
        model=encoder.info.to_dict(),
        settings=settings.to_dict(),
        metrics=figures,
        provenance=result_provenance(
            query_count=sum(s.total for s in shares.values()),
            query_fingerprint=digest.hexdigest(),
        ),
        wall_time_s=round(time.perf_counter() - started, 3),
    )
