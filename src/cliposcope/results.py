"""Probe results: a dataclass that serialises to JSON with its full provenance."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cliposcope.atomic import atomic_write_bytes
from cliposcope.errors import CliposcopeError

# 2: identity, run metadata and per-query records (format 1 results still load).
RESULT_FORMAT = 2
RECORDS_SUFFIX = ".records.parquet"
IN_MEMORY = ("query_records", "source_path")


@dataclass
class ProbeResult:
    """One probe on one model (or one of its null controls).

    ``role`` is "model", or "null:random-init" / "null:sum" for the controls, or "corpus"
    for a corpus probe, which measures data rather than a model.
    ``settings`` holds everything that defines the experiment (protocol, n, template,
    vocabulary and its fingerprint, sample, seed, ...); ``provenance`` holds what makes it
    reproducible (versions, data fingerprint, query count). ``identity`` hashes what makes
    two results the same experiment (probe and its version, model fingerprint, settings,
    data fingerprint); ``run`` says when, by which command and where it was made
    (it differs between any two runs and never enters a comparison). ``records`` describes
    the per-query records written beside the JSON (file, sha256, rows, columns);
    ``query_records`` holds them in memory (columns of equal length) until ``save``.
    """

    probe: str
    role: str
    model: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    wall_time_s: float = 0.0
    format: int = field(default=RESULT_FORMAT)
    identity: str = ""
    run: dict[str, Any] = field(default_factory=dict)
    records: dict[str, Any] | None = None
    query_records: dict[str, list] | None = field(default=None, compare=False, repr=False)
    # Where it was read from, for a result loaded rather than computed.
    source_path: Path | None = field(default=None, compare=False, repr=False)

    def with_role(self, role: str) -> ProbeResult:
        """The same result labelled as a model's or one of its controls'."""
        from dataclasses import replace

        return replace(self, role=role)

    @property
    def label(self) -> str:
        spec = self.model.get("spec", "?")
        return spec if self.role in ("model", "corpus") else f"{spec} [{self.role}]"

    def to_dict(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in IN_MEMORY}
        return _finite(record)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self, path: str | Path) -> Path:
        """The JSON at ``path`` and, when the result holds per-query records, the Parquet
        file beside it (written first, so a JSON never names a missing file)."""
        path = Path(path)
        if self.query_records is not None:
            records_path = records_path_for(path)
            self.records = write_records(records_path, self.query_records)
        atomic_write_bytes(path, self.to_json().encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProbeResult:
        path = Path(path)
        if path.is_dir():
            raise CliposcopeError(
                f"{path} is a folder, not a result file", hint=f"give its files: {path}/*.json"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}")
            for name in IN_MEMORY:
                data.pop(name, None)
            result = cls(**data)
            result.source_path = path
        except FileNotFoundError:
            raise CliposcopeError(f"result file not found: {path}", hint="check the path") from None
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
            raise CliposcopeError(
                f"{path} is not a cliposcope result ({type(error).__name__})",
                hint="give the JSON files written by `cliposcope run`",
            ) from None
        if not isinstance(result.format, int) or result.format > RESULT_FORMAT:
            raise CliposcopeError(
                f"{path} is a result of format {result.format!r}, newer than this cliposcope "
                f"reads ({RESULT_FORMAT})",
                hint="upgrade cliposcope to read it",
            )
        return result

    def load_records(
        self, path: str | Path, columns: Sequence[str] | None = None
    ) -> dict[str, list]:
        """The per-query records of the result saved at ``path`` (all columns, or those
        named), checked against the hash its JSON recorded."""
        if not self.records:
            raise CliposcopeError(
                f"{path} has no per-query records",
                hint="rerun without --no-records (results before format 2 have none)",
            )
        return read_records(records_path_for(Path(path)), self.records.get("sha256"), columns)

    def record_columns(self, columns: Sequence[str]) -> dict[str, list]:
        """The named per-query columns: from memory for a result just computed, else from
        the records file beside the JSON it was loaded from (hash-checked). A
        CliposcopeError says why where there are none."""
        if self.query_records is not None:
            missing = [name for name in columns if name not in self.query_records]
            if missing:
                raise CliposcopeError(
                    f"the records of {self.label} ({self.probe}) have no column {missing[0]!r}",
                    hint="results of an older probe version lack it; rerun",
                )
            return {name: self.query_records[name] for name in columns}
        if self.source_path is None:
            raise CliposcopeError(
                f"{self.label} ({self.probe}) holds no per-query records",
                hint="rerun without --no-records",
            )
        return self.load_records(self.source_path, columns)


def records_path_for(result_path: Path) -> Path:
    return result_path.with_name(result_path.name.removesuffix(".json") + RECORDS_SUFFIX)


def write_records(path: Path, columns: dict[str, list]) -> dict[str, Any]:
    """Columns of equal length as a Parquet file, atomically; its description for the JSON."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"per-query record columns differ in length: {sorted(lengths)}")
    table = pa.table(columns)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return {
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": table.num_rows,
        "columns": table.column_names,
    }


def read_records(
    path: Path, sha256: str | None, columns: Sequence[str] | None = None
) -> dict[str, list]:
    import io

    import pyarrow.parquet as pq

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CliposcopeError(
            f"per-query records not found: {path}", hint="keep the .records.parquet beside its JSON"
        ) from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CliposcopeError(
            f"{path} does not match the hash its result recorded",
            hint="the file was changed or replaced; rerun to write it again",
        )
    try:
        wanted = None if columns is None else list(columns)
        return pq.read_table(io.BytesIO(data), columns=wanted).to_pydict()
    except (KeyError, ValueError) as error:  # pyarrow: a named column is not in the file
        raise CliposcopeError(
            f"{path} lacks one of the columns {list(columns or ())} ({type(error).__name__})",
            hint="results of an older probe version lack it; rerun",
        ) from None


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined figures (e.g. 0 of 0) are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def result_filename(result: ProbeResult) -> str:
    """A file name from probe, model and role, readable, with a short hash of the result's
    identity (so results on other data or settings never share a name), safe on any file
    system. Results without an identity (format 1) hash spec, role and settings."""
    import re

    spec = result.model.get("spec", "model")
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", spec.split("/")[-1] or spec).strip("-")[:40]
    if result.identity:
        digest = result.identity[:12]
    else:
        digest = hashlib.sha256(f"{spec}|{result.role}|{result.settings}".encode()).hexdigest()[:8]
    role = result.role.replace("null:", "null-")
    return f"{result.probe}_{readable}_{role}_{digest}.json"


def experiment_identity(
    probe: str,
    probe_version: int | None,
    model_fingerprint: str | None,
    settings: dict[str, Any],
    data_fingerprint: str | None,
) -> str:
    """sha256 of what makes two results the same experiment. The role is not in it: a
    control differs from its model by its weights or its settings, and the role is part
    of the file name beside this hash."""
    payload = json.dumps(
        [probe, probe_version, model_fingerprint, settings, data_fingerprint],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ResultFolder:
    """A folder of results, looked up by experiment: a rerun of the same experiment into
    the same folder finds the result it would write again."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._index: dict[tuple[str, str | None], Path] | None = None

    def _build_index(self) -> dict[tuple[str, str | None], Path]:
        index = {}
        for candidate in sorted(self.path.glob("*.json")):
            try:
                result = ProbeResult.load(candidate)
            except CliposcopeError:
                continue  # not a result of ours: never reused
            if result.identity:
                index[(result.identity, result.role)] = candidate
                index.setdefault((result.identity, None), candidate)
        return index

    def find(self, identity: str, role: str | None) -> ProbeResult | None:
        """The result of this experiment in this role (None: in the probe's own role)."""
        if self._index is None:
            self._index = self._build_index() if self.path.is_dir() else {}
        path = self._index.get((identity, role))
        return ProbeResult.load(path) if path is not None and path.is_file() else None
