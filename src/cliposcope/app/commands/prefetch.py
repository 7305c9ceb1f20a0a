"""`cliposcope prefetch`: fill the Hugging Face cache on a connected machine, so that a
machine without the hub (a cluster's compute nodes, say) runs the same models offline."""

from __future__ import annotations

import argparse
import sys

NAME = "prefetch"
HELP = "download models' hub files into the Hugging Face cache, for offline runs"
ORDER = 15


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        nargs="+",
        metavar="MODEL",
        help="model specs, named sets (@paper-table1) or @FILE with one spec per line",
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="skip loading each model offline afterwards (the check that the cache suffices)",
    )
    parser.set_defaults(handler=cmd_prefetch)


def cmd_prefetch(args: argparse.Namespace) -> int:
    from cliposcope.app.prefetch import prefetch_models
    from cliposcope.data.zoo import expand_models
    from cliposcope.encoders.hub import hub_cache
    from cliposcope.terminal import terminal_text

    specs = expand_models(args.model)
    report = prefetch_models(specs, check=not args.no_check)
    for line in report.lines:
        print(terminal_text(line))
    for spec, reason in report.failed:
        print(f"error: {terminal_text(spec)} failed: {terminal_text(reason)}", file=sys.stderr)
    print(
        f"cache: {terminal_text(str(hub_cache()))} (copy it to the offline machine, or point "
        "HF_HOME there at a shared copy)",
        file=sys.stderr,
    )
    return 2 if report.failed else 0
