"""Export a lab checkpoint as the packaged ``toy:default`` weights (fp16 safetensors)."""

from __future__ import annotations

from pathlib import Path

import torch

from cliposcope.atomic import atomic_write_bytes
from cliposcope.encoders.base import load_torch_file
from cliposcope.errors import CliposcopeError


def export_fp16(checkpoint: str | Path, out: str | Path) -> Path:
    from safetensors.torch import save

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise CliposcopeError(
            f"checkpoint not found: {checkpoint}", hint="give a samples_N.pt file of a lab run"
        )
    hint = "give a samples_N.pt file of a lab run"
    state = load_torch_file(checkpoint, required={"state_dict"}, what="checkpoint", hint=hint)
    weights = state["state_dict"]
    if not isinstance(weights, dict) or not all(torch.is_tensor(v) for v in weights.values()):
        raise CliposcopeError(
            f"{checkpoint} holds no state_dict of tensors",
            hint="give a samples_N.pt file of a lab run",
        )
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
    out = Path(out)
    metadata = {"source": str(checkpoint), "arch": "cliposcope-toy"}
    atomic_write_bytes(out, save(half, metadata=metadata))
    return out
