"""The ``cliposcope`` command: a thin layer over the Python API.

`cliposcope run PROBE` offers one subcommand per registered probe, its options built from
the probe's Settings fields, plus `run paper` for the whole battery.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cliposcope.app.options import add_settings_options, settings_from_args
from cliposcope.app.outputs import check_output_file, check_output_folder
from cliposcope.app.runs import (
    RANDOM_INIT,
    EncoderOptions,
    artifacts_for,
    check_random_init,
    prefetch,
    with_controls,
)
from cliposcope.data.coco_scenes import GALLERIES
from cliposcope.encoders.base import DEVICE_FORMS, PRECISIONS
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.registry import Probe, list_probes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
BATTERY = "paper"


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, metavar="SPEC", help="`cliposcope models` lists the spec forms"
    )
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="local weights, folded into the spec where the "
        "family takes them (e.g. a bare open_clip architecture)",
    )
    _add_encoder_options(parser)


def _add_encoder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=None, metavar="N")
    parser.add_argument("--device", default="auto", help=f"{DEVICE_FORMS} (default auto)")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=PRECISIONS,
        help="fp32 (default), or fp16/bf16 autocast",
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="embedding cache (default: $CLIPOSCOPE_CACHE_DIR or the user cache dir)",
    )
    cache.add_argument("--no-cache", action="store_true", help="encode everything, store nothing")
    parser.add_argument(
        "--cache-storage",
        default="fp32",
        choices=("fp32", "fp16"),
        help="fp16 halves the cache on disk (about 1e-3 off per element)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_engine_options(parser)


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    from cliposcope.scale.ray_engine import ENGINES

    engine = parser.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        default="local",
        choices=ENGINES,
        help="local (default), or ray: Ray Data actors (cliposcope[ray])",
    )
    engine.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="an existing Ray cluster (default: start a local instance)",
    )
    engine.add_argument(
        "--ray-actors", type=int, default=2, metavar="N", help="actors per pool (default 2)"
    )
    engine.add_argument(
        "--ray-shards",
        metavar="DIR",
        help="root of the Parquet shards, one folder per model (default: CACHE_DIR/ray-shards);"
        " reruns resume",
    )


def ray_settings(args: argparse.Namespace):
    """RaySettings from the engine options, checked; None for the local engine."""
    if args.engine != "ray":
        for flag in ("ray_address", "ray_shards"):
            if getattr(args, flag, None):
                raise CliposcopeError(
                    f"--{flag.replace('_', '-')} applies to --engine ray", hint="add --engine ray"
                )
        return None
    from cliposcope.scale.ray_engine import RaySettings, need_ray

    settings = RaySettings(
        address=args.ray_address, actors=args.ray_actors, shard_dir=args.ray_shards
    )
    settings.check()
    need_ray()
    if args.ray_shards:
        check_output_folder(args.ray_shards, "--ray-shards")
    return settings


def engine_session(settings):
    """The Ray session for the command (a no-op context for the local engine)."""
    import contextlib

    if settings is None:
        return contextlib.nullcontext()
    from cliposcope.scale.ray_engine import ray_session

    return ray_session(settings)


RUN_OPTIONS = (
    "model",
    "null",
    "seed",
    "out",
    "batch_size",
    "device",
    "precision",
    "cache_dir",
    "no_cache",
    "cache_storage",
    "quiet",
    "engine",
    "ray_address",
    "ray_actors",
    "ray_shards",
)
SCENE_OPTIONS = (
    "scenes",
    "kind",
    "objects",
    "count",
    "coco_instances",
    "coco_images",
    "coco_captions",
    "coco_gallery",
    "coco_gallery_dir",
    "coco_gallery_size",
    "coco_min_area",
    "coco_area",
)


def _add_run_options(parser: argparse.ArgumentParser, controls: Sequence[str]) -> None:
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="SPEC",
        help="repeat for several models (`cliposcope models` lists the spec forms)",
    )
    parser.add_argument(
        "--null",
        action="append",
        default=[],
        metavar="CONTROL",
        help=f"controls run beside each model (repeatable): {', '.join(controls)}",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results", metavar="DIR", help="where JSON goes")
    _add_encoder_options(parser)


def _add_scene_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenes",
        metavar="DIR",
        help="manifest or official-layout folder; default: generate into OUT/scenes",
    )
    parser.add_argument("--kind", choices=("comco", "simco"), default="comco")
    parser.add_argument(
        "--objects", type=int, help="objects per scene (default 3 when generating or reading COCO)"
    )
    parser.add_argument("--count", type=int, default=60, help="scenes to generate")
    coco = parser.add_argument_group("real images in COCO format (instead of --scenes)")
    coco.add_argument("--coco-instances", metavar="FILE", help="instances_*.json")
    coco.add_argument("--coco-images", metavar="DIR", help="the folder file_name is relative to")
    coco.add_argument(
        "--coco-captions",
        metavar="FILE",
        help="captions_*.json: objects listed in the order a caption names them",
    )
    coco.add_argument(
        "--coco-gallery",
        choices=GALLERIES,
        help="reference per category: sprite renders (default), box or mask crops "
        "of its largest instance, or a folder (--coco-gallery-dir)",
    )
    coco.add_argument("--coco-gallery-dir", metavar="DIR", help="DIR/<category>/ images")
    coco.add_argument("--coco-gallery-size", type=int, help="sprite renders, px (default 224)")
    coco.add_argument(
        "--coco-min-area",
        type=float,
        help="smallest object kept, as a share of the image (default 0)",
    )
    coco.add_argument(
        "--coco-area",
        choices=("max", "sum"),
        help="a category's size: its largest instance (max, default), or all of them (sum)",
    )


def _add_probe_commands(commands) -> None:
    from cliposcope.probes.battery import BatterySettings

    for probe in list_probes():
        if probe.data == "corpus":  # no model: under `cliposcope corpus`
            continue
        if probe.data == "generation":  # a generator and a detector instead of a model
            _add_generation_command(commands, probe)
            continue
        parser = commands.add_parser(probe.name, help=probe.summary)
        own = {"scenes": SCENE_OPTIONS, "captions": CORPUS_OPTIONS}.get(probe.data, ())
        add_settings_options(parser, probe.settings, RUN_OPTIONS + own)
        if probe.data == "scenes":
            _add_scene_options(parser)
        elif probe.data == "captions":
            _add_corpus_source_options(parser)
        _add_run_options(parser, (RANDOM_INIT, *probe.controls))
        parser.set_defaults(handler=cmd_run, probe=probe)
    paper = commands.add_parser(BATTERY, help="the paper's battery on a scene set")
    add_settings_options(paper, BatterySettings, RUN_OPTIONS + SCENE_OPTIONS)
    _add_scene_options(paper)
    _add_run_options(paper, (RANDOM_INIT,))
    paper.set_defaults(handler=cmd_run, probe=None)


GENERATION_OPTIONS = (
    "generator",
    "detector",
    "images",
    "steps",
    "guidance",
    "resolution",
    "batch_size",
    "detector_batch_size",
    "device",
    "precision",
    "out",
    "quiet",
)
GENERATION_EXAMPLE = """\
example (a machine with the model hub and a GPU):
  cliposcope run t2i --generator diffusers:stabilityai/stable-diffusion-2-1-base \\
      --detector torchvision:fasterrcnn_resnet50_fpn_v2 --device cuda --precision fp16 \\
      --out results/t2i

check the pipeline first, offline and in seconds, against planted truth:
  cliposcope run t2i --generator planted:0.9,0.6,0.3 --detector truth:planted --out /tmp/t2i

images and detections are kept under --images by content key: a rerun resumes, and another
--detector scores the same images without drawing them again (docs/t2i.md).
"""


def _add_generation_command(commands, probe: Probe) -> None:
    from cliposcope.generation.registry import detector_kinds, generator_kinds

    parser = commands.add_parser(
        probe.name,
        help=probe.summary,
        epilog=GENERATION_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_options(parser, probe.settings, (*GENERATION_OPTIONS, "seed"))
    models = parser.add_argument_group("generator and detector")
    models.add_argument(
        "--generator",
        action="append",
        required=True,
        metavar="SPEC",
        help="repeatable; kinds: "
        + "; ".join(f"{k.name}: {k.description} (e.g. {k.examples[0]})" for k in generator_kinds()),
    )
    models.add_argument(
        "--detector",
        required=True,
        metavar="SPEC",
        help="kinds: "
        + "; ".join(f"{k.name}: {k.description} (e.g. {k.examples[0]})" for k in detector_kinds()),
    )
    models.add_argument(
        "--images", metavar="DIR", help="image store, shared by runs (default: OUT/t2i-images)"
    )
    drawing = parser.add_argument_group("generation (recorded with every image)")
    drawing.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    drawing.add_argument(
        "--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)"
    )
    drawing.add_argument("--resolution", type=int, default=512, help="pixels (default 512)")
    drawing.add_argument(
        "--batch-size",
        type=int,
        default=4,
        metavar="N",
        help="images per generator pass (default 4)",
    )
    drawing.add_argument(
        "--detector-batch-size",
        type=int,
        default=8,
        metavar="N",
        help="images per detector pass (default 8)",
    )
    drawing.add_argument("--device", default="auto", help=f"{DEVICE_FORMS} (default auto)")
    drawing.add_argument(
        "--precision",
        default="fp32",
        choices=PRECISIONS,
        help="weights' dtype: fp32 (default), or fp16/bf16 on a GPU",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="samples the combinations and the seed list"
    )
    parser.add_argument("--out", default="results", metavar="DIR", help="where JSON goes")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=cmd_generation, probe=probe)


CORPUS_OPTIONS = (
    "coco_captions",
    "coco_instances",
    "input",
    "format",
    "caption_column",
    "objects_column",
    "areas_column",
    "boxes_column",
    "box_format",
    "out",
    "quiet",
    "engine",
    "ray_address",
    "ray_actors",
    "ray_shards",
)


def _add_corpus_source_options(parser: argparse.ArgumentParser) -> None:
    from cliposcope.data.corpus import BOX_FORMATS, TABLE_FORMATS

    coco = parser.add_argument_group("COCO annotations")
    coco.add_argument("--coco-captions", metavar="FILE", help="captions_*.json")
    coco.add_argument("--coco-instances", metavar="FILE", help="instances_*.json")
    table = parser.add_argument_group("any caption table (streamed)")
    table.add_argument(
        "--input", metavar="FILE", help="JSONL, CSV or Parquet (.gz allowed), or hf:DATASET[@SPLIT]"
    )
    table.add_argument("--format", choices=TABLE_FORMATS, help="default: from the suffix")
    table.add_argument("--caption-column", default="caption", metavar="NAME")
    table.add_argument("--objects-column", metavar="NAME", help="list of object names")
    table.add_argument("--areas-column", metavar="NAME", help="list of areas, one per name")
    table.add_argument("--boxes-column", metavar="NAME", help="list of boxes, one per name")
    table.add_argument("--box-format", choices=BOX_FORMATS, default="xywh")


def _add_corpus_commands(commands) -> None:
    """`corpus NAME` for every corpus probe ("corpus-stats" is `corpus stats`)."""
    for probe in list_probes():
        if probe.data != "corpus":
            continue
        parser = commands.add_parser(probe.name.removeprefix("corpus-"), help=probe.summary)
        _add_corpus_source_options(parser)
        add_settings_options(parser, probe.settings, CORPUS_OPTIONS)
        parser.add_argument("--out", default="results", metavar="DIR", help="where JSON goes")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        _add_engine_options(parser)
        parser.set_defaults(handler=cmd_corpus, probe=probe)


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes as one line, like every other user error (argparse prints usage)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (hint: {self.prog} --help)\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it cleans up exactly as Ctrl-C does."""


def _terminate(signum, frame):
    raise Terminated


def build_parser() -> argparse.ArgumentParser:
    from cliposcope.version import __version__

    parser = OneLineParser(
        prog="cliposcope",
        description="Measure how much of each object survives in CLIP-style embeddings.",
    )
    parser.add_argument("--version", action="version", version=f"cliposcope {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    models = commands.add_parser("models", help="list model families, spec syntax, pretrained tags")
    models.add_argument(
        "--filter", metavar="TEXT", help="only open_clip architectures containing TEXT"
    )
    models.set_defaults(handler=cmd_models)

    encode = commands.add_parser("encode", help="embed a text file or an image folder to .npy")
    source = encode.add_mutually_exclusive_group(required=True)
    source.add_argument("--texts", metavar="FILE", help="one text per line")
    source.add_argument("--images", metavar="DIR", help="a folder of images (sorted by name)")
    encode.add_argument("--out", required=True, metavar="OUT.npy")
    _add_model_options(encode)
    encode.set_defaults(handler=cmd_encode)

    run = commands.add_parser("run", help="run a probe on one or more models")
    _add_probe_commands(run.add_subparsers(dest="probe_name", metavar="PROBE", required=True))

    generate = commands.add_parser("generate", help="generate ComCO- or SimCO-style scenes")
    generate.add_argument("kind", choices=("comco", "simco"))
    generate.add_argument("--objects", type=int, default=3, help="objects per scene (1-8)")
    generate.add_argument(
        "--layout", default="one-large", choices=("one-large", "equal", "areas"), help="size roles"
    )
    generate.add_argument("--areas", help="with --layout areas: fractions in caption order")
    generate.add_argument("--large-area", type=float, default=0.20)
    generate.add_argument("--small-area", type=float, default=0.03)
    generate.add_argument("--equal-area", type=float, default=0.06)
    generate.add_argument(
        "--order",
        default="large-first",
        help="where the large object is named: large-first | large-last | large-at:K | random "
        "| large-first:P (first in a share P of scenes, at another position otherwise)",
    )
    generate.add_argument("--placement", default="random", choices=("random", "grid", "overlap"))
    generate.add_argument("--gap", type=int, default=4, help="min px between objects")
    generate.add_argument("--background", default="plain", choices=("plain", "gradient", "noise"))
    generate.add_argument("--vocab", help="restrict to these object names (built-in list or file)")
    generate.add_argument("--template", default="and")
    generate.add_argument("--count", type=int, default=100)
    generate.add_argument("--size", type=int, default=224)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", required=True, metavar="DIR")
    generate.add_argument(
        "--official-layout",
        metavar="DIR",
        help="also write the official ComCO/SimCO folder layout here",
    )
    generate.add_argument(
        "--coco-json",
        metavar="FILE",
        help="also write COCO instances (RLE masks, boxes, areas) to FILE and captions beside "
        "it (instances_X.json -> captions_X.json)",
    )
    generate.add_argument("--quiet", action="store_true")
    generate.set_defaults(handler=cmd_generate)

    show = commands.add_parser("show", help="contact sheet of a sample of scenes")
    show.add_argument("dataset", metavar="DIR", help="manifest folder or official-layout folder")
    show.add_argument("--out", required=True, metavar="SHEET.png")
    show.add_argument("--count", type=int, default=24)
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--boxes", action="store_true", help="outline each object's mask box")
    show.set_defaults(handler=cmd_show)

    lab = commands.add_parser("lab", help="train small CLIPs under controlled caption order")
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)
    train = lab_commands.add_parser("train", help="train a toy CLIP on generated scenes")
    train.add_argument(
        "--policy",
        default="largest-first",
        help="caption order: largest-first | random | smallest-first | largest-first:P",
    )
    train.add_argument("--samples", type=int, default=192_000, help="training samples seen")
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--checkpoint-every", type=int, default=24_000, metavar="SAMPLES")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, metavar="RUN_DIR")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(handler=cmd_lab_train)
    progression = lab_commands.add_parser("progression", help="TOR/IOR at every checkpoint")
    progression.add_argument("runs", nargs="+", metavar="RUN_DIR")
    progression.add_argument("--out", default="progression", metavar="DIR")
    progression.add_argument("--device", default="auto", help=f"{DEVICE_FORMS} (default auto)")
    progression.add_argument("--precision", default="fp32", choices=PRECISIONS)
    progression.add_argument("--quiet", action="store_true")
    progression.set_defaults(handler=cmd_lab_progression)
    theory = lab_commands.add_parser("theory", help="Monte-Carlo check of the paper's theorem")
    theory.add_argument("--dropped", type=int, default=8, help="dimensions the text side drops")
    theory.add_argument("--temperature", type=float, default=0.07)
    theory.add_argument("--trials", type=int, default=20)
    theory.add_argument("--seed", type=int, default=0)
    theory.add_argument("--plot", metavar="PNG", help="also plot the gap against d")
    theory.set_defaults(handler=cmd_lab_theory)
    export = lab_commands.add_parser("export", help="write a checkpoint as fp16 safetensors")
    export.add_argument("checkpoint")
    export.add_argument("--out", required=True, metavar="FILE.safetensors")
    export.set_defaults(handler=cmd_lab_export)

    demo = commands.add_parser("demo", help="offline demo on the shipped toy CLIP, with report")
    demo.add_argument("--out", default="cliposcope-demo", metavar="DIR")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(handler=cmd_demo)

    cache = commands.add_parser("cache", help="the embedding cache: size per encoder, pruning")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    info = cache_commands.add_parser("info", help="stores, rows and size per encoder")
    prune = cache_commands.add_parser("prune", help="remove stores (all of them with --all)")
    for sub in (info, prune):
        sub.add_argument(
            "--cache-dir",
            metavar="DIR",
            help="default: $CLIPOSCOPE_CACHE_DIR or the user cache dir",
        )
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="unused for DAYS")
    prune.add_argument("--spec", metavar="TEXT", help="whose model spec contains TEXT")
    prune.add_argument("--all", action="store_true", help="every store")
    prune.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    imported = cache_commands.add_parser("import", help="load Ray Parquet shards into the cache")
    imported.add_argument(
        "shards", metavar="SHARD_DIR", help="a shard folder of one model (named by its fingerprint)"
    )
    imported.add_argument(
        "--model",
        required=True,
        metavar="SPEC",
        help="the model the shards embed (checked by fingerprint)",
    )
    imported.add_argument(
        "--cache-dir", metavar="DIR", help="default: $CLIPOSCOPE_CACHE_DIR or the user cache dir"
    )
    imported.add_argument("--cache-storage", default="fp32", choices=("fp32", "fp16"))
    imported.set_defaults(handler=cmd_cache_import)
    info.set_defaults(handler=cmd_cache_info)
    prune.set_defaults(handler=cmd_cache_prune)

    corpus = commands.add_parser("corpus", help="caption-corpus analyses (no model needed)")
    _add_corpus_commands(
        corpus.add_subparsers(dest="corpus_command", metavar="COMMAND", required=True)
    )

    report = commands.add_parser("report", help="HTML report from a folder of results")
    report.add_argument("results", metavar="RESULTS_DIR")
    report.add_argument("--out", metavar="report.html", help="default: RESULTS_DIR/report.html")
    report.set_defaults(handler=cmd_report)

    board = commands.add_parser(
        "leaderboard", help="one row per model across result folders: bias indices, verdicts"
    )
    board.add_argument("results", nargs="+", metavar="RESULTS_DIR")
    board.add_argument(
        "--out",
        default="leaderboard.html",
        metavar="FILE.html",
        help="sortable HTML page (default leaderboard.html)",
    )
    board.add_argument("--csv", metavar="FILE.csv", help="default: beside --out, as .csv")
    board.set_defaults(handler=cmd_leaderboard)

    table = commands.add_parser("table", help="merge result JSON files into tables (and CSV)")
    table.add_argument("results", nargs="+", metavar="RESULT.json")
    table.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    table.set_defaults(handler=cmd_table)
    return parser


def cmd_models(args: argparse.Namespace) -> int:
    from cliposcope.app.models import describe_models

    print(describe_models(args.filter))
    return 0


def read_texts(path: str) -> list[str]:
    file = Path(path)
    if not file.is_file():
        raise CliposcopeError(
            f"text file not found: {file}", hint="give a file with one text per line"
        )
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise CliposcopeError(
            f"{file} is not UTF-8 text ({error.reason} at byte {error.start})",
            hint="save it as UTF-8",
        ) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise CliposcopeError(
                f"{file} line {number} is empty", hint="one non-empty text per line"
            )
    if not lines:
        raise CliposcopeError(f"{file} holds no texts", hint="one text per line")
    return lines


def list_images(path: str) -> list[Path]:
    folder = Path(path)
    if not folder.is_dir():
        raise CliposcopeError(f"image folder not found: {folder}", hint="give a folder of images")
    files = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    if not files:
        raise CliposcopeError(
            f"no images in {folder}", hint=f"expected files ending in {', '.join(IMAGE_SUFFIXES)}"
        )
    return files


def inputs_fingerprint(inputs: list[str], *, images: bool) -> str:
    """sha256 over the inputs' content keys in order: texts, or image file contents."""
    from cliposcope.hashing import image_key, text_key

    digest = hashlib.sha256()
    for item in inputs:
        digest.update(image_key(item) if images else text_key(item))
    return digest.hexdigest()


def encoder_options(args: argparse.Namespace) -> EncoderOptions:
    ray = ray_settings(args)
    if ray is not None:
        from dataclasses import replace

        from cliposcope.encoders.base import resolve_device

        gpu = resolve_device(args.device).startswith("cuda")
        ray = replace(ray, gpus_per_actor=1.0 if gpu else 0.0)
    return EncoderOptions(
        checkpoint=getattr(args, "checkpoint", None),
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        cache_storage=args.cache_storage,
        engine=args.engine,
        ray=ray,
        ray_shards=args.ray_shards,
    )


def _role_runner(args: argparse.Namespace):
    """Check the options once, then return what runs one encoder in one role."""
    from cliposcope.data.scene_sets import scene_set_from
    from cliposcope.probes.registry import run_probe

    probe: Probe | None = args.probe
    progress = not args.quiet
    out = Path(args.out)
    offered = (RANDOM_INIT, *(probe.controls if probe else ()))
    for null in args.null:
        if null not in offered:
            raise CliposcopeError(
                f"--null {null} is not a control of {args.probe_name}",
                hint=f"{args.probe_name} offers: {', '.join(offered)}",
            )
    if probe is None:
        from cliposcope.probes.battery import BatterySettings, run_battery

        settings = settings_from_args(BatterySettings, args, seed=args.seed)
    else:
        settings = settings_from_args(probe.settings, args, seed=args.seed)
    scene_set = None
    if probe is not None and probe.data == "captions":
        scene_set = corpus_source(args, instances_optional=True)  # a caption corpus
    if probe is None or probe.data == "scenes":
        from cliposcope.data.generate import SceneSettings
        from cliposcope.data.layout import LayoutSpec

        objects = 3 if args.objects is None else args.objects
        scene_settings = SceneSettings(
            kind=args.kind, count=args.count, seed=args.seed, layout=LayoutSpec(n=objects)
        )
        if args.coco_instances or args.coco_images:
            scene_set = _coco_scene_set(args, out)
        else:
            _refuse_stray_coco_options(args)
            if args.scenes is None:
                scene_settings.check()  # before a model loads
            scene_set = scene_set_from(
                args.scenes,
                generate_into=out / "scenes",
                settings=scene_settings,
                objects=args.objects,
                progress=progress,
            )

    def run(encoder, role: str, control: str | None):
        role_settings = artifacts_for(settings, out, role)
        if probe is None:
            results = run_battery(encoder, scene_set, role_settings, progress=progress)
            return [result.with_role(role) for result in results]
        if control is not None:
            role_settings = probe.controls[control](role_settings)
        if args.engine == "ray" and not args.no_cache:
            prefetch(probe.name, role_settings, encoder, scene_set)
        return [
            run_probe(probe.name, encoder, scene_set, role_settings, role=role, progress=progress)
        ]

    return run


# COCO options -> CocoSelection fields; argparse leaves them None, so the selection's own
# defaults apply and an option given without COCO images can be told apart.
COCO_SELECTION = {
    "coco_min_area": "min_object_area",
    "coco_area": "area",
    "coco_gallery": "gallery",
    "coco_gallery_dir": "gallery_dir",
    "coco_gallery_size": "gallery_size",
}


def _refuse_stray_coco_options(args: argparse.Namespace) -> None:
    """COCO options only act on COCO images: given alone, they would be silently ignored."""
    given = [name for name in ("coco_captions", *COCO_SELECTION) if getattr(args, name) is not None]
    if given:
        stray = ", ".join("--" + name.replace("_", "-") for name in given)
        raise CliposcopeError(
            f"{stray} apply to COCO images", hint="add --coco-instances FILE and --coco-images DIR"
        )


def _coco_scene_set(args: argparse.Namespace, out: Path):
    from cliposcope.data.coco_scenes import CocoSelection, coco_scene_set

    if args.scenes is not None:
        raise CliposcopeError(
            "give --scenes or --coco-instances, not both", hint="one source of images per run"
        )
    if not (args.coco_instances and args.coco_images):
        raise CliposcopeError(
            "COCO images need --coco-instances and --coco-images",
            hint="the annotation file and the folder of its images",
        )
    chosen = {
        field: getattr(args, name)
        for name, field in COCO_SELECTION.items()
        if getattr(args, name) is not None
    }
    selection = CocoSelection(n=3 if args.objects is None else args.objects, **chosen)
    return coco_scene_set(
        args.coco_instances,
        args.coco_images,
        selection,
        captions=args.coco_captions,
        derived_into=out / "coco-derived",
    )


def save_result(result, out: Path, *, quiet: bool) -> None:
    """Write a result under its stable file name, and say so unless quiet."""
    from cliposcope.results import result_filename

    path = result.save(out / result_filename(result))
    if not quiet:
        print(f"wrote {path}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from cliposcope.encoders.specs import parse_spec
    from cliposcope.report.table import render_tables

    check_range("--seed", args.seed, 0, hint="a non-negative integer")
    options = encoder_options(args)
    options.load_options()  # a bad device, precision or batch size fails before any work
    for spec in args.model:  # so do typos in the specs
        family = parse_spec(spec).family
        if RANDOM_INIT in args.null:
            check_random_init(spec, family)
    check_output_folder(args.out, "--out")
    run = _role_runner(args)
    results = []
    out = Path(args.out)
    with engine_session(options.ray):
        for result in with_controls(args.model, options.open, run, args.null, args.seed):
            result.provenance["engine"] = options.engine_record()
            save_result(result, out, quiet=args.quiet)
            results.append(result)
    print(render_tables(results))
    return 0


def examples_folder(out: Path, generator: str, detector: str, settings) -> Path:
    """OUT/t2i-examples/<readable pair>-<digest>: one folder per generator, detector and
    settings, as result files are named."""
    from cliposcope.probes.t2i import slug

    readable = slug(f"{Path(generator.partition('?')[0]).name} {detector.partition('?')[0]}")
    digest = hashlib.sha256(f"{generator}|{detector}|{settings!r}".encode()).hexdigest()[:8]
    return out / "t2i-examples" / f"{readable}-{digest}"


def cmd_generation(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cliposcope.encoders.base import resolve_device
    from cliposcope.generation.base import DetectorOptions, GenerationOptions
    from cliposcope.generation.registry import load_detector, load_generator
    from cliposcope.generation.rig import Rig, check_specs, libraries_of
    from cliposcope.generation.store import ImageStore
    from cliposcope.probes.registry import run_probe
    from cliposcope.report.table import render_tables

    probe: Probe = args.probe
    check_range("--seed", args.seed, 0, hint="a non-negative integer")
    settings = settings_from_args(probe.settings, args, seed=args.seed)
    generation = GenerationOptions(
        device=args.device,
        precision=args.precision,
        steps=args.steps,
        guidance=args.guidance,
        resolution=args.resolution,
        batch_size=args.batch_size,
    )
    detection = DetectorOptions(device=args.device, batch_size=args.detector_batch_size)
    for spec in args.generator:
        check_specs(spec, args.detector)
    resolve_device(args.device)
    out = Path(args.out)
    images = Path(args.images) if args.images else out / "t2i-images"
    check_output_folder(out, "--out")
    check_output_folder(images, "--images")
    detector = load_detector(args.detector, detection)
    results = []
    for spec in dict.fromkeys(args.generator):
        rig = Rig(
            load_generator(spec, generation),
            detector,
            ImageStore(images),
            libraries_of(spec, args.detector),
        )
        examples = examples_folder(out, spec, args.detector, settings)
        result = run_probe(
            probe.name,
            None,
            rig,
            replace(settings, artifacts_dir=examples),
            progress=not args.quiet,
        )
        result.provenance["engine"] = {"engine": "local"}
        save_result(result, out, quiet=args.quiet)
        results.append(result)
    print(render_tables(results))
    return 0


def corpus_source(args: argparse.Namespace, *, instances_optional: bool = False):
    from cliposcope.data.corpus import CocoCorpus, TableColumns, TableCorpus

    coco = args.coco_captions or args.coco_instances
    if bool(coco) == bool(args.input):
        raise CliposcopeError(
            "give either --coco-captions (with --coco-instances), or --input",
            hint="COCO annotation files, or a JSONL/CSV/Parquet table",
        )
    if coco:
        if not args.coco_captions or not (args.coco_instances or instances_optional):
            raise CliposcopeError(
                "COCO input needs both --coco-captions and --coco-instances",
                hint="the instances give each object's area",
            )
        return CocoCorpus(args.coco_captions, args.coco_instances)
    columns = TableColumns(
        caption=args.caption_column,
        objects=args.objects_column,
        areas=args.areas_column,
        boxes=args.boxes_column,
        box_format=args.box_format,
    )
    if args.input.startswith("hf:"):
        from cliposcope.data.corpus import HubCorpus

        return HubCorpus(args.input, columns)
    return TableCorpus(Path(args.input), columns, format=args.format)


def cmd_corpus(args: argparse.Namespace) -> int:
    from cliposcope.probes.registry import run_probe
    from cliposcope.report.table import render_tables

    probe: Probe = args.probe
    settings = settings_from_args(probe.settings, args)
    ray = ray_settings(args)
    check_output_folder(args.out, "--out")
    corpus = corpus_source(args)
    if ray is None:
        result = run_probe(
            probe.name, None, corpus, settings, role="corpus", progress=not args.quiet
        )
        result.provenance["engine"] = {"engine": "local"}
    else:
        from cliposcope.probes.corpus_stats import run_corpus_stats
        from cliposcope.scale.ray_engine import count_with_ray

        def count(corpus, counter):
            return count_with_ray(corpus, counter, settings, ray)

        with engine_session(ray):
            result = run_corpus_stats(None, corpus, settings, count=count).with_role("corpus")
        result.provenance["engine"] = ray.describe()
    save_result(result, Path(args.out), quiet=args.quiet)
    print(render_tables([result]))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from cliposcope.data.generate import SceneSettings, write_dataset
    from cliposcope.data.layout import LayoutSpec
    from cliposcope.data.vocab import load_vocabulary

    areas = None
    if args.areas:
        try:
            areas = tuple(float(a) for a in args.areas.split(","))
        except ValueError:
            raise CliposcopeError(
                f"--areas {args.areas!r} is not a list of numbers",
                hint="e.g. --areas 0.3,0.05,0.05",
            ) from None
    layout = LayoutSpec(
        n=args.objects,
        sizes=args.layout,
        large_area=args.large_area,
        small_area=args.small_area,
        equal_area=args.equal_area,
        areas=areas,
        placement=args.placement,
        gap=args.gap,
        order=args.order,
        background=args.background,
    )
    objects = load_vocabulary(args.vocab).words if args.vocab else None
    settings = SceneSettings(
        kind=args.kind,
        count=args.count,
        size=args.size,
        seed=args.seed,
        layout=layout,
        objects=objects,
        template=args.template,
    )
    check_output_folder(args.out, "--out")
    if args.official_layout:
        check_output_folder(args.official_layout, "--official-layout")
    if args.coco_json:
        check_output_file(args.coco_json, "--coco-json", ".json")
    write_dataset(
        settings,
        args.out,
        progress=not args.quiet,
        official=args.official_layout,
        coco_json=args.coco_json,
    )
    if not args.quiet:
        print(f"wrote {args.count} scenes (+ references) to {args.out}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import random

    from cliposcope.data.official import read_scenes
    from cliposcope.data.sheet import contact_sheet

    check_range("--count", args.count, 1, hint="how many scenes the sheet shows")
    check_range("--seed", args.seed, 0, hint="a non-negative integer")
    check_output_file(args.out, "--out", ".png")
    scenes = [s for s in read_scenes(args.dataset) if s.condition != "single"]
    if not scenes:
        raise CliposcopeError(f"no multi-object scenes in {args.dataset}", hint="generate some")
    sample = random.Random(args.seed).sample(scenes, min(args.count, len(scenes)))
    contact_sheet(sorted(sample, key=lambda s: s.id), args.out, outline=args.boxes)
    print(f"wrote {args.out} ({len(sample)} scenes)", file=sys.stderr)
    return 0


def cmd_lab_train(args: argparse.Namespace) -> int:
    from cliposcope.lab.train import TrainSettings, train

    settings = TrainSettings(
        policy=args.policy,
        samples=args.samples,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
    )
    check_output_folder(args.out, "--out")
    final = train(settings, args.out, progress=not args.quiet)
    print(f"final checkpoint: {final}", file=sys.stderr)
    return 0


def cmd_lab_progression(args: argparse.Namespace) -> int:
    from cliposcope.atomic import atomic_write_json
    from cliposcope.lab.progression import (
        checkpoint_points,
        evaluation_scenes,
        plot_curves,
        run_pool_spec,
    )

    out = Path(args.out)
    options = EncoderOptions(device=args.device, precision=args.precision).load_options()
    check_output_folder(out, "--out")
    curves = {}
    for run in map(Path, args.runs):
        if not (run / "settings.json").is_file():
            raise CliposcopeError(f"{run} is not a lab run", hint="give folders made by lab train")
        scenes = evaluation_scenes(out / "eval-scenes", run_pool_spec(run))
        curves[run.name] = checkpoint_points(
            run,
            scenes,
            progress=not args.quiet,
            device=options.device,
            precision=options.precision,
        )
    atomic_write_json(out / "progression.json", curves)
    plot_curves(curves, out / "progression.png")
    print(f"{'run':<16} {'samples':>9} {'TOR first %':>22} {'IOR large %':>22}")
    for name, points in curves.items():
        for p in points:
            tor, ior = p["tor_first_share"], p["ior_large_share"]
            print(f"{name:<16} {p['samples']:>9} {_pct(tor):>22} {_pct(ior):>22}")
    print(f"wrote {out / 'progression.json'} and {out / 'progression.png'}", file=sys.stderr)
    return 0


def _pct(figure: dict) -> str:
    low, high = figure["ci95"]
    return f"{100 * figure['estimate']:.1f} ({100 * low:.1f}-{100 * high:.1f})"


def cmd_lab_theory(args: argparse.Namespace) -> int:
    from cliposcope.lab.theory import plot, render_table, simulate

    if args.plot:
        check_output_file(args.plot, "--plot", ".png")
    points = simulate(
        dropped=args.dropped, temperature=args.temperature, trials=args.trials, seed=args.seed
    )
    print(render_table(points, args.dropped))
    if args.plot:
        plot(points, args.plot)
    return 0


def cmd_lab_export(args: argparse.Namespace) -> int:
    from cliposcope.lab.export import export_fp16

    check_output_file(args.out, "--out", ".safetensors")
    print(f"wrote {export_fp16(args.checkpoint, args.out)}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cliposcope.app.demo import run_demo

    check_range("--seed", args.seed, 0, hint="a non-negative integer")
    check_output_folder(args.out, "--out")
    run_demo(args.out, seed=args.seed, progress=not args.quiet)
    return 0


def _store_rows(stores) -> str:
    from cliposcope.report.table import render

    rows = [
        [
            s.spec,
            s.storage,
            f"{s.rows:,}",
            f"{s.size_bytes / 2**20:.1f}",
            time.strftime("%Y-%m-%d", time.localtime(s.last_used)),
            s.path.name[:16],
        ]
        for s in stores
    ]
    return render(["Model", "Storage", "Rows", "MiB", "Last used", "File"], rows)


def cmd_cache_info(args: argparse.Namespace) -> int:
    from cliposcope.cache import default_cache_dir, list_stores

    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    stores = list_stores(root)
    print(f"{root}: {len(stores)} store(s), {sum(s.size_bytes for s in stores) / 2**20:.1f} MiB")
    if stores:
        print(_store_rows(stores))
    return 0


def cmd_cache_import(args: argparse.Namespace) -> int:
    from cliposcope.cache import CachedEncoder
    from cliposcope.encoders import load_encoder
    from cliposcope.scale.ray_engine import import_shards

    folder = Path(args.shards)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise CliposcopeError(
            f"no Parquet shards in {folder}",
            hint="a folder under --ray-shards, named by a fingerprint",
        )
    if args.cache_dir:
        check_output_folder(args.cache_dir, "--cache-dir")
    cached = CachedEncoder(load_encoder(args.model), args.cache_dir, storage=args.cache_storage)
    rows = import_shards(folder, cached.store)
    print(f"imported {rows:,} embeddings into {cached.store.path}", file=sys.stderr)
    return 0


def cmd_cache_prune(args: argparse.Namespace) -> int:
    from cliposcope.cache import default_cache_dir, list_stores, prune_stores

    if not (args.all or args.spec or args.older_than is not None):
        raise CliposcopeError(
            "prune needs --older-than DAYS, --spec TEXT or --all",
            hint="see `cliposcope cache info` first",
        )
    if args.older_than is not None:
        check_range("--older-than", args.older_than, 0, hint="a number of days")
    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    cutoff = time.time() - 86400 * (args.older_than or 0)
    chosen = [
        s
        for s in list_stores(root)
        if (args.spec is None or args.spec in s.spec)
        and (args.older_than is None or s.last_used < cutoff)
    ]
    if chosen:
        print(_store_rows(chosen))
    freed = sum(s.size_bytes for s in chosen) if args.dry_run else prune_stores(chosen)
    verb = "would free" if args.dry_run else "freed"
    print(f"{len(chosen)} store(s), {verb} {freed / 2**20:.1f} MiB", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from cliposcope.report.html import build_report

    check_output_file(args.out or Path(args.results) / "report.html", "--out", ".html")
    print(f"wrote {build_report(args.results, args.out)}", file=sys.stderr)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from cliposcope.report.leaderboard import write_leaderboard

    csv_path = args.csv or str(Path(args.out).with_suffix(".csv"))
    check_output_file(args.out, "--out", ".html")
    check_output_file(csv_path, "--csv", ".csv")
    board = write_leaderboard(args.results, args.out, csv_path)
    print(
        f"wrote {args.out} and {csv_path}: {len(board.rows)} model(s), "
        f"{len(board.columns)} column(s)",
        file=sys.stderr,
    )
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from cliposcope.report.table import render_tables, write_csv
    from cliposcope.results import ProbeResult

    if args.csv:
        check_output_file(args.csv, "--csv", ".csv")
    results = [ProbeResult.load(path) for path in args.results]
    print(render_tables(results))
    if args.csv:
        write_csv(args.csv, results)
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from cliposcope.atomic import atomic_save_npy, atomic_write_json
    from cliposcope.cache import CachedEncoder
    from cliposcope.version import __version__

    out = Path(args.out)
    check_output_file(out, "--out", ".npy")
    # image paths as strings, so the sidecar JSON can list them
    inputs = read_texts(args.texts) if args.texts else [str(p) for p in list_images(args.images)]
    options = encoder_options(args)
    options.load_options()
    with engine_session(options.ray):
        encoder = options.open(args.model)
        started = time.perf_counter()
        if args.texts:
            embeddings = encoder.encode_text(inputs, progress=not args.quiet)
        else:
            embeddings = encoder.encode_images(inputs, progress=not args.quiet)
        seconds = time.perf_counter() - started
    record = {
        "cliposcope_version": __version__,
        "command": "encode",
        "model": encoder.info.to_dict(),
        "input_kind": "texts" if args.texts else "images",
        "input_source": str(Path(args.texts or args.images).resolve()),
        "input_count": len(inputs),
        "input_fingerprint": inputs_fingerprint(inputs, images=not args.texts),
        "inputs": inputs if not args.texts else None,
        "shape": list(embeddings.shape),
        "dtype": str(embeddings.dtype),
        "seconds": round(seconds, 3),
        "engine": options.engine_record(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if isinstance(encoder, CachedEncoder):
        stats = encoder.stats
        record["cache"] = {"hits": stats.hits, "misses": stats.misses, "corrupt": stats.corrupt}
    atomic_save_npy(out, embeddings)
    atomic_write_json(out.with_suffix(".json"), record)
    if not args.quiet:
        print(
            f"wrote {out} {embeddings.shape[0]}x{embeddings.shape[1]} float32 "
            f"({seconds:.1f}s) and {out.with_suffix('.json')}",
            file=sys.stderr,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user mistakes end in one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    warnings_to_stderr = logging.StreamHandler(sys.stderr)
    warnings_to_stderr.setFormatter(logging.Formatter("warning: %(message)s"))
    warnings_to_stderr.setLevel(logging.WARNING)
    library_log = logging.getLogger("cliposcope")
    library_log.addHandler(warnings_to_stderr)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except CliposcopeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `cliposcope models | head -1`: the reader has enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Terminated:
        print("cliposcope: terminated; partial outputs removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("cliposcope: interrupted; partial outputs removed", file=sys.stderr)
        return 130
    except OSError as error:  # the machine refused: disk full, permissions, ...
        where = f": {error.filename}" if error.filename else ""
        print(
            f"error: {error.strerror or error}{where} (hint: check the path and free space)",
            file=sys.stderr,
        )
        return 2
    finally:
        library_log.removeHandler(warnings_to_stderr)
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
