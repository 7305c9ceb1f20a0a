"""The hostile suite, COCO-format annotations: every field cliposcope (or pycocotools) reads
is checked against the schema before use, through `corpus stats`, `run tor-captions` and the
COCO scenes of the image probes. Each bad file ends in exit code 2, exactly one `error:`
line naming the record or the file, no traceback and nothing left in --out. The files are
built here, tiny: a valid set of 40x40 images and its annotations, then one change each."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.hostile.conftest import assert_one_clear_error, run_cli

CATEGORIES = {1: "person", 17: "cat", 18: "dog", 3: "car"}
# image id -> [(category id, area, [x, y, w, h], iscrowd)]; 40x40 px each
IMAGES = {
    1: [(17, 300, [0, 0, 20, 15], 0), (18, 100, [20, 20, 10, 10], 0)],
    2: [(18, 400, [0, 0, 20, 20], 0), (17, 200, [20, 20, 10, 20], 0)],
    3: [(1, 500, [5, 5, 25, 20], 0), (3, 80, [30, 30, 8, 10], 0), (1, 900, [0, 0, 40, 40], 1)],
    4: [(18, 300, [0, 0, 30, 10], 0)],
}
CAPTIONS = [(1, "a cat sleeping next to a dog"), (2, "a dog and a cat"), (3, "a man by a car")]


def polygon(box):
    x, y, w, h = box
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def documents() -> tuple[dict, dict]:
    """(instances, captions) of the valid set."""
    images = [{"id": i, "file_name": f"{i}.png", "width": 40, "height": 40} for i in sorted(IMAGES)]
    annotations = [
        {
            "id": 10 * image + k,
            "image_id": image,
            "category_id": category,
            "area": area,
            "bbox": box,
            "iscrowd": crowd,
            "segmentation": polygon(box),
        }
        for image, rows in IMAGES.items()
        for k, (category, area, box, crowd) in enumerate(rows)
    ]
    categories = [{"id": i, "name": n} for i, n in CATEGORIES.items()]
    captions = [{"id": k + 1, "image_id": i, "caption": c} for k, (i, c) in enumerate(CAPTIONS)]
    instances = {"images": images, "annotations": annotations, "categories": categories}
    return instances, {"images": copy.deepcopy(images), "annotations": captions}


def write_images(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for image_id, rows in IMAGES.items():
        pixels = np.full((40, 40, 3), 200, np.uint8)
        for k, (_, _, (x, y, w, h), _) in enumerate(rows):
            pixels[y : y + h, x : x + w] = (40 * k, 90, 250 - 40 * k)
        Image.fromarray(pixels).save(folder / f"{image_id}.png")
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return write_images(tmp_path_factory.mktemp("coco") / "images")


def stats_argv(captions: Path, instances: Path, out: Path) -> list:
    return ["corpus", "stats", "--coco-captions", captions, "--coco-instances", instances]


def tor_argv(captions: Path, instances: Path, out: Path) -> list:
    return [
        "run",
        "tor-captions",
        "--model",
        "toy:default",
        "--coco-captions",
        captions,
        "--coco-instances",
        instances,
        "--n",
        "2",
        "--no-cache",
        "--quiet",
    ]


def ior_argv(instances: Path, images: Path, captions: Path | None, gallery="box") -> list:
    argv = ["run", "ior", "--model", "toy:default", "--coco-instances", instances]
    argv += ["--coco-images", images, "--objects", "2", "--coco-gallery", gallery]
    argv += ["--coco-captions", captions] if captions else []
    return [*argv, "--no-cache", "--quiet"]


def setter(section: str, index: int, **fields):
    def change(document):
        document[section][index].update(fields)

    return change


def remover(section: str, index: int, name: str):
    def change(document):
        del document[section][index][name]

    return change


# (change to the instances document, what the one-line error must name)
INSTANCE_CASES = {
    "iscrowd-string": (setter("annotations", 0, iscrowd="0"), "iscrowd '0'"),
    "iscrowd-two": (setter("annotations", 0, iscrowd=2), "iscrowd 2"),
    "iscrowd-null": (setter("annotations", 0, iscrowd=None), "iscrowd None"),
    "image-id-string": (setter("annotations", 0, image_id="1"), "image_id '1'"),
    "image-id-absent": (setter("annotations", 0, image_id=999), "image_id 999, which names no"),
    "image-id-float": (setter("annotations", 0, image_id=1.0), "image_id 1.0"),
    "category-id-absent": (setter("annotations", 0, category_id=999), "category_id 999"),
    "category-id-string": (setter("annotations", 0, category_id="17"), "category_id '17'"),
    "category-id-list": (setter("annotations", 0, category_id=[17]), "category_id [17]"),
    "area-huge-int": (setter("annotations", 0, area=10**400), "area 1000000000"),
    "area-huge-float": (setter("annotations", 0, area=1e300), "area 1e+300"),
    "area-negative": (setter("annotations", 0, area=-1), "area -1"),
    "area-nan": (setter("annotations", 0, area=float("nan")), "area nan"),
    "area-inf": (setter("annotations", 0, area=float("inf")), "area inf"),
    "area-string": (setter("annotations", 0, area="300"), "area '300'"),
    "area-bool": (setter("annotations", 0, area=True), "area True"),
    "area-missing": (remover("annotations", 0, "area"), "has no area"),
    "bbox-three": (setter("annotations", 0, bbox=[1, 2, 3]), "bbox [1, 2, 3]"),
    "bbox-negative-side": (setter("annotations", 0, bbox=[0, 0, -1, 5]), "bbox [0, 0, -1, 5]"),
    "bbox-text": (setter("annotations", 0, bbox=[0, 0, "a", 5]), "bbox [0, 0, 'a', 5]"),
    "bbox-far": (setter("annotations", 0, bbox=[1e300, 0, 1, 1]), "bbox [1e+300"),
    "bbox-nan": (setter("annotations", 0, bbox=[float("nan"), 0, 1, 1]), "bbox [nan"),
    "bbox-object": (setter("annotations", 0, bbox={"x": 1}), "bbox {'x': 1}"),
    "polygon-1e300": (
        setter("annotations", 0, segmentation=[[1e300, 0, 1e300, 1e300, 0, 1e300]]),
        "segmentation",
    ),
    "polygon-odd": (setter("annotations", 0, segmentation=[[1, 2, 3, 4, 5]]), "segmentation"),
    "polygon-short": (setter("annotations", 0, segmentation=[[1, 2, 3, 4]]), "segmentation"),
    "polygon-text": (
        setter("annotations", 0, segmentation=[[1, 2, 3, "4", 5, 6]]),
        "segmentation",
    ),
    "polygon-bools": (
        setter("annotations", 0, segmentation=[[True, 2, 3, 4, 5, 6]]),
        "segmentation",
    ),
    "polygon-nan": (
        setter("annotations", 0, segmentation=[[float("nan"), 2, 3, 4, 5, 6]]),
        "segmentation",
    ),
    "polygon-huge-int": (
        setter("annotations", 0, segmentation=[[10**400, 2, 3, 4, 5, 6]]),
        "segmentation",
    ),
    "polygon-flat": (setter("annotations", 0, segmentation=[1, 2, 3, 4, 5, 6]), "segmentation"),
    "segmentation-text": (setter("annotations", 0, segmentation="oops"), "segmentation 'oops'"),
    "rle-no-size": (setter("annotations", 0, segmentation={"counts": "0"}), "segmentation"),
    "rle-zero-size": (
        setter("annotations", 0, segmentation={"size": [0, 40], "counts": "0"}),
        "segmentation",
    ),
    "rle-bad-characters": (
        setter("annotations", 0, segmentation={"size": [40, 40], "counts": "\x00\x7f~"}),
        "segmentation",
    ),
    "rle-negative-run": (
        setter("annotations", 0, segmentation={"size": [40, 40], "counts": [-5, 1605]}),
        "segmentation",
    ),
    "rle-counts-number": (
        setter("annotations", 0, segmentation={"size": [40, 40], "counts": 7}),
        "segmentation",
    ),
    "width-zero": (setter("images", 0, width=0), "width 0"),
    "width-string": (setter("images", 0, width="40"), "width '40'"),
    "width-float": (setter("images", 0, width=40.0), "width 40.0"),
    "width-bool": (setter("images", 0, width=True), "width True"),
    "height-huge": (setter("images", 0, height=10**6), "height 1000000"),
    "file-name-nul": (setter("images", 0, file_name="1\x00.png"), "file_name '1\\x00.png'"),
    "file-name-newline": (setter("images", 0, file_name="1\n.png"), "control character"),
    "file-name-absolute": (setter("images", 0, file_name="/etc/hostname"), "absolute path"),
    "file-name-climbs": (setter("images", 0, file_name="../1.png"), "'..'"),
    "file-name-windows": (setter("images", 0, file_name="C:\\x.png"), "absolute path"),
    "file-name-number": (setter("images", 0, file_name=7), "file_name 7"),
    "file-name-empty": (setter("images", 0, file_name=""), "file_name ''"),
    "category-name-nul": (setter("categories", 0, name="per\x00son"), "category name"),
    "category-name-empty": (setter("categories", 0, name=""), "category name ''"),
    "category-name-number": (setter("categories", 0, name=7), "category name 7"),
    "category-name-twice": (setter("categories", 1, name="person"), "repeats the name"),
    "image-id-bool": (setter("images", 0, id=True), "images[0]: id True is not an integer"),
    "image-id-fraction": (setter("images", 0, id=1.5), "images[0]: id 1.5 is not an integer"),
    "image-id-missing": (remover("images", 0, "id"), "images[0] has no integer or string id"),
    "image-id-huge": (setter("images", 0, id=2**70), "out of range"),
    "image-id-mixed": (setter("images", 3, id="4"), "the file's ids are integers"),
    "annotation-id-repeated": (setter("annotations", 1, id=10), "repeats id 10"),
    "annotation-not-object": (
        lambda d: d["annotations"].__setitem__(0, 5),
        "annotations[0] has no integer or string id",
    ),
    "annotations-not-list": (lambda d: d.update(annotations={}), "is not a COCO file"),
    "no-categories": (lambda d: d.pop("categories"), "is not a COCO file"),
}

# (change to the captions document, what the error must name)
CAPTION_CASES = {
    "caption-number": (setter("annotations", 0, caption=7), "caption 7 is not text"),
    "caption-missing": (remover("annotations", 0, "caption"), "has no caption"),
    "caption-image-id-string": (setter("annotations", 0, image_id="1"), "image_id '1'"),
    "caption-image-absent": (setter("annotations", 0, image_id=77), "names no image"),
    "caption-file-name-nul": (setter("images", 0, file_name="a\x00b"), "file_name"),
}


def write(document, path: Path) -> Path:
    path.write_text(json.dumps(document))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(INSTANCE_CASES))
def test_bad_instances_are_one_clear_line(case, tmp_path, capsys):
    change, value = INSTANCE_CASES[case]
    instances, captions = documents()
    change(instances)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    bad = write(instances, inputs / "instances.json")
    good = write(captions, inputs / "captions.json")
    out = tmp_path / "out"
    line = assert_one_clear_error(
        [*stats_argv(good, bad, out), "--out", out], capsys, value, out, tmp_path
    )
    assert "instances.json" in line


@pytest.mark.parametrize("case", sorted(CAPTION_CASES))
@pytest.mark.parametrize("command", ["stats", "tor-captions"])
def test_bad_captions_are_one_clear_line(case, command, tmp_path, capsys):
    change, value = CAPTION_CASES[case]
    instances, captions = documents()
    change(captions)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    good = write(instances, inputs / "instances.json")
    bad = write(captions, inputs / "captions.json")
    out = tmp_path / "out"
    argv = (stats_argv if command == "stats" else tor_argv)(bad, good, out)
    line = assert_one_clear_error([*argv, "--out", out], capsys, value, out, tmp_path)
    assert "captions.json" in line


# Through the COCO scenes of the image probes: the same schema, and what only images meet.
SCENE_CASES = [
    "iscrowd-string",
    "image-id-string",
    "area-huge-int",
    "polygon-1e300",
    "file-name-nul",
    "file-name-climbs",
    "file-name-absolute",
    "category-name-nul",
    "width-string",
]


@pytest.mark.parametrize("case", SCENE_CASES)
def test_bad_instances_for_image_probes_are_one_clear_line(case, images, tmp_path, capsys):
    change, value = INSTANCE_CASES[case]
    instances, _ = documents()
    change(instances)
    bad = write(instances, tmp_path / "instances.json")
    out = tmp_path / "out"
    argv = [*ior_argv(bad, images, None), "--out", out]
    assert_one_clear_error(argv, capsys, value, out, tmp_path)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels (Pillow reads the header, nothing more)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def bomb(instances: dict, folder: Path) -> None:
    (folder / "1.png").write_bytes(png_header(20000, 20000))


def broken_image(instances: dict, folder: Path) -> None:
    (folder / "1.png").write_bytes(b"\x89PNG broken")


def missing_image(instances: dict, folder: Path) -> None:
    (folder / "1.png").unlink()


def far_polygon(instances: dict, folder: Path) -> None:
    instances["annotations"][0]["segmentation"] = [[0, 0, 90000, 0, 90000, 90000]]


def zigzag_polygon(instances: dict, folder: Path) -> None:
    instances["annotations"][0]["segmentation"] = [[0, 0, 40, 40] * 50_000]


def rle_short(instances: dict, folder: Path) -> None:
    instances["annotations"][0]["segmentation"] = {"size": [40, 40], "counts": [5, 10]}


def rle_long(instances: dict, folder: Path) -> None:  # would write past the mask
    instances["annotations"][0]["segmentation"] = {"size": [40, 40], "counts": [0, 1000, 1000]}


def rle_cut_text(instances: dict, folder: Path) -> None:  # a number cut short
    instances["annotations"][0]["segmentation"] = {"size": [40, 40], "counts": "0P"}


def rle_other_size(instances: dict, folder: Path) -> None:
    instances["annotations"][0]["segmentation"] = {"size": [9, 9], "counts": [81]}


def size_mismatch(instances: dict, folder: Path) -> None:
    instances["images"][0]["width"] = 80


IMAGE_CASES = {
    "decompression-bomb": (bomb, "too large to open"),
    "broken-image": (broken_image, "cannot read it"),
    "missing-image": (missing_image, "1.png is not in"),
    "far-polygon": (far_polygon, "reaches far outside"),
    "zigzag-polygon": (zigzag_polygon, "outline runs"),
    "rle-short": (rle_short, "do not cover"),
    "rle-long": (rle_long, "do not cover"),
    "rle-cut-text": (rle_cut_text, "do not cover"),
    "rle-other-size": (rle_other_size, "a (9, 9) mask for a 40x40 image"),
    "size-mismatch": (size_mismatch, "the annotations say 80x40"),
}


@pytest.mark.parametrize("gallery", ["box", "mask"])
@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_bad_images_and_masks_are_one_clear_line(case, gallery, tmp_path, capsys):
    change, value = IMAGE_CASES[case]
    folder = write_images(tmp_path / "images")
    instances, _ = documents()
    change(instances, folder)
    bad = write(instances, tmp_path / "instances.json")
    out = tmp_path / "out"
    argv = [*ior_argv(bad, folder, None, gallery), "--out", out]
    assert_one_clear_error(argv, capsys, value, out, tmp_path)


def deep(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def deep_inside(path: Path) -> None:
    instances, _ = documents()
    instances["info"] = "PLACEHOLDER"
    path.write_text(json.dumps(instances).replace('"PLACEHOLDER"', "{" * 5000 + "}" * 5000))


def gzipped(path: Path) -> None:
    instances, _ = documents()
    path.write_bytes(gzip.compress(json.dumps(instances).encode()))


def latin1(path: Path) -> None:
    instances, _ = documents()
    instances["categories"][0]["name"] = "caf\xe9"
    path.write_bytes(json.dumps(instances, ensure_ascii=False).encode("latin-1"))


def not_json(path: Path) -> None:
    path.write_text('{"images": [')


def empty(path: Path) -> None:
    path.write_text("")


def long_number(path: Path) -> None:
    path.write_text('{"images": [{"id": ' + "9" * 5000 + "}]}")


def top_list(path: Path) -> None:
    path.write_text("[]")


def utf16(path: Path) -> None:
    instances, _ = documents()
    path.write_bytes(json.dumps(instances).encode("utf-16"))


def quote_storm(path: Path) -> None:  # a million escaped quotes, never closed
    path.write_bytes(b'"' + b'\\"' * 1_000_000)


FILE_CASES = {
    "quote-storm": (quote_storm, "is not valid JSON"),
    "deep": (deep, "nests arrays and objects 100000 deep"),
    "deep-inside": (deep_inside, "5001 deep"),
    "gzip": (gzipped, "is a gzip file"),
    "latin1": (latin1, "is not UTF-8 text"),
    "utf16": (utf16, "is not UTF-8 text"),
    "truncated": (not_json, "is not valid JSON"),
    "empty": (empty, "is not valid JSON"),
    "long-number": (long_number, "refuse"),
    "top-level-list": (top_list, "is not a COCO file"),
}


@pytest.mark.parametrize("flag", ["--coco-captions", "--coco-instances"])
@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_unreadable_annotation_files_are_one_clear_line(case, flag, tmp_path, capsys):
    make, value = FILE_CASES[case]
    instances, captions = documents()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    files = {
        "--coco-instances": write(instances, inputs / "instances.json"),
        "--coco-captions": write(captions, inputs / "captions.json"),
    }
    bad = inputs / "bad.json"
    make(bad)
    files[flag] = bad
    out = tmp_path / "out"
    argv = ["corpus", "stats", "--coco-captions", files["--coco-captions"]]
    argv += ["--coco-instances", files["--coco-instances"], "--out", out]
    line = assert_one_clear_error(argv, capsys, value, out, tmp_path)
    assert "bad.json" in line


@pytest.mark.parametrize("case", ["deep", "gzip", "latin1"])
def test_unreadable_instances_for_image_probes(case, images, tmp_path, capsys):
    make, value = FILE_CASES[case]
    bad = tmp_path / "bad.json"
    make(bad)
    out = tmp_path / "out"
    assert_one_clear_error(
        [*ior_argv(bad, images, None), "--out", out], capsys, value, out, tmp_path
    )


def test_captions_and_instances_with_other_id_types_are_refused(images, tmp_path, capsys):
    """String ids are accepted when a file uses them throughout, but a captions file with
    string ids and an instances file with integer ones would match nothing."""
    instances, captions = documents()
    for image in captions["images"]:
        image["id"] = str(image["id"])
    for record in captions["annotations"]:
        record["id"], record["image_id"] = str(record["id"]), str(record["image_id"])
    good = write(instances, tmp_path / "instances.json")
    textual = write(captions, tmp_path / "captions.json")
    for argv in (
        [*stats_argv(textual, good, tmp_path / "out"), "--out", tmp_path / "out"],
        [*ior_argv(good, images, textual), "--out", tmp_path / "out"],
    ):
        assert_one_clear_error(
            argv, capsys, "no caption would find its image", tmp_path / "out", tmp_path
        )


def test_bom_and_consistent_string_ids_are_accepted(tmp_path, capsys):
    """COCO JSON with a UTF-8 byte-order mark reads as JSONL with one does; string ids
    used throughout a file (and its partner) read like integers."""
    instances, captions = documents()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "instances.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(instances).encode())
    (inputs / "captions.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(captions).encode())
    argv = [*stats_argv(inputs / "captions.json", inputs / "instances.json", None)]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    result = json.loads(next((tmp_path / "out").glob("*.json")).read_text())

    for document in (instances, captions):
        for section in ("images", "annotations", "categories"):
            for record in document.get(section, []):
                for name in ("id", "image_id", "category_id"):
                    if name in record:
                        record[name] = f"x{record[name]}"
    write(instances, inputs / "instances.json")
    write(captions, inputs / "captions.json")
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "out2", "--quiet")
    assert code == 0, err
    again = json.loads(next((tmp_path / "out2").glob("*.json")).read_text())
    assert again["metrics"] == result["metrics"]


def test_crowd_flags_as_numbers_and_booleans_agree(tmp_path, capsys):
    """iscrowd 0/1 and false/true mean the same; the crowd person of image 3 is left out."""
    results = []
    for flags in ((0, 1), (False, True)):
        instances, captions = documents()
        for annotation in instances["annotations"]:
            annotation["iscrowd"] = flags[annotation["iscrowd"]]
        folder = tmp_path / str(flags[0])
        folder.mkdir()
        write(instances, folder / "instances.json")
        write(captions, folder / "captions.json")
        argv = stats_argv(folder / "captions.json", folder / "instances.json", None)
        code, _, err = run_cli(capsys, *argv, "--out", folder / "out", "--quiet")
        assert code == 0, err
        result = json.loads(next((folder / "out").glob("*.json")).read_text())
        results.append(result["metrics"])
    assert results[0] == results[1]
