"""ValueServer: an asyncua server in its own thread serving a numpy buffer of values as nodes."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import functools
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from cosim.errors import BridgeError
from cosim.opcua._loop import LoopThread
from cosim.opcua.certs import (
    application_uri,
    certificate_der,
    key_format,
    thumbprint,
    validity_problem,
)
from cosim.opcua.config import SecuritySpec

_log = logging.getLogger(__name__)

Kind = Literal["real", "integer", "boolean"]
ArgumentKind = Literal["real", "integer", "boolean", "string"]

ALARM_LEVELS: tuple[str, ...] = ("normal", "warning", "alarm")
ALARM_SEVERITY: tuple[int, ...] = (100, 500, 800)  # OPC UA Severity (1..1000) per level


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


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm a ValueServer serves as an OPC UA Part 9 AlarmConditionType condition.

    `source` is the served variable the alarm is about (its `node` as declared, or a full
    node id); it becomes the events' SourceNode/SourceName. `message` is a short text about
    the alarm ("tank level above its limit"): the condition's Description, and part of the
    default event message.
    """

    name: str
    message: str = ""
    source: str | None = None


@dataclass(frozen=True)
class MethodSpec:
    """One OPC UA method a ValueServer serves on its folder object.

    `handler(*inputs)` is plain Python, run in a worker thread (it may take seconds); it
    returns one value per output (a bare value is accepted for a single output). `inputs`
    and `outputs` are (name, kind, description) triples; kind real -> Double,
    integer -> Int64, boolean -> Boolean, string -> String.
    """

    name: str
    handler: Callable[..., Sequence[Any]]
    inputs: Sequence[tuple[str, ArgumentKind, str]] = ()
    outputs: Sequence[tuple[str, ArgumentKind, str]] = ()
    description: str = ""


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
    - `alarms` become AlarmConditionType conditions under <name>/Alarms; set_alarm() queues a
      level change without blocking and the server thread emits the event (docs/opcua_alarms.md).
    - `methods` become OPC UA methods on the <name> folder; handlers run in a worker thread.
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
        alarms: Sequence[AlarmSpec] = (),
        methods: Sequence[MethodSpec] = (),
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
        self.alarms = tuple(alarms)
        self.methods = tuple(methods)
        _check_alarms(self.alarms, all_nodes)
        _check_methods(self.methods)
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
        # which ones: their numbers (the n-th publish() call, from 1), the newest 10,000
        self.skipped: collections.deque[int] = collections.deque(maxlen=10_000)
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
        self._closed = False
        # alarms: the step thread appends (index, level, value, sim_time, message, wall time)
        self._alarm_queue: collections.deque[tuple] = collections.deque(maxlen=100_000)
        self._alarm_levels = [0] * len(self.alarms)
        self._conditions: list[_Condition] = []  # server-thread-only
        self._alarms_folder: Any = None

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

    @property
    def alarm_levels(self) -> tuple[int, ...]:
        """The latest level given to set_alarm() for each alarm (0 normal, 1 warning, 2 alarm)."""
        return tuple(self._alarm_levels)

    def set_alarm(
        self,
        index: int,
        level: int,
        value: float,
        sim_time: float,
        message: str | None = None,
    ) -> None:
        """Set alarm `index` to `level` (0 normal, 1 warning, 2 alarm); never blocks.

        A change of level is queued and the server thread emits one AlarmConditionType event
        for it (Severity 100/500/800); the same level again is ignored. `value` and `sim_time`
        go into the default message. Before start() changes wait for it; after close() they
        are ignored.
        """
        if not 0 <= index < len(self._alarm_levels):
            raise IndexError(f"alarm index {index} out of range (0..{len(self.alarms) - 1})")
        if level not in (0, 1, 2):
            raise ValueError(f"alarm level must be 0, 1 or 2, got {level!r}")
        if self._closed or self._alarm_levels[index] == level:
            return
        self._alarm_levels[index] = level
        self._alarm_queue.append((index, level, value, sim_time, message, time.time()))

    # ----------------------------------------------------------------- life cycle
    def start(self) -> ValueServer:
        """Start serving (first call builds the address space; later calls reopen the port)."""
        if self._listening:
            return self
        self._closed = False
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
        self._closed = True
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
            server.set_certificate_validator(_client_validator(sec.trusted_clients))
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
        declared = [v.node for v in (*self.variables, *self.commands)]
        by_node = {d: ua.NodeId.from_string(nid) for d, nid in zip(declared, ids, strict=True)}
        if self.alarms:
            await self._build_alarms(server, folder, own, by_node)
        for m in self.methods:
            await self._add_method(folder, m, own)
        return server

    async def _build_alarms(self, server: Any, folder: Any, own: int, by_node: dict) -> None:
        from asyncua import ua

        alarms = await folder.add_folder(
            ua.NodeId(f"{self.name}.Alarms", own), ua.QualifiedName("Alarms", own)
        )
        await alarms.set_event_notifier([ua.EventNotifier.SubscribeToEvents])
        await server.nodes.server.set_event_notifier([ua.EventNotifier.SubscribeToEvents])
        await server.nodes.server.add_reference(alarms.nodeid, ua.ObjectIds.HasNotifier)
        self._alarms_folder = alarms.nodeid
        self._conditions = []
        for spec in self.alarms:
            nodeid = ua.NodeId(f"{self.name}.Alarms.{spec.name}", own)
            try:
                node = await alarms.add_object(
                    nodeid,
                    ua.QualifiedName(spec.name, own),
                    objecttype=ua.ObjectIds.AlarmConditionType,
                    instantiate_optional=False,
                )
            except ua.UaStatusCodeError as exc:
                raise BridgeError(f"ValueServer: cannot add alarm '{spec.name}': {exc}") from None
            if spec.message:
                await node.write_attribute(
                    ua.AttributeIds.Description,
                    ua.DataValue(ua.Variant(ua.LocalizedText(spec.message))),
                )
            if spec.source is None:
                source, source_name = nodeid, spec.name
                await alarms.add_reference(nodeid, ua.ObjectIds.HasEventSource)
            else:
                source = by_node.get(spec.source) or ua.NodeId.from_string(spec.source)
                source_name = str(source.Identifier)
                await alarms.add_reference(source, ua.ObjectIds.HasEventSource)
                await server.get_node(source).add_reference(nodeid, ua.ObjectIds.HasCondition)
            fields = {}
            for path in _CONDITION_NODES:
                with contextlib.suppress(ua.UaStatusCodeError):
                    child = await node.get_child([f"0:{p}" for p in path.split("/")])
                    fields[path] = child.nodeid
            cond = _Condition(spec, nodeid, source, source_name, fields)
            self._conditions.append(cond)
            ack = await node.get_child("0:Acknowledge")
            server.link_method(ack, self._acknowledge)
            await self._write_condition(server, cond, _condition_state(cond, 0, None, time.time()))
        # clients may call Acknowledge through the type's method with the condition as object
        server.link_method(
            server.get_node(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge),
            self._acknowledge,
        )

    async def _add_method(self, folder: Any, m: MethodSpec, own: int) -> None:
        from asyncua import ua

        def arguments(items: Sequence[tuple[str, str, str]]) -> list:
            return [
                ua.Argument(
                    Name=name,
                    DataType=ua.NodeId(_ARG_TYPES[kind].value),
                    ValueRank=-1,
                    ArrayDimensions=[],
                    Description=ua.LocalizedText(text),
                )
                for name, kind, text in items
            ]

        try:
            node = await folder.add_method(
                ua.NodeId(f"{self.name}.{m.name}", own),
                ua.QualifiedName(m.name, own),
                functools.partial(_call_method, m),
                arguments(m.inputs),
                arguments(m.outputs),
            )
        except ua.UaStatusCodeError as exc:
            raise BridgeError(f"ValueServer: cannot add method '{m.name}': {exc}") from None
        text = m.description or m.name
        await node.write_attribute(
            ua.AttributeIds.Description, ua.DataValue(ua.Variant(ua.LocalizedText(text)))
        )

    # ------------------------------------------------------------- alarms (server thread)
    async def _apply_alarms(self) -> None:
        queue = self._alarm_queue
        while queue:
            index, level, value, sim_time, message, wall = queue.popleft()
            cond = self._conditions[index]
            if level == cond.level:
                continue
            if message is None:
                word = ALARM_LEVELS[level]
                about = f", {cond.spec.message}" if cond.spec.message else ""
                message = (
                    f"{cond.spec.name}: {word}{about} (value {value:.4g} at t = {sim_time:g} s)"
                )
            if level > cond.level:
                cond.acked = False  # raised or escalated: the operator has to acknowledge
            await self._emit(cond, _condition_state(cond, level, message, wall))

    async def _emit(self, cond: _Condition, state: dict[str, Any]) -> None:
        """Write the condition's new state to its nodes and send it as one event."""
        from asyncua import ua
        from asyncua.common.event_objects import AlarmCondition

        await self._write_condition(self._server, cond, state)
        event = AlarmCondition()
        event.add_property("NodeId", cond.nodeid, ua.VariantType.NodeId)  # the ConditionId
        for name, variant in state.items():
            event.add_property(name, variant.Value, variant.VariantType)
        service = self._server.iserver.subscription_service
        # to subscribers of the Alarms folder, then of the Server object (asyncua keeps the
        # last one for ConditionRefresh)
        folder_event = copy.copy(event)
        folder_event.emitting_node = self._alarms_folder
        await service.trigger_event(folder_event)
        event.emitting_node = ua.NodeId(ua.ObjectIds.Server)
        await service.trigger_event(event)

    async def _write_condition(self, server: Any, cond: _Condition, state: dict) -> None:
        from asyncua import ua

        cond.level = state["_level"].Value
        cond.severity = state["Severity"].Value
        cond.event_id = state["EventId"].Value
        cond.message = state["Message"].Value.Text
        state.pop("_level")
        now = datetime.now(UTC)
        for name, variant in state.items():
            nodeid = cond.fields.get(name)
            if nodeid is not None:
                dv = ua.DataValue(variant, SourceTimestamp=now, ServerTimestamp=now)
                await server.write_attribute_value(nodeid, dv)

    async def _acknowledge(self, parent: Any, *args: Any) -> Any:
        """Acknowledge(EventId, Comment) on a condition: AckedState True, one more event."""
        from asyncua import ua

        cond = next((c for c in self._conditions if c.nodeid == parent), None)
        if cond is None:
            return ua.StatusCode(ua.StatusCodes.BadNodeIdInvalid)
        if len(args) < 2:
            return ua.StatusCode(ua.StatusCodes.BadArgumentsMissing)
        if len(args) > 2:
            return ua.StatusCode(ua.StatusCodes.BadTooManyArguments)
        event_id, comment = args[0].Value, args[1].Value
        if event_id != cond.event_id:
            return ua.StatusCode(ua.StatusCodes.BadEventIdUnknown)
        if cond.acked:
            return ua.StatusCode(ua.StatusCodes.BadConditionBranchAlreadyAcked)
        cond.acked = True
        state = _condition_state(cond, cond.level, cond.message, time.time())
        text = comment.Text if isinstance(comment, ua.LocalizedText) else comment
        state["Comment"] = ua.Variant(ua.LocalizedText(str(text or "")))
        await self._emit(cond, state)
        return ua.StatusCode()

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
                if self._alarm_queue:
                    await self._apply_alarms()
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
            self.skipped.extend(range(self._pushed_seq + 1, seq))
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


# condition children written on every change (paths below the condition object)
_CONDITION_NODES: tuple[str, ...] = (
    "EventId",
    "EventType",
    "SourceNode",
    "SourceName",
    "Time",
    "ReceiveTime",
    "Message",
    "Severity",
    "ConditionClassId",
    "ConditionClassName",
    "ConditionName",
    "BranchId",
    "Retain",
    "EnabledState",
    "EnabledState/Id",
    "Quality",
    "LastSeverity",
    "Comment",
    "AckedState",
    "AckedState/Id",
    "ActiveState",
    "ActiveState/Id",
    "SuppressedOrShelved",
)


class _Condition:
    """Server-thread state of one alarm's condition node."""

    def __init__(self, spec: AlarmSpec, nodeid: Any, source: Any, source_name: str, fields: dict):
        self.spec = spec
        self.nodeid = nodeid
        self.source = source
        self.source_name = source_name
        self.fields = fields  # path -> NodeId of the condition's child
        self.level = 0
        self.severity = ALARM_SEVERITY[0]
        self.acked = True
        self.event_id = b""
        self.message = f"{spec.name}: {ALARM_LEVELS[0]}"


def _condition_state(cond: _Condition, level: int, message: str | None, wall: float) -> dict:
    """Every field of the condition's next state, as Variants by event field name."""
    import uuid

    from asyncua import ua

    active = level > 0
    when = datetime.fromtimestamp(wall, UTC)
    text = message if message is not None else cond.message
    t = ua.VariantType
    return {
        "_level": ua.Variant(level, t.Int32),
        "EventId": ua.Variant(uuid.uuid4().bytes, t.ByteString),
        "EventType": ua.Variant(ua.NodeId(ua.ObjectIds.AlarmConditionType), t.NodeId),
        "SourceNode": ua.Variant(cond.source, t.NodeId),
        "SourceName": ua.Variant(cond.source_name, t.String),
        "Time": ua.Variant(when, t.DateTime),
        "ReceiveTime": ua.Variant(datetime.now(UTC), t.DateTime),
        "Message": ua.Variant(ua.LocalizedText(text), t.LocalizedText),
        "Severity": ua.Variant(ALARM_SEVERITY[level], t.UInt16),
        "ConditionClassId": ua.Variant(ua.NodeId(ua.ObjectIds.ProcessConditionClassType), t.NodeId),
        "ConditionClassName": ua.Variant(ua.LocalizedText("Process"), t.LocalizedText),
        "ConditionName": ua.Variant(cond.spec.name, t.String),
        "BranchId": ua.Variant(ua.NodeId(), t.NodeId),
        "Retain": ua.Variant(active, t.Boolean),
        "EnabledState": ua.Variant(ua.LocalizedText("Enabled"), t.LocalizedText),
        "EnabledState/Id": ua.Variant(True, t.Boolean),
        "Quality": ua.Variant(ua.StatusCode(), t.StatusCode),
        "LastSeverity": ua.Variant(cond.severity, t.UInt16),
        "Comment": ua.Variant(ua.LocalizedText(""), t.LocalizedText),
        "AckedState": ua.Variant(
            ua.LocalizedText("Acknowledged" if cond.acked else "Unacknowledged"), t.LocalizedText
        ),
        "AckedState/Id": ua.Variant(cond.acked, t.Boolean),
        "ActiveState": ua.Variant(
            ua.LocalizedText("Active" if active else "Inactive"), t.LocalizedText
        ),
        "ActiveState/Id": ua.Variant(active, t.Boolean),
        "SuppressedOrShelved": ua.Variant(False, t.Boolean),
    }


def _check_alarms(alarms: Sequence[AlarmSpec], nodes: Sequence[str]) -> None:
    names = [a.name for a in alarms]
    for a in alarms:
        if not isinstance(a, AlarmSpec) or not a.name or "." in a.name:
            raise BridgeError(f"ValueServer: alarm {a!r} needs a non-empty name without '.'")
        if a.source is not None and a.source not in nodes and "=" not in a.source:
            raise BridgeError(
                f"ValueServer: alarm '{a.name}' is about '{a.source}', which is not served; "
                f"expected one of: {', '.join(nodes) or '(no variables)'}"
            )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise BridgeError(f"ValueServer: alarm(s) declared twice: {', '.join(dup)}")


def _check_methods(methods: Sequence[MethodSpec]) -> None:
    names = [m.name for m in methods]
    for m in methods:
        if not isinstance(m, MethodSpec) or not m.name or not callable(m.handler):
            raise BridgeError(f"ValueServer: method {m!r} needs a name and a callable handler")
        if m.name == "Alarms":
            raise BridgeError("ValueServer: 'Alarms' is the alarm folder; rename the method")
        for name, kind, _ in (*m.inputs, *m.outputs):
            if kind not in _ARG_KINDS:
                raise BridgeError(
                    f"ValueServer: method '{m.name}' argument '{name}' has kind {kind!r}; "
                    f"expected one of {', '.join(_ARG_KINDS)}"
                )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise BridgeError(f"ValueServer: method(s) declared twice: {', '.join(dup)}")


_ARG_KINDS: tuple[str, ...] = ("real", "integer", "boolean", "string")


class _ArgTypes:
    """kind -> ua.VariantType, looked up lazily (asyncua is imported on first use)."""

    def __getitem__(self, kind: str) -> Any:
        from asyncua import ua

        t = ua.VariantType
        return {"real": t.Double, "integer": t.Int64, "boolean": t.Boolean, "string": t.String}[
            kind
        ]


_ARG_TYPES = _ArgTypes()
_INTEGER_TYPES = ("SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64")


def _input_value(variant: Any, kind: str) -> Any:
    """The Python value of one method input, or raise TypeError when its type does not fit."""
    name = variant.VariantType.name if variant is not None else "Null"
    value = variant.Value if variant is not None else None
    if isinstance(value, list) or value is None:
        raise TypeError(f"expected a scalar {kind}, got {name}")
    if kind == "real" and name in ("Double", "Float", *_INTEGER_TYPES):
        return float(value)
    if kind == "integer" and name in _INTEGER_TYPES:
        return int(value)
    if kind == "boolean" and name == "Boolean":
        return bool(value)
    if kind == "string" and name == "String":
        return str(value)
    raise TypeError(f"expected {kind}, got {name}")


def _output_variant(value: Any, kind: str) -> Any:
    from asyncua import ua

    vtype = _ARG_TYPES[kind]
    if kind == "string":
        return ua.Variant(str(value), vtype)
    if isinstance(value, bool | np.bool_) and kind != "boolean":
        value = int(value)
    return ua.Variant(_convert(float(value), vtype), vtype)


async def _call_method(spec: MethodSpec, parent: Any, *args: Any) -> Any:
    """asyncua callback of one MethodSpec: check the inputs, run the handler in a worker thread,
    convert its outputs; a failing handler becomes a Bad status, never a dead server."""
    from asyncua import ua

    codes = ua.StatusCodes
    result = ua.CallMethodResult()
    if len(args) < len(spec.inputs):
        result.StatusCode = ua.StatusCode(codes.BadArgumentsMissing)
        return result
    if len(args) > len(spec.inputs):
        result.StatusCode = ua.StatusCode(codes.BadTooManyArguments)
        return result
    values, arg_codes = [], []
    for variant, (_, kind, _) in zip(args, spec.inputs, strict=True):
        try:
            values.append(_input_value(variant, kind))
            arg_codes.append(ua.StatusCode())
        except TypeError:
            arg_codes.append(ua.StatusCode(codes.BadTypeMismatch))
    result.InputArgumentResults = arg_codes
    if len(values) != len(spec.inputs):
        result.StatusCode = ua.StatusCode(codes.BadInvalidArgument)
        return result
    loop = asyncio.get_running_loop()
    try:
        out = await loop.run_in_executor(None, functools.partial(spec.handler, *values))
    except (ValueError, TypeError) as exc:
        _log.warning("OPC UA method %s: invalid argument: %s", spec.name, exc)
        result.StatusCode = ua.StatusCode(codes.BadInvalidArgument)
        return result
    except Exception as exc:
        _log.error("OPC UA method %s failed: %s", spec.name, exc, exc_info=True)
        result.StatusCode = ua.StatusCode(codes.BadInternalError)
        return result
    try:
        if len(spec.outputs) == 1 and (isinstance(out, str) or not isinstance(out, Sequence)):
            out = [out]
        out = list(out) if out is not None else []
        if len(out) != len(spec.outputs):
            raise RuntimeError(
                f"handler returned {len(out)} value(s), the method declares {len(spec.outputs)}"
            )
        result.OutputArguments = [
            _output_variant(v, kind) for v, (_, kind, _) in zip(out, spec.outputs, strict=True)
        ]
    except Exception as exc:
        _log.error("OPC UA method %s returned unusable outputs: %s", spec.name, exc)
        result.StatusCode = ua.StatusCode(codes.BadInternalError)
    return result


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


def _client_validator(paths: Sequence[Any]):
    """A certificate validator: a warning for a client certificate outside its validity
    period; with `paths`, only the listed client certificates are accepted."""
    from asyncua import ua
    from asyncua.common.utils import ServiceError
    from cryptography.hazmat.primitives import serialization

    trusted = {certificate_der(p) for p in paths}
    warned: set[bytes] = set()

    async def validate(cert: Any, app: Any) -> None:
        der = cert.public_bytes(serialization.Encoding.DER)
        if trusted and der not in trusted:
            _log.warning("rejected OPC UA client certificate %s", thumbprint(der))
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
        why = validity_problem(cert)
        if why and der not in warned:  # once per certificate, not per reconnect
            warned.add(der)
            _log.warning(
                "OPC UA client certificate %s (%s) %s; accepted, but replace it: peers that "
                "check validity periods refuse it",
                thumbprint(der), cert.subject.rfc4514_string(), why,
            )  # fmt: skip

    return validate


__all__ = [
    "ALARM_LEVELS",
    "ALARM_SEVERITY",
    "RUN_STATE",
    "AlarmSpec",
    "MethodSpec",
    "ServedVariable",
    "ValueServer",
    "run_state_variables",
    "signal_variables",
]
