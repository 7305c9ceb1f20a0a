"""`cliposcope lab`: train small CLIPs under controlled caption order, follow TOR and IOR
over their checkpoints, check the paper's theorem, export a checkpoint."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from cliposcope.app.commands._shared import add_config_option
from cliposcope.app.outputs import check_output_file, check_output_folder
from cliposcope.app.runs import EncoderOptions
from cliposcope.encoders.base import DEVICE_FORMS, PRECISIONS
from cliposcope.errors import CliposcopeError
from cliposcope.terminal import terminal_text

NAME = "lab"
HELP = "train small CLIPs under controlled caption order"
ORDER = 60


VARIANTS_HELP = (
    "causal (as shipped), bidirectional, mean-pool, no-position, order-blind, or spec "
    "options such as attn=bidirectional&pool=mean"
)
POLICIES_HELP = "largest-first | random | smallest-first | largest-first:P"


def _add_tensorboard_option(parser: argparse.ArgumentParser, what: str, out: str) -> None:
    parser.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"write TensorBoard event files ({what}) to {out}/tensorboard (default: on when "
        "the tensorboard package is installed: pip install 'cliposcope[tensorboard]')",
    )


# Measured here on 2 CPU cores (docs/lab.md): 192,000 samples at batch 128 in about 13.5 min,
# and the default ablation grid (12 cells of 6,400 samples, 3 checkpoints each) in 20 min 25 s,
# which leaves about 25 s to evaluate a checkpoint (TOR and IOR, model and control).
TRAIN_SAMPLES_PER_S = 192_000 / (13.5 * 60)
EVALUATION_S = ((20 * 60 + 25) / 12 - 6_400 / TRAIN_SAMPLES_PER_S) / 3


def _add_dry_run_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the training steps, checkpoints and an estimated time (from rates measured "
        "on 2 CPU cores); write nothing",
    )


def _print_training_plan(runs: int, settings, checkpoints: int, evaluated: bool, out) -> None:
    from cliposcope.app.dry_run import estimated_duration

    seconds = runs * settings.samples / TRAIN_SAMPLES_PER_S
    if evaluated:
        seconds += runs * checkpoints * EVALUATION_S
    print("dry run: nothing trained, nothing written")
    print(
        f"{runs} training run(s) of {settings.samples:,} samples: {settings.steps:,} steps "
        f"at batch {settings.batch_size}, {checkpoints} checkpoint(s) each"
        + (", each evaluated (TOR, IOR; model and random-weight control)" if evaluated else "")
    )
    print(
        f"estimated time: {estimated_duration(seconds)} on 2 CPU cores (measured rates; "
        "a GPU is faster)"
    )
    print(f"would write: {terminal_text(str(out))}")


def _tensorboard_folder(args: argparse.Namespace) -> Path | None:
    """OUT/tensorboard when event files are wanted, checked before any work starts."""
    from cliposcope.lab.tensorboard_log import FOLDER_NAME, wants_tensorboard

    if not wants_tensorboard(args.tensorboard):
        return None
    folder = Path(args.out) / FOLDER_NAME
    check_output_folder(folder, "the TensorBoard folder")
    return folder


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)
    train = commands.add_parser("train", help="train a toy CLIP on generated scenes")
    train.add_argument(
        "--policy",
        default="largest-first",
        help=f"caption order: {POLICIES_HELP}",
    )
    train.add_argument(
        "--variant", default="causal", metavar="NAME", help=f"text tower: {VARIANTS_HELP}"
    )
    train.add_argument("--samples", type=int, default=192_000, help="training samples seen")
    train.add_argument(
        "--batch-size", type=int, default=128, help="image-caption pairs per step (default 128)"
    )
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=24_000,
        metavar="SAMPLES",
        help="write a checkpoint after every SAMPLES samples (default 24,000)",
    )
    train.add_argument(
        "--seed", type=int, default=0, help="seed of the weights, data and order (default 0)"
    )
    train.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="the run's folder; rerun to resume"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_dry_run_option(train)
    _add_tensorboard_option(train, "loss, learning rate, held-out retrieval", "RUN_DIR")
    add_config_option(train)
    train.set_defaults(handler=cmd_lab_train)
    progression = commands.add_parser("progression", help="TOR/IOR at every checkpoint")
    progression.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="`lab train` run folders, one or more"
    )
    progression.add_argument(
        "--out",
        default="progression",
        metavar="DIR",
        help="folder of the results per checkpoint (default progression)",
    )
    progression.add_argument("--device", default="auto", help=f"{DEVICE_FORMS} (default auto)")
    progression.add_argument(
        "--precision",
        default="fp32",
        choices=PRECISIONS,
        help="fp32 (default), or fp16/bf16 autocast",
    )
    progression.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_dry_run_option(progression)
    add_config_option(progression)
    progression.set_defaults(handler=cmd_lab_progression)
    ablate = commands.add_parser(
        "ablate",
        help="train a grid of toy CLIPs (text-tower variants x caption orders x seeds) and "
        "measure TOR and IOR at every checkpoint against random-weight controls",
    )
    ablate.add_argument(
        "--variant",
        action="append",
        metavar="NAME",
        help=f"repeatable text tower: {VARIANTS_HELP} (default: causal and bidirectional)",
    )
    ablate.add_argument(
        "--policy",
        action="append",
        metavar="POLICY",
        help=f"repeatable caption order: {POLICIES_HELP} (default: largest-first and random)",
    )
    ablate.add_argument("--seeds", type=int, default=3, help="seeds per cell (default 3)")
    ablate.add_argument(
        "--samples", type=int, default=6_400, help="training samples per run (default 6400)"
    )
    ablate.add_argument("--batch-size", type=int, default=64, help="default 64")
    ablate.add_argument(
        "--checkpoint-every", type=int, default=3_200, metavar="SAMPLES", help="default 3200"
    )
    ablate.add_argument(
        "--evaluation-scenes", type=int, default=90, help="IOR scenes per checkpoint (default 90)"
    )
    ablate.add_argument("--out", required=True, metavar="DIR", help="resumable: rerun to go on")
    ablate.add_argument("--quiet", action="store_true", help="no progress")
    _add_dry_run_option(ablate)
    _add_tensorboard_option(ablate, "a folder per cell: training curves, figures", "DIR")
    add_config_option(ablate)
    ablate.set_defaults(handler=cmd_lab_ablate)
    theory = commands.add_parser("theory", help="Monte-Carlo check of the paper's theorem")
    theory.add_argument("--dropped", type=int, default=8, help="dimensions the text side drops")
    theory.add_argument(
        "--temperature",
        type=float,
        default=0.07,
        help="InfoNCE temperature tau (default 0.07)",
    )
    theory.add_argument(
        "--trials", type=int, default=20, help="simulated batches per point (default 20)"
    )
    theory.add_argument(
        "--seed", type=int, default=0, help="seed of the simulated captions (default 0)"
    )
    theory.add_argument("--plot", metavar="PNG", help="also plot the gap against d")
    theory.set_defaults(handler=cmd_lab_theory)
    export = commands.add_parser("export", help="write a checkpoint as fp16 safetensors")
    export.add_argument("checkpoint", help="a `lab train` checkpoint (RUN_DIR/checkpoints/*.pt)")
    export.add_argument(
        "--out",
        required=True,
        metavar="FILE.safetensors",
        help="the weights file to write (loads as toy:FILE.safetensors)",
    )
    export.set_defaults(handler=cmd_lab_export)


def cmd_lab_train(args: argparse.Namespace) -> int:
    from cliposcope.encoders.text_variants import text_variant
    from cliposcope.lab.train import TrainSettings, train

    settings = TrainSettings(
        text=text_variant(args.variant),
        policy=args.policy,
        samples=args.samples,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
    )
    check_output_folder(args.out, "--out")
    tensorboard = _tensorboard_folder(args)
    if args.dry_run:
        checkpoints = math.ceil(settings.samples / settings.checkpoint_every)
        _print_training_plan(1, settings, checkpoints, False, args.out)
        return 0
    final = train(settings, args.out, progress=not args.quiet, tensorboard=tensorboard)
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
    runs = list(map(Path, args.runs))
    for run in runs:
        if not (run / "settings.json").is_file():
            raise CliposcopeError(f"{run} is not a lab run", hint="give folders made by lab train")
    if args.dry_run:
        from cliposcope.app.dry_run import estimated_duration

        checkpoints = sum(len(list((run / "checkpoints").glob("*.pt"))) for run in runs)
        print("dry run: nothing evaluated, nothing written")
        print(f"{checkpoints} checkpoint(s) in {len(runs)} run(s), each evaluated (TOR, IOR)")
        print(
            f"estimated time: at most {estimated_duration(checkpoints * EVALUATION_S)} on 2 CPU "
            "cores (measured rates)"
        )
        print(f"would write: {terminal_text(str(out))}")
        return 0
    curves = {}
    for run in runs:
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


def cmd_lab_ablate(args: argparse.Namespace) -> int:
    from cliposcope.lab.ablate import AblateSettings, ablate, summary_rows
    from cliposcope.report.table import render

    defaults = AblateSettings()
    settings = AblateSettings(
        variants=tuple(args.variant or defaults.variants),
        policies=tuple(args.policy or defaults.policies),
        seeds=args.seeds,
        samples=args.samples,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every,
        evaluation_scenes=args.evaluation_scenes,
    )
    check_output_folder(args.out, "--out")
    tensorboard = _tensorboard_folder(args)
    if args.dry_run:
        trained = settings.train_settings(*settings.cells()[0])
        checkpoints = 1 + math.ceil(settings.samples / settings.checkpoint_every)
        _print_training_plan(len(settings.cells()), trained, checkpoints, True, args.out)
        return 0
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    summary = ablate(settings, args.out, progress=not args.quiet, say=say, tensorboard=tensorboard)
    print("Means over seeds, % (first-object preference; IOR: large-object share)")
    print(render(*summary_rows(summary)))
    results = Path(args.out) / "results"
    print(
        f"wrote the results, ablation.json and ablation.png to {results} "
        f"(cliposcope report {results})",
        file=sys.stderr,
    )
    return 0


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
