"""Caption corpora for the origin analysis: COCO (captions + instances) and tables.

Every source yields batches of ``CaptionRecord``: the caption and, where the corpus has
them, the sizes of the objects in its image (category -> instance areas). COCO files are
read with pycocotools (crowd annotations left out); JSONL, CSV and Parquet files are
streamed with pyarrow a block at a time, so memory stays flat however long the file is.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import reprlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cliposcope.data.safe_read import (
    COMPRESSION_SUFFIXES,
    GiB,
    MiB,
    data_path_problem,
    json_depth,
    read_json_file,
    size_text,
    sniff,
    text_problem,
)
from cliposcope.errors import CliposcopeError
from cliposcope.hashing import file_sha256

TABLE_FORMATS = ("jsonl", "csv", "parquet")
BOX_FORMATS = ("xywh", "xyxy")
_COMPRESSED = tuple(COMPRESSION_SUFFIXES)
# pyarrow reads a table a block at a time and a row may not straddle two blocks: the
# longest row a JSONL or CSV table may hold (memory stays flat: a few blocks at a time).
_BLOCK_BYTES = 16 * MiB
_UNKNOWN_KEPT = 1000  # distinct unknown object labels counted by name (memory stays flat)


@dataclass(frozen=True)
class CaptionRecord:
    caption: str
    objects: dict[str, list[float]] | None  # category -> instance areas; None: no annotations
    source: str  # image id or row number, for messages


def _need(module: str, extra: str = "corpus"):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise CliposcopeError(
            f"this input needs {module.split('.')[0]}", hint=f"pip install 'cliposcope[{extra}]'"
        ) from None


def input_record(path: Path, shown_as: str | None = None) -> dict[str, Any]:
    """What a result records of one input file: the path as the user gave it (or
    ``shown_as``: never an absolute path the user did not give), its name, size and
    content hash."""
    return {
        "path": str(path) if shown_as is None else shown_as,
        "name": path.name,
        "bytes": path.stat().st_size,
        "sha256": file_sha256(path),
    }


def existing_file(path: str | Path, flag: str, hint: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CliposcopeError(f"{flag} {path} is not a file", hint=hint)
    return path


def load_coco(path: Path, key: str):
    """A pycocotools COCO index over a file checked against the COCO schema (see
    ``check_coco``); ``key`` is "caption" for a captions file, "category_id" for
    instances."""
    from_coco = _need("pycocotools.coco")
    dataset = read_json_file(
        path, hint="give the COCO annotation file itself", max_bytes=COCO_MAX_BYTES
    )
    check_coco(path, dataset, key)
    coco = from_coco.COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


class CocoCorpus:
    """COCO captions and instances (2014 or 2017 files, or the generator's export)."""

    kind = "coco"

    def __init__(self, captions: str | Path, instances: str | Path | None):
        """``instances`` may be None for caption probes: captions without object sizes."""
        hint = "give COCO annotation files, e.g. annotations/captions_val2017.json"
        self.captions_path = existing_file(captions, "--coco-captions", hint)
        self._captions = load_coco(self.captions_path, "caption")
        self.instances_path = self._instances = self.categories = None
        if instances is not None:
            self.instances_path = existing_file(instances, "--coco-instances", hint)
            self._instances = load_coco(self.instances_path, "category_id")
            categories = self._instances.loadCats(self._instances.getCatIds())
            self.categories = tuple(c["name"] for c in categories)
            kinds = id_kind(self._captions), id_kind(self._instances)
            if None not in kinds and kinds[0] is not kinds[1]:
                raise CliposcopeError(
                    f"{self.captions_path} gives image ids as {id_type_names(kinds[0])}, "
                    f"{self.instances_path} as {id_type_names(kinds[1])}: no caption would "
                    "find its image",
                    hint="COCO ids are integers; give both files the same ids",
                )
        self.counts: Counter[str] = Counter()

    def describe(self) -> dict[str, Any]:
        paths = [p for p in (self.captions_path, self.instances_path) if p is not None]
        return {
            "kind": self.kind,
            "name": self.captions_path.stem,
            "inputs": [input_record(path) for path in paths],
        }

    def has_sizes(self) -> bool:
        return self._instances is not None

    def batches(
        self, canonical: Callable[[str], str | None], batch_rows: int = 4096
    ) -> Iterator[list[CaptionRecord]]:
        self.counts.clear()  # per pass: a corpus may be read once per model
        batch: list[CaptionRecord] = []
        if self._instances is not None:
            crowd = sum(1 for a in self._instances.dataset["annotations"] if a.get("iscrowd", 0))
            self.counts["crowd annotations left out"] = crowd
        for annotation_id in sorted(self._captions.anns, key=id_order):
            annotation = self._captions.anns[annotation_id]
            image = annotation["image_id"]
            objects = None if self._instances is None else self._objects(image)
            batch.append(CaptionRecord(annotation["caption"], objects, str(image)))
            if len(batch) == batch_rows:
                yield batch
                batch = []
        if batch:
            yield batch

    def _objects(self, image) -> dict[str, list[float]]:
        """Non-crowd instance areas of one image, by category name (the file was checked:
        areas are bounded numbers, categories exist)."""
        instances = self._instances
        if image not in instances.imgs:
            self.counts["captions of images absent from the instances file"] += 1
        objects: dict[str, list[float]] = {}
        for instance in instances.imgToAnns.get(image, ()):
            if instance.get("iscrowd", 0):
                continue
            category = instances.cats[instance["category_id"]]
            objects.setdefault(category["name"], []).append(float(instance["area"]))
        return objects


@dataclass
class TableColumns:
    caption: str = "caption"
    objects: str | None = None
    areas: str | None = None
    boxes: str | None = None
    box_format: str = "xywh"

    def check(self) -> None:
        if self.box_format not in BOX_FORMATS:
            raise CliposcopeError(
                f"unknown box format {self.box_format!r}", hint=" or ".join(BOX_FORMATS)
            )
        if (self.areas or self.boxes) and not self.objects:
            raise CliposcopeError(
                "--areas-column/--boxes-column need --objects-column",
                hint="name the column holding each image's object names",
            )
        if self.areas and self.boxes:
            raise CliposcopeError(
                "give --areas-column or --boxes-column, not both",
                hint="areas win when both exist; pick one",
            )
        if self.objects and not (self.areas or self.boxes):
            raise CliposcopeError(
                "--objects-column needs --areas-column or --boxes-column",
                hint="object names without sizes cannot say which is largest",
            )

    @property
    def names(self) -> list[str]:
        return [c for c in (self.caption, self.objects, self.areas, self.boxes) if c]


class ColumnCorpus:
    """What a caption table and a hub dataset share: rows of a caption column and,
    optionally, object names with areas or boxes. Subclasses give ``where`` (for
    messages), ``columns``, ``counts``, ``unknown_names`` and ``_column_batches()``
    (dicts of column name -> values)."""

    categories = None

    def has_sizes(self) -> bool:
        return self.columns.objects is not None

    def _check_columns(self, available: set[str]) -> None:
        missing = [c for c in self.columns.names if c not in available]
        if missing:
            raise CliposcopeError(
                f"{self.where} has no column {missing[0]!r}",
                hint=f"its columns: {', '.join(sorted(available)[:20]) or 'none'}",
            )

    def batches(
        self, canonical: Callable[[str], str | None], batch_rows: int = 4096
    ) -> Iterator[list[CaptionRecord]]:
        del batch_rows  # the source's own blocks set the batch size
        self.counts.clear()  # per pass: a corpus may be read once per model
        self.unknown_names.clear()
        columns, row = self.columns, 0
        for data in self._column_batches():
            batch = []
            for index, caption in enumerate(data[columns.caption]):
                row += 1
                if not isinstance(caption, str) or not caption.strip():
                    self.counts["rows without a caption"] += 1
                    continue
                objects = None
                if columns.objects:
                    objects = self._objects(data, index, row, canonical)
                batch.append(CaptionRecord(caption, objects, f"row {row}"))
            yield batch

    def _objects(self, data, index, row, canonical) -> dict[str, list[float]]:
        columns = self.columns
        names = self._list(data[columns.objects][index], row, columns.objects)
        if columns.areas:
            sizes = [
                self._area(v, row)
                for v in self._list(data[columns.areas][index], row, columns.areas)
            ]
        else:
            boxes = self._list(data[columns.boxes][index], row, columns.boxes)
            sizes = [self._box_area(box, row) for box in boxes]
        if len(names) != len(sizes):
            raise CliposcopeError(
                f"{self.where} row {row}: {len(names)} object names but {len(sizes)} sizes",
                hint="one area or box per object name",
            )
        objects: dict[str, list[float]] = {}
        for name, size in zip(names, sizes, strict=True):
            category = canonical(str(name))
            if category is None:
                known = str(name) in self.unknown_names or len(self.unknown_names) < _UNKNOWN_KEPT
                self.unknown_names[str(name) if known else "(other names)"] += 1
                continue
            objects.setdefault(category, []).append(size)
        return objects

    def _list(self, value: Any, row: int, column: str) -> list:
        if value is None or value == "":  # JSON null, an empty CSV cell: no objects
            return []
        if isinstance(value, str):  # CSV cells hold JSON lists
            try:
                value = json.loads(value) if _shallow(value) else None
            except (json.JSONDecodeError, RecursionError, ValueError):
                value = None
        if not isinstance(value, list):
            raise CliposcopeError(
                f"{self.where} row {row}: column {column!r} is not a list",
                hint='lists, e.g. ["dog", "frisbee"] (JSON in CSV cells)',
            )
        return value

    def _area(self, value: Any, row: int) -> float:
        if not _finite_number(value) or not 0 <= value <= MAX_AREA:
            raise CliposcopeError(
                f"{self.where} row {row}: area {shown(value)}",
                hint=f"areas are non-negative numbers (at most {MAX_AREA:g})",
            )
        return float(value)

    def _box_area(self, box: Any, row: int) -> float:
        form = self.columns.box_format
        if (
            not isinstance(box, list)
            or len(box) != 4
            or not all(map(_finite_number, box))
            or not all(abs(v) <= MAX_COORDINATE for v in box)
        ):
            raise CliposcopeError(
                f"{self.where} row {row}: box {shown(box)}",
                hint=f"four numbers ({form}), each within {MAX_COORDINATE:g}",
            )
        x, y, a, b = map(float, box)
        width, height = (a, b) if form == "xywh" else (a - x, b - y)
        if width < 0 or height < 0:
            raise CliposcopeError(
                f"{self.where} row {row}: box {box} has a negative side", hint=f"boxes are {form}"
            )
        return width * height


@dataclass
class TableCorpus(ColumnCorpus):
    """A JSONL, CSV or Parquet file with a caption column and, optionally, per-row object
    names with areas or boxes (lists; in CSV, JSON-encoded lists)."""

    path: Path
    columns: TableColumns = field(default_factory=TableColumns)
    format: str | None = None
    counts: Counter[str] = field(default_factory=Counter)
    unknown_names: Counter[str] = field(default_factory=Counter)

    kind = "table"

    def __post_init__(self):
        self.path = existing_file(self.path, "--input", "a JSONL, CSV or Parquet caption file")
        self.columns.check()
        self.format = self.format or table_format(self.path)
        if self.format not in TABLE_FORMATS:
            raise CliposcopeError(
                f"unknown corpus format {self.format!r}", hint=" or ".join(TABLE_FORMATS)
            )
        _need("pyarrow")
        self._check_content()
        self._check_columns(self._column_names())

    @property
    def where(self) -> str:
        return str(self.path)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.format,
            "name": self.path.name,
            "inputs": [input_record(self.path)],
            "columns": {k: v for k, v in vars(self.columns).items() if v},
        }

    def _check_content(self) -> None:
        """The file is what its name and format say, by its first bytes."""
        found = sniff(self.path)
        compression = COMPRESSION_SUFFIXES.get(self.path.suffix.lower())
        if compression and found != compression:
            raise CliposcopeError(
                f"{self.path} is not {compression}-compressed, though its name ends in "
                f"{self.path.suffix}",
                hint=f"rename it without {self.path.suffix} if it is plain text",
            )
        if compression is None and found in COMPRESSION_SUFFIXES.values():
            suffix = next(k for k, v in COMPRESSION_SUFFIXES.items() if v == found)
            raise CliposcopeError(
                f"{self.path} is {found}-compressed, but its name does not end in {suffix}",
                hint=f"rename it to {self.path.name}{suffix}",
            )
        if self.format != "parquet" and found == "parquet":
            raise CliposcopeError(
                f"{self.path} is a Parquet file, not {self.format.upper()}",
                hint="name it .parquet or give --format parquet",
            )
        if self.format != "parquet" and found == "zip":
            raise CliposcopeError(
                f"{self.path} is a zip archive (a spreadsheet?), not {self.format.upper()}",
                hint="export the sheet as CSV, or unzip the table",
            )

    def _column_names(self) -> set[str]:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            try:
                return set(pq.ParquetFile(self.path).schema_arrow.names)
            except Exception as error:  # pyarrow raises several types for a bad file
                raise CliposcopeError(
                    f"{self.path} is not a Parquet file ({_first_line(error)})",
                    hint="give --format jsonl or csv if it is one",
                ) from None
        try:
            first = _first_line_bytes(self.path, _BLOCK_BYTES)
        except OSError as error:  # pyarrow's I/O errors (a damaged compressed file, ...)
            raise CliposcopeError(
                f"cannot read {self.path}: {_first_line(error)}",
                hint="the file is damaged or not what its name says",
            ) from None
        if first is None:
            raise _row_too_long(self.path)
        try:
            first = first.decode("utf-8-sig")  # Excel's BOM
        except UnicodeDecodeError as error:
            raise _not_utf8(self.path, f"line 1: {error.reason}") from None
        if self.format == "csv":
            import csv

            return set(next(csv.reader([first]), []))
        try:
            row = json.loads(first)
        except (json.JSONDecodeError, RecursionError, ValueError):
            row = None
        if not isinstance(row, dict):
            raise CliposcopeError(
                f"{self.path} line 1 is not a JSON object", hint="JSON lines: one object per line"
            )
        return set(row)

    def _column_batches(self) -> Iterator[dict[str, list]]:
        for arrow_batch in self._arrow_batches():
            try:
                yield {name: arrow_batch.column(name).to_pylist() for name in self.columns.names}
            except UnicodeDecodeError as error:  # validated below; kept as a last guard
                raise _not_utf8(self.path, error.reason) from None

    def _arrow_batches(self) -> Iterator[Any]:
        import pyarrow as pa

        names = self.columns.names
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                yield from pq.ParquetFile(self.path).iter_batches(batch_size=8192, columns=names)
                return
            if self.format == "csv":
                import pyarrow.csv as pcsv

                types = {name: pa.string() for name in names}
                reader = pcsv.open_csv(
                    self.path,
                    read_options=pcsv.ReadOptions(block_size=_BLOCK_BYTES),
                    convert_options=pcsv.ConvertOptions(include_columns=names, column_types=types),
                )
            else:
                import pyarrow.json as pjson

                fields = [pa.field(self.columns.caption, pa.string())]
                if self.columns.objects:
                    fields.append(pa.field(self.columns.objects, pa.list_(pa.string())))
                if self.columns.areas:
                    fields.append(pa.field(self.columns.areas, pa.list_(pa.float64())))
                if self.columns.boxes:
                    fields.append(pa.field(self.columns.boxes, pa.list_(pa.list_(pa.float64()))))
                reader = pjson.open_json(
                    self.path,
                    read_options=pjson.ReadOptions(block_size=_BLOCK_BYTES),
                    parse_options=pjson.ParseOptions(
                        explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"
                    ),
                )
            rows = 0
            for batch in reader:
                try:
                    batch.validate(full=True)  # JSON strings are not checked for UTF-8
                except pa.ArrowInvalid:
                    raise _not_utf8(self.path, f"row {rows + _bad_text_row(batch)}") from None
                rows += batch.num_rows
                yield batch
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
            message = _first_line(error)
            if "straddl" in message:
                raise _row_too_long(self.path) from None
            if "UTF8" in message or "UTF-8" in message:
                raise _not_utf8(self.path, message.removeprefix("In CSV column #0: ")) from None
            raise CliposcopeError(
                f"cannot read {self.path}: {message}",
                hint="check the columns hold text, lists of names and lists of numbers",
            ) from None
        except OSError as error:  # pyarrow's I/O errors (a damaged compressed file, ...)
            raise CliposcopeError(
                f"cannot read {self.path}: {_first_line(error)}",
                hint="the file is damaged or not what its name says",
            ) from None


def _bad_text_row(batch) -> int:
    """The first row (from 1) of a batch holding text that is not UTF-8."""
    for index in range(batch.num_rows):
        try:
            [column[index].as_py() for column in batch.columns]
        except UnicodeDecodeError:
            return index + 1
    return 1


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _row_too_long(path: Path) -> CliposcopeError:
    return CliposcopeError(
        f"{path} holds a row too long to stream (rows may be up to {size_text(_BLOCK_BYTES)})",
        hint="shorten or split the long rows, or convert the table to Parquet",
    )


def _not_utf8(path: Path, reason: str) -> CliposcopeError:
    return CliposcopeError(f"{path} is not UTF-8 text ({reason})", hint="save the table as UTF-8")


class HubCorpus(ColumnCorpus):
    """A Hugging Face dataset, streamed with ``datasets``: ``hf:NAME`` or ``hf:NAME@SPLIT``
    (default split train), NAME a hub dataset (where the hub is reachable) or a local
    dataset folder."""

    kind = "hf"

    def __init__(self, spec: str, columns: TableColumns | None = None):
        self.columns = columns or TableColumns()
        self.columns.check()
        self.counts: Counter[str] = Counter()
        self.unknown_names: Counter[str] = Counter()
        self.name, _, split = spec.removeprefix("hf:").partition("@")
        self.split = split or "train"
        if not self.name:
            raise CliposcopeError(
                f"--input {spec!r} names no dataset", hint="hf:NAME or hf:NAME@SPLIT"
            )
        datasets = _need("datasets", "hub")
        self._files = _folder_files(Path(self.name)) if Path(self.name).is_dir() else []
        try:
            self._dataset = datasets.load_dataset(self.name, split=self.split, streaming=True)
            first = next(iter(self._dataset), None)
        except Exception as error:  # datasets raises many types for a missing dataset
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CliposcopeError(
                f"cannot open dataset {self.name!r} split {self.split!r}: {message}",
                hint="a hub dataset (needs the model hub) or a local dataset folder, as "
                "hf:NAME@SPLIT",
            ) from None
        self._check_columns(set(first or {}))

    @property
    def where(self) -> str:
        return f"hf:{self.name}@{self.split}"

    def describe(self) -> dict[str, Any]:
        from cliposcope.provenance import distribution_version

        folder = Path(self.name)
        inputs = [
            input_record(folder / relative, str(Path(self.name) / relative))
            for relative in self._files
        ] or [
            {
                "dataset": self.name,
                "split": self.split,
                "datasets": distribution_version("datasets"),
            }
        ]
        return {
            "kind": self.kind,
            "name": f"{folder.name or self.name}@{self.split}",
            "inputs": inputs,
            "columns": {k: v for k, v in vars(self.columns).items() if v},
        }

    def _column_batches(self) -> Iterator[dict[str, list]]:
        for batch in self._dataset.iter(batch_size=4096):
            yield {name: batch[name] for name in self.columns.names}


def _folder_files(folder: Path) -> list[Path]:
    """The files of a local dataset folder, relative to it and sorted; a symbolic link
    that leads outside the folder is refused (its target would be read and recorded)."""
    base = folder.resolve()
    files = []
    for top, folders, names in os.walk(folder, followlinks=False):
        for name in sorted(folders + names):
            path = Path(top) / name
            if path.is_symlink() and not path.resolve().is_relative_to(base):
                raise CliposcopeError(
                    f"hf:{folder}: {path.relative_to(folder)} is a symbolic link to "
                    f"{'a folder' if path.is_dir() else 'a file'} outside the dataset folder",
                    hint="copy the file into the folder, or remove the link",
                )
            if path.is_file():  # a link to a folder inside: that folder is walked itself
                files.append(path.relative_to(folder))
    return sorted(files)


# The COCO schema: every field cliposcope (or pycocotools) reads, with its type and bounds,
# checked before the file is indexed. Wide enough for any real set, narrow enough that no
# number overflows and pycocotools never sees an absurd polygon or run-length code.
COCO_MAX_BYTES = 4 * GiB
MAX_IMAGE_SIDE = 100_000  # px
MAX_COORDINATE = 1_000_000.0  # px, boxes and polygons (ten times the largest image side)
MAX_AREA = 1e12  # px
MAX_POLYGON_COORDINATES = 1_000_000
MAX_POLYGONS = 10_000
_NUMBER_TYPES = {int, float}
_RLE_CHARACTERS = frozenset(range(48, 112))  # COCO's compressed counts: "0" to "o"
_SHOW = reprlib.Repr()
_SHOW.maxstring, _SHOW.maxlong, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxlevel = 60, 40, 6, 4, 2


def shown(value: Any) -> str:
    """A value from a data file, short and on one line, for a message."""
    return _SHOW.repr(value)


def _number(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _id_problem(value: Any) -> str | None:
    if type(value) is int:
        return None if abs(value) < 2**63 else "is out of range"
    if type(value) is str:
        problem = text_problem(value, max_length=200)
        return f"(a string id) {problem}" if problem else None
    return "is not an integer or string id"


def _side_problem(value: Any) -> str | None:
    if type(value) is not int or value <= 0:
        return "is not a positive integer"
    return None if value <= MAX_IMAGE_SIDE else f"is larger than {MAX_IMAGE_SIDE} px"


def _area_problem(value: Any) -> str | None:
    if _number(value) and 0 <= value <= MAX_AREA:
        return None
    return f"is not a non-negative number of pixels (at most {MAX_AREA:g})"


def _crowd_problem(value: Any) -> str | None:
    if type(value) in (int, bool) and value in (0, 1):
        return None
    return "is not 0 or 1 (a number, not text)"


def _box_problem(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 4 and set(map(type, value)) <= _NUMBER_TYPES:
        x, y, w, h = value  # NaN and infinities fail every bound
        bound = MAX_COORDINATE
        if -bound <= x <= bound and -bound <= y <= bound and 0 <= w <= bound and 0 <= h <= bound:
            return None
    return "is not [x, y, width, height] (finite numbers, sides >= 0)"


def _polygon_ok(polygon: Any) -> bool:
    if not isinstance(polygon, list) or not 6 <= len(polygon) <= MAX_POLYGON_COORDINATES:
        return False
    if len(polygon) % 2 or not set(map(type, polygon)) <= _NUMBER_TYPES:
        return False
    try:  # min/max/sum run at C speed; NaN fails a bound or makes the sum NaN
        return (
            min(polygon) >= -MAX_COORDINATE
            and max(polygon) <= MAX_COORDINATE
            and math.isfinite(sum(polygon))
        )
    except OverflowError:
        return False


def _segmentation_problem(value: Any) -> str | None:
    if isinstance(value, list):  # polygons: lists of an even number (>= 6) of coordinates
        if len(value) <= MAX_POLYGONS and all(map(_polygon_ok, value)):
            return None
        return (
            "is not a list of polygons (each an even number, at least 6, of finite "
            f"coordinates within {MAX_COORDINATE:g})"
        )
    if isinstance(value, dict):  # RLE: {"size": [h, w], "counts": str or list}
        size, counts = value.get("size"), value.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and not any(map(_side_problem, size))):
            return f"is an RLE whose size {shown(size)} is not [height, width]"
        pixels = size[0] * size[1]
        text_ok = (
            isinstance(counts, str)
            and len(counts) <= 6 * pixels + 6
            and set(map(ord, counts)) <= _RLE_CHARACTERS
        )
        runs_ok = (
            isinstance(counts, list)
            and len(counts) <= pixels + 1
            and all(type(c) is int and 0 <= c <= pixels for c in counts)
        )
        if text_ok or runs_ok:
            return None
        return "is an RLE whose counts are neither COCO's compressed text nor run lengths"
    return "is neither polygons nor an RLE"


def _caption_problem(value: Any) -> str | None:
    return None if isinstance(value, str) else "is not text"


def _category_name_problem(value: Any) -> str | None:
    return text_problem(value, max_length=200)


# section -> field -> (required, what is wrong with a value); ids are checked apart.
_IMAGE_FIELDS = {
    "width": (False, _side_problem),
    "height": (False, _side_problem),
    "file_name": (False, data_path_problem),
}
_FIELDS = {
    "caption": {
        "images": _IMAGE_FIELDS,
        "annotations": {"caption": (True, _caption_problem)},
    },
    "category_id": {
        "images": _IMAGE_FIELDS,
        "annotations": {
            "area": (True, _area_problem),
            "iscrowd": (False, _crowd_problem),
            "bbox": (False, _box_problem),
            "segmentation": (False, _segmentation_problem),
        },
        "categories": {"name": (True, _category_name_problem)},
    },
}
_LABELS = {("categories", "name"): "category name"}
_REFERENCES = {"caption": ("image_id",), "category_id": ("image_id", "category_id")}


def check_coco(path: Path, dataset: Any, key: str) -> None:
    """Refuse a COCO file that breaks the schema, with one error naming the record: the
    sections, every field read (types and bounds), unique ids of one type throughout
    (integers, or strings), and annotations that name existing images and categories."""
    kind = "captions" if key == "caption" else "instances"
    fields = _FIELDS[key]
    if not isinstance(dataset, dict) or any(
        not isinstance(dataset.get(name), list) for name in fields
    ):
        raise CliposcopeError(
            f"{path} is not a COCO file with {', '.join(fields)}",
            hint="captions_*.json and instances_*.json from COCO's "
            "annotations, or `generate --coco-json`",
        )
    hint = f"is this a COCO {kind} file? Fix or remove the record"
    id_type = None  # the type of the file's first id: every id and reference shares it
    ids: dict[str, set] = {}
    for section, section_fields in fields.items():
        seen: set = set()
        references = _REFERENCES[key] if section == "annotations" else ()
        for index, record in enumerate(dataset[section]):
            where = f"{path}: {section}[{index}]"
            if not isinstance(record, dict) or "id" not in record:
                raise CliposcopeError(
                    f"{where} has no integer or string id", hint="every COCO record carries an id"
                )
            identifier = record["id"]
            problem = _id_problem(identifier)
            if problem:
                raise CliposcopeError(
                    f"{where}: id {shown(identifier)} {problem}",
                    hint="every COCO record carries an integer (or string) id",
                )
            where = f"{where} (id {identifier!r})"
            if id_type is None:
                id_type = type(identifier)
            for name in ("id", *references):
                value = record.get(name)
                if name != "id" and name not in record:
                    raise CliposcopeError(f"{where} has no {name}", hint=hint)
                if name != "id" and _id_problem(value):
                    raise CliposcopeError(
                        f"{where}: {name} {shown(value)} {_id_problem(value)}", hint=hint
                    )
                if type(value) is not id_type:
                    raise CliposcopeError(
                        f"{where}: {name} {shown(value)} is {_type_name(type(value))}, but "
                        f"the file's ids are {id_type_names(id_type)}",
                        hint="COCO ids are integers; one type throughout the file",
                    )
            if identifier in seen:
                raise CliposcopeError(
                    f"{where} repeats id {identifier!r}", hint="ids are unique within a section"
                )
            seen.add(identifier)
            for name, (required, check) in section_fields.items():
                if name not in record:
                    if required:
                        raise CliposcopeError(f"{where} has no {name}", hint=hint)
                    continue
                problem = check(record[name])
                if problem:
                    label = _LABELS.get((section, name), name)
                    raise CliposcopeError(
                        f"{where}: {label} {shown(record[name])} {problem}", hint=hint
                    )
        ids[section] = seen
    _check_references(path, dataset, key, ids)


def _type_name(kind: type) -> str:
    return "an integer" if kind is int else "a string"


def id_type_names(kind: type) -> str:
    """How a message names ids of one type: "integers" or "strings"."""
    return "integers" if kind is int else "strings"


def _check_references(path: Path, dataset: dict, key: str, ids: dict[str, set]) -> None:
    """Annotations name images (and categories) of the file; category names are unique."""
    targets = {"image_id": ("images", "image"), "category_id": ("categories", "category")}
    for name in _REFERENCES[key]:
        section, noun = targets[name]
        known = ids[section]
        for index, record in enumerate(dataset["annotations"]):
            if record[name] not in known:
                raise CliposcopeError(
                    f"{path}: annotations[{index}] (id {record['id']!r}) has {name} "
                    f"{record[name]!r}, which names no {noun} of the file",
                    hint=f"every {name} must be the id of one of the file's {section}",
                )
    if key == "category_id":
        first: dict[str, int] = {}
        for index, record in enumerate(dataset["categories"]):
            earlier = first.setdefault(record["name"], index)
            if earlier != index:
                raise CliposcopeError(
                    f"{path}: categories[{index}] (id {record['id']!r}) repeats the name "
                    f"{record['name']!r} of categories[{earlier}]",
                    hint="one category per name",
                )


def id_kind(coco) -> type | None:
    """The type of a checked COCO file's ids (int or str), None when it has none."""
    first = next(iter(coco.imgs), None)
    return None if first is None else type(first)


def id_order(value: int | str) -> tuple[bool, int | str]:
    """Sort key for COCO ids: integers by value, then strings."""
    return (isinstance(value, str), value)


def _shallow(text: str, depth: int = 8) -> bool:
    """A cell's JSON nests at most ``depth`` deep (a list of boxes nests 2)."""
    return text.count("[") + text.count("{") <= depth or json_depth(text.encode()) <= depth


def _finite_number(value: Any) -> bool:
    """An int (any size: bound it apart) or a finite float; not a bool."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def table_format(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s not in _COMPRESSED]
    suffix = suffixes[-1].lower() if suffixes else ""
    by_suffix = {
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
        ".csv": "csv",
        ".parquet": "parquet",
        ".pq": "parquet",
    }
    if suffix not in by_suffix:
        raise CliposcopeError(
            f"cannot tell the format of {path}",
            hint="name it .jsonl, .csv or .parquet, or give --format",
        )
    return by_suffix[suffix]


def _first_line_bytes(path: Path, limit: int) -> bytes | None:
    """The file's first line (decompressed), without its end; None when it is longer than
    ``limit`` bytes. Only the first line is read, so a bad byte further on is the
    streaming reader's to report, with its place."""
    import pyarrow as pa

    compression = COMPRESSION_SUFFIXES.get(path.suffix.lower())
    chunks, size = [], 0
    with pa.input_stream(str(path), compression=compression) as stream:
        while size <= limit:
            chunk = stream.read(1 << 16)
            end = chunk.find(b"\n")
            chunks.append(chunk if end < 0 else chunk[:end])
            size += len(chunks[-1])
            if not chunk or end >= 0:
                break
    line = b"".join(chunks)
    return None if len(line) > limit else line.rstrip(b"\r")
