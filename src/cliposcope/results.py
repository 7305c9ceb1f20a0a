"""Probe results: a dataclass that serialises to JSON with its full provenance."""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from cliposcope.atomic import atomic_write_bytes
from cliposcope.errors import CliposcopeError
from cliposcope.json_depth import json_depth
from cliposcope.terminal import terminal_text

# 2: identity, run metadata and per-query records (format 1 results still load).
RESULT_FORMAT = 2
RECORDS_SUFFIX = ".records.parquet"
IN_MEMORY = ("query_records", "source_path")
# How the weights source of seeded random weights begins (the openclip family's), and the
# name of the control that measures a model's architecture with such weights.
RANDOM_INIT = "random-init"


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
        """The result saved at ``path``, checked against RESULT_SCHEMA first: a file that
        is not one (a folder, a device, too large, not UTF-8 JSON, nested too deep, a field
        of the wrong type, a share of more than its total, a newer format) is one
        CliposcopeError naming the file and the field."""
        path = Path(path)
        data = read_result_record(path)
        try:
            result = cls(**data)
        except TypeError as error:  # the schema lets nothing through that the class refuses
            raise CliposcopeError(
                f"{terminal_text(path)} is not a cliposcope result ({type(error).__name__})",
                hint=RESULT_HINT,
            ) from None
        result.source_path = path
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

    folder = path.parent.resolve()
    try:
        target = path.resolve()
        if target.parent != folder:  # a link that leads out of the result's folder
            raise CliposcopeError(
                f"{terminal_text(path)} leads outside its folder, to {terminal_text(target)}",
                hint="keep the .records.parquet itself beside its JSON, not a link",
            )
        if not target.is_file():
            if target.exists():
                raise CliposcopeError(
                    f"{terminal_text(path)} is not a regular file",
                    hint="keep the .records.parquet beside its JSON",
                )
            raise FileNotFoundError(path)
        data = target.read_bytes()
    except FileNotFoundError:
        raise CliposcopeError(
            f"per-query records not found: {terminal_text(path)}",
            hint="keep the .records.parquet beside its JSON",
        ) from None
    except OSError as error:
        raise CliposcopeError(
            f"cannot read {terminal_text(path)} ({error.strerror or type(error).__name__})",
            hint="check its permissions",
        ) from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CliposcopeError(
            f"{terminal_text(path)} does not match the hash its result recorded",
            hint="the file was changed or replaced; rerun to write it again",
        )
    try:
        wanted = None if columns is None else list(columns)
        # one thread: pyarrow 26's reader threads over a Python file object abort the
        # interpreter at exit now and then ("terminate called without an active exception")
        table = pq.read_table(io.BytesIO(data), columns=wanted, use_threads=False)
        return table.to_pydict()
    except KeyError as error:  # pyarrow: a named column is not in the file
        raise CliposcopeError(
            f"{terminal_text(path)} lacks one of the columns {list(columns or ())} "
            f"({type(error).__name__})",
            hint="results of an older probe version lack it; rerun",
        ) from None
    except (ValueError, OSError) as error:  # pyarrow: not Parquet, or no such column
        raise CliposcopeError(
            f"{terminal_text(path)} is not readable as per-query records, or lacks one of the "
            f"columns {list(columns or ())} ({type(error).__name__})",
            hint="results of an older probe version lack a column; a damaged file: rerun",
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


# --- what a result file must hold --------------------------------------------------------
#
# A result folder may come from anywhere (a colleague, a download, a hand edit), so a file
# is checked before anything reads it: its size, its encoding, how deeply it nests (before
# the JSON parser recurses), that every number is finite, and RESULT_SCHEMA, the types of
# the fields every command reads and the rules of every figure in its metrics. What a
# probe's own table needs beyond that is checked by laying the result out
# (report.table.left_out). docs/results.md describes the schema.

MAX_RESULT_BYTES = 256 * 1024 * 1024  # far above any result (they are kilobytes to megabytes)
MAX_NESTING = 64  # results nest about 7 deep
RESULT_HINT = "give the JSON files written by `cliposcope run`"
TAMPERED_HINT = "it is not a result as cliposcope writes it: rerun, or remove the file"

_OBJECT = {"type": "object"}

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "cliposcope result",
    "type": "object",
    "required": ["probe", "role", "model", "settings", "metrics", "provenance"],
    "additionalProperties": False,
    "properties": {
        "format": {"type": "integer", "minimum": 1},
        "probe": {"type": "string", "minLength": 1, "maxLength": 200},
        "role": {"type": "string", "minLength": 1, "maxLength": 200},
        "identity": {
            "type": "string",
            "pattern": "^([0-9a-f]{64})?$",
            "expected": "64 hex digits (sha256)",
        },
        "model": {
            "type": "object",
            "required": ["spec"],
            "properties": {
                "spec": {"type": "string", "minLength": 1},
                "family": {"type": "string"},
                "weights_hash": {"type": ["string", "null"]},
                "library_versions": _OBJECT,
                "settings": _OBJECT,
                "details": _OBJECT,
            },
        },
        "settings": {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 1},
                "seed": {"type": ["integer", "null"]},
            },
        },
        "metrics": {"type": "object"},  # its figures: FIGURE_RULES
        "provenance": {
            "type": "object",
            "properties": {
                "probe_version": {"type": ["integer", "null"]},
                "controls": _OBJECT,
                "library_versions": _OBJECT,
                "scene_origin": {"type": ["object", "null"]},
            },
        },
        "wall_time_s": {"type": "number", "minimum": 0},
        "run": {"type": "object"},
        "records": {
            "type": ["object", "null"],
            "required": ["file", "sha256", "rows", "columns"],
            "properties": {
                "file": {
                    "type": "string",
                    "pattern": r"^(?!\.\.?$)[^/\\\x00]+$",
                    "expected": "the name of a file beside the result (no folder)",
                },
                "sha256": {
                    "type": "string",
                    "pattern": "^[0-9a-f]{64}$",
                    "expected": "64 hex digits",
                },
                "rows": {"type": "integer", "minimum": 0},
                "columns": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}

# Every figure in the metrics (a mapping with an ``estimate``, wherever it sits), checked
# by _value_problem (a recursive JSON Schema would take jsonschema 50 ms a result).
FIGURE_RULES = (
    "estimate: a number or null (undefined, e.g. 0 of 0)",
    "ci95: [low, high], two numbers or nulls",
    "count and total: numbers of at least 0, the count at most the total (a share)",
    "p_value: a number or null",
)

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_SURROGATE = re.compile("[\ud800-\udfff]")


def read_result_record(path: Path) -> dict[str, Any]:
    """The JSON object of a result file, checked (see above) and without in-memory fields;
    a CliposcopeError naming the file, the field and what was expected otherwise."""
    name = terminal_text(path)
    if path.is_dir():
        raise CliposcopeError(
            f"{name} is a folder, not a result file", hint=f"give its files: {name}/*.json"
        )
    data = _result_bytes(path, name)
    data = data.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark some editors add
    if not data.strip():
        raise CliposcopeError(f"{name} is empty, not a cliposcope result", hint=RESULT_HINT)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CliposcopeError(
            f"{name} is not UTF-8 text ({error.reason} at byte {error.start}), "
            "not a cliposcope result",
            hint=RESULT_HINT,
        ) from None
    if json_depth(data) > MAX_NESTING:
        raise CliposcopeError(
            f"{name} nests deeper than {MAX_NESTING} levels, not a cliposcope result",
            hint=TAMPERED_HINT,
        )
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliposcopeError(
            f"{name} is not JSON ({error.msg} at line {error.lineno} column {error.colno}), "
            "not a cliposcope result",
            hint=RESULT_HINT,
        ) from None
    except ValueError:  # Python reads no integer of more than 4,300 digits
        raise CliposcopeError(
            f"{name} holds a number with too many digits, not a cliposcope result",
            hint=TAMPERED_HINT,
        ) from None
    except RecursionError:  # json_depth keeps far from it
        raise CliposcopeError(
            f"{name} nests too deeply, not a cliposcope result", hint=TAMPERED_HINT
        ) from None
    if not isinstance(record, dict):
        raise CliposcopeError(
            f"{name} holds {_describe(record)}, not a cliposcope result (a JSON object)",
            hint=RESULT_HINT,
        )
    for key in IN_MEMORY:
        record.pop(key, None)
    version = record.get("format")
    number = isinstance(version, int | float) and not isinstance(version, bool)
    number = number and math.isfinite(version)
    if number and version > RESULT_FORMAT:
        raise CliposcopeError(
            f"{name} is a result of format {version!r}, newer than this cliposcope "
            f"reads ({RESULT_FORMAT})",
            hint="upgrade cliposcope to read it",
        )
    problem = _value_problem(record, [], False) or _schema_problem(record)
    if problem is not None:
        raise CliposcopeError(f"{name}: {problem}", hint=TAMPERED_HINT)
    return record


def _result_bytes(path: Path, name: str) -> bytes:
    """The file's bytes: a regular file of at most MAX_RESULT_BYTES (never a device or a
    pipe, which could be endless or block)."""
    import stat

    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise CliposcopeError(
                f"{name} is not a regular file, not a cliposcope result", hint=RESULT_HINT
            )
        if status.st_size > MAX_RESULT_BYTES:
            raise CliposcopeError(_too_large(name, status.st_size), hint=TAMPERED_HINT)
        with path.open("rb") as file:
            data = file.read(MAX_RESULT_BYTES + 1)
    except FileNotFoundError:
        raise CliposcopeError(f"result file not found: {name}", hint="check the path") from None
    except OSError as error:
        raise CliposcopeError(
            f"cannot read {name} ({error.strerror or type(error).__name__})",
            hint="check its permissions",
        ) from None
    if len(data) > MAX_RESULT_BYTES:  # it grew while we read it
        raise CliposcopeError(_too_large(name, len(data)), hint=TAMPERED_HINT)
    return data


def _too_large(name: str, size: int) -> str:
    return (
        f"{name} is {size:,} bytes, more than a result file holds "
        f"({MAX_RESULT_BYTES:,}); not a cliposcope result"
    )


def _json_path(parts: Sequence[str | int]) -> str:
    """metrics.per_position[0].count"""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = part if re.fullmatch(r"[A-Za-z0-9_@ -]+", part) else repr(part)
            text += f".{shown}" if text else shown
    return terminal_text(text) or "the result"


def _describe(value: Any) -> str:
    """A value as a message names it, briefly."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 30 else f"a number of {len(text)} digits"
    if isinstance(value, str):
        quoted = repr(value[:40]) + ("..." if len(value) > 40 else "")
        return f"the text {quoted}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _value_problem(value: Any, path: list[str | int], figures: bool) -> str | None:
    """The first value below ``value`` (at ``path``) that no result holds, as one line: a
    number that is not finite (NaN, Infinity, 1e400: results write null for an undefined
    figure) or beyond a float's range, text with a lone surrogate (not Unicode, and not
    printable), or, where ``figures`` (in the metrics), a figure against FIGURE_RULES.
    Recursive: MAX_NESTING bounds the depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not key.isascii() and _SURROGATE.search(key):
                return f"{_json_path(path)} has a key with a lone surrogate, not text"
            path.append(key)
            problem = _value_problem(item, path, figures or path == ["metrics"])
            path.pop()
            if problem is not None:
                return problem
        if figures and "estimate" in value:  # its values are numbers and text by now
            found = _broken_rule(value)
            if found is not None:
                return f"{_json_path([*path, *found[0]])} {found[1]}"
    elif isinstance(value, list):
        for index, item in enumerate(value):
            path.append(index)
            problem = _value_problem(item, path, figures)
            path.pop()
            if problem is not None:
                return problem
    elif isinstance(value, float):
        if not math.isfinite(value):
            return f"{_json_path(path)} is {value!r}, expected a finite number or null"
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > sys.float_info.max:
            return f"{_json_path(path)} is {_describe(value)}, beyond the range of a number"
    elif isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
        return f"{_json_path(path)} holds a lone surrogate, not text"
    return None


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(RESULT_SCHEMA)


def _schema_problem(record: dict) -> str | None:
    return schema_problem(record, _validator())


def schema_problem(record: Any, validator) -> str | None:
    """The first way ``record`` breaks the jsonschema ``validator``'s schema (RESULT_SCHEMA
    for results), as one line: where and what was expected; None where it holds."""
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(record))
    if error is None:
        return None
    where, found, rule = list(error.absolute_path), error.instance, error.validator
    expected = error.schema.get("expected") if isinstance(error.schema, dict) else None
    if rule == "required":
        missing = next(name for name in error.validator_value if name not in found)
        return f"{_json_path([*where, missing])} is missing"
    if rule == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {})
        extra = next(key for key in found if key not in known)
        return f"{_json_path(where)} has an unknown field {terminal_text(repr(extra))}"
    if rule == "type":
        kinds = error.validator_value
        kinds = [kinds] if isinstance(kinds, str) else kinds
        wanted = " or ".join(_TYPE_NAMES.get(kind, kind) for kind in kinds)
        return f"{_json_path(where)} is {_describe(found)}, expected {wanted}"
    if rule == "minimum":
        return (
            f"{_json_path(where)} is {_describe(found)}, expected at least {error.validator_value}"
        )
    if rule == "minLength":
        return f"{_json_path(where)} is empty, expected text"
    if rule == "maxLength":
        return f"{_json_path(where)} is {_describe(found)}, longer than {error.validator_value}"
    if expected:
        return f"{_json_path(where)} is {_describe(found)}, expected {expected}"
    return f"{_json_path(where)}: {terminal_text(error.message[:200])}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _broken_rule(figure: dict) -> tuple[tuple[str | int, ...], str] | None:
    """Where in one figure a rule breaks and how, or None."""
    for key in ("estimate", "p_value"):
        value = figure.get(key)
        if value is not None and not _is_number(value):
            return (key,), f"is {_describe(value)}, expected a number or null"
    if "ci95" in figure:
        bounds = figure["ci95"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            return ("ci95",), f"is {_describe(bounds)}, expected [low, high], two numbers or nulls"
        for index, bound in enumerate(bounds):
            if bound is not None and not _is_number(bound):
                return ("ci95", index), f"is {_describe(bound)}, expected a number or null"
    for key in ("count", "total"):
        if key in figure and not (_is_number(figure[key]) and figure[key] >= 0):
            return (key,), f"is {_describe(figure[key])}, expected a number of at least 0"
    count, total = figure.get("count"), figure.get("total")
    if _is_number(count) and _is_number(total) and count > total:
        return (), f"has a count ({_describe(count)}) above its total ({_describe(total)})"
    return None
