"""What a probe run will ask of a model, known before it starts: the queries it scores and
the texts and images it encodes. `cliposcope run --dry-run` prints it with a time
estimate, and a large run states it before starting.

A probe declares ``Probe.cost(settings, data) -> Work``; a probe that declares none is
counted by its data (one query per scene, each scene's image encoded), marked as a floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A run with more queries than this says how large it is before it starts.
LARGE_RUN_QUERIES = 200_000


@dataclass(frozen=True)
class Work:
    """One probe run on one model: ``texts`` and ``images`` are the encoder calls before
    the embedding cache (a rerun with a warm cache encodes none of them). ``floor``: the
    probe did not count its texts, so this is the least it will do."""

    queries: int
    texts: int = 0
    images: int = 0
    floor: bool = False

    def __add__(self, other: Work) -> Work:
        return Work(
            self.queries + other.queries,
            self.texts + other.texts,
            self.images + other.images,
            self.floor or other.floor,
        )


NO_WORK = Work(0)


def work_of(probe: Any, settings: Any, data: Any) -> Work | None:
    """The probe's own count, else one query and one image per data item; None where
    neither is known (a probe without a count whose data has no length)."""
    if probe.cost is not None:
        return probe.cost(settings, data)
    try:
        items = len(data)
    except TypeError:
        return None
    return Work(items, images=items if probe.needs_image_tower else 0, floor=True)


def scene_work(settings: Any, scene_set: Any) -> Work:
    """One query per scene and each scene's image encoded; the texts are not counted."""
    scenes = len(scene_set.scenes)
    return Work(scenes, images=scenes, floor=True)
