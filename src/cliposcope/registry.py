"""A named registry whose built-in entries register themselves when their modules load.

Model families (encoders.registry) and probes (probes.registry) are both kept in one:
each entry is a record with a ``name``; a module registers its records at import, and the
registry imports its built-in modules the first time anyone looks.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    name: str


Entry = TypeVar("Entry", bound=Named)


class Registry(Generic[Entry]):
    def __init__(self, builtin_modules: Sequence[str]):
        self.builtin_modules = tuple(builtin_modules)
        self._entries: dict[str, Entry] = {}
        self._builtins_loaded = False

    def register(self, entry: Entry) -> Entry:
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            for module in self.builtin_modules:
                importlib.import_module(module)

    def entries(self) -> list[Entry]:
        self._load_builtins()
        return list(self._entries.values())

    def find(self, name: str) -> Entry | None:
        self._load_builtins()
        return self._entries.get(name)
