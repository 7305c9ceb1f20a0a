"""The hostile suite, caption corpora: JSONL, CSV and Parquet tables, local Hugging Face
dataset folders (hf:PATH) and synonym tables. A file that is not what its name says, text
that is not UTF-8, a row too long to stream, a nesting too deep, a number too large, or a
symbolic link leaving a dataset folder: each ends in exit code 2 with exactly one `error:`
line naming the file, no traceback and nothing left in --out. The fixtures are built here,
tiny (the long rows are 3 MiB: the tests shrink the 16 MiB a row may hold to 1 MiB)."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.hostile.conftest import assert_one_clear_error, run_cli

ROWS = [
    {"caption": "a dog chasing a frisbee", "objects": ["dog", "frisbee"], "areas": [0.2, 0.02]},
    {"caption": "a cat on a laptop", "objects": ["cat", "laptop"], "areas": [0.15, 0.25]},
]
BLOCK = 1 << 20  # the tests shrink the 16 MiB a row may hold to 1 MiB
LONG = 3 * BLOCK


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def csv_text(rows) -> bytes:
    lines = ["caption,objects,areas"]
    for row in rows:
        objects = json.dumps(row["objects"]).replace('"', '""')
        lines.append(f'{row["caption"]},"{objects}","{json.dumps(row["areas"])}"')
    return ("\n".join(lines) + "\n").encode()


def parquet(rows) -> bytes:
    import io

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


SIZED = ["--objects-column", "objects", "--areas-column", "areas"]

# name -> (file name, its bytes (or what makes them), extra options, what the one-line
# error must name)
TABLE_CASES = {
    "jsonl-latin1-row": (
        "t.jsonl",
        jsonl(ROWS) + '{"caption": "caf\xe9 and a dog"}\n'.encode("latin-1"),
        [],
        "is not UTF-8 text (row 3)",
    ),
    "jsonl-latin1-first": (
        "t.jsonl",
        '{"caption": "caf\xe9 and a dog"}\n'.encode("latin-1") + jsonl(ROWS),
        [],
        "is not UTF-8 text (line 1:",
    ),
    "csv-latin1-row": (
        "t.csv",
        b"caption\na dog\ncaf\xe9 and a dog\n",
        [],
        "is not UTF-8 text",
    ),
    "csv-latin1-header": ("t.csv", b"capti\xf3n\na dog\n", [], "is not UTF-8 text (line 1:"),
    "jsonl-utf16": ("t.jsonl", jsonl(ROWS).decode().encode("utf-16"), [], "not UTF-8"),
    "fake-gz": ("t.jsonl.gz", b"not gzip at all\n", [], "t.jsonl.gz is not gzip-compressed"),
    "fake-bz2": ("t.csv.bz2", b"caption\na dog\n", [], "t.csv.bz2 is not bz2-compressed"),
    "fake-zst": ("t.jsonl.zst", jsonl(ROWS), [], "t.jsonl.zst is not zstd-compressed"),
    "gzip-unnamed": ("t.jsonl", gzip.compress(jsonl(ROWS)), [], "is gzip-compressed"),
    "bz2-unnamed": ("t.csv", bz2.compress(csv_text(ROWS)), [], "is bz2-compressed"),
    "truncated-gz": ("t.jsonl.gz", gzip.compress(jsonl(ROWS * 50))[:60], [], "t.jsonl.gz"),
    "gz-latin1": (
        "t.jsonl.gz",
        gzip.compress(jsonl(ROWS) + '{"caption": "caf\xe9"}\n'.encode("latin-1")),
        [],
        "not UTF-8",
    ),
    "parquet-as-csv": ("t.csv", parquet(ROWS), [], "is a Parquet file, not CSV"),
    "parquet-as-jsonl": ("t.jsonl", parquet(ROWS), [], "is a Parquet file, not JSONL"),
    "parquet-format-csv": ("t.dat", parquet(ROWS), ["--format", "csv"], "is a Parquet file"),
    "csv-as-parquet": ("t.parquet", csv_text(ROWS), [], "is not a Parquet file"),
    "zip-as-csv": ("t.csv", None, [], "zip archive"),
    "jsonl-long-row": (
        "t.jsonl",
        lambda: jsonl(ROWS) + jsonl([{"caption": "dog " * (LONG // 4)}]),
        [],
        "holds a row too long to stream",
    ),
    "jsonl-long-first": (
        "t.jsonl",
        lambda: jsonl([{"caption": "dog " * (LONG // 4)}]) + jsonl(ROWS),
        [],
        "holds a row too long to stream",
    ),
    "csv-long-row": (
        "t.csv",
        lambda: b"caption\na dog\n" + b"dog " * (LONG // 4) + b"\n",
        [],
        "holds a row too long to stream",
    ),
    "jsonl-deep-first": ("t.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n", [], "line 1"),
    "jsonl-empty": ("t.jsonl", b"", [], "line 1 is not a JSON object"),
    "jsonl-array": ("t.jsonl", b'["a dog"]\n', [], "line 1 is not a JSON object"),
    "jsonl-no-caption": ("t.jsonl", b'{"text": "a dog"}\n', [], "has no column 'caption'"),
    "csv-empty": ("t.csv", b"", [], "has no column 'caption'"),
    "csv-deep-cell": (
        "t.csv",
        b'caption,objects,areas\na dog,"' + b"[" * 5000 + b"]" * 5000 + b'","[1]"\n',
        SIZED,
        "column 'objects' is not a list",
    ),
    "csv-area-inf": (
        "t.csv",
        b'caption,objects,areas\na dog,"[""dog""]","[1e400]"\n',
        SIZED,
        "row 1: area inf",
    ),
    "csv-area-huge-int": (
        "t.csv",
        b'caption,objects,areas\na dog,"[""dog""]","[' + b"9" * 400 + b']"\n',
        SIZED,
        "row 1: area 99999",
    ),
    "csv-area-huge-float": (
        "t.csv",
        b'caption,objects,areas\na dog,"[""dog""]","[1e300]"\n',
        SIZED,
        "row 1: area 1e+300",
    ),
    "csv-box-huge-int": (
        "t.csv",
        b'caption,objects,boxes\na dog,"[""dog""]","[[0, 0, ' + b"9" * 400 + b', 1]]"\n',
        ["--objects-column", "objects", "--boxes-column", "boxes"],
        "row 1: box [0, 0, 99999",
    ),
    "csv-box-nan": (
        "t.csv",
        b'caption,objects,boxes\na dog,"[""dog""]","[[NaN, 0, 1, 1]]"\n',
        ["--objects-column", "objects", "--boxes-column", "boxes"],
        "row 1: box [nan, 0, 1, 1]",
    ),
    "jsonl-area-text": (
        "t.jsonl",
        b'{"caption": "a dog", "objects": ["dog"], "areas": ["big"]}\n',
        SIZED,
        "cannot read",
    ),
}


def write_case(folder: Path, case: str) -> tuple[Path, list]:
    name, data, options, _ = TABLE_CASES[case]
    path = folder / name
    if data is None:  # a spreadsheet: a zip archive
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("xl/workbook.xml", "<workbook/>")
    else:
        path.write_bytes(data() if callable(data) else data)
    return path, options


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr("cliposcope.data.corpus._BLOCK_BYTES", BLOCK)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TABLE_CASES))
def test_bad_tables_are_one_clear_line(case, tmp_path, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    path, options = write_case(inputs, case)
    out = tmp_path / "out"
    argv = ["corpus", "stats", "--input", path, *options, "--out", out, "--quiet"]
    line = assert_one_clear_error(argv, capsys, TABLE_CASES[case][3], out, tmp_path)
    assert path.name in line


@pytest.mark.parametrize(
    "case", ["fake-gz", "parquet-as-csv", "jsonl-latin1-row", "csv-long-row", "csv-area-inf"]
)
def test_bad_tables_for_tor_captions_are_one_clear_line(case, tmp_path, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    path, options = write_case(inputs, case)
    out = tmp_path / "out"
    argv = ["run", "tor-captions", "--model", "toy:default", "--input", path, *options]
    argv += ["--n", "2", "--out", out, "--no-cache", "--quiet"]
    assert_one_clear_error(argv, capsys, TABLE_CASES[case][3], out, tmp_path)


def outside_file(folder: Path, outside: Path) -> None:
    (folder / "extra.jsonl").symlink_to(outside / "secret.jsonl")


def outside_folder(folder: Path, outside: Path) -> None:
    (folder / "more").symlink_to(outside, target_is_directory=True)


def outside_nested(folder: Path, outside: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "x.jsonl").symlink_to(
        Path(os.path.relpath(outside, folder / "sub")) / "secret.jsonl"
    )


def outside_dangling(folder: Path, outside: Path) -> None:
    (folder / "gone.jsonl").symlink_to(outside / "no-such-file")


HUB_CASES = {
    "link-to-a-file-outside": outside_file,
    "link-to-a-folder-outside": outside_folder,
    "relative-link-climbing-out": outside_nested,
    "dangling-link-outside": outside_dangling,
}


@pytest.mark.parametrize("case", sorted(HUB_CASES))
def test_dataset_folders_refuse_links_leaving_them(case, tmp_path, capsys, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.jsonl").write_bytes(jsonl([{"caption": "my secret dog"}]))
    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_bytes(jsonl(ROWS))
    HUB_CASES[case](folder, outside)
    out = tmp_path / "out"
    argv = ["corpus", "stats", "--input", f"hf:{folder}", "--out", out, "--quiet"]
    line = assert_one_clear_error(argv, capsys, "symbolic link", out, tmp_path)
    assert "outside the dataset folder" in line


def test_a_dataset_folder_is_recorded_without_this_machines_paths(tmp_path, capsys, monkeypatch):
    """Files are recorded relative to the folder as given; a link inside the folder that
    stays inside is fine."""
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "dataset"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.jsonl").write_bytes(jsonl(ROWS))
    (folder / "data" / "train-copy.jsonl").symlink_to("train.jsonl")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "corpus", "stats", "--input", "hf:dataset", "--out", "out")
    assert code == 0, err
    text = next((tmp_path / "out").glob("*.json")).read_text()
    inputs = json.loads(text)["provenance"]["inputs"]
    assert [i["path"] for i in inputs] == [
        "dataset/data/train-copy.jsonl",
        "dataset/data/train.jsonl",
    ]
    assert str(tmp_path) not in text


def deep_table(path: Path) -> None:
    path.write_text('{"categories": ' + "[" * 50_000 + "]" * 50_000 + "}")


def latin1_table(path: Path) -> None:
    path.write_bytes('{"categories": {"dog": ["chien", "caf\xe9"]}}'.encode("latin-1"))


def gzip_table(path: Path) -> None:
    path.write_bytes(gzip.compress(b'{"categories": {"dog": ["dog"]}}'))


def broken_table(path: Path) -> None:
    path.write_text('{"categories": {"dog": ["dog"]')


def long_number_table(path: Path) -> None:
    path.write_text('{"categories": {}, "version": ' + "7" * 5000 + "}")


SYNONYM_CASES = {
    "deep": (deep_table, "nests arrays and objects 50001 deep"),
    "latin1": (latin1_table, "is not UTF-8 text"),
    "gzip": (gzip_table, "is a gzip file"),
    "broken": (broken_table, "is not valid JSON"),
    "long-number": (long_number_table, "refuse"),
}


@pytest.mark.parametrize("case", sorted(SYNONYM_CASES))
def test_bad_synonym_tables_are_one_clear_line(case, tmp_path, capsys):
    make, value = SYNONYM_CASES[case]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "t.jsonl").write_bytes(jsonl(ROWS))
    make(inputs / "synonyms.json")
    out = tmp_path / "out"
    argv = ["corpus", "stats", "--input", inputs / "t.jsonl", "--synonyms"]
    argv += [inputs / "synonyms.json", "--out", out, "--quiet"]
    line = assert_one_clear_error(argv, capsys, value, out, tmp_path)
    assert "synonyms.json" in line


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("t.jsonl", BOM + jsonl(ROWS)),
        ("t.csv", BOM + csv_text(ROWS)),
        ("t.jsonl.gz", gzip.compress(BOM + jsonl(ROWS))),
        ("t.parquet", parquet(ROWS)),
    ],
    ids=["jsonl-bom", "csv-bom", "gzip-jsonl-bom", "parquet"],
)
def test_tables_with_a_byte_order_mark_read_like_the_plain_ones(name, data, tmp_path, capsys):
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(jsonl(ROWS))
    other = tmp_path / name
    other.write_bytes(data)
    metrics = []
    for path in (plain, other):
        out = tmp_path / f"out-{path.name}"
        argv = ["corpus", "stats", "--input", path, *SIZED, "--out", out, "--quiet"]
        code, _, err = run_cli(capsys, *argv)
        assert code == 0, err
        metrics.append(json.loads(next(out.glob("*.json")).read_text())["metrics"])
    assert metrics[0] == metrics[1]


def test_a_synonym_table_with_a_byte_order_mark_is_read(tmp_path, capsys):
    table = tmp_path / "synonyms.json"
    table.write_bytes(BOM + json.dumps({"categories": {"dog": ["dog", "doggo"]}}).encode())
    rows = tmp_path / "t.jsonl"
    rows.write_bytes(jsonl([{"caption": "a doggo", "objects": ["dog"], "areas": [1]}]))
    argv = ["corpus", "stats", "--input", rows, *SIZED, "--synonyms", table]
    argv += ["--out", tmp_path / "o"]
    code, _, err = run_cli(capsys, *argv, "--quiet")
    assert code == 0, err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["t.jsonl", "t.csv"])
def test_rows_of_several_mebibytes_are_read(name, tmp_path, capsys, monkeypatch):
    """A 2.5 MiB caption is read (the reader's blocks were 1 MiB: such a row was refused
    with a hint about the columns' types)."""
    monkeypatch.undo()  # the real block size
    rows = [*ROWS, {"caption": "a dog " + "and a dog " * 260_000, "objects": [], "areas": []}]
    path = tmp_path / name
    path.write_bytes(jsonl(rows) if name.endswith("jsonl") else csv_text(rows))
    argv = ["corpus", "stats", "--input", path, *SIZED, "--out", tmp_path / "o", "--quiet"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"7", 0),
        (b"[]", 1),
        (b'["a\\"b", [[1]], "x]]]"]', 3),
        (b'{"a": "\\\\", "b": [[["\\"["]]]}', 4),
        (b'["[[[[", {"k": "{{{{"}]', 2),
        (b"[" * 10 + b'"' + b"[" * 100, 10),  # an unterminated string runs to the end
        (b'"' + b'\\"' * 100_000, 0),  # linear, however many escaped quotes
    ],
)
def test_the_depth_scan_counts_brackets_outside_strings(text, depth):
    from cliposcope.data.safe_read import json_depth

    assert json_depth(text) == depth
