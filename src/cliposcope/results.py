"""Probe results: a dataclass that serialises to JSON with its full provenance."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cliposcope.atomic import atomic_write_bytes
from cliposcope.errors import CliposcopeError

RESULT_FORMAT = 1


@dataclass
class ProbeResult:
    """One probe on one model (or one of its null controls).

    ``role`` is "model", or "null:random-init" / "null:sum" for the controls, or "corpus"
    for a corpus probe, which measures data rather than a model.
    ``settings`` holds everything that defines the experiment (protocol, n, template,
    vocabulary and its fingerprint, sample, seed, ...); ``provenance`` holds what makes it
    reproducible (versions, data fingerprint, query count). Only ``wall_time_s`` varies
    between two runs with the same settings and seed.
    """

    probe: str
    role: str
    model: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    wall_time_s: float = 0.0
    format: int = field(default=RESULT_FORMAT)

    def with_role(self, role: str) -> ProbeResult:
        """The same result labelled as a model's or one of its controls'."""
        from dataclasses import replace

        return replace(self, role=role)

    @property
    def label(self) -> str:
        spec = self.model.get("spec", "?")
        return spec if self.role in ("model", "corpus") else f"{spec} [{self.role}]"

    def to_json(self) -> str:
        return (
            json.dumps(_finite(asdict(self)), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_bytes(path, self.to_json().encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProbeResult:
        path = Path(path)
        if path.is_dir():
            raise CliposcopeError(
                f"{path} is a folder, not a result file", hint=f"give its files: {path}/*.json"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}")
            return cls(**data)
        except FileNotFoundError:
            raise CliposcopeError(f"result file not found: {path}", hint="check the path") from None
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
            raise CliposcopeError(
                f"{path} is not a cliposcope result ({type(error).__name__})",
                hint="give the JSON files written by `cliposcope run`",
            ) from None


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined figures (e.g. 0 of 0) are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def result_filename(result: ProbeResult) -> str:
    """A stable file name from probe, model and role, safe on any file system."""
    import hashlib
    import re

    spec = result.model.get("spec", "model")
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", spec.split("/")[-1] or spec).strip("-")[:40]
    digest = hashlib.sha256(f"{spec}|{result.role}|{result.settings}".encode()).hexdigest()[:8]
    role = result.role.replace("null:", "null-")
    return f"{result.probe}_{readable}_{role}_{digest}.json"
