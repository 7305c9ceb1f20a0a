"""Pieces several commands share: the options of runs, models, engines and data kinds, the
selection of a data kind from the options given, and writing a result."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cliposcope.app.options import COMMON, add_settings_options, settings_from_args
from cliposcope.app.outputs import check_output_folder
from cliposcope.app.runs import EncoderOptions
from cliposcope.data_kinds import choose_kind, kinds_providing, shared_fields_agree
from cliposcope.encoders.base import DEVICE_FORMS, PRECISIONS
from cliposcope.errors import CliposcopeError
from cliposcope.settings import cli_fields


def add_encoder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch-size", type=int, default=None, metavar="N", help="inputs per model pass"
    )
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
    add_engine_options(parser)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
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
        "--ray-actors", type=int, default=None, metavar="N", help="actors per pool (default 2)"
    )
    engine.add_argument(
        "--ray-shards",
        metavar="DIR",
        help="root of the Parquet shards, one folder per model (default: CACHE_DIR/ray-shards);"
        " reruns resume",
    )


RAY_OPTIONS = ("ray_address", "ray_actors", "ray_shards")
DEFAULT_RAY_ACTORS = 2


def ray_settings(args: argparse.Namespace):
    """RaySettings from the engine options, checked; None for the local engine, which
    refuses every Ray option given (none is silently ignored)."""
    if args.engine != "ray":
        for flag in RAY_OPTIONS:
            if getattr(args, flag, None) is not None:
                raise CliposcopeError(
                    f"--{flag.replace('_', '-')} applies to --engine ray, and the engine is "
                    f"{args.engine}",
                    hint=f"add --engine ray, or leave out --{flag.replace('_', '-')}",
                )
        return None
    from cliposcope.scale.ray_engine import RaySettings, need_ray, probe_address

    actors = DEFAULT_RAY_ACTORS if args.ray_actors is None else args.ray_actors
    settings = RaySettings(
        address=args.ray_address,
        actors=actors,
        shard_dir=args.ray_shards,
        quiet=bool(getattr(args, "quiet", False)),
    )
    settings.check()
    need_ray()
    if args.ray_shards:
        check_output_folder(args.ray_shards, "--ray-shards")
    if settings.address is not None:  # a cluster nothing answers for fails before any work
        probe_address(settings.address)
    return settings


def engine_session(settings):
    """The Ray session for the command (a no-op context for the local engine)."""
    import contextlib

    if settings is None:
        return contextlib.nullcontext()
    from cliposcope.scale.ray_engine import ray_session

    return ray_session(settings)


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


def save_result(result, out: Path, *, quiet: bool) -> None:
    """Write a result under its file name, and say so unless quiet; a result that was
    found in the folder (the same experiment, run before) is left as it is."""
    from cliposcope.results import result_filename

    if result.source_path is not None:
        print(
            f"skipped: {result.source_path} holds this experiment already "
            "(--overwrite recomputes it)",
            file=sys.stderr,
        )
        return
    path = result.save(out / result_filename(result))
    if not quiet:
        print(f"wrote {path}", file=sys.stderr)


def add_run_options(parser: argparse.ArgumentParser, *, seed: bool = True) -> None:
    """Where results go, progress, and the run's seed."""
    if seed:
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help="seed of every sampled choice: queries, generated scenes, random-weight "
            "controls (default 0)",
        )
    add_config_option(parser)
    parser.add_argument("--out", default="results", metavar="DIR", help="where JSON goes")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute experiments whose result is already in --out (default: skip them)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the queries, texts, images and model loads the run needs, an estimated "
        "time (from a short calibration of each model) and what it would write; write nothing",
    )
    parser.add_argument(
        "--no-records",
        dest="records",
        action="store_false",
        help="keep no per-query records beside the results (for huge runs)",
    )


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE.toml",
        help="options from a TOML file (keys are option names; the command line overrides "
        "it); recorded in every result",
    )


def add_model_options(parser: argparse.ArgumentParser, controls: Sequence[str]) -> None:
    """The models a run measures, their controls, and how they are opened."""
    models = parser.add_argument_group("models")
    models.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="SPEC",
        help="repeat for several models (`cliposcope models` lists the spec forms)",
    )
    models.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="local weights for the --model architecture (one model; its controls keep "
        "their own weights), e.g. --model openclip:ViT-B-32 --checkpoint epoch_10.pt",
    )
    models.add_argument(
        "--null",
        action="append",
        default=[],
        metavar="CONTROL",
        help=f"controls run beside each model (repeatable): {', '.join(controls)}",
    )
    add_encoder_options(parser)


def add_data_options(parser: argparse.ArgumentParser, data: str | None) -> None:
    """The options of every data kind that provides ``data``, a group per kind; kinds may
    share an option only if they declare it alike (it then appears once)."""
    kinds = kinds_providing(data)
    shared_fields_agree(kinds)
    offered: set[str] = set(COMMON)
    for kind in kinds:
        group = parser.add_argument_group(kind.description)
        add_settings_options(group, kind.settings, skip=offered)
        offered |= {field.name for field in cli_fields(kind.settings)}


def data_source(data: str | None, args: argparse.Namespace):
    """(data kind, its settings) that the options choose, checked; None for no data."""
    if data is None:
        return None
    kind, settings = choose_kind(data, lambda kind: settings_from_args(kind.settings, args))
    if kind.check is not None:
        kind.check(settings)
    return kind, settings
