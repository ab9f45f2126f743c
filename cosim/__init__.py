"""cosim: FMI co-simulation orchestrator and live OPC UA digital twin (the public Python API).

    import cosim
    system = cosim.load("systems/dual_mass_oscillator.yaml")
    res = system.simulate(stop=10.0, parameters={"mass1.m1": 2.0})
    res.time, res["mass1.x1"], res.units["mass1.x1"]

Names are imported on first use (PEP 562), so `import cosim` and `cosim --version` stay fast.
See docs/api.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "load": "cosim.api",
    "simulate": "cosim.api",
    "System": "cosim.api",
    "Simulation": "cosim.api",
    "Results": "cosim.results.memory",
    "sweep": "cosim.study.sweep",
    "CosimError": "cosim.errors",
    "ConfigError": "cosim.errors",
    "FmuError": "cosim.errors",
    "SimulationError": "cosim.errors",
    "BridgeError": "cosim.errors",
    "Problem": "cosim.errors",
    "Location": "cosim.errors",
}

if TYPE_CHECKING:
    from cosim.api import Simulation, System, load, simulate
    from cosim.errors import (
        BridgeError,
        ConfigError,
        CosimError,
        FmuError,
        Location,
        Problem,
        SimulationError,
    )
    from cosim.results.memory import Results
    from cosim.study.sweep import sweep


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cosim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "BridgeError",
    "ConfigError",
    "CosimError",
    "FmuError",
    "Location",
    "Problem",
    "Results",
    "Simulation",
    "SimulationError",
    "System",
    "__version__",
    "load",
    "simulate",
    "sweep",
]
