"""``toy:default``: the small CLIP trained by the lab and shipped with cliposcope.

It is an ordinary open_clip model of the ``cliposcope-toy`` architecture, so every encoder
path and probe works on it unchanged; ``toy:PATH`` loads any checkpoint of that
architecture. For exercising the toolkit offline, not as a substitute for real CLIP.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

from cliposcope.encoders.openclip import OpenClipEncoder
from cliposcope.errors import CliposcopeError
from cliposcope.specs import ModelSpec

ARCH = "cliposcope-toy"
PACKAGED = {"default": "default.safetensors"}


def packaged_weights(name: str) -> Path:
    folder = resources.files("cliposcope") / "assets" / "toy"
    path = Path(str(folder / PACKAGED[name]))
    if not path.is_file():
        raise CliposcopeError(f"the packaged toy model {name!r} is missing at {path}",
                              hint="reinstall cliposcope")  # fmt: skip
    return path


def load_toy(spec: ModelSpec, **sizes) -> OpenClipEncoder:
    if spec.target in PACKAGED:
        path, source = (
            packaged_weights(spec.target),
            f"package:cliposcope/assets/toy/{PACKAGED[spec.target]}",
        )
    else:
        path = Path(spec.target).expanduser()
        if not path.is_file():
            raise CliposcopeError(
                f"unknown toy model {spec.target!r}",
                hint="toy:default or a checkpoint file of the cliposcope-toy architecture",
            )
        path, source = path.resolve(), f"file:{path.resolve()}"
    inner = ModelSpec("openclip", f"{ARCH}/{path}", spec.options)
    encoder = OpenClipEncoder(inner, **sizes)
    encoder.info = replace(encoder.info, family="toy", spec=spec.canonical, weights_source=source)
    return encoder
