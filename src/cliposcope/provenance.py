"""Library versions and other facts a result needs to be reproduced later."""

from __future__ import annotations

import platform
from importlib import metadata

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
