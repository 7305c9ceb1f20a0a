"""``planted:P1,P2,...``: a stand-in generator with known truth, built from the scene
renderer. It draws the object named at prompt position k with probability Pk (the last
value for later positions), using the sprite pack, and records what it drew, so the whole
text-to-image pipeline can be checked against planted presence rates (with the ``truth:``
detector) before a GPU hour is spent. Options: ``size`` (pixels, default 128).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from cliposcope.data import render
from cliposcope.data.generate import SceneSettings, compose_scene
from cliposcope.data.layout import LayoutSpec
from cliposcope.data.sprites import sprites_for
from cliposcope.encoders.specs import ModelSpec
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.generation.base import Drawn, GenerationOptions, Generator, Request
from cliposcope.generation.registry import Kind, register_generator

OBJECT_AREA = 0.05


def planted_probabilities(target: str, spec: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in target.split(","))
    except ValueError:
        values = ()
    if not values or not all(0.0 <= p <= 1.0 for p in values):
        raise CliposcopeError(
            f"generator spec {spec!r} needs presence probabilities in 0..1",
            hint="one per prompt position, e.g. planted:0.9,0.6,0.3",
        )
    return values


def check_planted_spec(spec: ModelSpec) -> None:
    planted_probabilities(spec.target, spec.canonical)
    check_range("size", spec.int_option("size", 128), 48, 1024, hint="planted:...?size=128")


class PlantedGenerator(Generator):
    def __init__(self, spec: ModelSpec, options: GenerationOptions):
        check_planted_spec(spec)
        self.probabilities = planted_probabilities(spec.target, spec.canonical)
        self.size = spec.int_option("size", 128)
        self.batch_size = options.batch_size
        self.identity = {
            "kind": "planted",
            "probabilities": list(self.probabilities),
            "size": self.size,
            "object_area": OBJECT_AREA,
            "version": 1,
        }
        self.info = {
            "family": "planted",
            "spec": spec.canonical,
            "name": spec.target,
            "weights_hash": None,
            "stand_in": True,
            "settings": {
                "probabilities": list(self.probabilities),
                "size": self.size,
                "object_area": OBJECT_AREA,
            },
        }

    def check_objects(self, objects: Sequence[str]) -> None:
        for name in objects:
            sprites_for(name)

    def probability(self, position: int) -> float:
        return self.probabilities[min(position, len(self.probabilities) - 1)]

    def draw(self, request: Request) -> Drawn:
        words = "\n".join(request.objects).encode("utf-8")
        stream = int.from_bytes(hashlib.sha256(words).digest()[:8], "little")
        rng = np.random.default_rng([request.seed, stream])
        drawn = tuple(
            name for k, name in enumerate(request.objects) if rng.random() < self.probability(k)
        )
        scene_seed = int(rng.integers(1 << 31))
        if not drawn:
            canvas = render.background("plain", self.size, rng)
            return Drawn(render.to_image(canvas), truth=[])
        for placement in ("random", "overlap"):  # elongated drawings may not fit apart
            layout = LayoutSpec(
                n=len(drawn), sizes="equal", equal_area=OBJECT_AREA, placement=placement
            )
            settings = SceneSettings(
                kind="comco", count=1, size=self.size, seed=scene_seed, layout=layout, objects=drawn
            )
            try:
                image, _, scene = compose_scene(settings, 0)
                break
            except CliposcopeError:
                if placement == "overlap":
                    raise
        truth = [{"label": o.name, "box": list(o.bbox) if o.bbox else None} for o in scene.objects]
        return Drawn(image, truth=truth)

    def generate(self, requests: Sequence[Request]) -> list[Drawn]:
        return [self.draw(request) for request in requests]


register_generator(
    Kind(
        name="planted",
        order=20,
        description="stand-in with known truth: draws the object at prompt position k with "
        "probability Pk from the sprite pack (score it with truth:planted)",
        load=PlantedGenerator,
        examples=("planted:0.9,0.6,0.3", "planted:0.5?size=128"),
        options={"size": "image size in pixels (default 128)"},
        check=check_planted_spec,
        records_truth=True,
    )
)
