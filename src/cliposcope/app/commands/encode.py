"""`cliposcope encode`: embed a text file or an image folder to .npy, with a JSON record
of where the embeddings came from."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

from cliposcope.app.commands._shared import add_encoder_options, encoder_options, engine_session
from cliposcope.app.outputs import check_output_file
from cliposcope.errors import CliposcopeError
from cliposcope.terminal import terminal_text

NAME = "encode"
HELP = "embed a text file or an image folder to .npy"
ORDER = 20
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--texts", metavar="FILE", help="one text per line")
    source.add_argument("--images", metavar="DIR", help="a folder of images (sorted by name)")
    parser.add_argument(
        "--out", required=True, metavar="OUT.npy", help="embeddings, one row per input"
    )
    parser.add_argument(
        "--model", required=True, metavar="SPEC", help="`cliposcope models` lists the spec forms"
    )
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="local weights, folded into the spec where the "
        "family takes them (e.g. a bare open_clip architecture)",
    )
    add_encoder_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print how many inputs would be encoded and an estimated time (from a short "
        "calibration of the model); write nothing",
    )
    parser.set_defaults(handler=cmd_encode)


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
        hint = f"expected files ending in {', '.join(IMAGE_SUFFIXES)}"
        if (folder / "images").is_dir():  # a scene folder written by `generate`
            hint = f"the images of a scene folder are in {folder / 'images'}"
        raise CliposcopeError(f"no images in {folder}", hint=hint)
    return files


def inputs_fingerprint(inputs: list[str], *, images: bool) -> str:
    """sha256 over the inputs' content keys in order: texts, or image file contents."""
    from cliposcope.hashing import image_key, text_key

    digest = hashlib.sha256()
    for item in inputs:
        digest.update(image_key(item) if images else text_key(item))
    return digest.hexdigest()


def _dry_run(options, spec: str, count: int, *, images: bool, out: Path) -> int:
    from cliposcope.app.dry_run import calibrate, estimated_duration

    rates = calibrate(options, spec)
    rate = rates.images_per_s if images else rates.texts_per_s
    if rate is None:
        raise CliposcopeError(
            f"{spec} is a text-only encoder and cannot embed images", hint="give --texts FILE"
        )
    kind = "images" if images else "texts"
    print(f"dry run: nothing computed, nothing written\n{count:,} {kind} to encode")
    print(f"calibrated {terminal_text(spec)} on {rates.device}: {rate:,.0f} {kind}/s")
    print(
        f"estimated time: {estimated_duration(count / rate)} (embeddings already in the "
        "cache are not encoded again)"
    )
    print(f"would write: {terminal_text(str(out))}, {terminal_text(str(out.with_suffix('.json')))}")
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
    if args.dry_run:
        return _dry_run(options, args.model, len(inputs), images=not args.texts, out=out)
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
        "input_source": str(args.texts or args.images),  # as given: no machine path
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
