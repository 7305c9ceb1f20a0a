"""Encoders: one adapter per library, one protocol (see base.Encoder), picked by spec string."""

from __future__ import annotations

from pathlib import Path

from cliposcope.encoders.base import Encoder, EncoderInfo, ImageInput
from cliposcope.errors import CliposcopeError
from cliposcope.specs import ModelSpec, parse_spec

__all__ = ["Encoder", "EncoderInfo", "ImageInput", "load_encoder", "spec_with_checkpoint"]


def spec_with_checkpoint(spec: str, checkpoint: str | Path) -> str:
    """``openclip:ARCH`` + ``--checkpoint PATH`` -> ``openclip:ARCH/ABS_PATH``."""
    parsed = parse_spec(spec)
    arch, _, rest = parsed.target.partition("/")
    if parsed.family != "openclip" or rest or arch.startswith(("local-dir:", "hf-hub:")):
        raise CliposcopeError(
            f"--checkpoint applies to a bare openclip:ARCH spec, not {parsed.canonical!r}",
            hint="write openclip:ARCH with --checkpoint, or put the path in the spec",
        )
    target = f"{arch}/{Path(checkpoint).expanduser().resolve()}"
    return ModelSpec(parsed.family, target, parsed.options).canonical


def load_encoder(
    spec: str | ModelSpec,
    *,
    checkpoint: str | Path | None = None,
    text_batch_size: int = 256,
    image_batch_size: int = 32,
) -> Encoder:
    """Build the encoder a spec names, e.g. ``load_encoder("openclip:ViT-B-32/openai")``."""
    if checkpoint is not None:
        spec = spec_with_checkpoint(str(spec), checkpoint)
    parsed = spec if isinstance(spec, ModelSpec) else parse_spec(spec)
    if parsed.family == "toy":
        from cliposcope.encoders.toy import load_toy

        return load_toy(parsed, text_batch_size=text_batch_size, image_batch_size=image_batch_size)
    if parsed.family == "openclip":
        from cliposcope.encoders.openclip import OpenClipEncoder as adapter
    elif parsed.family == "hf":
        from cliposcope.encoders.hf import HFEncoder as adapter
    else:
        from cliposcope.encoders.st import SentenceTransformerEncoder as adapter
    return adapter(parsed, text_batch_size=text_batch_size, image_batch_size=image_batch_size)
