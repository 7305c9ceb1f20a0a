"""Output paths checked before any work starts: a run that cannot write its results must
fail in a second, not after an hour. The checks leave nothing behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cliposcope.errors import CliposcopeError


def _existing_ancestor(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists():
            return candidate
    return Path.cwd()


def check_output_folder(path: str | Path, flag: str) -> None:
    """``path`` is (or can become) a folder this process can write into."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise CliposcopeError(f"{flag} {path} is a file, not a folder", hint="give a folder path")
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise CliposcopeError(
            f"{flag} {path} lies under {ancestor}, which is a file", hint="give a folder path"
        )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".cliposcope-write-check-", dir=ancestor))
    except OSError as error:
        raise CliposcopeError(
            f"{flag} {path} is not writable ({error.strerror})",
            hint="choose a folder you can write to",
        ) from None


def check_output_file(path: str | Path, flag: str, suffix: str | None = None) -> None:
    """``path`` can be written as a file: not a folder, in a writable folder."""
    path = Path(path)
    if path.is_dir():
        raise CliposcopeError(
            f"{flag} {path} is a folder, expected a file name",
            hint=f"e.g. {flag} {path / ('out' + (suffix or ''))}",
        )
    if suffix is not None and path.suffix != suffix:
        raise CliposcopeError(
            f"{flag} {path} does not end in {suffix}", hint=f"e.g. {flag} out{suffix}"
        )
    check_output_folder(path.absolute().parent, f"the folder of {flag} {path}:")
