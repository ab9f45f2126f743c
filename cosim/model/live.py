"""The live sections of a system, typed: `opcua:` (a twin's link to its plant) and `plant:`.

Plain frozen dataclasses, read by cosim.io (io/opcua.py, io/plant.py) and checked against the
FMUs by cosim.resolve.live; the OPC UA client/server code (cosim.opcua) only consumes them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cosim.errors import BridgeError, Location, Problem
from cosim.model.refs import VarRef

POLICIES = ("Basic256Sha256",)
MODES = ("Sign", "SignAndEncrypt")
ON_DISCONNECT = ("hold", "pause", "abort")
CLIENT_ISOLATION = ("process", "thread")  # where the asyncua client runs


# --------------------------------------------------------------------------- opcua
@dataclass(frozen=True)
class SecuritySpec:
    """Message security and user identity for one side of an OPC UA connection.

    Client side (`opcua.security`): certificate/private_key are the twin's own,
    server_certificate pins the one server certificate to trust. Server side
    (`opcua.serve.security`, `plant.security`): certificate/private_key are the server's,
    trusted_clients lists the only client certificates accepted (empty = any client that
    completes the secure handshake; users still have to log in if username is set).
    The password is never stored: it is read from the environment variable password_env.
    """

    policy: str = "Basic256Sha256"
    mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None
    trusted_clients: tuple[Path, ...] = ()
    username: str | None = None
    password_env: str | None = None

    def password(self) -> str | None:
        """The password from the environment (None without username); BridgeError if unset."""
        if self.username is None or self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise BridgeError(
                f"OPC UA user '{self.username}' needs a password, but the environment variable "
                f"{self.password_env} (security.password_env) is not set; "
                f"set it before the run, e.g. `export {self.password_env}=...`"
            )
        return value


@dataclass(frozen=True)
class InputSpec:
    """A plant node whose value feeds an FMU input (by subscription)."""

    node: str  # OPC UA node id, e.g. "ns=2;s=Plant.MotorCurrent" or "nsu=<URI>;i=1234"
    to: VarRef  # FMU input, "component.variable"
    # seconds the plant may leave the value unconfirmed (no notification and no keep-alive
    # of its subscription) before it is stale
    stale_after: float | None = None
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OutputSpec:
    """An FMU output written to a plant node (only with write: true)."""

    source: VarRef  # YAML key `from`
    node: str
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ServeSpec:
    """The twin's own OPC UA server."""

    endpoint: str
    security: SecuritySpec | None = None
    namespace: str = "urn:cosim"
    prefix: str = "Twin"  # node ids are ns=<namespace>;s=<prefix>.<component>.<variable>
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OpcuaSpec:
    """The whole `opcua:` section, validated."""

    endpoint: str | None = None  # the plant's server; required with inputs or outputs
    security: SecuritySpec | None = None
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    write: bool = False
    on_disconnect: Literal["hold", "pause", "abort"] = "hold"
    connect_timeout: float = 10.0  # seconds to keep retrying at start
    publishing_interval: float = 0.01  # seconds, subscription publishing interval
    # seconds: play plant samples back this much after their source timestamp (0: latest)
    playout_delay: float = 0.0
    # "process": the asyncua client runs in a worker process of its own; "thread": in ours
    isolation: Literal["process", "thread"] = "process"
    serve: ServeSpec | None = None
    loc: Location | None = field(default=None, compare=False)
    warnings: tuple[Problem, ...] = field(default=(), compare=False)


# --------------------------------------------------------------------------- plant
@dataclass(frozen=True)
class ServedSignal:
    source: VarRef  # YAML key `from`
    node: str
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Command:
    node: str
    target: VarRef  # YAML key `to`
    start: float | None = None  # None: the variable's own start value
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: set a value, ramp it linearly, or freeze a served signal."""

    at: float
    action: str  # "set" | "ramp" | "freeze"
    target: VarRef
    value: float = math.nan  # set: the value; ramp: the end value
    over: float = 0.0  # ramp: duration, s
    loc: Location | None = field(default=None, compare=False)
    where: str = field(default="plant.faults", compare=False)  # e.g. plant.faults[0].set


@dataclass(frozen=True)
class PlantSpec:
    endpoint: str
    serve: tuple[ServedSignal, ...]
    commands: tuple[Command, ...] = ()
    noise_seed: int | None = None
    noise: tuple[tuple[VarRef, float], ...] = ()
    faults: tuple[Fault, ...] = ()
    # what fault times count from: "start" (the plant's start time) or "first_command" (the
    # first value a client writes to a command node, e.g. a twin connecting)
    fault_origin: str = "start"
    security: SecuritySpec | None = None
    namespace: str = "urn:cosim:plant"
    # where `endpoint`, `commands` and `faults` are written, for errors while the plant runs
    locs: dict[str, Location] = field(default_factory=dict, compare=False)
    warnings: tuple[Problem, ...] = field(default=(), compare=False)  # found while parsing


__all__ = [
    "MODES",
    "CLIENT_ISOLATION",
    "ON_DISCONNECT",
    "POLICIES",
    "Command",
    "Fault",
    "InputSpec",
    "OpcuaSpec",
    "OutputSpec",
    "PlantSpec",
    "SecuritySpec",
    "ServeSpec",
    "ServedSignal",
]
