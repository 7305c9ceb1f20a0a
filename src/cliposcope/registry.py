"""A named registry whose entries register themselves when their modules load.

Model families, probes, data kinds, generators and detectors are each kept in one. Each
entry is a record with a ``name`` (and optionally an ``order``, for listing); a module
registers its records at import. Nothing lists the modules: the first time anyone looks,
the registry imports every module of its package (the built-in entries) and then every
entry point of its group (third-party plugins, e.g. ``cliposcope.probes``). A plugin's
entry point names a module that registers its records when imported, or a record itself.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import pkgutil
from types import ModuleType
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

# Records without an ``order`` list after the built-in ones, in registration order.
UNORDERED = 1_000_000
_REGISTRIES: list[Registry] = []  # every registry made, for reload_plugins


class Named(Protocol):
    name: str


Entry = TypeVar("Entry", bound=Named)


def package_modules(package: str) -> list[str]:
    """The modules directly inside a package, by name (private ones left out)."""
    root = importlib.import_module(package)
    found = pkgutil.iter_modules(root.__path__, prefix=f"{package}.")
    return sorted(info.name for info in found if not info.name.rpartition(".")[2].startswith("_"))


class Registry(Generic[Entry]):
    """``package``: where the built-in entries' modules live; ``group``: the entry-point
    group plugins register under (None: built-ins only)."""

    def __init__(self, package: str, group: str | None, record_type: type | None = None):
        self.package = package
        self.group = group
        self.record_type = record_type
        self._entries: dict[str, Entry] = {}
        self._sequence: dict[str, int] = {}
        self._origins: dict[str, str] = {}
        self._loading_plugin: str | None = None
        self._loaded = False
        _REGISTRIES.append(self)

    def register(self, entry: Entry) -> Entry:
        self._sequence.setdefault(entry.name, len(self._sequence))
        self._entries[entry.name] = entry
        if self._loading_plugin is not None:
            self._origins[entry.name] = self._loading_plugin
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        self._origins.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # first, so a module that looks while loading is served
        try:
            for module in package_modules(self.package):
                importlib.import_module(module)
        except BaseException:
            self._loaded = False  # a failed import is retried, never half-listed
            raise
        if self.group is not None:
            for point in importlib.metadata.entry_points(group=self.group):
                self._load_plugin(point)

    def reload(self) -> None:
        """Look for plugins again (one installed, or put on ``sys.path``, since the first
        look); entries already registered stay. A registry nobody looked at yet waits."""
        if self._loaded:
            self._loaded = False
            self._load()

    def _load_plugin(self, point: importlib.metadata.EntryPoint) -> None:
        """A plugin that fails to load is skipped with a warning: one broken third-party
        package must not take every command down with it."""
        distribution = point.dist.name if point.dist is not None else "?"
        version = point.dist.version if point.dist is not None else "?"
        self._loading_plugin = f"{distribution} {version}"
        try:
            loaded = point.load()
            if not isinstance(loaded, ModuleType) and hasattr(loaded, "name"):
                if self.record_type is not None and not isinstance(loaded, self.record_type):
                    raise TypeError(f"{point.value} is not a {self.record_type.__name__}")
                self.register(loaded)
        except Exception as error:
            log.warning(
                "plugin %s (%s = %s, from %s) not loaded: %s",
                point.name,
                self.group,
                point.value,
                self._loading_plugin,
                error,
            )
        finally:
            self._loading_plugin = None

    def entries(self) -> list[Entry]:
        """Entries by their ``order`` field, then in the order they registered."""
        self._load()

        def place(entry: Entry) -> tuple[int, int]:
            return getattr(entry, "order", UNORDERED), self._sequence[entry.name]

        return sorted(self._entries.values(), key=place)

    def find(self, name: str) -> Entry | None:
        self._load()
        return self._entries.get(name)

    def origin(self, name: str) -> str:
        """'cliposcope' for a built-in entry (or one registered by code), else the plugin
        distribution and version that registered it."""
        return self._origins.get(name, "cliposcope")


def reload_plugins() -> None:
    """Every registry looks for plugins again, e.g. after one is installed in a running
    interpreter (the plugin tests put one on ``sys.path``)."""
    for registry in _REGISTRIES:
        registry.reload()
