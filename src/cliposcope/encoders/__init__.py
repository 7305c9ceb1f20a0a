"""Encoders: one adapter module per family, one protocol (see base.Encoder), picked by spec
string through the family registry."""

from __future__ import annotations

from pathlib import Path

from cliposcope.chatter import library_chatter_held
from cliposcope.encoders.base import Encoder, EncoderInfo, ImageInput, LoadOptions
from cliposcope.encoders.registry import Family, get_family, list_families, register_family
from cliposcope.encoders.specs import ModelSpec, parse_spec
from cliposcope.errors import CliposcopeError

__all__ = [
    "Encoder",
    "EncoderInfo",
    "Family",
    "ImageInput",
    "LoadOptions",
    "list_families",
    "load_encoder",
    "register_family",
    "spec_with_checkpoint",
]


def spec_with_checkpoint(spec: str | ModelSpec, checkpoint: str | Path) -> str:
    """Fold a separately given checkpoint path into the spec, where the family allows it
    (``openclip:ARCH`` + ``--checkpoint PATH`` -> ``openclip:ARCH/ABS_PATH``)."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    family = get_family(parsed.family)
    if family.with_checkpoint is None:
        raise CliposcopeError(
            f"--checkpoint does not apply to {parsed.family}: models ({parsed.canonical!r})",
            hint="put the model's location in the spec itself",
        )
    path = Path(checkpoint).expanduser()  # as given: results name no path the user did not
    return family.with_checkpoint(parsed, path).canonical


def load_encoder(
    spec: str | ModelSpec,
    *,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    precision: str = "fp32",
    text_batch_size: int = 256,
    image_batch_size: int = 32,
) -> Encoder:
    """Build the encoder a spec names, e.g. ``load_encoder("openclip:ViT-B-32/openai")``.

    ``device``: auto (CUDA when present, else MPS, else CPU), cpu, cuda, cuda:N or mps;
    ``precision``: fp32, or fp16/bf16 autocast. Both are recorded in ``encoder.info``.
    """
    options = LoadOptions(
        device=device,
        precision=precision,
        text_batch_size=text_batch_size,
        image_batch_size=image_batch_size,
    ).resolved()
    if checkpoint is not None:
        spec = spec_with_checkpoint(spec, checkpoint)
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    with library_chatter_held(parsed.canonical):
        return get_family(parsed.family).load(parsed, options)
