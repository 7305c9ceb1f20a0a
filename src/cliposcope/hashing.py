"""Content hashes: model weights, files, images, texts."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def state_dict_hash(module) -> str:
    """sha256 over every persistent tensor (name, dtype, shape, bytes), in sorted key order.

    Independent of how the weights were stored (file format, key prefix), so the same
    weights loaded from a tag, a file or a folder hash equally.
    """
    import torch

    digest = hashlib.sha256()
    state = module.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def text_key(text: str) -> bytes:
    return hashlib.sha256(b"text\0" + text.encode("utf-8")).digest()


def bytes_key(kind: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(kind + b"\0" + payload).digest()


def image_key(item) -> bytes:
    """Content key of an image: its file's bytes for a path, its pixels for a PIL image."""
    if isinstance(item, (str, Path)):
        path = Path(item)
        if not path.is_file():
            from cliposcope.errors import CliposcopeError

            raise CliposcopeError(f"image file not found: {path}", hint="check the path")
        return bytes_key(b"image-file", bytes.fromhex(file_sha256(path)))
    header = f"{item.mode}:{item.size[0]}x{item.size[1]}".encode()
    palette = bytes(item.getpalette() or []) if item.mode in ("P", "PA") else b""
    return bytes_key(b"image-pixels", header + b"\0" + palette + b"\0" + item.tobytes())
