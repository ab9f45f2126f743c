"""Results: the results.h5 writer, in-memory Results, readers of results and CSV files.

The names below are imported on first use, so `import cosim.results` loads neither h5py nor
the engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "MemoryRecorder": "cosim.results.memory",
    "Results": "cosim.results.memory",
    "ResultsWriter": "cosim.results.writer",
    "read_results": "cosim.results.writer",
    "export_csv": "cosim.results.csv",
    "SignalSet": "cosim.results.signals",
    "read_signals": "cosim.results.signals",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cosim.results' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = sorted(_EXPORTS)
