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
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cliposcope.errors import CliposcopeError, read_json
from cliposcope.hashing import file_sha256

TABLE_FORMATS = ("jsonl", "csv", "parquet")
BOX_FORMATS = ("xywh", "xyxy")
_COMPRESSED = (".gz", ".bz2", ".zst")
_BLOCK_BYTES = 1 << 20
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


def input_record(path: Path) -> dict[str, Any]:
    return {
        "path": str(path),
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
    """A pycocotools COCO index over a checked file (COCO() itself asserts); ``key`` is
    "caption" for a captions file, "category_id" for instances."""
    from_coco = _need("pycocotools.coco")
    dataset = read_json(path, hint="give the COCO annotation file itself")
    wanted = ["images", "annotations"] + (["categories"] if key == "category_id" else [])
    if not isinstance(dataset, dict) or any(
        not isinstance(dataset.get(name), list) for name in wanted
    ):
        raise CliposcopeError(
            f"{path} is not a COCO file with {', '.join(wanted)}",
            hint="captions_*.json and instances_*.json from COCO's "
            "annotations, or `generate --coco-json`",
        )
    _check_records(path, dataset, wanted, key)
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
            caption = annotation["caption"]
            if not isinstance(caption, str):
                raise CliposcopeError(
                    f"{self.captions_path}: caption {annotation_id} is {caption!r}",
                    hint="captions are strings",
                )
            batch.append(CaptionRecord(caption, objects, str(image)))
            if len(batch) == batch_rows:
                yield batch
                batch = []
        if batch:
            yield batch

    def _objects(self, image) -> dict[str, list[float]]:
        """Non-crowd instance areas of one image, by category name."""
        instances = self._instances
        if image not in instances.imgs:
            self.counts["captions of images absent from the instances file"] += 1
        objects: dict[str, list[float]] = {}
        for instance in instances.imgToAnns.get(image, ()):
            if instance.get("iscrowd", 0):
                continue
            area = instance.get("area")
            if not _finite_number(area) or area < 0:
                raise CliposcopeError(
                    f"{self.instances_path}: annotation {instance.get('id')} has area {area!r}",
                    hint="areas are non-negative numbers of pixels",
                )
            category = instances.cats.get(instance["category_id"])
            if category is None:
                raise CliposcopeError(
                    f"{self.instances_path}: annotation {instance.get('id')} has category "
                    f"{instance['category_id']!r}, which the file does not define",
                    hint="every category_id must be listed under categories",
                )
            objects.setdefault(category["name"], []).append(float(area))
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
                value = json.loads(value)
            except json.JSONDecodeError:
                value = None
        if not isinstance(value, list):
            raise CliposcopeError(
                f"{self.where} row {row}: column {column!r} is not a list",
                hint='lists, e.g. ["dog", "frisbee"] (JSON in CSV cells)',
            )
        return value

    def _area(self, value: Any, row: int) -> float:
        if not _finite_number(value) or value < 0:
            raise CliposcopeError(
                f"{self.where} row {row}: area {value!r}", hint="areas are non-negative numbers"
            )
        return float(value)

    def _box_area(self, box: Any, row: int) -> float:
        form = self.columns.box_format
        if not isinstance(box, list) or len(box) != 4 or not all(map(_finite_number, box)):
            raise CliposcopeError(
                f"{self.where} row {row}: box {box!r}", hint=f"four numbers ({form})"
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

    def _column_names(self) -> set[str]:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            try:
                return set(pq.ParquetFile(self.path).schema_arrow.names)
            except Exception as error:  # pyarrow raises several types for a bad file
                raise CliposcopeError(
                    f"{self.path} is not a Parquet file ({error})",
                    hint="give --format jsonl or csv if it is one",
                ) from None
        opener = _open_text(self.path)
        with opener as stream:
            first = stream.readline()
        if self.format == "csv":
            import csv

            return set(next(csv.reader([first]), []))
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            raise CliposcopeError(
                f"{self.path} line 1 is not a JSON object", hint="JSON lines: one object per line"
            )
        return set(row)

    def _column_batches(self) -> Iterator[dict[str, list]]:
        for arrow_batch in self._arrow_batches():
            yield {name: arrow_batch.column(name).to_pylist() for name in self.columns.names}

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
            yield from reader
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
            raise CliposcopeError(
                f"cannot read {self.path}: {str(error).splitlines()[0]}",
                hint="check the columns hold text, lists of names and lists of numbers",
            ) from None


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
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        inputs = [input_record(p) for p in files] or [
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


def _check_records(path: Path, dataset: dict, sections: list[str], key: str) -> None:
    """What pycocotools indexes without checking: unique ids, and the fields we read."""
    kind = "captions" if key == "caption" else "instances"
    needed = {"annotations": (key, "image_id"), "categories": ("name",)}
    for section in sections:
        seen = set()
        for index, record in enumerate(dataset[section]):
            where = f"{path}: {section}[{index}]"
            if not isinstance(record, dict) or not _is_id(record.get("id")):
                raise CliposcopeError(
                    f"{where} has no integer or string id", hint="every COCO record carries an id"
                )
            if record["id"] in seen:
                raise CliposcopeError(
                    f"{where} repeats id {record['id']!r}", hint="ids are unique within a section"
                )
            seen.add(record["id"])
            missing = [name for name in needed.get(section, ()) if name not in record]
            if missing:
                raise CliposcopeError(
                    f"{where} has no {' and '.join(missing)}", hint=f"is this the {kind} file?"
                )
            if section == "annotations" and not _is_id(record["image_id"]):
                raise CliposcopeError(
                    f"{where} has image_id {record['image_id']!r}",
                    hint="an integer or string id of an image",
                )
            problem = _field_problem(section, record, instances=key == "category_id")
            if problem:
                raise CliposcopeError(f"{where}: {problem}", hint=f"is this a COCO {kind} file?")


def _field_problem(section: str, record: dict, *, instances: bool) -> str | None:
    """What is wrong with the fields cliposcope reads from one record, if anything."""
    if section == "categories":
        name = record["name"]
        return None if isinstance(name, str) and name.strip() else f"category name {name!r}"
    if section == "images":
        for field_name in ("width", "height"):
            value = record.get(field_name)
            if value is not None and (not _is_id(value) or isinstance(value, str) or value <= 0):
                return f"{field_name} {value!r} is not a positive integer"
        file_name = record.get("file_name")
        if file_name is not None and (not isinstance(file_name, str) or not file_name):
            return f"file_name {file_name!r}"
        return None
    if not instances:
        return None
    if not _is_id(record["category_id"]):
        return f"category_id {record['category_id']!r}"
    area = record.get("area")
    if area is not None and (not _finite_number(area) or area < 0):
        return f"area {area!r} is not a non-negative number"
    box = record.get("bbox")
    if box is not None and (
        not isinstance(box, list)
        or len(box) != 4
        or not all(map(_finite_number, box))
        or box[2] < 0
        or box[3] < 0
    ):
        return f"bbox {box!r} is not [x, y, width, height]"
    segmentation = record.get("segmentation")
    if segmentation is not None and not _segmentation_ok(segmentation):
        return "segmentation is neither polygons nor an RLE of the image's size"
    return None


def _segmentation_ok(value: Any) -> bool:
    if isinstance(value, dict):  # RLE: {"size": [h, w], "counts": str or list}
        size = value.get("size")
        return (
            isinstance(size, list)
            and len(size) == 2
            and all(_is_id(v) for v in size)
            and isinstance(value.get("counts"), str | list)
        )
    if isinstance(value, list):  # polygons: lists of an even number (>= 6) of coordinates
        return all(
            isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and all(map(_finite_number, p))
            for p in value
        )
    return False


def id_order(value: int | str) -> tuple[bool, int | str]:
    """Sort key for COCO ids: integers by value, then strings."""
    return (isinstance(value, str), value)


def _is_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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


def _open_text(path: Path):
    import pyarrow as pa

    compression = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}.get(path.suffix)
    stream = pa.input_stream(str(path), compression=compression)
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace")  # Excel's BOM
