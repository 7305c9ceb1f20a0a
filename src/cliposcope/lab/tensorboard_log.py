"""TensorBoard event files for the lab's runs, when the optional ``tensorboard`` package is
installed (``pip install 'cliposcope[tensorboard]'``).

Nothing here imports tensorboard until a scalar is written, so cliposcope works without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from cliposcope.errors import CliposcopeError

FOLDER_NAME = "tensorboard"
EVENT_FILE_PREFIX = "events.out.tfevents."
INSTALL_HINT = "pip install 'cliposcope[tensorboard]'"
_UNSAFE_TAG_CHARACTERS = re.compile(r"[^A-Za-z0-9_./-]")


def summary_writer_class():
    """torch's SummaryWriter, or ImportError when tensorboard is not installed."""
    import tensorboard  # noqa: F401  (torch.utils.tensorboard may be cached without it)
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter


def tensorboard_installed() -> bool:
    try:
        summary_writer_class()
    except ImportError:
        return False
    return True


def wants_tensorboard(requested: bool | None) -> bool:
    """Whether to write event files: --tensorboard (True), --no-tensorboard (False) or
    neither (None: when the package is installed). Asking for it without the package is
    one clear error, raised before any work starts."""
    if requested is False:
        return False
    if tensorboard_installed():
        return True
    if requested:
        raise CliposcopeError(
            "--tensorboard needs the tensorboard package, which is not installed",
            hint=INSTALL_HINT,
        )
    return False


def safe_tag(name: str) -> str:
    """A tag made of [A-Za-z0-9_./-] only: other characters (from probe or figure names)
    become underscores."""
    return _UNSAFE_TAG_CHARACTERS.sub("_", name) or "_"


class ScalarLog:
    """Scalars into a TensorBoard folder; a no-op when the folder is None.

    The event file is opened at the first scalar, so a run with nothing new to log leaves
    no empty file behind. ``purge_step`` hides the points that earlier event files in the
    folder hold at that step and after, so a resumed run shows no duplicates. With a
    ``replacing`` suffix the event file's name ends in it, and opening it removes the files
    an earlier session wrote with that suffix: for figures that are written whole each time.
    Use it as a context manager: the writer is flushed and closed on errors and interrupts.
    """

    def __init__(self, folder: Path | None, *, purge_step: int | None = None, replacing: str = ""):
        self.folder = folder
        self.purge_step = purge_step
        self.replacing = replacing
        self._writer = None

    def _open(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        if self.replacing:
            for earlier in folder.glob(f"{EVENT_FILE_PREFIX}*{self.replacing}"):
                earlier.unlink()
        # Only where earlier files exist: TensorBoard reads a folder's files in name order,
        # and a later file named before this one (same second) would lose its points.
        has_earlier_files = any(folder.glob(f"{EVENT_FILE_PREFIX}*"))
        return summary_writer_class()(
            str(folder),
            purge_step=self.purge_step if has_earlier_files else None,
            filename_suffix=self.replacing,
        )

    def scalar(self, tag: str, value: float | None, step: int) -> None:
        if self.folder is None or value is None:
            return
        if self._writer is None:
            self._writer = self._open(self.folder)
        self._writer.add_scalar(safe_tag(tag), float(value), global_step=step)

    def scalars(self, prefix: str, values: Mapping[str, float | None], step: int) -> None:
        for name, value in values.items():
            self.scalar(f"{prefix}/{name}", value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> ScalarLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
