"""Null baselines: the same probe where no learned bias can exist."""

from __future__ import annotations

from cliposcope.encoders.base import EncoderInfo
from cliposcope.errors import CliposcopeError

NULLS = ("random-init", "sum")


def random_init_spec(info: EncoderInfo, seed: int) -> str:
    """The model's own architecture (and activation) with seeded random weights."""
    if info.family not in ("openclip", "toy") or info.name.startswith(("local-dir:", "hf-hub:")):
        raise CliposcopeError(
            f"--null random-init needs an open_clip architecture name, not {info.spec}",
            hint="use it with openclip:ARCH... specs, or --null sum for any model",
        )
    quick = "&quickgelu=true" if info.settings.get("quick_gelu") else ""
    return f"openclip:{info.name}?seed={seed}{quick}"
