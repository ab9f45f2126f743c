"""The `opcua:` section's types and checks, re-exported where the OPC UA code has always had them.

They live in the format-neutral model (cosim.model.live) and in the YAML reader (cosim.io.opcua).
"""

from cosim.io.opcua import (
    NODE_ID_FORMS,
    check_endpoint,
    check_opcua,
    check_security,
    node_id_problem,
    opcua_from_system,
    parse_opcua,
)
from cosim.model.live import (
    MODES,
    ON_DISCONNECT,
    POLICIES,
    InputSpec,
    OpcuaSpec,
    OutputSpec,
    SecuritySpec,
    ServeSpec,
)

__all__ = [
    "MODES",
    "NODE_ID_FORMS",
    "ON_DISCONNECT",
    "POLICIES",
    "InputSpec",
    "OpcuaSpec",
    "OutputSpec",
    "SecuritySpec",
    "ServeSpec",
    "check_endpoint",
    "check_opcua",
    "check_security",
    "node_id_problem",
    "opcua_from_system",
    "parse_opcua",
]
