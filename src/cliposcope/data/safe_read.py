"""Bounded reading of untrusted data files.

* ``read_json_file``: JSON with a size limit and a nesting-depth limit, the depth checked
  by a cheap byte scan **before** the parser recurses (a file of ten thousand ``[`` would
  otherwise end in a RecursionError); a UTF-8 byte-order mark is accepted, other encodings
  and compressed files are one clear error naming the file.
* ``data_path_problem`` / ``text_problem``: what is wrong with a path or a name that a data
  file gives (NUL and other control characters, absolute paths, ``..``).
* ``sniff``: what a file really is by its first bytes (gzip, bz2, zstd, Parquet, zip),
  whatever its name says.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from cliposcope.errors import CliposcopeError
from cliposcope.json_depth import json_depth

MiB = 1 << 20
GiB = 1 << 30
JSON_MAX_DEPTH = 64  # COCO files nest 5 deep, synonym tables 3
JSON_MAX_BYTES = 4 * GiB  # LVIS train (1.1 GB) fits; the parse needs several times this
UTF8_BOM = b"\xef\xbb\xbf"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PAR1", "parquet"),
    (b"PK\x03\x04", "zip"),
)
COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}


def size_text(count: int) -> str:
    if count >= GiB:
        return f"{count / GiB:g} GiB"
    if count >= MiB:
        return f"{count / MiB:g} MiB"
    return f"{count} bytes"


def sniff(path: Path) -> str | None:
    """What the file's first bytes say it is: gzip, bz2, zstd, parquet, zip or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return None  # the reader proper names the problem
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), None)


def read_json_file(
    path: str | Path,
    *,
    hint: str,
    max_bytes: int = JSON_MAX_BYTES,
    max_depth: int = JSON_MAX_DEPTH,
) -> Any:
    """A user's JSON file, parsed, or one clear error naming it: too large, compressed,
    not UTF-8, nested deeper than ``max_depth``, or not valid JSON."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise CliposcopeError(f"cannot read {path}: {error.strerror or error}", hint=hint) from None
    if len(data) > max_bytes:
        raise CliposcopeError(
            f"{path} is larger than {size_text(max_bytes)}, the most a JSON input may be",
            hint=hint,
        )
    kind = next((kind for magic, kind in MAGIC if data.startswith(magic)), None)
    if kind is not None:
        raise CliposcopeError(
            f"{path} is a {kind} file, not JSON text",
            hint=f"decompress or convert it first; {hint}",
        )
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CliposcopeError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start})",
            hint=f"save it as UTF-8; {hint}",
        ) from None
    depth = json_depth(data)
    del data  # the parse below needs several times the file's size: free what we can
    if depth > max_depth:
        raise CliposcopeError(
            f"{path} nests arrays and objects {depth} deep, more than {max_depth}",
            hint=hint,
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliposcopeError(f"{path} is not valid JSON: {error}", hint=hint) from None
    except RecursionError:  # the scan above should make this unreachable
        raise CliposcopeError(f"{path} nests too deeply to read", hint=hint) from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        message = str(error).splitlines()[0]
        raise CliposcopeError(
            f"{path} holds a value JSON readers refuse ({message})", hint=hint
        ) from None


def text_problem(value: Any, *, max_length: int = 1000) -> str | None:
    """What is wrong with a name taken from data, if anything: not a non-empty string, a
    control character (NUL included), or longer than ``max_length``."""
    if not isinstance(value, str) or not value.strip():
        return "is not a non-empty string"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    found = _CONTROL.search(value)
    if found:
        return f"holds the control character {found.group()!r}"
    return None


def data_path_problem(value: Any) -> str | None:
    """What is wrong with a relative file path taken from data, if anything: see
    ``text_problem``; and an absolute path or a ``..`` step climbs outside its folder."""
    problem = text_problem(value, max_length=4096)
    if problem:
        return problem
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or value.startswith("\\"):
        return "is an absolute path (outside the folder)"
    if ".." in posix.parts or ".." in windows.parts:
        return "climbs outside the folder with '..'"
    return None
