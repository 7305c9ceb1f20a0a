"""``toy:default``: the small CLIP trained by the lab and shipped with cliposcope.

It is an ordinary open_clip model of the ``cliposcope-toy`` architecture, so every encoder
path and probe works on it unchanged; ``toy:PATH`` loads any checkpoint of that
architecture. For exercising the toolkit offline, not as a substitute for real CLIP.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from importlib import resources
from pathlib import Path

from cliposcope.encoders.base import LoadOptions, ModelSpec
from cliposcope.encoders.openclip import (
    LIBRARIES,
    OpenClipEncoder,
    random_init_spec,
    random_model,
    save_weights,
)
from cliposcope.encoders.registry import Family, register_family
from cliposcope.encoders.text_variants import OPTIONS as TEXT_VARIANT_OPTIONS
from cliposcope.errors import CliposcopeError

ARCH = "cliposcope-toy"
PACKAGED = {"default": "default.safetensors"}
OPTIONS = {"fast": "true/false, exact trimmed text path, default true", **TEXT_VARIANT_OPTIONS}


def packaged_weights(name: str) -> Path:
    folder = resources.files("cliposcope") / "assets" / "toy"
    path = Path(str(folder / PACKAGED[name]))
    if not path.is_file():
        raise CliposcopeError(
            f"the packaged toy model {name!r} is missing at {path}", hint="reinstall cliposcope"
        )
    return path


def load_toy(spec: ModelSpec, options: LoadOptions | None = None) -> OpenClipEncoder:
    spec.check_options(OPTIONS)
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
        path, source = path.resolve(), f"file:{spec.target}"  # as given: no machine path
    inner = ModelSpec("openclip", f"{ARCH}/{path}", spec.options)
    try:
        encoder = OpenClipEncoder(inner, options)
    except CliposcopeError as error:  # its messages name the inner spec: name the user's
        message = error.message.replace(repr(inner.canonical), repr(spec.canonical))
        raise CliposcopeError(message, hint=error.hint) from None
    encoder.info = replace(encoder.info, family="toy", spec=spec.canonical, weights_source=source)
    return encoder


@functools.cache
def default_names() -> tuple[str, ...]:
    """The 20 object names toy:default was trained on (its model card says how)."""
    folder = resources.files("cliposcope") / "assets" / "toy"
    return tuple(json.loads((folder / "default.names.json").read_text(encoding="utf-8")))


def write_tiny(folder: Path, seed: int) -> str:
    """A checkpoint of the toy architecture with weights drawn from ``seed``."""
    path = save_weights(random_model(ARCH, seed), folder / f"{ARCH}.safetensors")
    return f"toy:{path.resolve()}"


register_family(
    Family(
        name="toy",
        order=40,
        description="the project's own small CLIP: toy:default (shipped, trained here) or a "
        "checkpoint of the cliposcope-toy architecture",
        load=load_toy,
        embeds_images=True,
        examples=(
            "toy:default                         shipped reference toy CLIP (20 objects, offline)",
            "toy:runs/x/checkpoints/samples_N.pt a `cliposcope lab train` checkpoint",
        ),
        options=OPTIONS,
        libraries=LIBRARIES,
        random_init=random_init_spec,
        tiny=write_tiny,
        trained_names=lambda info: default_names() if info.spec == "toy:default" else None,
    )
)
