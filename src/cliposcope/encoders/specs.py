"""Model spec strings: ``family:target[?key=value&...]``.

Examples: ``openclip:ViT-B-32/openai``, ``openclip:ViT-B-32/ckpt/epoch_10.pt?quickgelu=true``,
``openclip:ViT-B-32?seed=3`` (random weights), ``hf:openai/clip-vit-base-patch32``,
``st:all-MiniLM-L6-v2``. The options after ``?`` make a spec self-contained, so a result
that records its spec records every setting that changes its numbers. The parsed form,
ModelSpec, lives in base (every loader takes one); parsing checks the family against the
registry.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from cliposcope.encoders.base import ModelSpec
from cliposcope.encoders.registry import family_names
from cliposcope.errors import CliposcopeError

SPEC_SYNTAX = "FAMILY:TARGET[?key=value&...]"


def _syntax(kinds: tuple[str, ...]) -> str:
    return f"{SPEC_SYNTAX}, FAMILY one of {', '.join(kinds)}"


def canonical_spec(spec) -> str | None:
    """A spec string in canonical form; a spec of a family not registered here (a result
    from elsewhere) as it is; None for no spec."""
    if not isinstance(spec, str) or not spec.strip():
        return None
    try:
        return parse_spec(spec).canonical
    except CliposcopeError:
        return spec


def require_folder_if_path(target: str) -> None:
    """A target written as a path must exist; otherwise it would be sent to the hub as a name."""
    if target.startswith(("/", "./", "../", "~")) and not Path(target).expanduser().is_dir():
        raise CliposcopeError(
            f"model folder not found: {target}",
            hint="check the path; hub names look like org/name",
        )


def parse_spec(spec: str, kinds: tuple[str, ...] | None = None, what: str = "model") -> ModelSpec:
    """Parse a spec string; raise CliposcopeError with the syntax when it does not fit.

    ``kinds`` are the prefixes accepted (default: the model families); ``what`` names the
    thing specified in messages (the text-to-image probe parses generator and detector
    specs the same way).
    """
    kinds = family_names() if kinds is None else kinds
    listing = "`cliposcope models` lists them" if what == "model" else f"the {what} kinds"
    if not isinstance(spec, str) or not spec.strip():
        raise CliposcopeError(f"empty {what} spec {spec!r}", hint=f"expected {_syntax(kinds)}")
    spec = spec.strip()
    family, sep, rest = spec.partition(":")
    if not sep:
        raise CliposcopeError(
            f"{what} spec {spec!r} has no family prefix",
            hint=f"expected {_syntax(kinds)}, e.g. {kinds[0]}:{spec}",
        )
    family = family.lower()
    if family not in kinds:
        raise CliposcopeError(
            f"unknown {what} family {family!r} in spec {spec!r}",
            hint=f"expected one of {', '.join(kinds)}; {listing}",
        )
    target, _, query = rest.partition("?")
    if not target:
        raise CliposcopeError(
            f"{what} spec {spec!r} names no {what}", hint=f"expected {_syntax(kinds)}"
        )
    options: dict[str, str] = {}
    if query:
        for item in query.split("&"):
            key, eq, value = item.partition("=")
            if not key or not eq:
                raise CliposcopeError(
                    f"option {item!r} in spec {spec!r} is not key=value",
                    hint="write options as ?key=value&key2=value2",
                )
            name = key.strip().lower()
            if name in options:
                raise CliposcopeError(
                    f"option {name!r} is given twice in spec {spec!r}",
                    hint=f"give {name}= once",
                )
            options[name] = value.strip()
    return ModelSpec(family, target, MappingProxyType(options))
