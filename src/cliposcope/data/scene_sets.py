"""Scene sets as the image probes need them: multi-object scenes grouped by object count,
the reference images, and truth arrays (gallery indices in caption order) with size roles."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cliposcope.data.scenes import Scene
from cliposcope.errors import CliposcopeError


@dataclass
class SceneSet:
    scenes: list[Scene]  # multi-object scenes, all with n objects
    references: dict[str, Scene]  # object name -> its single-object image
    names: tuple[str, ...]  # gallery order

    @property
    def n(self) -> int:
        return len(self.scenes[0].objects)

    def truth(self) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.names)}
        return np.array([[index[name] for name in scene.names] for scene in self.scenes])

    def role_labels(self) -> list[list[str]]:
        """Per scene, a label per caption position: 'large', 'small 1', 'small 2', ...
        (small objects numbered in caption order), or the raw role otherwise."""
        labels = []
        for scene in self.scenes:
            smalls = 0
            row = []
            for obj in scene.objects:
                if obj.role == "small":
                    smalls += 1
                    row.append(f"small {smalls}")
                else:
                    row.append(obj.role)
            labels.append(row)
        return labels

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for scene in [*self.scenes, *self.references.values()]:
            digest.update(f"{scene.id}|{scene.caption}|{scene.image}\n".encode())
        return digest.hexdigest()


def split_scenes(scenes: Sequence[Scene], n: int | None = None) -> SceneSet:
    """Multi-object scenes (all of one object count) and the references they need."""
    references = {s.names[0]: s for s in scenes if s.condition == "single"}
    multi = [s for s in scenes if s.condition != "single"]
    if not multi:
        raise CliposcopeError("the scene set has no multi-object scenes", hint="generate some")
    counts = sorted({len(s.objects) for s in multi})
    if n is None:
        if len(counts) > 1:
            raise CliposcopeError(
                f"the scene set mixes {counts} objects per scene", hint="choose one with --n"
            )
        n = counts[0]
    multi = [s for s in multi if len(s.objects) == n]
    if not multi:
        raise CliposcopeError(f"no scenes with {n} objects", hint=f"the set has {counts}")
    needed = sorted({name for s in multi for name in s.names})
    missing = [name for name in needed if name not in references]
    names = tuple(sorted(set(references) | set(needed)))
    if missing and references:
        raise CliposcopeError(
            f"no reference image for {', '.join(missing[:5])}",
            hint="the dataset's single/ folder needs one image per object",
        )
    return SceneSet(multi, references, names)


def scene_set_from(
    scenes: str | Path | None,
    *,
    generate_into: str | Path,
    kind: str = "comco",
    objects: int | None = None,
    count: int = 60,
    seed: int = 0,
    progress: bool = False,
) -> SceneSet:
    """The scene folder given (our manifest or the official layout), or scenes generated
    into ``generate_into`` (reused when that folder already holds a generated set)."""
    from cliposcope.data.generate import SceneSettings, write_dataset
    from cliposcope.data.layout import LayoutSpec
    from cliposcope.data.official import read_scenes
    from cliposcope.data.scenes import read_manifest

    if scenes is not None:
        return split_scenes(read_scenes(scenes), objects)
    folder = Path(generate_into)
    if (folder / "settings.json").is_file():
        return split_scenes(read_manifest(folder), objects)
    settings = SceneSettings(kind=kind, count=count, seed=seed, layout=LayoutSpec(n=objects or 3))
    return split_scenes(write_dataset(settings, folder, progress=progress), objects)
