"""Which objects a caption names, and where: a synonym table and a longest-match matcher.

The rules, in the order they apply (docs/origins.md explains them with examples):

* Words are runs of letters and digits in the lower-cased caption ("hot-dog" is two words);
  a mention's position is the index of its first word.
* At each word the longest phrase that starts there wins, and its words are consumed: "a
  hot dog" names a hot dog, not a dog; "wine glass" is not also a glass.
* Vocabulary names mean their own category. Then the table's phrases: a synonym of a
  category in the vocabulary names it; a synonym of a category outside the vocabulary, or
  a ``not_objects`` phrase ("orange juice"), consumes its words and names nothing.
* Ambiguous words ("mouse", "orange", "glass", "bike") list candidate categories in
  priority order and name the first one the image is annotated with; a candidate outside
  the vocabulary cannot be checked, so the search stops there (with COCO's 80 categories
  "glasses" names a wine glass if there is one, and nothing otherwise: they may be eye
  glasses). With no annotations they name nothing. The ``always`` policy takes the first
  candidate in the vocabulary anyway, ``never`` drops them; skipped words are counted.
* Plurals of every phrase come from ``inflect``; an explicit entry beats a generated plural.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from cliposcope.data.safe_read import MiB, read_json_file
from cliposcope.errors import CliposcopeError

AMBIGUOUS_POLICIES = ("if-present", "always", "never")
DEFAULT_TABLE = "coco-synonyms"
WORD = re.compile(r"[^\W_]+")
TABLE_MAX_BYTES = 64 * MiB  # the shipped table is 9 KB

_CATEGORY, _AMBIGUOUS, _BLOCK = "category", "ambiguous", "block"


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


@dataclass(frozen=True)
class SynonymTable:
    """A curated mapping from caption words to categories (see the module's rules)."""

    name: str
    version: int | str
    categories: dict[str, tuple[str, ...]]
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_objects: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        record = {
            "categories": self.categories,
            "ambiguous": self.ambiguous,
            "not_objects": self.not_objects,
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "fingerprint": self.fingerprint}


def _string_list(value: Any, where: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and words(v) for v in value):
        raise CliposcopeError(
            f"{source}: {where} is not a list of words", hint='e.g. "dog": ["dog", "puppy"]'
        )
    return tuple(value)


def parse_table(record: Any, source: str) -> SynonymTable:
    if not isinstance(record, dict) or not isinstance(record.get("categories"), dict):
        raise CliposcopeError(
            f"{source} is not a synonym table",
            hint='a JSON object with "categories": {name: [words]}',
        )
    categories = {
        name: _string_list(forms, f"categories[{name!r}]", source)
        for name, forms in record["categories"].items()
    }
    ambiguous = record.get("ambiguous", {})
    if not isinstance(ambiguous, dict):
        raise CliposcopeError(
            f"{source}: ambiguous is not an object", hint='e.g. "ambiguous": {"mouse": ["mouse"]}'
        )
    for word in ambiguous:
        if not words(word):
            raise CliposcopeError(
                f"{source}: ambiguous word {word!r} has no letters", hint='e.g. "mouse": ["mouse"]'
            )
    ambiguous = {
        word: _string_list(c, f"ambiguous[{word!r}]", source) for word, c in ambiguous.items()
    }
    for word, candidates in ambiguous.items():
        unknown = [c for c in candidates if c not in categories]
        if unknown:
            raise CliposcopeError(
                f"{source}: ambiguous word {word!r} names unknown {unknown}",
                hint="candidates must be categories of the table",
            )
    not_objects = _string_list(record.get("not_objects", []), "not_objects", source)
    table = SynonymTable(
        str(record.get("name", source)),
        record.get("version", "unversioned"),
        categories,
        ambiguous,
        not_objects,
    )
    _explicit_entries(table, table.categories)  # refuses a phrase with two meanings
    return table


@cache
def default_table() -> SynonymTable:
    text = resources.files("cliposcope") / "assets" / "mentions" / f"{DEFAULT_TABLE}.json"
    return parse_table(json.loads(text.read_text(encoding="utf-8")), DEFAULT_TABLE)


def load_table(spec: str | None) -> SynonymTable | None:
    """The shipped table (None or "coco-synonyms"), no table ("none"), or a JSON file."""
    if spec is None or spec == DEFAULT_TABLE:
        return default_table()
    if spec == "none":
        return None
    path = Path(spec)
    if not path.is_file():
        raise CliposcopeError(
            f"synonym table not found: {spec}",
            hint=f"{DEFAULT_TABLE} (built in), none, or a JSON file",
        )
    record = read_json_file(
        path, hint="a JSON synonym table, like the shipped one", max_bytes=TABLE_MAX_BYTES
    )
    return parse_table(record, str(path))


@dataclass(frozen=True)
class _Target:
    kind: str
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mention:
    """One object named in a caption: ``token`` is the index of its first word."""

    category: str
    form: str
    token: int
    char: int


@dataclass
class MatchOutcome:
    mentions: list[Mention]
    unresolved: list[str]  # ambiguous words that named nothing

    @property
    def categories(self) -> list[str]:
        """Distinct categories in order of first mention."""
        return list(dict.fromkeys(m.category for m in self.mentions))


def _explicit_entries(
    table: SynonymTable, vocabulary: Collection[str]
) -> dict[tuple[str, ...], _Target]:
    entries: dict[tuple[str, ...], _Target] = {}

    def put(phrase: str, target: _Target, source: str) -> None:
        key = tuple(words(phrase))
        previous = entries.get(key)
        if previous is not None and previous != target:
            raise CliposcopeError(
                f"synonym table {table.name}: {phrase!r} has two meanings ({source})",
                hint="list each phrase once",
            )
        entries[key] = target

    for phrase in table.not_objects:
        put(phrase, _Target(_BLOCK), "not_objects")
    for category, forms in table.categories.items():
        target = _Target(_CATEGORY, (category,)) if category in vocabulary else _Target(_BLOCK)
        for phrase in forms:
            put(phrase, target, f"categories[{category!r}]")
    for word, candidates in table.ambiguous.items():
        # Candidates in priority order; one the vocabulary lacks cannot be checked against
        # the annotations, so the search stops there (see _resolve).
        known = [c in vocabulary for c in candidates]
        target = _Target(_AMBIGUOUS, candidates) if known[0] else _Target(_BLOCK)
        put(word, target, "ambiguous")
    return entries


class MentionMatcher:
    """Finds the vocabulary's objects in captions, by the rules in this module's docstring."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        table: SynonymTable | None = None,
        *,
        ambiguous: str = "if-present",
    ):
        if ambiguous not in AMBIGUOUS_POLICIES:
            raise CliposcopeError(
                f"unknown ambiguity policy {ambiguous!r}", hint=", ".join(AMBIGUOUS_POLICIES)
            )
        self.vocabulary = tuple(vocabulary)
        self._vocabulary_set = frozenset(self.vocabulary)
        self.table = table
        self.policy = ambiguous
        entries: dict[tuple[str, ...], _Target] = {}
        in_table = table.ambiguous if table else {}
        for name in self.vocabulary:  # the user's words mean what they say ...
            key = tuple(words(name))
            if not key:
                raise CliposcopeError(f"object name {name!r} has no words", hint="fix the list")
            if name in in_table.get(name, ()):  # ... unless the table knows them as ambiguous
                continue
            entries.setdefault(key, _Target(_CATEGORY, (name,)))
        if table is not None:
            for key, target in _explicit_entries(table, set(self.vocabulary)).items():
                entries.setdefault(key, target)
        for key, target in list(entries.items()):
            plural = tuple(words(_plural(" ".join(key))))
            entries.setdefault(plural, target)
        self._entries = entries
        # Object labels (a table's objects column) are plain names: the vocabulary's own,
        # the synonyms of its categories and their plurals; never an ambiguous word.
        labels = {tuple(words(name)): name for name in self.vocabulary}
        for key, target in entries.items():
            if target.kind == _CATEGORY:
                labels.setdefault(key, target.categories[0])
        self._labels = labels
        by_first: dict[str, list[tuple[tuple[str, ...], _Target]]] = {}
        for key, target in entries.items():
            by_first.setdefault(key[0], []).append((key, target))
        for options in by_first.values():
            options.sort(key=lambda item: -len(item[0]))
        self._by_first = by_first

    @property
    def fingerprint(self) -> str:
        """sha256 of every phrase and what it names, and the ambiguity policy."""
        rows = sorted([" ".join(k), t.kind, list(t.categories)] for k, t in self._entries.items())
        return hashlib.sha256(json.dumps([self.policy, rows]).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        from cliposcope.provenance import distribution_version

        return {
            "table": self.table.describe() if self.table else None,
            "ambiguous": self.policy,
            "phrases": len(self._entries),
            "inflect": distribution_version("inflect"),
            "fingerprint": self.fingerprint,
        }

    def canonical(self, name: str) -> str | None:
        """The category an object label names (a name, synonym or plural), or None."""
        key = tuple(words(name))
        if key in self._labels:
            return self._labels[key]
        singular = _singular(" ".join(key))
        return self._labels.get(tuple(words(singular))) if singular else None

    def find(self, text: str, present: Collection[str] | None = None) -> MatchOutcome:
        """Mentions in ``text``; ``present`` = categories the image is annotated with
        (None when the corpus has no annotations)."""
        tokens = list(WORD.finditer(text.lower()))
        mentions: list[Mention] = []
        unresolved: list[str] = []
        count, index = len(tokens), 0
        while index < count:
            found = self._longest_at(tokens, index)
            if found is None:
                index += 1
                continue
            size, target = found
            form = " ".join(t.group() for t in tokens[index : index + size])
            category = self._resolve(target, present)
            if category is not None:
                mentions.append(Mention(category, form, index, tokens[index].start()))
            elif target.kind == _AMBIGUOUS:
                unresolved.append(form)
            index += size
        return MatchOutcome(mentions, unresolved)

    def _longest_at(self, tokens: list[re.Match], index: int) -> tuple[int, _Target] | None:
        """(words, target) of the longest phrase starting at word ``index``, if any."""
        for phrase, target in self._by_first.get(tokens[index].group(), ()):
            size = len(phrase)
            if size == 1 or (
                index + size <= len(tokens)
                and all(tokens[index + j].group() == phrase[j] for j in range(1, size))
            ):
                return size, target
        return None

    def _resolve(self, target: _Target, present: Collection[str] | None) -> str | None:
        if target.kind == _CATEGORY:
            return target.categories[0]
        if target.kind == _BLOCK or self.policy == "never":
            return None
        vocabulary = self._vocabulary_set
        if self.policy == "always":
            return next((c for c in target.categories if c in vocabulary), None)
        if present is None:
            return None
        for candidate in target.categories:
            if candidate not in vocabulary:  # cannot be ruled out: the word stays unresolved
                return None
            if candidate in present:
                return candidate
        return None


@cache
def _inflect_engine():
    import inflect

    return inflect.engine()


@cache
def _plural(phrase: str) -> str:
    return _inflect_engine().plural_noun(phrase) or phrase


@cache
def _singular(phrase: str) -> str | None:
    return _inflect_engine().singular_noun(phrase) or None
