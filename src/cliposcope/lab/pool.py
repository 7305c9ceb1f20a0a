"""Training and held-out image pools for the lab: generated scenes kept as arrays.

Images do not depend on the caption-order policy, so runs with different policies see the
same pictures and differ only in how their captions order the objects.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cliposcope.data.generate import SceneSettings, compose_scene
from cliposcope.data.layout import LayoutSpec
from cliposcope.data.sprites import sprite_names
from cliposcope.errors import CliposcopeError
from cliposcope.progress import progress_bar

POLICIES = ("largest-first", "random", "smallest-first")


@dataclass(frozen=True)
class PoolSpec:
    vocabulary_size: int = 20
    scenes_per_count: tuple[int, ...] = (1000, 1000, 1000, 1000)  # 1, 2, 3, 4 objects
    size: int = 64
    large_area: float = 0.22
    small_area: float = 0.05
    seed: int = 0

    @property
    def vocabulary(self) -> tuple[str, ...]:
        names = sprite_names()
        if self.vocabulary_size > len(names):
            raise CliposcopeError(
                f"vocabulary of {self.vocabulary_size} > {len(names)} sprites",
                hint="use fewer objects",
            )
        return names[: self.vocabulary_size]

    def evaluation_settings(self, count: int, seed: int, n: int = 3) -> SceneSettings:
        """Held-out scenes drawn like the pool's (same vocabulary, sizes and canvas), with the
        large object at a random caption position."""
        layout = LayoutSpec(
            n=n, large_area=self.large_area, small_area=self.small_area, order="random", gap=2
        )
        return SceneSettings(
            kind="comco",
            count=count,
            size=self.size,
            seed=seed,
            layout=layout,
            objects=self.vocabulary,
        )

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Pool:
    images: np.ndarray  # (N, size, size, 3) uint8
    names: list[tuple[str, ...]]  # objects per image, any order
    areas: list[tuple[float, ...]]  # matching area fractions

    def ordered(self, index: int, policy: str, rng: np.random.Generator) -> list[str]:
        """The image's objects in the order a caption under ``policy`` names them."""
        names, areas = self.names[index], self.areas[index]
        order = list(range(len(names)))
        if policy.startswith("largest-first:"):
            probability = float(policy.split(":", 1)[1])
            policy = "largest-first" if rng.random() < probability else "random"
        if policy == "largest-first":
            order.sort(key=lambda k: -areas[k])
        elif policy == "smallest-first":
            order.sort(key=lambda k: areas[k])
        elif policy == "random":
            order = list(rng.permutation(order))
        else:
            raise CliposcopeError(
                f"unknown caption policy {policy!r}", hint=", ".join(POLICIES) + ", largest-first:P"
            )
        return [names[k] for k in order]


def check_policy(policy: str) -> None:
    if policy in POLICIES:
        return
    if policy.startswith("largest-first:"):
        try:
            probability = float(policy.split(":", 1)[1])
        except ValueError:
            probability = -1
        if 0 <= probability <= 1:
            return
    raise CliposcopeError(
        f"unknown caption policy {policy!r}",
        hint="largest-first, random, smallest-first or largest-first:P",
    )


def build_pool(spec: PoolSpec, cache_dir: Path | None = None, progress: bool = False) -> Pool:
    """Generate (or load from ``cache_dir``) the pool's scenes."""
    cache = cache_dir / f"pool-{spec.key()}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        data = np.load(cache, allow_pickle=False)
        meta = json.loads(str(data["meta"]))
        return Pool(
            data["images"], [tuple(n) for n in meta["names"]], [tuple(a) for a in meta["areas"]]
        )
    images, names, areas = [], [], []
    total = sum(spec.scenes_per_count)
    with progress_bar(total=total, enabled=progress, desc="scenes", unit="scene") as bar:
        for count_index, count in enumerate(spec.scenes_per_count):
            n = count_index + 1
            if count == 0:
                continue
            large = spec.large_area if n > 1 else 0.3
            layout = LayoutSpec(
                n=n, large_area=large, small_area=spec.small_area, order="random", gap=2
            )
            settings = SceneSettings(
                kind="comco",
                count=count,
                size=spec.size,
                layout=layout,
                seed=spec.seed * 100 + n,
                objects=spec.vocabulary,
            )
            settings.check()
            made, index = 0, 0
            while made < count:  # a scene whose drawings cannot be packed is skipped
                index += 1
                try:
                    image, _, scene = compose_scene(settings, index)
                except CliposcopeError:
                    if index > 3 * count:
                        raise
                    continue
                made += 1
                images.append(np.asarray(image))
                names.append(tuple(scene.names))
                areas.append(tuple(o.area_fraction for o in scene.objects))
                bar.update()
    pool = Pool(np.stack(images), names, areas)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"names": names, "areas": areas})
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, images=pool.images, meta=np.array(meta))
        tmp.replace(cache)
    return pool
