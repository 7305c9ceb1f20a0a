"""Write outputs atomically: a reader sees the old file or the whole new one, never a part.

Files are written to a temporary sibling and renamed into place; folders are built in a
hidden staging sibling (``.NAME.staging-PID-XXXX``) and renamed into place when complete.
A staging folder left by a process that died (kill -9) is removed by the next run that
stages the same output. Everything is created with the permissions the umask allows, as
an ordinary ``open``/``mkdir`` would (0644/0755 under umask 022).
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

STAGING_PATTERN = re.compile(r"^\.(?P<name>.+)\.staging-(?P<pid>\d+)-[A-Za-z0-9_]+$")
TEMPORARY_PATTERN = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def honour_umask(path: str | Path, *, folder: bool = False) -> None:
    """mkstemp/mkdtemp create 0600/0700; give the mode a plain open/mkdir would."""
    os.chmod(path, (0o777 if folder else 0o666) & ~current_umask())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        honour_umask(tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_json(path: str | Path, payload: Any) -> None:
    text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temporaries(final: Path) -> None:
    """Remove half-written temporaries of ``final`` left by processes that died (kill -9)."""
    for candidate in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):
        match = TEMPORARY_PATTERN.match(candidate.name)
        if match and match["name"] == final.name and not _process_alive(int(match["pid"])):
            candidate.unlink(missing_ok=True)


def remove_stale_staging(final: Path) -> list[Path]:
    """Remove the staging folders of ``final`` whose process no longer runs."""
    removed = []
    if not final.parent.is_dir():
        return removed
    for candidate in final.parent.iterdir():
        match = STAGING_PATTERN.match(candidate.name)
        ours = match and match["name"] == final.name and candidate.is_dir()
        if ours and not _process_alive(int(match["pid"])):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def staged_folder(final: str | Path) -> Iterator[Path]:
    """A fresh hidden staging folder beside ``final``; removed if the block fails (or is
    interrupted). The caller publishes it with ``publish_folder`` when complete."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(final)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{final.name}.staging-{os.getpid()}-", dir=final.parent)
    )
    honour_umask(staging, folder=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish_folder(staging: Path, final: Path) -> None:
    """Rename a complete staging folder into place (an empty ``final`` is replaced)."""
    if final.is_dir() and not any(final.iterdir()):
        final.rmdir()
    os.replace(staging, final)
