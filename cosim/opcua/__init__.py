"""Live OPC UA coupling: config validation, client bridges, value server and certificates.

The step loop only ever touches numpy buffers; every asyncua client and server runs in its
own thread and event loop (see docs/opcua.md).
"""

from cosim.opcua.certs import application_uri, generate_certificate, thumbprint
from cosim.opcua.client import SAMPLE_DTYPE, Gap, InputBridge, OutputBridge
from cosim.opcua.config import (
    InputSpec,
    OpcuaSpec,
    OutputSpec,
    SecuritySpec,
    ServeSpec,
    check_endpoint,
    check_opcua,
    check_security,
    opcua_from_system,
    parse_opcua,
)
from cosim.opcua.server import (
    ALARM_LEVELS,
    ALARM_SEVERITY,
    RUN_STATE,
    AlarmSpec,
    MethodSpec,
    ServedVariable,
    ValueServer,
    run_state_variables,
    signal_variables,
)

__all__ = [
    "ALARM_LEVELS",
    "ALARM_SEVERITY",
    "RUN_STATE",
    "SAMPLE_DTYPE",
    "AlarmSpec",
    "Gap",
    "InputBridge",
    "InputSpec",
    "MethodSpec",
    "OpcuaSpec",
    "OutputBridge",
    "OutputSpec",
    "SecuritySpec",
    "ServeSpec",
    "ServedVariable",
    "ValueServer",
    "application_uri",
    "check_endpoint",
    "check_opcua",
    "check_security",
    "generate_certificate",
    "opcua_from_system",
    "parse_opcua",
    "run_state_variables",
    "signal_variables",
    "thumbprint",
]
