"""What ``cliposcope models`` prints: each registered family, its spec forms and options,
the text-to-image generators and detectors, and what each family knows (e.g. open_clip's
pretrained tags)."""

from __future__ import annotations

from cliposcope.encoders.registry import list_families
from cliposcope.encoders.specs import SPEC_SYNTAX


def describe_models(pattern: str | None = None) -> str:
    lines = [f"Model spec: {SPEC_SYNTAX}", ""]
    catalogues = []
    for family in list_families():
        lines += _entry(family)
        if family.catalogue is not None:
            catalogues.append(family.catalogue)
    lines += generation_kinds()
    for catalogue in catalogues:
        lines.extend(catalogue(pattern))
    return "\n".join(lines)


def generation_kinds() -> list[str]:
    """The generators and detectors `run t2i` takes, in the same form."""
    from cliposcope.generation.registry import detector_kinds, generator_kinds

    lines = []
    for title, kinds in (
        ("Generators (run t2i --generator)", generator_kinds()),
        ("Detectors (run t2i --detector)", detector_kinds()),
    ):
        lines += [f"{title}: {SPEC_SYNTAX}", ""]
        for kind in kinds:
            lines += _entry(kind)
    return lines


def _entry(record) -> list[str]:
    """A family's or kind's name, description, example specs and spec options."""
    lines = [f"{record.name}: {record.description}"]
    lines += [f"    {example}" for example in record.examples]
    if record.options:
        options = "  ".join(f"?{key}=  ({help})" for key, help in record.options.items())
        lines.append(f"    options: {options}")
    return [*lines, ""]


def describe_zoo() -> str:
    """The paper's zoo as `cliposcope models --zoo paper` prints it."""
    from cliposcope.data.zoo import model_sets, paper_zoo
    from cliposcope.report.table import render

    rows = [
        [model.name, model.spec or "-", ", ".join(model.tables), model.note]
        for model in paper_zoo()
    ]
    sets = "  ".join(f"@{name} ({len(specs)})" for name, specs in model_sets().items())
    header = ["Model in the paper", "Spec", "Tables", "Note"]
    return f"{render(header, rows)}\n\nnamed sets for --model: {sets}"
