"""The official ComCO/SimCO folder layout, the hub copy of it, and one entry point for all.

Official layout: one folder per condition, one image per scene named by its objects in
caption order joined with "_" (``banana_horse_sheep.png``), plus a folder of single-object
reference images. Names with spaces are written with "-" ("hot-dog"); when a second scene
of a condition has the same objects in the same order it gets a ``__2`` suffix.

The real ComCO single-object folder holds every object of the dataset, whichever scenes
use it; so does the layout ``cliposcope generate --official-layout`` writes (every object
of the generator's vocabulary), so the IOR gallery and the matching distractors read
from it do not change with the number of scenes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from cliposcope.atomic import publish_folder, staged_folder
from cliposcope.data.scenes import (
    MANIFEST_NAME,
    SETTINGS_NAME,
    Scene,
    SceneObject,
    check_inside,
    read_manifest,
)
from cliposcope.data.templates import Template
from cliposcope.errors import CliposcopeError

SINGLE_FOLDER = "single"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
HUB_DATASET = "clip-oscope/simco-comco"
OFFICIAL_CAPTIONS = Template("and")  # the published captions join the file-name objects


def verbatim_name(name: str) -> str:
    """An object name as the official file names spell it ("hot dog" -> "hot-dog"); the
    published scripts use these tokens as they are, hyphen included."""
    return name.replace(" ", "-")


def encode_names(names: Sequence[str]) -> str:
    return "_".join(verbatim_name(name) for name in names)


def decode_names(stem: str, vocabulary: Sequence[str] | None = None) -> list[str]:
    """Object names from a file stem; with a vocabulary, unknown names are an error."""
    stem = stem.split("__", 1)[0]
    names = [token.replace("-", " ") for token in stem.split("_") if token]
    if vocabulary is not None:
        known = set(vocabulary)
        for name in names:
            if name not in known:
                raise CliposcopeError(
                    f"unknown object name {name!r} in file name {stem!r}",
                    hint="pass the vocabulary the dataset was made with",
                )
    return names


SINGLES = ("vocabulary", "used")


def write_official(scenes: Sequence[Scene], dest: str | Path, *, singles: str = "used") -> Path:
    """The scenes in the paper's layout, staged and renamed into place when complete;
    ``singles`` as ``copy_official`` takes it (default: the scenes given, as they are)."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise CliposcopeError(f"{dest} already exists and is not empty", hint="choose a new folder")
    with staged_folder(dest) as staging:
        copy_official(scenes, staging, singles=singles)
        publish_folder(staging, dest)
    return dest


def copy_official(scenes: Sequence[Scene], dest: Path, *, singles: str = "vocabulary") -> None:
    """Copy each scene to DEST/CONDITION/obj1_obj2.png (single-object ones to single/).

    ``singles``: "vocabulary" (the default, as the real ComCO folder) also draws into
    single/ the reference image of every object of the generator's vocabulary that no
    scene uses, when the scenes were generated (their folder records the generator's
    settings); "used": the single-object scenes given, and no others."""
    if singles not in SINGLES:
        raise ValueError(f"singles {singles!r} is not one of {SINGLES}")
    taken: set[Path] = set()
    for scene in scenes:
        folder = SINGLE_FOLDER if scene.condition == "single" else (scene.condition or "scenes")
        stem = encode_names(scene.names)
        target = dest / folder / f"{stem}.png"
        copy = 2
        while target in taken:
            target = dest / folder / f"{stem}__{copy}.png"
            copy += 1
        taken.add(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(scene.image_path, target)
    if singles == "vocabulary":
        _draw_vocabulary_singles(scenes, dest / SINGLE_FOLDER, taken)


def _generator_settings(scenes: Sequence[Scene]):
    """The generator settings the scenes were made with (from settings.json in their
    folder, as ``generate`` writes it before the official copy), or None."""
    from cliposcope.data.generate import KINDS, SceneSettings

    roots = {scene.root for scene in scenes if scene.kind in KINDS and scene.root is not None}
    if len(roots) != 1:
        return None
    path = Path(next(iter(roots))) / SETTINGS_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        return None
    objects, size = record.get("objects"), record.get("size")
    if objects is not None and not (
        isinstance(objects, list) and all(isinstance(o, str) for o in objects)
    ):
        return None
    if not isinstance(size, int) or isinstance(size, bool):
        return None
    return SceneSettings(
        kind=record["kind"], size=size, objects=None if objects is None else tuple(objects)
    )


def _draw_vocabulary_singles(scenes: Sequence[Scene], folder: Path, taken: set[Path]) -> None:
    """The single-object image of every vocabulary object no single-object scene gave,
    drawn as ``generate`` draws references (centred on white, deterministic); nothing
    for scenes given without any single-object scene."""
    given = {scene.names[0] for scene in scenes if scene.condition == SINGLE_FOLDER}
    settings = _generator_settings(scenes) if given else None  # none made: none added
    if settings is None:
        return
    from cliposcope.data.generate import PNG_OPTIONS, reference_scene

    for name in settings.vocabulary:
        target = folder / f"{encode_names([name])}.png"
        if name in given or target in taken:
            continue
        image, _, _ = reference_scene(settings, name)
        folder.mkdir(parents=True, exist_ok=True)
        image.save(target, **PNG_OPTIONS)
        taken.add(target)


def _scene_from_file(path: Path, root: Path, condition: str, vocabulary) -> Scene:
    if path.is_relative_to(root):  # a folder we walk: nothing in it may lead outside
        check_inside(root, str(path.relative_to(root)), str(root))
    names = decode_names(path.stem, vocabulary)
    relative = path.relative_to(root) if path.is_relative_to(root) else path
    return Scene(
        id=f"{condition}/{path.stem}",
        image=str(relative),
        objects=[
            SceneObject(name, "single" if condition == SINGLE_FOLDER else "unknown")
            for name in names
        ],
        caption=OFFICIAL_CAPTIONS.render(names),
        kind="official",
        condition=condition,
        root=root if path.is_relative_to(root) else Path("/"),
    )


def read_official(root: str | Path, vocabulary: Sequence[str] | None = None) -> list[Scene]:
    """Scenes from an official-layout folder; the single-object folder gives condition
    'single'. Object order is the order in the file name."""
    root = Path(root)
    if not root.is_dir():
        raise CliposcopeError(f"dataset folder not found: {root}", hint="check the path")
    scenes = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        condition = SINGLE_FOLDER if SINGLE_FOLDER in folder.name.lower() else folder.name
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                scenes.append(_scene_from_file(path, root, condition, vocabulary))
    if not scenes:
        raise CliposcopeError(
            f"no images in the condition folders of {root}",
            hint="expected ROOT/CONDITION/obj1_obj2.png and ROOT/single/obj.png",
        )
    return scenes


def read_hub(
    name_or_folder: str = HUB_DATASET,
    split: str = "train",
    vocabulary: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
) -> list[Scene]:
    """The official data through the `datasets` library: a hub name (needs the hub once)
    or a local folder in the same layout. Rows give an image file and a condition label."""
    try:
        import datasets
    except ImportError:
        raise CliposcopeError(
            "reading the hub dataset needs `datasets`", hint="pip install 'cliposcope[hub]'"
        ) from None
    local = Path(name_or_folder)
    try:
        if local.is_dir():
            # every file of the folder in one split: datasets would otherwise take a file
            # named after a split ("single/train.png", the object) for that split alone
            every_file = {split: str(local / "**")}
            table = datasets.load_dataset(
                "imagefolder", data_files=every_file, split=split, cache_dir=cache_dir
            )
        else:
            table = datasets.load_dataset(name_or_folder, split=split, cache_dir=cache_dir)
    except Exception as error:
        from cliposcope.errors import describe_exception

        raise CliposcopeError(
            f"cannot load dataset {name_or_folder}: {describe_exception(error)}",
            hint="the hub must be reachable once; offline, give the downloaded folder",
        ) from None
    table = table.cast_column("image", datasets.Image(decode=False))
    labels = table.features["label"].names if "label" in table.features else None
    scenes = []
    for row in table:
        path = Path(row["image"]["path"])
        condition = labels[row["label"]] if labels is not None else path.parent.name
        if SINGLE_FOLDER in condition.lower():
            condition = SINGLE_FOLDER
        if not path.is_file():
            path = _materialise(row["image"]["bytes"], path, condition, name_or_folder)
        scenes.append(_scene_from_file(path, path.parent.parent, condition, vocabulary))
    return scenes


def _materialise(data: bytes, path: Path, condition: str, source: str) -> Path:
    """Rows stored as bytes (parquet) are written once under the user cache dir."""
    from platformdirs import user_cache_dir

    target = Path(user_cache_dir("cliposcope")) / "hub" / source.replace("/", "--") / condition
    target.mkdir(parents=True, exist_ok=True)
    out = target / path.name
    if not out.exists():
        out.write_bytes(data)
    return out


def read_scenes(path: str | Path, vocabulary: Sequence[str] | None = None) -> list[Scene]:
    """Our manifest (a folder holding manifest.jsonl, or the file) or an official folder."""
    path = Path(path)
    if path.name == MANIFEST_NAME or (path / MANIFEST_NAME).is_file():
        return read_manifest(path)
    return read_official(path, vocabulary)
