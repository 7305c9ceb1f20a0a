"""CSV that is safe to open in a spreadsheet. A text cell beginning with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return would run as a formula there (a model spec such as
``=HYPERLINK(...)`` is enough), so it gets a leading single quote, the OWASP rule for CSV
injection. Numbers stay numbers: ``-0.25`` is a number, not a formula. Every CSV that
cliposcope writes goes through here."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number, as a spreadsheet reads one: not "-inf", "-nan", "-1_000" or
# "\t1", which Python's float() accepts but a spreadsheet takes for text or a formula.
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_number_text(text: str) -> bool:
    return NUMBER.fullmatch(text) is not None


def neutralise(value: Any) -> Any:
    """The cell as written: None and NaN empty, numbers as they are, text that a
    spreadsheet would take for a formula behind a single quote."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS) and not is_number_text(value):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(name) for name in header])
    writer.writerows([neutralise(value) for value in row] for row in rows)
    return buffer.getvalue()
