"""Caption corpora: COCO caption (and instance) files, any JSONL/CSV/Parquet caption
table (streamed), or a Hugging Face dataset (``hf:DATASET[@SPLIT]``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cliposcope.data.corpus import (
    BOX_FORMATS,
    TABLE_FORMATS,
    CocoCorpus,
    HubCorpus,
    TableColumns,
    TableCorpus,
)
from cliposcope.data_kinds import DataContext, DataKind, register_data_kind
from cliposcope.errors import CliposcopeError
from cliposcope.settings import option

# What this kind provides, by the name probes ask for it.
CORPUS = "corpus"


@dataclass(frozen=True)
class CorpusSource:
    coco_captions: str | None = option(None, "COCO captions_*.json", metavar="FILE")
    coco_instances: str | None = option(
        None, "COCO instances_*.json (object sizes)", metavar="FILE"
    )
    input: str | None = option(
        None,
        "a JSONL, CSV or Parquet caption table (.gz allowed), or hf:DATASET[@SPLIT]",
        metavar="FILE",
    )
    format: str | None = option(
        None, "table format (default: from the suffix)", choices=TABLE_FORMATS
    )
    caption_column: str = option("caption", "the table's caption column", metavar="NAME")
    objects_column: str | None = option(None, "list of object names", metavar="NAME")
    areas_column: str | None = option(None, "list of areas, one per name", metavar="NAME")
    boxes_column: str | None = option(None, "list of boxes, one per name", metavar="NAME")
    box_format: str = option("xywh", "how the boxes are written", choices=BOX_FORMATS)


def check_corpus(source: CorpusSource) -> None:
    coco = source.coco_captions or source.coco_instances
    if bool(coco) == bool(source.input):
        raise CliposcopeError(
            "give either --coco-captions (with --coco-instances), or --input",
            hint="COCO annotation files, or a JSONL/CSV/Parquet table",
        )
    if coco and not source.coco_captions:
        raise CliposcopeError(
            "COCO input needs --coco-captions", hint="the captions; the instances give sizes"
        )


def load_corpus(source: CorpusSource, context: DataContext) -> list:
    check_corpus(source)
    if source.coco_captions:
        return [CocoCorpus(source.coco_captions, source.coco_instances)]
    columns = TableColumns(
        caption=source.caption_column,
        objects=source.objects_column,
        areas=source.areas_column,
        boxes=source.boxes_column,
        box_format=source.box_format,
    )
    if source.input.startswith("hf:"):
        return [HubCorpus(source.input, columns)]
    return [TableCorpus(Path(source.input), columns, format=source.format)]


# The example caption table: COCO objects named in captions, with their areas in the image.
EXAMPLE_CAPTIONS = (
    ("a dog chasing a frisbee", {"dog": 0.20, "frisbee": 0.02}),
    ("a bus parked beside a bicycle", {"bus": 0.45, "bicycle": 0.05}),
    ("a cat sleeping on a laptop", {"cat": 0.15, "laptop": 0.25}),
    ("a cup next to a pizza", {"cup": 0.03, "pizza": 0.30}),
    ("an elephant walking past a car", {"elephant": 0.35, "car": 0.08}),
    ("a person holding an umbrella", {"person": 0.30, "umbrella": 0.12}),
    ("a horse and a dog and a bench in a field", {"horse": 0.25, "dog": 0.04, "bench": 0.06}),
    ("a banana beside an apple and a bowl", {"banana": 0.05, "apple": 0.03, "bowl": 0.10}),
)


def example_corpus(folder: Path) -> CorpusSource:
    """The example captions as a JSONL table with objects and areas columns, in FOLDER."""
    table = folder / "example-captions.jsonl"
    rows = (
        {"caption": caption, "objects": list(objects), "areas": list(objects.values())}
        for caption, objects in EXAMPLE_CAPTIONS
    )
    table.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return CorpusSource(input=str(table), objects_column="objects", areas_column="areas")


def corpus_fingerprint(corpus) -> str:
    """sha256 over what the corpus records of its inputs (their content hashes)."""
    described = json.dumps(corpus.describe(), sort_keys=True, default=str)
    return hashlib.sha256(described.encode()).hexdigest()


def describe_corpus(provenance: dict) -> str | None:
    inputs = provenance.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return None
    names = [str(item.get("name", "?")) for item in inputs if isinstance(item, dict)]
    return f"corpus {', '.join(names)}" if names else None


register_data_kind(
    DataKind(
        name="corpus",
        order=30,
        provides=CORPUS,
        description="caption corpus: COCO annotation files, or any caption table (streamed)",
        noun="caption corpora",
        settings=CorpusSource,
        load=load_corpus,
        fingerprint=corpus_fingerprint,
        selected_by=("coco_captions", "coco_instances", "input"),
        default=True,
        check=check_corpus,
        describe=describe_corpus,
        example=example_corpus,
    )
)
