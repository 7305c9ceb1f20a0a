"""Export a lab checkpoint as the packaged ``toy:default`` weights (fp16 safetensors)."""

from __future__ import annotations

from pathlib import Path

import torch


def export_fp16(checkpoint: str | Path, out: str | Path) -> Path:
    from safetensors.torch import save_file

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(half, str(out), metadata={"source": str(checkpoint), "arch": "cliposcope-toy"})
    return out
