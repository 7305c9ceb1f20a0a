"""Scenes generated here (ComCO/SimCO style) or read from a folder: our manifest layout or
the official ComCO/SimCO layout. The default source of scenes when no other is chosen."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cliposcope.data.generate import SceneSettings, write_dataset
from cliposcope.data.layout import LayoutSpec
from cliposcope.data.scene_sets import SceneSet, scene_set_from
from cliposcope.data_kinds import DataContext, DataKind, register_data_kind
from cliposcope.settings import option

OBJECTS_HELP = "objects per scene (default 3 when generating or reading COCO)"
# The example scene set: six 3-object ComCO scenes at 64 px (the toy model's input size).
EXAMPLE_SCENES = SceneSettings(count=6, size=64, layout=LayoutSpec(n=3, gap=2))


@dataclass(frozen=True)
class SceneSource:
    scenes: str | None = option(
        None,
        "manifest or official-layout folder; default: generate into OUT/scenes",
        metavar="DIR",
    )
    kind: str = option("comco", "scene style to generate", choices=("comco", "simco"))
    objects: int | None = option(None, OBJECTS_HELP)
    count: int = option(60, "scenes to generate")

    def generation(self, seed: int) -> SceneSettings:
        objects = 3 if self.objects is None else self.objects
        return SceneSettings(
            kind=self.kind, count=self.count, seed=seed, layout=LayoutSpec(n=objects)
        )


def load_scenes(source: SceneSource, context: DataContext) -> list[SceneSet]:
    settings = source.generation(context.seed)
    if source.scenes is None:
        settings.check()
    scene_set = scene_set_from(
        source.scenes,
        generate_into=context.out / "scenes",
        settings=settings,
        objects=source.objects,
        progress=context.progress,
    )
    return [scene_set]


def example_scenes(folder: Path) -> SceneSource:
    """The example scene set as a manifest folder, FOLDER/example-scenes (kept if there)."""
    scenes = folder / "example-scenes"
    if not scenes.exists():
        write_dataset(EXAMPLE_SCENES, scenes)
    return SceneSource(scenes=str(scenes))


def describe_scenes(provenance: dict) -> str | None:
    origin = provenance.get("scene_origin") or {}
    generated = origin.get("settings") if origin.get("generated") else None
    if isinstance(generated, dict):
        layout = generated.get("layout") or {}
        return (
            f"{generated.get('count', '?')} generated {generated.get('kind', '?')} "
            f"scenes ({layout.get('sizes', '?')}, {layout.get('order', '?')})"
        )
    if origin.get("layout") == "official":
        return "official-layout folder"
    if origin.get("layout") == "manifest":
        return "manifest scenes"
    return None


register_data_kind(
    DataKind(
        name="scenes",
        order=10,
        provides="scenes",
        description="scenes: generated, or a manifest / official-layout folder",
        noun="generated or folder scenes",
        settings=SceneSource,
        load=load_scenes,
        fingerprint=SceneSet.fingerprint,
        selected_by=("scenes",),
        default=True,
        check=lambda source: None if source.scenes else source.generation(0).check(),
        describe=describe_scenes,
        writes=lambda source, out: [] if source.scenes else [(out / "scenes", "--out")],
        example=example_scenes,
    )
)
