"""`cliposcope run PROBE`: one subcommand per registered probe, built from its record: the
probe's settings, the options of every data kind that provides its data, and the model,
control and engine options where it measures a model. `run paper` runs the paper's
battery on a scene set."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from cliposcope.app.commands._shared import (
    add_data_options,
    add_engine_options,
    add_model_options,
    add_run_options,
    data_source,
    encoder_options,
    engine_session,
    ray_settings,
    save_result,
)
from cliposcope.app.dry_run import planned_runs, print_size_notice
from cliposcope.app.options import add_settings_options, settings_from_args
from cliposcope.app.outputs import check_output_folder
from cliposcope.app.runs import RANDOM_INIT, Measurement, check_random_init
from cliposcope.data.zoo import expand_models
from cliposcope.data_kinds import DataContext
from cliposcope.errors import CliposcopeError, check_range
from cliposcope.probes.battery import BATTERY_DATA, BatterySettings
from cliposcope.probes.registry import Probe, list_probes, probe_origin
from cliposcope.terminal import terminal_text

log = logging.getLogger(__name__)

NAME = "run"
HELP = "run a probe on one or more models"
ORDER = 30
BATTERY = "paper"


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="probe_name", metavar="PROBE", required=True)
    for probe in list_probes():
        if not hosted_by_corpus(probe):
            add_probe_command(commands, probe, probe.name)
    battery = commands.add_parser(BATTERY, help="the paper's battery on a scene set")
    add_run_options(battery)
    add_model_options(battery, (RANDOM_INIT,))
    add_data_options(battery, BATTERY_DATA)
    add_settings_options(battery.add_argument_group("battery"), BatterySettings)
    battery.set_defaults(handler=cmd_run, probe=None)


def hosted_by_corpus(probe: Probe) -> bool:
    """Analyses of a caption corpus without a model live under `cliposcope corpus`."""
    from cliposcope.data_kinds.corpus import CORPUS

    return not probe.needs_model and probe.data == CORPUS


def add_probe_command(commands, probe: Probe, name: str) -> None:
    """The probe's subcommand. Options that collide raise TypeError for a built-in probe
    (a test builds every parser); a plugin's probe with colliding options is left out with
    a warning, so one plugin cannot break every command."""
    try:
        _add_probe_parser(argparse.ArgumentParser().add_subparsers(), probe, name)  # a trial
    except TypeError as error:
        origin = probe_origin(probe.name)
        if origin == "cliposcope":
            raise
        log.warning("probe %s (from %s) left out of the command line: %s", name, origin, error)
        return
    _add_probe_parser(commands, probe, name)


def _add_probe_parser(commands, probe: Probe, name: str) -> None:
    parser = commands.add_parser(
        name,
        help=probe.summary,
        epilog=probe.epilog or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_options(parser, seed=not hosted_by_corpus(probe))
    if probe.needs_model:
        add_model_options(parser, (RANDOM_INIT, *probe.controls))
    elif probe.counts_on_engine:
        add_engine_options(parser)
    add_data_options(parser, probe.data)
    add_settings_options(parser.add_argument_group(f"{name} settings"), probe.settings)
    parser.set_defaults(handler=cmd_run, probe=probe)


def cmd_run(args: argparse.Namespace) -> int:
    """Check every option, then load the data, then measure each model and control (or the
    data, or the generator) and write a result per run."""
    from cliposcope.encoders.specs import parse_spec
    from cliposcope.report.table import render_tables

    probe: Probe | None = args.probe
    seed = getattr(args, "seed", 0)
    check_range("--seed", seed, 0, hint="a non-negative integer")
    needs_model = probe is None or probe.needs_model
    options = encoder_options(args) if needs_model else None
    engine = options.ray if options is not None else _engine_of(probe, args)
    models = expand_models(args.model) if needs_model else []
    if needs_model and args.checkpoint is not None:
        models = [model_with_checkpoint(models, args.checkpoint, options)]
        options = dataclasses.replace(options, checkpoint=None)  # the controls keep theirs
    if options is not None:
        options.load_options()  # a bad device, precision or batch size fails before any work
        for spec in models:  # so do typos in the specs
            family = parse_spec(spec).family
            if RANDOM_INIT in args.null:
                check_random_init(spec, family)
    out = Path(args.out)
    settings_type = probe.settings if probe is not None else BatterySettings
    settings = settings_from_args(settings_type, args, seed=seed)
    measurement = Measurement(
        probe,
        settings,
        [None],
        out,
        progress=not args.quiet,
        models=tuple(models),
        nulls=tuple(args.null) if needs_model else (),
        seed=seed,
        overwrite=args.overwrite,
        records=args.records,
    )
    measurement.check_controls()
    source = data_source(probe.data if probe is not None else BATTERY_DATA, args)
    check_output_folder(out, "--out")
    if args.dry_run:
        return dry_run(measurement, options, source, seed)
    if source is not None:
        kind, source_settings = source
        for folder, flag in kind.writes(source_settings, out):
            check_output_folder(folder, flag)
        context = DataContext(out=out, seed=seed, progress=not args.quiet)
        units = kind.load(source_settings, context)
        measurement = dataclasses.replace(measurement, units=units)
    if probe is not None and not args.quiet:
        print_size_notice(planned_runs(measurement), options)
    engine_record = options.engine_record() if options is not None else _engine_record(engine)
    results = []
    failed: list[tuple[str, str]] = []
    with engine_session(engine):
        for result in measurement.results(options, engine, failed=failed):
            result.provenance["engine"] = engine_record
            save_result(result, out, quiet=args.quiet)
            results.append(result)
    if results:
        print(render_tables(results))
    for spec, reason in failed:  # the other models ran; a rerun skips what they wrote
        print(f"error: {terminal_text(spec)} failed: {terminal_text(reason)}", file=sys.stderr)
    return 2 if failed else 0


def model_with_checkpoint(models: list[str], checkpoint: str, options) -> str:
    """The one model's spec with the checkpoint folded in (for Ray as an absolute path:
    workers resolve paths in their own folder)."""
    from cliposcope.encoders import spec_with_checkpoint

    if len(models) != 1:
        raise CliposcopeError(
            f"--checkpoint gives the weights of one model, and {len(models)} are given",
            hint="put each checkpoint in its spec instead: openclip:ARCH/PATH",
        )
    path = Path(checkpoint).resolve() if options.engine == "ray" else checkpoint
    return spec_with_checkpoint(models[0], path)


def dry_run(measurement: Measurement, options, source, seed: int) -> int:
    """Print what the run would do and its estimated time; write nothing. Data that loading
    would write (generated scenes) is made in a temporary folder, removed at once."""
    import tempfile

    from cliposcope.app.dry_run import calibrate, describe_plan, planned_runs

    writes = [measurement.out]
    if source is not None:
        kind, source_settings = source
        writes += [folder for folder, _ in kind.writes(source_settings, measurement.out)]
        with tempfile.TemporaryDirectory(prefix="cliposcope-dry-run-") as scratch:
            context = DataContext(out=Path(scratch), seed=seed, progress=False)
            units = kind.load(source_settings, context)
            measurement = dataclasses.replace(measurement, units=units)
            runs = planned_runs(measurement)
    else:
        runs = planned_runs(measurement)
    rates = {}
    if options is not None:
        rates = {spec: calibrate(options, spec) for spec in dict.fromkeys(measurement.models)}
    print(describe_plan(measurement, runs, rates, writes))
    return 0


def _engine_of(probe: Probe, args: argparse.Namespace):
    """The Ray engine for a probe that counts on one, when asked for (None: local)."""
    return ray_settings(args) if probe.counts_on_engine else None


def _engine_record(engine) -> dict:
    return {"engine": "local"} if engine is None else engine.describe()
