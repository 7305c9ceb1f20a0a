"""`cliposcope run paper`: the paper's battery on one scene set, for a model and its nulls."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path

from cliposcope.data.vocab import Vocabulary
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError
from cliposcope.probes.attention import run_attention
from cliposcope.probes.ioc import run_ioc
from cliposcope.probes.ior import run_image_retrieval
from cliposcope.probes.matching import run_matching
from cliposcope.probes.scene_sets import SceneSet, split_scenes
from cliposcope.probes.tor import TorSettings, run_tor
from cliposcope.results import ProbeResult

log = logging.getLogger(__name__)


def load_scene_set(args: argparse.Namespace) -> SceneSet:
    """The given scene folder, or scenes generated into OUT/scenes from the options."""
    from cliposcope.data.generate import SceneSettings, write_dataset
    from cliposcope.data.layout import LayoutSpec
    from cliposcope.data.official import read_scenes

    if args.scenes:
        return split_scenes(read_scenes(args.scenes), args.objects)
    folder = Path(args.out) / "scenes"
    settings = SceneSettings(kind=args.kind, count=args.count, seed=args.seed,
                             layout=LayoutSpec(n=args.objects or 3))  # fmt: skip
    if (folder / "settings.json").is_file():
        from cliposcope.data.scenes import read_manifest

        return split_scenes(read_manifest(folder), args.objects)
    return split_scenes(write_dataset(settings, folder, progress=not args.quiet), args.objects)


def run_battery(
    encoder: Encoder, scene_set: SceneSet, args: argparse.Namespace, role: str
) -> Iterator[ProbeResult]:
    progress = not args.quiet
    if encoder.info.has_image_tower:
        yield run_image_retrieval(
            encoder, scene_set, gallery="images", role=role, progress=progress
        )
        yield run_image_retrieval(encoder, scene_set, gallery="names", role=role, progress=progress)
        yield run_matching(encoder, scene_set, position=args.position, role=role, progress=progress)
        try:
            overlays = (
                Path(args.out) / "overlays" / role.replace(":", "-") if args.overlays else None
            )
            yield run_attention(encoder, scene_set, layer=args.layer, overlays=overlays,
                                overlay_count=args.overlays, role=role)  # fmt: skip
        except CliposcopeError as skipped:
            log.warning("attention skipped for %s: %s", encoder.info.spec, skipped)
        if args.ioc:
            yield run_ioc(encoder, scene_set, seed=args.seed, role=role, progress=progress)
    vocabulary = Vocabulary("scene objects", scene_set.names)
    tor = TorSettings(vocabulary, n=scene_set.n, sample=args.tor_sample, seed=args.seed)
    yield run_tor(encoder, tor, role=role, progress=progress)
