"""Library versions and other facts a result needs to be reproduced later."""

from __future__ import annotations

import contextvars
import datetime
import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# The model families add their own libraries (encoders.registry.library_versions).
_CORE_DISTRIBUTIONS = ("cliposcope", "numpy", "torch", "torchvision", "pillow")


def distribution_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of the installed libraries that can change an embedding (absent ones omitted)."""
    versions = {"python": platform.python_version()}
    for name in (*_CORE_DISTRIBUTIONS, *extra):
        version = distribution_version(name)
        if version is not None:
            versions[name] = version
    return versions


# How the current process was invoked: the command line sets it to its argv; a Python
# caller is recorded as such.
invocation: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "invocation", default=None
)


# The --config file of the command, with the values it ran with (app.config_file).
run_config: contextvars.ContextVar[dict | None] = contextvars.ContextVar("run_config", default=None)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@functools.cache
def source_revision() -> dict[str, Any]:
    """The git commit of the cliposcope source and whether its tree had changes, when it
    runs from a git checkout; {} otherwise (an installed wheel)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return {}

    def git(*arguments: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *arguments],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def accelerator(device: str | None) -> dict[str, Any]:
    """The accelerator behind a device string, as far as torch can tell."""
    facts: dict[str, Any] = {"device": device}
    try:
        import torch
    except ImportError:
        return facts
    facts["cuda_version"] = torch.version.cuda
    if device and device.startswith("cuda") and torch.cuda.is_available():
        index = int(device.partition(":")[2] or 0)
        facts["device_name"] = torch.cuda.get_device_name(index)
    return facts


def run_metadata(started: str, ended: str, device: str | None = None) -> dict[str, Any]:
    """When, how and where a result was made. Never part of what makes two results the
    same experiment: it differs between any two runs."""
    from cliposcope.version import __version__

    argv = invocation.get()
    config = run_config.get()
    return {
        **({"config": config} if config is not None else {}),
        "started_utc": started,
        "ended_utc": ended,
        "command": list(argv) if argv is not None else None,
        "entry": "cli" if argv is not None else "python",
        "cliposcope_version": __version__,
        **source_revision(),
        "python": platform.python_version(),
        "torch": distribution_version("torch"),
        **accelerator(device),
        "platform": platform.platform(),
        "host": platform.node(),
    }
