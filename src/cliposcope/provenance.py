"""Library versions and other facts a result needs to be reproduced later."""

from __future__ import annotations

import platform
from importlib import metadata

_TRACKED_DISTRIBUTIONS = (
    "cliposcope",
    "numpy",
    "torch",
    "torchvision",
    "open_clip_torch",
    "transformers",
    "sentence-transformers",
    "pillow",
)


def distribution_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of the installed libraries that can change an embedding (absent ones omitted)."""
    versions = {"python": platform.python_version()}
    for name in (*_TRACKED_DISTRIBUTIONS, *extra):
        version = distribution_version(name)
        if version is not None:
            versions[name] = version
    return versions


def result_provenance(**facts) -> dict:
    """What every result records about how it was made, plus the probe's own facts."""
    from cliposcope import __version__

    return {"cliposcope_version": __version__, "library_versions": library_versions(), **facts}
