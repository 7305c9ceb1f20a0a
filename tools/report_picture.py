"""Regenerate docs/report.png, the picture of the demo report in the README: run the demo
into a temporary folder (or take a results folder it wrote), build its report, and
screenshot it with headless Chromium, downscaled and reduced to a palette so the PNG stays
small.

    python tools/report_picture.py              # runs the demo (a minute or two)
    python tools/report_picture.py /tmp/demo    # an existing demo folder
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from cliposcope.app.cli import main as cliposcope
from cliposcope.report.html import build_report

OUT = Path(__file__).resolve().parent.parent / "docs" / "report.png"
WINDOW = (1280, 2000)
PICTURE_WIDTH = 900
MAX_BYTES = 400_000


def screenshot(page: Path, shot: Path, profile: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("headless chromium is needed (Debian: apt-get install chromium)")
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--screenshot={shot}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def small_png(shot: Path, out: Path) -> int:
    """The screenshot at PICTURE_WIDTH wide, in a 256-colour palette; its size in bytes."""
    picture = Image.open(shot).convert("RGB")
    height = round(picture.height * PICTURE_WIDTH / picture.width)
    picture = picture.resize((PICTURE_WIDTH, height), Image.LANCZOS)
    picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, help="a folder `cliposcope demo` wrote")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="report-picture-") as scratch:
        scratch = Path(scratch)
        results = args.results
        if results is None:
            results = scratch / "demo"
            if cliposcope(["demo", "--out", str(results), "--quiet"]) != 0:
                return 1
        page = build_report(results, scratch / "report.html")
        shot = scratch / "shot.png"
        screenshot(page, shot, scratch / "profile")
        size = small_png(shot, args.out)
    print(f"wrote {args.out} ({size // 1000} kB)")
    if size > MAX_BYTES:
        print(f"warning: over {MAX_BYTES // 1000} kB; lower PICTURE_WIDTH", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
