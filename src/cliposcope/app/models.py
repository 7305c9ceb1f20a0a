"""What ``cliposcope models`` prints: each registered family, its spec forms and options,
and what the family knows (e.g. open_clip's pretrained tags)."""

from __future__ import annotations

from cliposcope.encoders.registry import list_families
from cliposcope.encoders.specs import SPEC_SYNTAX


def describe_models(pattern: str | None = None) -> str:
    lines = [f"Model spec: {SPEC_SYNTAX}", ""]
    catalogues = []
    for family in list_families():
        lines.append(f"{family.name}: {family.description}")
        lines.extend(f"    {example}" for example in family.examples)
        if family.options:
            options = "  ".join(f"?{key}=  ({help})" for key, help in family.options.items())
            lines.append(f"    options: {options}")
        lines.append("")
        if family.catalogue is not None:
            catalogues.append(family.catalogue)
    for catalogue in catalogues:
        lines.extend(catalogue(pattern))
    return "\n".join(lines)
