"""ValueServer: an asyncua server in its own thread serving a numpy buffer of values as nodes."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from cosim.errors import BridgeError
from cosim.opcua._loop import LoopThread
from cosim.opcua.certs import application_uri, certificate_der, key_format, thumbprint
from cosim.opcua.config import SecuritySpec

_log = logging.getLogger(__name__)

Kind = Literal["real", "integer", "boolean"]


@dataclass(frozen=True)
class ServedVariable:
    """One node a ValueServer serves.

    `node` is a full node id ("ns=2;s=Twin.mass1.x1") or just the string identifier
    ("Twin.mass1.x1"), which is then placed in the server's own namespace. The node's OPC UA
    data type follows `kind`: real -> Double, integer -> Int64, boolean -> Boolean.
    """

    node: str
    kind: Kind = "real"
    initial: float = 0.0
    description: str = ""


RUN_STATE: tuple[tuple[str, Kind, str], ...] = (
    ("SimulationTime", "real", "simulated time, s"),
    ("RealTimeFactor", "real", "simulated time / wall-clock time since the start"),
    ("Overruns", "integer", "communication steps that finished after their wall-clock deadline"),
    ("MaxLateness", "real", "largest lateness of a step, s"),
    ("StaleInputs", "integer", "live inputs currently flagged stale"),
    ("PlantConnected", "boolean", "the OPC UA session to the plant is up"),
    ("P99Lateness", "real", "99th percentile of step lateness so far, s (histogram estimate)"),
)


def run_state_variables(prefix: str = "Twin.Run") -> list[ServedVariable]:
    """The twin's run-state nodes (<prefix>.SimulationTime, ...), in RUN_STATE order.

    They are ordinary variables: append them to the served signals and publish their values
    in the same array.
    """
    return [ServedVariable(f"{prefix}.{name}", kind, 0.0, text) for name, kind, text in RUN_STATE]


def signal_variables(labels: Sequence[str], prefix: str = "Twin") -> list[ServedVariable]:
    """One real node <prefix>.<label> per recorded signal label ("mass1.x1")."""
    return [ServedVariable(f"{prefix}.{label}") for label in labels]


class _Users:
    """asyncua user manager: one username/password, or anonymous when no username is set."""

    def __init__(self, username: str | None, password: str | None) -> None:
        self.username = username
        self.password = password

    def get_user(self, iserver, username=None, password=None, certificate=None):  # noqa: ANN001
        from asyncua.crypto.permission_rules import User, UserRole

        if self.username is None:
            return User(role=UserRole.User)
        if username is None or password is None:
            return None
        ok_user = hmac.compare_digest(str(username).encode(), self.username.encode())
        pw = password if isinstance(password, bytes) else str(password).encode()
        ok_password = hmac.compare_digest(pw, str(self.password).encode())
        return User(role=UserRole.User, name=self.username) if ok_user and ok_password else None


class ValueServer:
    """An OPC UA server (asyncua) in its own thread and event loop, fed from numpy buffers.

    Call order: construct -> start() (or `with`) -> publish()/read_commands() from the step
    thread, any number of times -> close(). stop()/start() take the endpoint down and up again
    on the same port without losing values (tests use it to simulate a plant restart).

    - publish(values) copies into a buffer and returns; the server thread pushes changed
      values to the address space every `update_interval` seconds (batched, one pass), and
      re-stamps unchanged ones every `refresh_interval` seconds so subscribers see they are
      alive.
    - Command nodes are writable by clients; read_commands(out) copies the latest written
      values without blocking.
    """

    def __init__(
        self,
        endpoint: str,
        variables: Sequence[ServedVariable | str] = (),
        commands: Sequence[ServedVariable | str] = (),
        *,
        security: SecuritySpec | None = None,
        namespace: str = "urn:cosim",
        name: str = "cosim",
        update_interval: float = 0.01,
        refresh_interval: float | None = 0.25,
        start_timeout: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.variables = tuple(
            v if isinstance(v, ServedVariable) else ServedVariable(v) for v in variables
        )
        self.commands = tuple(
            v if isinstance(v, ServedVariable) else ServedVariable(v) for v in commands
        )
        all_nodes = [v.node for v in (*self.variables, *self.commands)]
        if len(set(all_nodes)) != len(all_nodes):
            dup = sorted({n for n in all_nodes if all_nodes.count(n) > 1})
            raise BridgeError(f"ValueServer: node(s) declared twice: {', '.join(dup)}")
        self.security = security
        self.namespace = namespace
        self.name = name
        self.update_interval = update_interval
        self.refresh_interval = refresh_interval
        self.start_timeout = start_timeout
        n = len(self.variables)
        self._lock = threading.Lock()
        self._values = np.array([v.initial for v in self.variables], dtype=np.float64)
        self._status = np.zeros(n, dtype=np.uint32)
        self._stamp = time.time()
        self._seq = 0
        self._commands = np.array([v.initial for v in self.commands], dtype=np.float64)
        self._command_seq = 0
        # server-thread-only state
        self._pushed_values = np.full(n, np.nan)
        self._pushed_status = np.zeros(n, dtype=np.uint32)
        self._snap_values = np.empty(n)
        self._snap_status = np.empty(n, dtype=np.uint32)
        self._pushed_seq = -1
        self._refresh_seq = -1
        self.coalesced = 0  # publish() calls overwritten by a later one before being served
        self._last_refresh = 0.0
        self._command_seen = np.array([v.initial for v in self.commands], dtype=np.float64)
        self.node_ids: tuple[str, ...] = ()  # fully qualified, set once started
        self._index: dict[str, int] = {}
        self._thread: LoopThread | None = None
        self._server: Any = None
        self._var_nodes: list[Any] = []
        self._cmd_nodes: list[Any] = []
        self._vtypes: list[Any] = []
        self._updater: asyncio.Task | None = None
        self._listening = False

    # ----------------------------------------------------------------- step-thread API
    @property
    def n_variables(self) -> int:
        return len(self.variables)

    @property
    def n_commands(self) -> int:
        return len(self.commands)

    @property
    def running(self) -> bool:
        """True while the endpoint accepts connections."""
        return self._listening

    def index(self, node: str) -> int:
        """Position of a variable or command node in publish()/read_commands() arrays."""
        if node in self._index:
            return self._index[node]
        for i, v in enumerate(self.variables):
            if v.node == node:
                return i
        for i, v in enumerate(self.commands):
            if v.node == node:
                return i
        raise KeyError(node)

    def publish(
        self,
        values: np.ndarray,
        status: np.ndarray | None = None,
        timestamp: float | None = None,
    ) -> None:
        """Copy new values and their OPC UA status codes (None = all Good) for every variable.

        Never blocks on the network: the server thread picks them up within update_interval.
        `timestamp` (wall-clock seconds, default now) becomes the nodes' SourceTimestamp.
        """
        stamp = time.time() if timestamp is None else timestamp
        with self._lock:
            np.copyto(self._values, values)
            if status is None:
                self._status.fill(0)
            else:
                np.copyto(self._status, status, casting="unsafe")
            self._stamp = stamp
            self._seq += 1

    def read_commands(self, out: np.ndarray) -> int:
        """Copy the latest values clients wrote to the command nodes; return how many writes
        the server has seen so far (compare with the last call to know whether anything new
        arrived)."""
        with self._lock:
            np.copyto(out, self._commands)
            return self._command_seq

    # ----------------------------------------------------------------- life cycle
    def start(self) -> ValueServer:
        """Start serving (first call builds the address space; later calls reopen the port)."""
        if self._listening:
            return self
        first = self._thread is None
        if first:
            self._thread = LoopThread(f"opcua-server-{self.name}")
        assert self._thread is not None
        try:
            self._thread.run(self._astart(), self.start_timeout, "starting the server")
        except BaseException:
            if first:
                self._thread.close()
                self._thread = None
                self._server = None
            raise
        return self

    def stop(self) -> None:
        """Close the endpoint and every client connection; values are kept for start()."""
        if self._thread is not None and self._listening:
            self._thread.run(self._astop(), 10.0, "stopping the server")

    def close(self) -> None:
        """Stop serving and end the server thread."""
        try:
            self.stop()
        finally:
            if self._thread is not None:
                self._thread.close()
                self._thread = None

    def __enter__(self) -> ValueServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- server thread
    async def _astart(self) -> None:
        if self._server is None:
            self._server = await self._build()
        try:
            await self._server.start()
        except OSError as exc:
            raise BridgeError(
                f"cannot serve OPC UA at {self.endpoint}: {exc.strerror or exc}; "
                "is another server using that port?"
            ) from None
        self._listening = True
        self._pushed_seq = -1  # push everything once
        self._updater = asyncio.get_running_loop().create_task(self._update_loop())

    async def _astop(self) -> None:
        self._listening = False
        if self._updater is not None:
            self._updater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._updater
            self._updater = None
        await self._server.stop()
        # asyncua appends endpoints/policies on every start(); start clean next time
        self._server.iserver.endpoints = []
        self._server._policies = []

    async def _build(self) -> Any:
        from asyncua import Server, ua

        sec = self.security
        users = None
        if sec is not None and sec.username is not None:
            users = _Users(sec.username, sec.password())
        server = Server(user_manager=users or _Users(None, None))
        await server.init()
        server.disable_clock()  # its 1 s sleep would delay stop(); clients do not need it
        server.set_endpoint(self.endpoint)
        server.set_server_name(self.name)
        if sec is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            server.set_identity_tokens([ua.AnonymousIdentityToken])
        else:
            assert sec.certificate is not None and sec.private_key is not None
            await server.load_certificate(certificate_der(sec.certificate))
            await server.load_private_key(str(sec.private_key), format=key_format(sec.private_key))
            uri = application_uri(sec.certificate)
            if uri:
                await server.set_application_uri(uri)
            policy = {
                "Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
                "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
            }[sec.mode]
            server.set_security_policy([policy])
            tokens = [ua.UserNameIdentityToken] if sec.username else [ua.AnonymousIdentityToken]
            server.set_identity_tokens(tokens)
            if sec.trusted_clients:
                server.set_certificate_validator(_pinned_clients(sec.trusted_clients))
        own = await server.register_namespace(self.namespace)
        folder = await server.nodes.objects.add_object(ua.NodeId(self.name, own), self.name)
        self._var_nodes, self._vtypes = [], []
        ids = []
        for v in self.variables:
            node, vtype = await self._add(server, folder, v, own, writable=False)
            self._var_nodes.append(node.nodeid)
            self._vtypes.append(vtype)
            ids.append(node.nodeid.to_string())
        self._cmd_nodes = []
        for v in self.commands:
            node, _ = await self._add(server, folder, v, own, writable=True)
            self._cmd_nodes.append(node.nodeid)
            ids.append(node.nodeid.to_string())
        self.node_ids = tuple(ids)
        self._index = {nid: i for i, nid in enumerate(ids[: len(self.variables)])}
        self._index.update({nid: i for i, nid in enumerate(ids[len(self.variables) :])})
        return server

    async def _add(self, server: Any, folder: Any, v: ServedVariable, own: int, writable: bool):
        from asyncua import ua

        text = v.node.strip()
        if "=" in text.split(";")[0]:
            try:
                nodeid = ua.NodeId.from_string(text)
            except Exception as exc:
                raise BridgeError(
                    f"ValueServer: '{v.node}' is not a valid node id ({exc})"
                ) from None
            if nodeid.NamespaceIndex < 2 and "ns=" in text:
                raise BridgeError(
                    f"ValueServer: node '{v.node}' is in reserved namespace "
                    f"{nodeid.NamespaceIndex}; use ns=2 or above, or just the name"
                )
            if "ns=" not in text:
                nodeid = ua.NodeId(nodeid.Identifier, own, nodeid.NodeIdType)
            while nodeid.NamespaceIndex >= len(await server.get_namespace_array()):
                count = len(await server.get_namespace_array())
                await server.register_namespace(f"{self.namespace}:{count}")
        else:
            nodeid = ua.NodeId(text, own)
        vtype = {
            "real": ua.VariantType.Double,
            "integer": ua.VariantType.Int64,
            "boolean": ua.VariantType.Boolean,
        }[v.kind]
        browse = str(nodeid.Identifier)
        node = await folder.add_variable(
            nodeid,
            ua.QualifiedName(browse, nodeid.NamespaceIndex),
            ua.Variant(_convert(v.initial, vtype), vtype),
        )
        if v.description:
            await node.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(ua.Variant(ua.LocalizedText(v.description))),
            )
        if writable:
            await node.set_writable()
        return node, vtype

    async def _update_loop(self) -> None:
        period = self.update_interval
        next_t = time.monotonic()
        while True:
            try:
                await self._push()
                self._pull_commands()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep serving; a bad value must not end the server
                _log.exception("OPC UA server update failed")
            next_t += period
            delay = next_t - time.monotonic()
            if delay < 0:  # fell behind: do not try to catch up with a burst
                next_t = time.monotonic()
                delay = 0
            await asyncio.sleep(delay)

    async def _push(self) -> None:
        from asyncua import ua

        now = time.monotonic()
        every = self.refresh_interval
        due = every is not None and now - self._last_refresh >= every
        with self._lock:
            if self._seq == self._pushed_seq and not due:
                return
            np.copyto(self._snap_values, self._values)
            np.copyto(self._snap_status, self._status)
            stamp, seq = self._stamp, self._seq
        if self._pushed_seq >= 0 and seq > self._pushed_seq + 1:
            self.coalesced += seq - self._pushed_seq - 1
        if due:
            self._last_refresh = now
        if self._pushed_seq < 0 or (due and seq != self._refresh_seq):
            # first push, or published again since the last refresh: re-stamp every node so
            # subscribers (trigger StatusValueTimestamp) see unchanged values are current
            self._refresh_seq = seq
            changed = np.arange(len(self._snap_values))
        elif seq == self._pushed_seq:
            return
        else:
            diff = (self._snap_values != self._pushed_values) & ~(
                np.isnan(self._snap_values) & np.isnan(self._pushed_values)
            )
            diff |= self._snap_status != self._pushed_status
            changed = np.flatnonzero(diff)
        source = datetime.fromtimestamp(stamp, UTC)
        server_time = datetime.now(UTC)
        write = self._server.write_attribute_value
        for i in changed:
            i = int(i)
            value = float(self._snap_values[i])
            code = int(self._snap_status[i])
            vtype = self._vtypes[i]
            dv = _data_value_class()(
                ua.Variant(_convert(value, vtype), vtype),
                StatusCode=ua.StatusCode(code),
                SourceTimestamp=source,
                ServerTimestamp=server_time,
            )
            await write(self._var_nodes[i], dv)
        self._pushed_values[changed] = self._snap_values[changed]
        self._pushed_status[changed] = self._snap_status[changed]
        self._pushed_seq = seq

    def _pull_commands(self) -> None:
        if not self._cmd_nodes:
            return
        read = self._server.read_attribute_value
        changed = False
        for i, nodeid in enumerate(self._cmd_nodes):
            dv = read(nodeid)
            value = dv.Value.Value if dv.Value is not None else None
            if value is None:
                continue
            value = float(value)
            seen = self._command_seen[i]
            if value != seen and not (math.isnan(value) and math.isnan(seen)):
                self._command_seen[i] = value
                changed = True
        if changed:
            with self._lock:
                np.copyto(self._commands, self._command_seen)
                self._command_seq += 1


_DV_CLASS: Any = None


def _data_value_class() -> Any:
    """ua.DataValue whose deepcopy is itself.

    asyncua deep-copies every written DataValue once per monitored item to protect against
    later mutation; ours are never mutated (fresh object per write, immutable scalars), and
    that copy is ~80% of the cost of a server-side write (1,000 nodes at 10 Hz would not fit
    in one core otherwise). Encoding is by declared field type, so the subclass is invisible
    on the wire.
    """
    global _DV_CLASS
    if _DV_CLASS is None:
        from asyncua import ua

        class _ImmutableDataValue(ua.DataValue):
            def __deepcopy__(self, memo: dict) -> _ImmutableDataValue:
                return self

        _DV_CLASS = _ImmutableDataValue
    return _DV_CLASS


def _convert(value: float, vtype: Any) -> Any:
    from asyncua import ua

    if vtype == ua.VariantType.Double:
        return float(value)
    if vtype == ua.VariantType.Boolean:
        return bool(value) and not math.isnan(value)
    if math.isnan(value) or math.isinf(value):
        return 0
    return int(round(value))


def _pinned_clients(paths: Sequence[Any]):
    """A certificate validator accepting only the listed client certificates."""
    from asyncua import ua
    from asyncua.common.utils import ServiceError
    from cryptography.hazmat.primitives import serialization

    trusted = {certificate_der(p) for p in paths}

    async def validate(cert: Any, app: Any) -> None:
        der = cert.public_bytes(serialization.Encoding.DER)
        if der not in trusted:
            _log.warning("rejected OPC UA client certificate %s", thumbprint(der))
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

    return validate


__all__ = [
    "RUN_STATE",
    "ServedVariable",
    "ValueServer",
    "run_state_variables",
    "signal_variables",
]
