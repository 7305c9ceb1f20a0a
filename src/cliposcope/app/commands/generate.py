"""`cliposcope generate`: ComCO- or SimCO-style scene sets."""

from __future__ import annotations

import argparse
import sys

from cliposcope.app.outputs import check_output_file, check_output_folder
from cliposcope.errors import CliposcopeError
from cliposcope.terminal import terminal_text

NAME = "generate"
HELP = "generate ComCO- or SimCO-style scenes"
ORDER = 40


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "kind",
        choices=("comco", "simco"),
        help="comco: clip-art objects on a canvas; simco: simple coloured shapes",
    )
    parser.add_argument("--objects", type=int, default=3, help="objects per scene (1-8)")
    parser.add_argument(
        "--layout", default="one-large", choices=("one-large", "equal", "areas"), help="size roles"
    )
    parser.add_argument("--areas", help="with --layout areas: fractions in caption order")
    parser.add_argument(
        "--large-area",
        type=float,
        default=0.20,
        help="share of the canvas the large object covers (default 0.20)",
    )
    parser.add_argument(
        "--small-area",
        type=float,
        default=0.03,
        help="share of the canvas each small object covers (default 0.03)",
    )
    parser.add_argument(
        "--equal-area",
        type=float,
        default=0.06,
        help="with --layout equal: share of the canvas each object covers (default 0.06)",
    )
    parser.add_argument(
        "--order",
        default="large-first",
        help="where the large object is named: large-first | large-last | large-at:K | random "
        "| large-first:P (first in a share P of scenes, at another position otherwise)",
    )
    parser.add_argument(
        "--placement",
        default="random",
        choices=("random", "grid", "overlap"),
        help="where objects go: random non-overlapping spots (default), a grid, or overlapping",
    )
    parser.add_argument("--gap", type=int, default=4, help="min px between objects")
    parser.add_argument(
        "--background",
        default="plain",
        choices=("plain", "gradient", "noise"),
        help="canvas behind the objects (default plain)",
    )
    parser.add_argument("--vocab", help="restrict to these object names (built-in list or file)")
    parser.add_argument(
        "--template",
        default="and",
        help="how the caption joins the object names (default and: 'a cat and a dog')",
    )
    parser.add_argument(
        "--count", type=int, default=100, help="scenes to draw, 1 to 1,000,000 (default 100)"
    )
    parser.add_argument(
        "--size", type=int, default=224, help="image side in pixels, 32 to 2048 (default 224)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawn scenes (default 0)")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="new folder for the images and manifest"
    )
    parser.add_argument(
        "--official-layout",
        metavar="DIR",
        help="also write the official ComCO/SimCO folder layout here",
    )
    parser.add_argument(
        "--coco-json",
        metavar="FILE",
        help="also write COCO instances (RLE masks, boxes, areas) to FILE and captions beside "
        "it (instances_X.json -> captions_X.json)",
    )
    parser.add_argument(
        "--singles",
        choices=("vocabulary", "used"),
        default="vocabulary",
        help="single/ holds a reference image of every vocabulary object, as the real ComCO "
        "folder does (default), or only of the objects the scenes use",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the scenes, the disk room and an estimated time (from drawing the first "
        "scene); write nothing",
    )
    parser.set_defaults(handler=cmd_generate)


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
    if args.dry_run:
        from cliposcope.app.dry_run import estimated_duration
        from cliposcope.data.generate import estimated_work

        folders = [args.out, *([args.official_layout] if args.official_layout else [])]
        size, seconds = estimated_work(settings, len(folders))
        print("dry run: nothing drawn, nothing written")
        print(f"{settings.count:,} scenes and {len(settings.vocabulary)} reference objects")
        print(f"disk: about {size / 1e6:,.1f} MB; time: {estimated_duration(seconds)}")
        written = [*folders, *([args.coco_json] if args.coco_json else [])]
        print("would write: " + ", ".join(terminal_text(str(path)) for path in written))
        return 0
    write_dataset(
        settings,
        args.out,
        progress=not args.quiet,
        singles=args.singles,
        official=args.official_layout,
        coco_json=args.coco_json,
    )
    if not args.quiet:
        print(f"wrote {args.count} scenes (+ references) to {args.out}", file=sys.stderr)
    return 0
