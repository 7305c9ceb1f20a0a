"""A named registry whose built-in entries register themselves when their modules load.

Model families (encoders.registry) and probes (probes.registry) are both kept in one:
each entry is a record with a ``name``; a module registers its records at import, and the
registry imports its built-in modules the first time anyone looks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    name: str


Entry = TypeVar("Entry", bound=Named)


class Registry(Generic[Entry]):
    """``module_of(entry)`` names the module that defines an entry, so built-in entries
    list in the order of ``builtin_modules`` whatever order they were imported in."""

    def __init__(self, builtin_modules: Sequence[str], module_of: Callable[[Entry], str]):
        self.builtin_modules = tuple(builtin_modules)
        self.module_of = module_of
        self._entries: dict[str, Entry] = {}
        self._builtins_loaded = False

    def register(self, entry: Entry) -> Entry:
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True  # first, so a module that looks while loading is served
        try:
            for module in self.builtin_modules:
                importlib.import_module(module)
        except BaseException:
            self._builtins_loaded = False  # a failed import is retried, never half-listed
            raise

    def entries(self) -> list[Entry]:
        """Built-in entries in ``builtin_modules`` order, then the others as registered."""
        self._load_builtins()

        def place(entry: Entry) -> int:
            module = self.module_of(entry)
            builtin = module in self.builtin_modules
            return self.builtin_modules.index(module) if builtin else len(self.builtin_modules)

        return sorted(self._entries.values(), key=place)

    def find(self, name: str) -> Entry | None:
        self._load_builtins()
        return self._entries.get(name)
