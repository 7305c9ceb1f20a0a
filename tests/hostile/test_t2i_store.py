"""The t2i image store is untrusted input: a record (an image's .json) or a detection file
that is nested too deeply, too large, of another format, not a regular file, or with a
field of the wrong type ends the rerun with one line naming it, exit code 2, no traceback
and no result (a record nested 100,000 deep once raised RecursionError)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import run_cli, snapshot

RUN = ["run", "t2i", "--generator", "planted:0.9,0.6,0.3?size=64", "--detector", "truth:planted"]
RUN += ["--combinations", "1", "--seeds-per-prompt", "1", "--no-solo", "--examples", "0"]
RUN += ["--quiet"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store the planted generator filled: 3 images, 3 detection files."""
    root = tmp_path_factory.mktemp("t2i-store")
    from cliposcope.app.cli import main

    argv = [*RUN, "--images", str(root / "store"), "--out", str(root / "out")]
    assert main(argv) == 0
    return root / "store"


def nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))

    return make


def put(name: str, value) -> Callable[[Path], None]:
    return edit(lambda record: record.__setitem__(name, value))


def drop(name: str) -> Callable[[Path], None]:
    return edit(lambda record: record.pop(name))


def text(build: Callable[[str], str]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text(build(path.read_text()))

    return make


def data(build: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(build(path.read_bytes()))

    return make


def deep(depth: int) -> str:
    """JSON text nested ``depth`` deep (json.dumps cannot write it: it recurses)."""
    return "[" * depth + "]" * depth


def deep_text(depth: int) -> Callable[[Path], None]:
    """A whole file nested ``depth`` deep: more than json.loads can take without recursing
    past Python's limit."""
    return text(lambda _: deep(depth))


def first_box(record: dict, value) -> None:
    record["truth"][0]["box"] = value


def first_detection(key: str, value) -> Callable[[Path], None]:
    return edit(lambda record: record["detections"][0].__setitem__(key, value))


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def dangling(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.with_name("nowhere.json"))


def huge(path: Path) -> None:
    with path.open("w") as file:
        file.write(" " * (17 * 2**20))
        file.write("{}")


IMAGE_CASES = {
    "deep-file": (deep_text(100_000), "nests deeper"),
    "deep-generator": (
        text(lambda t: t.replace('"generator": ', f'"generator": {deep(100_000)}, "g": ', 1)),
        "nests deeper",
    ),
    "deep-generator-20": (put("generator", {"settings": nested(20)}), "nests deeper"),
    "deep-truth": (edit(lambda r: first_box(r, nested(50))), "nests deeper"),
    "huge-int-seed": (
        text(lambda t: t.replace('"seed": ', '"seed": 1' + "0" * 5000 + ', "x": ', 1)),
        "not JSON a store writes",
    ),
    "huge-file": (huge, "bytes"),
    "not-json": (text(lambda t: t[: len(t) // 2]), "not valid JSON"),
    "latin1": (data(lambda b: b.replace(b'"prompt": "', b'"prompt": "caf\xe9 ', 1)), "not UTF-8"),
    "a-list": (text(lambda t: f"[{t}]"), "not a JSON object"),
    "format-2": (put("format", 2), "format"),
    "format-missing": (drop("format"), "format"),
    "format-true": (put("format", True), "format"),
    "prompt-missing": (drop("prompt"), "prompt and seed"),
    "prompt-number": (put("prompt", 7), "prompt and seed"),
    "seed-float": (put("seed", 1.5), "prompt and seed"),
    "seed-text": (put("seed", "1"), "prompt and seed"),
    "seed-bool": (put("seed", True), "seed"),
    "seed-negative": (put("seed", -1), "seed"),
    "objects-empty": (put("objects", []), "object names"),
    "objects-numbers": (put("objects", [1, 2, 3]), "object names"),
    "generator-list": (put("generator", []), "generator record"),
    "flagged-text": (put("safety_checker_flagged", "no"), "safety_checker_flagged"),
    "size-three": (put("size", [64, 64, 3]), "size"),
    "size-negative": (put("size", [-64, 64]), "size"),
    "truth-text": (put("truth", "dog"), "truth that is not a list"),
    "truth-no-label": (put("truth", [{"box": None}]), "without a label"),
    "truth-box-short": (edit(lambda r: first_box(r, [1, 2])), "four numbers"),
    "truth-box-nan": (text(lambda t: t.replace('"box": [', '"box": [NaN, ', 1)), "box"),
    "truth-box-inverted": (edit(lambda r: first_box(r, [10, 10, 0, 0])), "corners"),
}
DETECTION_CASES = {
    "deep-file": (deep_text(100_000), "nests deeper"),
    "deep-detector": (put("detector", nested(30)), "nests deeper"),
    "huge-file": (huge, "bytes"),
    "directory": (directory, "not a regular file"),
    "fifo": (fifo, "not a regular file"),
    "dangling-link": (dangling, "not a regular file"),
    "format-0": (put("format", 0), "format"),
    "no-list": (put("detections", {"label": "dog"}), "no detections list"),
    "detector-text": (put("detector", "truth"), "detector record"),
    "score-text": (first_detection("score", "high"), "without a label and a score"),
    "score-nan": (text(lambda t: t.replace('"score": 1.0', '"score": NaN', 1)), "a score"),
    "label-number": (first_detection("label", 3), "without a label and a score"),
    "box-short": (first_detection("box", [0, 0]), "four numbers"),
    "box-text": (first_detection("box", "0,0,1,1"), "four numbers"),
}


def tampered_copy(store: Path, tmp_path: Path, folder: str) -> tuple[Path, Path]:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    target = sorted((copy / folder).rglob("*.json"))[0]
    return copy, target


def assert_refused(capsys, copy: Path, target: Path, tmp_path: Path, needle: str) -> None:
    before = snapshot(copy)
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, *RUN, "--images", copy, "--out", out)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: image store file "), err
    assert str(target) in lines[0] and needle in lines[0], (needle, lines[0])
    assert len(lines[0]) < 1000  # the offending value is cut short, never dumped whole
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()
    assert snapshot(copy) == before  # nothing drawn again, nothing written


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_a_bad_image_record_is_one_line(case, store, tmp_path, capsys):
    make, needle = IMAGE_CASES[case]
    copy, target = tampered_copy(store, tmp_path, "images")
    make(target)
    assert_refused(capsys, copy, target, tmp_path, needle)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(DETECTION_CASES))
def test_a_bad_detection_file_is_one_line(case, store, tmp_path, capsys):
    make, needle = DETECTION_CASES[case]
    copy, target = tampered_copy(store, tmp_path, "detections")
    make(target)
    assert_refused(capsys, copy, target, tmp_path, needle)


def test_the_untampered_store_is_reused(store, tmp_path, capsys):
    """The control: the same copy, untouched, serves a rerun that draws nothing."""
    copy, _ = tampered_copy(store, tmp_path, "images")
    before = snapshot(copy)
    code, _, err = run_cli(capsys, *RUN, "--images", copy, "--out", tmp_path / "out")
    assert code == 0, err
    (result,) = (tmp_path / "out").glob("t2i_*.json")
    counts = json.loads(result.read_text())["provenance"]["counts"]
    assert counts["images_generated"] == 0 and counts["detections_run"] == 0
    assert snapshot(copy) == before
