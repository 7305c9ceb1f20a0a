"""Caption templates: how a list of object names becomes one caption.

Built in: ``and`` ("apple and pizza and desk", the paper's TOR captions), ``article``
("an apple and a pizza and a desk"), ``long`` (each object wrapped in its own descriptive
phrase). A user template is a string with ``{1}`` ... ``{n}`` slots, given inline or in a
file (one template per line; the line with exactly n slots is used for n objects).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cliposcope.errors import CliposcopeError, read_utf8

# Nouns that name a pair or a mass: "a pair of scissors", not "a scissors".
_PAIR_NOUNS = frozenset(
    [
        "scissors",
        "skis",
        "eyeglasses",
        "glasses",
        "pliers",
        "binoculars",
        "headphones",
        "jeans",
        "trousers",
        "tongs",
        "eye glasses",
    ]
)
# Words whose first letter misleads: vowel letter with a consonant sound, or silent h.
_CONSONANT_SOUND = ("uni", "use", "usu", "uten", "one", "once", "eu", "ewe", "ukulele", "uri")
_VOWEL_SOUND = ("hour", "honest", "honor", "honour", "heir")

# Adjective phrases for the long template (our wording): slot k uses phrase k mod len.
_LONG_PHRASES = (
    "a striking {} with a glossy surface",
    "a weathered {} that has seen many years",
    "a tiny {} resting quietly in the corner",
    "a brightly coloured {} catching the light",
    "an unusual {} with intricate details",
    "a plain {} standing on its own",
    "a slightly tilted {} casting a soft shadow",
    "an elegant {} with smooth curves",
)


def indefinite_article(noun: str) -> str:
    """'a' or 'an' by the sound of the first word (with the common exceptions)."""
    word = noun.lower()
    if word.startswith(_VOWEL_SOUND):
        return "an"
    if word.startswith(_CONSONANT_SOUND):
        return "a"
    return "an" if word[:1] in "aeiou" else "a"


def with_article(noun: str) -> str:
    if noun.lower() in _PAIR_NOUNS:
        return f"a pair of {noun}"
    return f"{indefinite_article(noun)} {noun}"


@dataclass(frozen=True)
class Template:
    """Renders object names into a caption; ``name`` identifies it in results."""

    name: str
    pattern: str | None = None  # for user templates: "{1} next to {2}"

    def render(self, objects: Sequence[str]) -> str:
        if self.name == "and":
            return " and ".join(objects)
        if self.name == "article":
            return " and ".join(with_article(o) for o in objects)
        if self.name == "long":
            phrases = [
                _LONG_PHRASES[k % len(_LONG_PHRASES)].format(o) for k, o in enumerate(objects)
            ]
            return (
                "a scene with "
                + ", ".join(phrases[:-1])
                + (" and " if len(phrases) > 1 else "")
                + phrases[-1]
            )
        return re.sub(r"\{(\d+)\}", lambda m: objects[int(m.group(1)) - 1], self.pattern or "")

    def slots(self) -> int | None:
        """Number of objects a user template expects (None: any)."""
        if self.pattern is None:
            return None
        return len(set(re.findall(r"\{(\d+)\}", self.pattern)))

    def check_arity(self, n: int) -> None:
        slots = self.slots()
        if slots is not None and slots != n:
            raise CliposcopeError(
                f"template {self.pattern!r} has {slots} slot(s) but captions have {n} objects",
                hint="write {1} ... {n}, one slot per object",
            )


BUILTIN_TEMPLATES = ("and", "article", "long")


def _parse_pattern(pattern: str, source: str) -> Template:
    numbers = sorted({int(x) for x in re.findall(r"\{(\d+)\}", pattern)})
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        raise CliposcopeError(
            f"template {pattern!r} from {source} needs slots {{1}} ... {{n}}",
            hint='e.g. "a photo of {1} next to {2}"',
        )
    return Template(f"custom:{pattern}", pattern)


def load_template(spec: str, n: int) -> Template:
    """A built-in name, an inline pattern with {1}..{n}, or a file of patterns."""
    if spec in BUILTIN_TEMPLATES:
        return Template(spec)
    if "{" in spec:
        template = _parse_pattern(spec, "the command line")
        template.check_arity(n)
        return template
    path = Path(spec)
    if not path.is_file():
        raise CliposcopeError(
            f"unknown template {spec!r}",
            hint=f"built-in: {', '.join(BUILTIN_TEMPLATES)}; an inline pattern with {{1}}..{{n}}; "
            "or a file of such patterns",
        )
    text = read_utf8(path, hint="one template per line, with {1} ... {n} slots")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    templates = [_parse_pattern(line, str(path)) for line in lines]
    for template in templates:
        if template.slots() == n:
            return template
    raise CliposcopeError(
        f"no template with {n} slots in {path}", hint=f"add a line using {{1}} ... {{{n}}}"
    )
