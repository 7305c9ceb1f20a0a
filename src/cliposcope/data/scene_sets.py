"""Scene sets as the image probes need them: multi-object scenes grouped by object count,
the reference images, and truth arrays (gallery indices in caption order) with size roles."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cliposcope.data.scenes import MANIFEST_NAME, SETTINGS_NAME, Scene, read_manifest
from cliposcope.errors import CliposcopeError
from cliposcope.hashing import file_sha256

if TYPE_CHECKING:
    from cliposcope.data.generate import SceneSettings


@dataclass
class SceneSet:
    scenes: list[Scene]  # multi-object scenes, all with n objects
    references: dict[str, Scene]  # object name -> its single-object image
    names: tuple[str, ...]  # gallery order
    # Where the scenes came from (folder, layout, generator settings): results record it.
    origin: dict = field(default_factory=dict)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

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
        """sha256 over every scene's id, caption, image and objects (names, roles, areas),
        and the reference images' contents: two sets with the same print are the same.
        Computed once per set: every probe of a run asks for it (and run_probe too, for the
        result's identity), and it reads every reference image."""
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self) -> str:
        digest = hashlib.sha256()
        for scene in [*self.scenes, *self.references.values()]:
            objects = [(o.name, o.role, o.area_fraction) for o in scene.objects]
            digest.update(f"{scene.id}|{scene.caption}|{scene.image}|{objects}\n".encode())
        for name in sorted(self.references):
            digest.update(file_sha256(self.references[name].image_path).encode())
        return digest.hexdigest()


def split_scenes(
    scenes: Sequence[Scene], n: int | None = None, origin: dict | None = None
) -> SceneSet:
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
    return SceneSet(multi, references, names, dict(origin or {}))


def scene_set_from(
    scenes: str | Path | None,
    *,
    generate_into: str | Path,
    settings: SceneSettings | None = None,
    objects: int | None = None,
    progress: bool = False,
) -> SceneSet:
    """The scene folder given (our manifest or the official layout), or scenes generated
    with ``settings`` (default: 60 three-object ComCO scenes) into ``generate_into``. A
    folder generated earlier is reused only when it was made with exactly these settings;
    otherwise it is refused, never silently reused."""
    from cliposcope.data.generate import SceneSettings, write_dataset
    from cliposcope.data.layout import LayoutSpec
    from cliposcope.data.official import read_scenes

    if scenes is not None:
        folder = Path(scenes)
        scene_list = read_scenes(folder)
        recorded = _recorded_settings(folder)
        manifest = folder.name == MANIFEST_NAME or (folder / MANIFEST_NAME).is_file()
        layout = "manifest" if recorded is not None or manifest else "official"
        origin = {"folder": str(folder), "layout": layout, "settings": recorded}  # as given
        return split_scenes(scene_list, objects, origin)
    folder = Path(generate_into)
    settings = settings or SceneSettings(kind="comco", count=60, layout=LayoutSpec(n=objects or 3))
    wanted = json.loads(json.dumps(settings.to_dict()))
    origin = {"layout": "manifest", "generated": True, "settings": wanted}
    recorded = _recorded_settings(folder)
    if recorded is not None:
        if recorded != wanted:
            changed = sorted(
                k for k in wanted.keys() | recorded.keys() if wanted.get(k) != recorded.get(k)
            )
            detail = ", ".join(
                f"{k}: {recorded.get(k)} there, {wanted.get(k)} asked" for k in changed[:3]
            )
            raise CliposcopeError(
                f"{folder} holds scenes generated with other settings ({detail})",
                hint="use another --out, remove that folder, or give it as --scenes to reuse it",
            )
        return split_scenes(read_manifest(folder), objects, origin)
    return split_scenes(write_dataset(settings, folder, progress=progress), objects, origin)


def _recorded_settings(folder: Path) -> dict | None:
    path = folder / SETTINGS_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not an object")
        return record
    except (ValueError, UnicodeDecodeError):
        raise CliposcopeError(
            f"{path} is not the JSON the generator writes",
            hint="re-generate the scenes into a new folder",
        ) from None
