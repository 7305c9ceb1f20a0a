"""cliposcope: put CLIP-style vision-language encoders under the microscope.

The public API::

    from cliposcope import load_encoder, list_families, list_probes, run_probe
    from cliposcope import run_battery, BatterySettings, build_report
    from cliposcope import load_results  # results as one tidy pandas DataFrame

Names are imported on first use, so ``import cliposcope`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from cliposcope.version import __version__

_API = {
    "CliposcopeError": "cliposcope.errors",
    "Encoder": "cliposcope.encoders.base",
    "EncoderInfo": "cliposcope.encoders.base",
    "load_encoder": "cliposcope.encoders",
    "list_families": "cliposcope.encoders.registry",
    "register_family": "cliposcope.encoders.registry",
    "list_probes": "cliposcope.probes.registry",
    "register_probe": "cliposcope.probes.registry",
    "run_probe": "cliposcope.probes.registry",
    "run_battery": "cliposcope.probes.battery",
    "BatterySettings": "cliposcope.probes.battery",
    "SceneSet": "cliposcope.data.scene_sets",
    "ProbeResult": "cliposcope.results",
    "result_filename": "cliposcope.results",
    "list_data_kinds": "cliposcope.data_kinds",
    "register_data_kind": "cliposcope.data_kinds",
    "build_report": "cliposcope.report.html",
    "load_results": "cliposcope.report.export",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'cliposcope' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value
