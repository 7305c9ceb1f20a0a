"""The one exception type for mistakes a user can make (bad spec, missing file, ...)."""

from __future__ import annotations


class CliposcopeError(Exception):
    """A user-facing error: says what was wrong, what was expected, and how to fix it.

    The CLI prints it as a single line and exits non-zero; library users can catch it.
    """

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


def describe_exception(error: BaseException, limit: int = 300) -> str:
    """A library's exception in one short line: its type and the start of its message."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else repr(error)}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_range(name: str, value, low=None, high=None, *, hint: str | None = None) -> None:
    """Refuse a number outside [low, high] (either bound optional), naming the option."""
    number_types = (int, float)
    if isinstance(value, bool) or not isinstance(value, number_types) or value != value:
        raise CliposcopeError(f"{name} {value!r} is not a number", hint=hint or "give a number")
    if value in (float("inf"), float("-inf")):
        raise CliposcopeError(f"{name} {value} is not finite", hint=hint or "give a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            expected = f"at least {low}"
        elif low is None:
            expected = f"at most {high}"
        else:
            expected = f"{low} to {high}"
        raise CliposcopeError(f"{name} {value} is out of range", hint=hint or f"{expected}")


def read_utf8(path, *, hint: str) -> str:
    """A user's text file, or one clear error when it is not UTF-8 text."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CliposcopeError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start})",
            hint=f"save it as UTF-8; {hint}",
        ) from None


JSON_MAX_DEPTH = 64


def read_json(path, *, hint: str):
    """A user's JSON file, or one clear error when it is not UTF-8 JSON or nests deeper than
    JSON_MAX_DEPTH (found by a scan before the parser could recurse that deep)."""
    import json

    from cliposcope.json_depth import json_depth

    text = read_utf8(path, hint=hint)
    if json_depth(text.encode("utf-8", "surrogatepass")) > JSON_MAX_DEPTH:
        raise CliposcopeError(f"{path} nests deeper than {JSON_MAX_DEPTH} levels", hint=hint)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError) as error:  # ValueError: a number too long
        raise CliposcopeError(f"{path} is not valid JSON: {error}", hint=hint) from None
