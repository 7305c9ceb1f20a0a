"""From parsed command-line options to probe runs on a model and its null controls."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

from cliposcope.data.templates import load_template
from cliposcope.data.vocab import load_vocabulary
from cliposcope.encoders.base import Encoder
from cliposcope.errors import CliposcopeError
from cliposcope.probes.nulls import random_init_spec
from cliposcope.results import ProbeResult

OpenEncoder = Callable[[str], Encoder]
ProbeRun = Callable[[Encoder, OpenEncoder], Iterator[ProbeResult]]


def probe_runner(args: argparse.Namespace) -> ProbeRun:
    """Check the options once, then return a function that runs one model and its nulls."""
    progress = not args.quiet
    if args.probe == "tor":
        from cliposcope.probes.tor import TorSettings, run_tor

        settings = TorSettings(
            vocab=load_vocabulary(args.vocab), n=args.n, protocol=args.protocol,
            template=load_template(args.template, args.n), sample=args.sample, seed=args.seed,
            all_orders=args.all_orders, legacy_quirks=args.legacy_quirks, gallery=args.gallery,
            filler=args.filler,
        )  # fmt: skip
        settings.check()

        def run(encoder, role, sum_control=False):
            return run_tor(encoder, settings, role=role, sum_control=sum_control, progress=progress)

    elif args.probe == "toc":
        from cliposcope.probes.toc import TocSettings, run_toc

        settings = TocSettings(
            objects=load_vocabulary(args.vocab), colours=load_vocabulary(args.colours), n=args.n,
            target=args.target, per_class=args.per_class, seed=args.seed, epochs=args.epochs,
        )  # fmt: skip
        settings.check()

        def run(encoder, role, sum_control=False):
            return run_toc(encoder, settings, role=role, progress=progress)

    elif args.probe == "paper":
        from cliposcope.probes.battery import load_scene_set, run_battery

        scene_set = load_scene_set(args)

        def run(encoder, role, sum_control=False):
            return list(run_battery(encoder, scene_set, args, role))

    else:
        from cliposcope.probes.size_first import SizeFirstSettings, run_size_first

        settings = SizeFirstSettings(
            template=load_template(args.template, 4), per_first_object=args.per_first_object,
            seed=args.seed,
        )  # fmt: skip
        settings.gallery()

        def run(encoder, role, sum_control=False):
            return run_size_first(encoder, settings, role=role, progress=progress)

    if "sum" in args.null and args.probe not in ("tor",):
        raise CliposcopeError(
            "--null sum is the order-free caption control of TOR", hint="use --null random-init"
        )

    random_inits_done: set[str] = set()  # models of one architecture share their control

    def run_with_nulls(encoder: Encoder, open_encoder: OpenEncoder) -> Iterator[ProbeResult]:
        runs = [lambda: run(encoder, "model")]
        if "sum" in args.null:
            runs.append(lambda: run(encoder, "null:sum", sum_control=True))
        if "random-init" in args.null:
            null_spec = random_init_spec(encoder.info, args.seed)
            if null_spec not in random_inits_done:
                random_inits_done.add(null_spec)
                runs.append(lambda: run(open_encoder(null_spec), "null:random-init"))
        for start in runs:
            outcome = start()
            yield from outcome if isinstance(outcome, list) else [outcome]

    return run_with_nulls
