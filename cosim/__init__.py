"""cosim: FMI co-simulation orchestrator and live OPC UA digital twin."""

from cosim.errors import BridgeError, ConfigError, CosimError, FmuError, Problem, SimulationError

__version__ = "0.1.0"

__all__ = [
    "BridgeError",
    "ConfigError",
    "CosimError",
    "FmuError",
    "Problem",
    "SimulationError",
    "__version__",
]
