"""ClientSession: the asyncua client of one plant link; it fills LiveBuffers and reports events.

It runs in an asyncio event loop: in a thread of the twin's process or in a worker process of
its own (cosim.opcua.worker); InputBridge (cosim.opcua.client) is the step loop's side of it
either way. The session writes what it receives into LiveBuffers and tells its Reporter about
everything else: when start-up succeeded or failed for good, when the link went up or down,
a non-retryable problem mid-run, the revised keep-alive, the node ids as resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

import numpy as np

from cosim.errors import BridgeError
from cosim.opcua.buffers import BAD, WRITE_ERRORS, WRITES_SENT, LiveBuffers
from cosim.opcua.certs import (
    application_uri,
    certificate_der,
    key_format,
    thumbprint,
    validity_problem,
)
from cosim.opcua.config import OpcuaSpec, SecuritySpec

_log = logging.getLogger("cosim.opcua.client")

_FLUSH_TIMEOUT = 1.0  # s: close() waits this long to send outputs queued just before it
_CREDENTIALS = {
    "BadUserAccessDenied",
    "BadIdentityTokenInvalid",
    "BadIdentityTokenRejected",
    "BadUserSignatureInvalid",
}
_CERTIFICATE = {
    "BadCertificateUntrusted",
    "BadCertificateInvalid",
    "BadCertificateUriInvalid",
    "BadCertificateTimeInvalid",
    "BadCertificateRevoked",
    "BadCertificateUseNotAllowed",
    "BadCertificateHostNameInvalid",
    "BadSecurityChecksFailed",
}
_POLICY = {"BadSecurityPolicyRejected", "BadSecurityModeRejected"}
# builtin DataType ids (namespace 0) a live input or output may have
_NUMERIC = {
    1: "Boolean", 2: "SByte", 3: "Byte", 4: "Int16", 5: "UInt16", 6: "Int32", 7: "UInt32",
    8: "Int64", 9: "UInt64", 10: "Float", 11: "Double", 26: "Number", 27: "Integer",
    28: "UInteger", 29: "Enumeration",
}  # fmt: skip
_BUILTIN_NAMES = {
    0: "Null", 12: "String", 13: "DateTime", 14: "Guid", 15: "ByteString", 16: "XmlElement",
    17: "NodeId", 18: "ExpandedNodeId", 19: "StatusCode", 20: "QualifiedName",
    21: "LocalizedText", 22: "Structure", 23: "DataValue", 24: "BaseDataType",
    25: "DiagnosticInfo",
}  # fmt: skip


class _Fatal(BridgeError):
    """A connection problem that retrying will not fix (credentials, trust, nodes)."""


def _status_name(code: int) -> str:
    from asyncua import ua

    try:
        return ua.StatusCode(code).name
    except Exception:
        return f"0x{code:08X}"


def _describe_exc(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused: nothing listens at that address"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


class Reporter(Protocol):
    """What a ClientSession tells the step loop's side (wall-clock times: time.time())."""

    def ready(self, error: str | None) -> None: ...  # start-up done (None) or failed for good
    def up(self, at: float) -> None: ...
    def down(self, reason: str, at: float) -> None: ...
    def problem(self, message: str | None) -> None: ...  # non-retryable, mid-run (None: cleared)
    def keepalive(self, period: float) -> None: ...
    def resolved(self, nodes: tuple[str, ...]) -> None: ...
    def write_error(self, message: str) -> None: ...


@dataclass(frozen=True)
class SessionOptions:
    """The InputBridge's tuning knobs, as the session needs them."""

    queue_size: int = 16
    request_timeout: float = 4.0
    keepalive: float = 0.5
    max_backoff: float = 2.0


class ClientSession:
    """Connect, check, subscribe, serve, reconnect: see InputBridge for the behaviour."""

    def __init__(
        self,
        spec: OpcuaSpec,
        buffers: LiveBuffers,
        report: Reporter,
        options: SessionOptions,
        password: str | None,
    ) -> None:
        assert spec.endpoint is not None
        self.spec = spec
        self.endpoint = spec.endpoint
        self.nodes: tuple[str, ...] = tuple(i.node for i in spec.inputs)
        self.output_nodes: tuple[str, ...] = (
            tuple(o.node for o in spec.outputs) if spec.write else ()
        )
        self.buf = buffers
        self.report = report
        self._queue_size = options.queue_size
        self._request_timeout = options.request_timeout
        self._keepalive = options.keepalive
        self._max_backoff = options.max_backoff
        self._password = password
        self._validity_warned: set[bytes] = set()  # server certificates warned about
        stale_after = [math.inf if i.stale_after is None else i.stale_after for i in spec.inputs]
        finite = [s for s in stale_after if math.isfinite(s)]
        self._min_stale_after = min(finite) if finite else math.inf
        self._signal: asyncio.Event | None = None
        self._stopping = False
        self._started = False
        self._lost_reason: str | None = None
        self._last_publish = 0.0
        self._keepalive_timeout = math.inf
        # node ids as sent in the current session (nsu= resolved to the server's index)
        self._ids_in: list[Any] = []
        self._ids_out: list[Any] = []

    def wake(self) -> None:
        """Outputs were queued or a stop was asked for (call in the session's loop)."""
        if self._signal is not None:
            self._signal.set()

    async def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def supervise(self) -> None:
        """Run sessions until stop(): report.ready once, then reconnect for ever."""
        self._signal = asyncio.Event()
        deadline = time.monotonic() + self.spec.connect_timeout
        delay, attempts, last = 0.05, 0, "no attempt made"
        while not self._stopping:
            attempts += 1
            try:
                await self._session()
                delay = 0.05  # it was up: start the backoff again from the bottom
            except _Fatal as exc:
                if not self._started:
                    self._ready(str(exc))
                    return
                self.report.problem(str(exc))
                _log.error("OPC UA: %s", exc)
            except Exception as exc:  # transient: refused, timed out, dropped...
                last = _describe_exc(exc)
                _log.debug(
                    "OPC UA connect attempt %d to %s failed: %r", attempts, self.endpoint, exc
                )
            if self._stopping:
                break
            if not self._started:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._ready(
                        f"could not connect to the OPC UA server at {self.endpoint} within "
                        f"{self.spec.connect_timeout:g} s ({attempts} attempt(s); last error: "
                        f"{last}). Is the plant running? Start it (e.g. `cosim plant ...`) "
                        "or raise opcua.connect_timeout"
                    )
                    return
                wait = min(delay, left)
            else:
                wait = delay
            self._signal.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signal.wait(), wait)
            delay = min(delay * 2, self._max_backoff)
        if not self._started:
            self._ready("the OPC UA bridge was closed while connecting")

    def _ready(self, error: str | None) -> None:
        if not self._started:
            self._started = True
            self.report.ready(error)

    def _make_client(self) -> Any:
        from asyncua import Client

        client = Client(self.endpoint, timeout=self._request_timeout, watchdog_intervall=1.0)
        client.name = client.description = "cosim twin"
        client.session_timeout = 30_000  # ms; the server keeps our session this long if we vanish
        return client

    async def _secure(self, client: Any, sec: SecuritySpec) -> None:
        from asyncua import ua
        from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
        from asyncua.crypto.uacrypto import CertProperties

        uri = application_uri(sec.certificate)
        if uri:
            client.application_uri = uri
        mode = {
            "Sign": ua.MessageSecurityMode.Sign,
            "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt,
        }[sec.mode]
        server_cert = await self._check_endpoint(sec, mode)
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            certificate=certificate_der(sec.certificate),
            private_key=CertProperties(str(sec.private_key), extension=key_format(sec.private_key)),
            server_certificate=server_cert,
            mode=mode,
        )
        if sec.username is not None:
            client.set_user(sec.username)
            client.set_password(self._password or "")

    async def _check_endpoint(self, sec: SecuritySpec, mode: Any) -> bytes:
        """Ask the server (unsecured discovery) for its endpoints; check policy and trust."""
        from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

        probe = self._make_client()
        endpoints = await asyncio.wait_for(
            probe.connect_and_get_server_endpoints(), self._request_timeout
        )
        wanted = [
            e
            for e in endpoints
            if e.SecurityPolicyUri == SecurityPolicyBasic256Sha256.URI and e.SecurityMode == mode
        ]
        if not wanted:
            offered = ", ".join(sorted({_endpoint_name(e) for e in endpoints}))
            raise _Fatal(
                f"the OPC UA server at {self.endpoint} does not offer Basic256Sha256 "
                f"{sec.mode}; it offers: {offered or 'nothing'}. Change opcua.security.mode "
                "or the server's security settings"
            )
        der = _first_certificate(wanted[0].ServerCertificate or b"")
        self._warn_validity(der)
        if sec.server_certificate is not None:
            pinned = certificate_der(sec.server_certificate)
            if der != pinned:
                subject = "no certificate"
                if der:
                    try:
                        cert = _load_der(der)
                        subject = f"certificate {thumbprint(der)} ({cert.subject.rfc4514_string()})"
                    except Exception:
                        subject = f"certificate {thumbprint(der)}"
                raise _Fatal(
                    f"untrusted server certificate: the OPC UA server at {self.endpoint} "
                    f"presented {subject}, which is not the trusted server_certificate "
                    f"{sec.server_certificate} ({thumbprint(pinned)}); refusing to connect. "
                    "If the plant's certificate was replaced on purpose, copy the new one "
                    "to that path"
                )
        return der

    def _warn_validity(self, der: bytes) -> None:
        """A warning (once per certificate) if the server's certificate is outside its
        validity period: accepted, as the pinned or offered one, but it should be replaced."""
        if not der or der in self._validity_warned:
            return
        try:
            cert = _load_der(der)
        except Exception:
            return  # not parseable: the secure channel reports it
        why = validity_problem(cert)
        if why:
            self._validity_warned.add(der)
            _log.warning(
                "the OPC UA server at %s presents certificate %s (%s), which %s; accepted, but "
                "it should be replaced: peers that check validity periods refuse it",
                self.endpoint, thumbprint(der), cert.subject.rfc4514_string(), why,
            )  # fmt: skip

    async def _connect(self, client: Any) -> None:
        from asyncua import ua

        sec = self.spec.security
        try:
            if sec is not None:
                await self._secure(client, sec)
            await asyncio.wait_for(client.connect(), self._request_timeout * 2)
        except ua.UaStatusCodeError as exc:
            name = _status_name(exc.code)
            if name in _CREDENTIALS:
                user = sec.username if sec is not None else None
                source = f" (password from ${sec.password_env})" if sec and sec.password_env else ""
                raise _Fatal(
                    f"the OPC UA server at {self.endpoint} rejected the login of user "
                    f"'{user or 'anonymous'}'{source}: {name}. Check the username and the "
                    "password"
                ) from None
            if name in _CERTIFICATE:
                cert = sec.certificate if sec is not None else None
                raise _Fatal(
                    f"the OPC UA server at {self.endpoint} refused the secure channel: {name}. "
                    f"It probably does not trust the twin's certificate {cert}; add that "
                    "certificate to the server's trusted clients"
                ) from None
            if name in _POLICY:
                if sec is None:
                    await self._require_unsecured_endpoint()
                raise _Fatal(
                    f"the OPC UA server at {self.endpoint} rejected the security settings "
                    f"({name}); check opcua.security.policy and mode against its endpoints"
                ) from None
            raise
        except ua.UaError as exc:
            if "certificate" in str(exc).lower():
                raise _Fatal(f"OPC UA server at {self.endpoint}: {exc}") from None
            if sec is None:
                await self._require_unsecured_endpoint()
            raise
        except (OSError, ConnectionError, TimeoutError):
            if sec is None:
                await self._require_unsecured_endpoint()
            raise

    async def _require_unsecured_endpoint(self) -> None:
        """After a failed unsecured connect: _Fatal if the server offers no None endpoint."""
        try:
            probe = self._make_client()
            endpoints = await asyncio.wait_for(
                probe.connect_and_get_server_endpoints(), self._request_timeout
            )
        except Exception:
            return  # the server is not answering at all: a transient failure
        if endpoints and not any(e.SecurityPolicyUri.endswith("#None") for e in endpoints):
            offered = ", ".join(sorted({_endpoint_name(e) for e in endpoints}))
            raise _Fatal(
                f"the OPC UA server at {self.endpoint} requires a secure connection "
                f"(it offers: {offered}): add opcua.security (see docs/opcua.md)"
            )

    async def _resolve_nodes(self, client: Any) -> None:
        """Node ids for this session: `nsu=` ids get the namespace index the server has now
        (it may change when the server restarts); `ns=` ids are used as written."""
        from asyncua import ua

        entries = [(f"opcua.inputs[{i}]", n) for i, n in enumerate(self.nodes)]
        entries += [(f"opcua.outputs[{i}]", n) for i, n in enumerate(self.output_nodes)]
        parsed = [ua.NodeId.from_string(node) for _, node in entries]
        uris = [getattr(p, "NamespaceUri", None) for p in parsed]
        array: list[str] = []
        if any(uris):
            array = list(await client.get_namespace_array())
        ids, problems = [], []
        for (where, node), p, uri in zip(entries, parsed, uris, strict=True):
            if not uri:
                ids.append(ua.NodeId(p.Identifier, p.NamespaceIndex, p.NodeIdType))
                continue
            uri = unquote(uri)  # ';' and '%' are percent-encoded in a node id string
            if uri not in array:
                listed = ", ".join(f"{k}: {u}" for k, u in enumerate(array))
                problems.append(
                    f"{where} {node}: the server has no namespace '{uri}' (its NamespaceArray "
                    f"is [{listed}])"
                )
                ids.append(None)
                continue
            ids.append(ua.NodeId(p.Identifier, array.index(uri), p.NodeIdType))
        if problems:
            raise _Fatal(
                f"OPC UA node problem(s) at {self.endpoint}:\n  - " + "\n  - ".join(problems)
            )
        self._ids_in = ids[: len(self.nodes)]
        self._ids_out = ids[len(self.nodes) :]
        self.report.resolved(tuple(n.to_string() for n in self._ids_in))

    async def _check_nodes(self, client: Any) -> dict[str, Any]:
        """Read class, type, rank and access of every node in one call; _Fatal listing all
        problems. Returns the VariantType to write per output node."""
        from asyncua import ua
        from asyncua.common.ua_utils import get_base_data_type

        A = ua.AttributeIds
        attrs = (A.NodeClass, A.DataType, A.ValueRank, A.Value, A.AccessLevel, A.UserAccessLevel)
        entries = [(f"opcua.inputs[{i}]", n, False) for i, n in enumerate(self.nodes)]
        entries += [(f"opcua.outputs[{i}]", n, True) for i, n in enumerate(self.output_nodes)]
        ids = [*self._ids_in, *self._ids_out]
        params = ua.ReadParameters()
        params.NodesToRead = [
            ua.ReadValueId(NodeId=nid, AttributeId=a) for nid in ids for a in attrs
        ]
        results = await client.uaclient.read(params) if params.NodesToRead else []
        problems: list[str] = []
        vtypes: dict[str, Any] = {}
        for k, (where, node, is_output) in enumerate(entries):
            cls, dtype, rank, value, access, user_access = results[k * 6 : k * 6 + 6]
            say = f"{where} {node}"
            if not cls.StatusCode.is_good():
                reason = (
                    "no such node"
                    if _status_name(cls.StatusCode.value)
                    in ("BadNodeIdUnknown", "BadNodeIdInvalid")
                    else "cannot be read"
                )
                problems.append(f"{say}: {reason} ({_status_name(cls.StatusCode.value)})")
                continue
            if cls.Value.Value != ua.NodeClass.Variable:
                kind = ua.NodeClass(cls.Value.Value).name
                problems.append(f"{say}: is an {kind} node, not a Variable")
                continue
            type_id = dtype.Value.Value if dtype.StatusCode.is_good() else None
            base = None
            if isinstance(type_id, ua.NodeId):
                if type_id.NamespaceIndex == 0 and type_id.Identifier in _NUMERIC:
                    base = type_id.Identifier
                else:
                    try:
                        node_ = await get_base_data_type(client.get_node(type_id))
                        base = node_.nodeid.Identifier
                    except Exception:
                        base = None
            type_name = _NUMERIC.get(base) or _BUILTIN_NAMES.get(base) or str(type_id)
            if base not in _NUMERIC:
                problems.append(
                    f"{say}: has data type {type_name}; live inputs and outputs must be "
                    "numeric or Boolean"
                )
                continue
            ranked = rank.Value.Value if rank.StatusCode.is_good() else -1
            is_array = value.Value is not None and value.Value.is_array
            if (isinstance(ranked, int) and ranked >= 0) or is_array:
                problems.append(f"{say}: is an array ({type_name}[]); only scalars can be linked")
                continue
            if is_output:
                writable = ua.AccessLevel.CurrentWrite
                bits = access.Value.Value if access.StatusCode.is_good() else 0
                ubits = user_access.Value.Value if user_access.StatusCode.is_good() else bits
                if not (bits >> writable) & 1 or not (ubits >> writable) & 1:
                    problems.append(f"{say}: is not writable for this user")
                    continue
                vtypes[node] = _variant_for(base)
        if problems:
            raise _Fatal(
                f"OPC UA node problem(s) at {self.endpoint}:\n  - " + "\n  - ".join(problems)
            )
        return vtypes

    async def _subscribe(self, client: Any) -> None:
        from asyncua import ua

        pi = self.spec.publishing_interval
        # keep-alive period (publishing interval x keep-alive count) at most half the
        # shortest stale_after, so a constant input is vouched for twice per stale_after
        period = min(self._keepalive, self._min_stale_after / 2.0)
        keep = max(1, math.floor(period / pi + 1e-9))
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=pi * 1000.0,
            # the server drops the subscription after this many intervals without a Publish
            # request; at least 3 keep-alives (the spec's minimum) and 5 s
            RequestedLifetimeCount=max(3 * keep, math.ceil(5.0 / pi)),
            RequestedMaxKeepAliveCount=keep,
            MaxNotificationsPerPublish=0,
            PublishingEnabled=True,
            Priority=0,
        )
        self.buf.new_subscription()
        self._last_publish = time.monotonic()
        result = await client.uaclient.create_subscription(params, self._on_publish)
        revised = result.RevisedPublishingInterval * result.RevisedMaxKeepAliveCount / 1000.0
        self.report.keepalive(revised)
        self._keepalive_timeout = max(1.0, 3.0 * revised)
        if revised > self._min_stale_after / 2.0 + 1e-9:
            _log.warning(
                "the OPC UA server at %s revised the subscription keep-alive to %.3f s "
                "(publishing interval %.1f ms x %d), more than half the shortest stale_after "
                "(%.3f s): constant inputs may be flagged stale between keep-alives",
                self.endpoint,
                revised,
                result.RevisedPublishingInterval,
                result.RevisedMaxKeepAliveCount,
                self._min_stale_after,
            )
        _log.debug(
            "subscription %s: publishing %.1f ms, keep-alive %.2f s, loss after %.2f s",
            result.SubscriptionId,
            result.RevisedPublishingInterval,
            revised,
            self._keepalive_timeout,
        )
        items = []
        for i, node_id in enumerate(self._ids_in):
            mp = ua.MonitoringParameters()
            mp.ClientHandle = i
            mp.SamplingInterval = 0.0
            mp.QueueSize = self._queue_size
            mp.DiscardOldest = True
            mp.Filter = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
            req = ua.MonitoredItemCreateRequest()
            req.ItemToMonitor = ua.ReadValueId(NodeId=node_id, AttributeId=ua.AttributeIds.Value)
            req.MonitoringMode = ua.MonitoringMode.Reporting
            req.RequestedParameters = mp
            items.append(req)
        mparams = ua.CreateMonitoredItemsParameters()
        mparams.SubscriptionId = result.SubscriptionId
        mparams.TimestampsToReturn = ua.TimestampsToReturn.Both
        mparams.ItemsToCreate = items
        created = await client.uaclient.create_monitored_items(mparams)
        bad = [
            f"opcua.inputs[{i}] {self.nodes[i]}: cannot be monitored "
            f"({_status_name(r.StatusCode.value)})"
            for i, r in enumerate(created)
            if not r.StatusCode.is_good()
        ]
        if bad:
            raise _Fatal(
                f"OPC UA subscription problem(s) at {self.endpoint}:\n  - " + "\n  - ".join(bad)
            )

    def _on_publish(self, result: Any) -> None:
        """asyncua publish callback (client thread): one PublishResult, many notifications.

        Called for every Publish response of the subscription, keep-alives (no data)
        included, and by asyncua itself with a Bad StatusChangeNotification when the
        connection is lost.
        """
        from asyncua import ua

        data = result.NotificationMessage.NotificationData or ()
        for notif in data:
            if isinstance(notif, ua.StatusChangeNotification):
                code = notif.Status.value if notif.Status is not None else 0
                if code & BAD:
                    self._lose(f"subscription status {_status_name(code)}")
                    return  # not an answer from a live subscription
        for notif in data:
            if isinstance(notif, ua.DataChangeNotification):
                self._store(notif.MonitoredItems)
        self._last_publish = time.monotonic()
        self.buf.alive()

    def _store(self, items: list[Any]) -> None:
        """Decode one Publish response's data changes and hand them to the buffers."""
        mono, wall = time.monotonic(), time.time()
        n_in = self.buf.n_in
        handles, xs, codes, srcs, srvs = [], [], [], [], []
        for item in items:
            i = item.ClientHandle
            if not 0 <= i < n_in:
                continue
            dv = item.Value
            v = dv.Value.Value if dv.Value is not None else None
            try:
                x = float(v) if v is not None else math.nan
            except (TypeError, ValueError, OverflowError):
                x = math.nan
            handles.append(i)
            xs.append(x)
            codes.append(dv.StatusCode.value if dv.StatusCode is not None else 0)
            srcs.append(dv.SourceTimestamp.timestamp() if dv.SourceTimestamp else math.nan)
            srvs.append(dv.ServerTimestamp.timestamp() if dv.ServerTimestamp else math.nan)
        self.buf.store(
            np.array(handles, dtype=np.int64),
            np.array(xs, dtype=np.float64),
            np.array(codes, dtype=np.uint32),
            np.array(srcs, dtype=np.float64),
            np.array(srvs, dtype=np.float64),
            mono,
            wall,
        )

    def _lose(self, reason: str) -> None:
        if self._lost_reason is None:
            self._lost_reason = reason
        if self._signal is not None:
            self._signal.set()

    async def _session(self) -> None:
        """One session: connect, check, subscribe, then serve until lost or stopped."""
        client = self._make_client()
        self._lost_reason = None

        async def on_lost(exc: Exception) -> None:
            self._lose(f"connection lost: {_describe_exc(exc)}")

        client.connection_lost_callback = on_lost
        up = False
        try:
            await self._connect(client)
            await self._resolve_nodes(client)
            vtypes = await self._check_nodes(client)
            if self.nodes:
                await self._subscribe(client)
            self.report.problem(None)
            self.report.up(self.buf.set_connected(True))
            self._ready(None)
            up = True
            await self._serve(client, vtypes)
        except _Fatal:
            raise
        except Exception as exc:
            if up and self._lost_reason is None:
                self._lost_reason = _describe_exc(exc)
            if not up:
                raise
        finally:
            if up:
                at = self.buf.set_connected(False)
                if not self._stopping:
                    self.report.down(self._lost_reason or "connection lost", at)
            await self._disconnect(client)

    async def _serve(self, client: Any, vtypes: dict[str, Any]) -> None:
        from asyncua.client.ua_client import UaClientState

        assert self._signal is not None
        last_sent = np.full(len(self.output_nodes), np.nan)
        resend = True  # a (re)connected plant gets every output again
        while True:
            if self._stopping:
                await self._flush(client, vtypes, last_sent)
                return
            if self._lost_reason is not None:
                return
            if client.uaclient.state is not UaClientState.CONNECTED:
                self._lost_reason = "connection lost"
                return
            if self.nodes and time.monotonic() - self._last_publish > self._keepalive_timeout:
                self._lost_reason = (
                    f"no publish response or keep-alive for {self._keepalive_timeout:.1f} s"
                )
                return
            values = self.buf.take_outputs(force=resend) if self.output_nodes else None
            if values is not None:
                await self._send_writes(client, vtypes, values, last_sent, resend)
                resend = False
            self._signal.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signal.wait(), 0.05)

    async def _flush(self, client: Any, vtypes: dict[str, Any], last_sent: np.ndarray) -> None:
        """On close: send outputs queued but not yet written (at most _FLUSH_TIMEOUT)."""
        from asyncua.client.ua_client import UaClientState

        values = self.buf.take_outputs() if self.output_nodes else None
        if values is None:
            return
        if self._lost_reason is not None or client.uaclient.state is not UaClientState.CONNECTED:
            _log.warning("OPC UA: closing with output values not written (plant not connected)")
            return
        try:
            await asyncio.wait_for(
                self._send_writes(client, vtypes, values, last_sent, False), _FLUSH_TIMEOUT
            )
        except Exception as exc:
            self.buf.head[WRITE_ERRORS] += 1
            message = f"last outputs before close: {_describe_exc(exc)}"
            self.report.write_error(message)
            _log.warning("OPC UA: could not write the last output values: %s", message)

    async def _send_writes(
        self,
        client: Any,
        vtypes: dict[str, Any],
        values: np.ndarray,
        last_sent: np.ndarray,
        resend: bool,
    ) -> None:
        from asyncua import ua

        todo = []
        for j, node in enumerate(self.output_nodes):
            x = float(values[j])
            if math.isnan(x) or (not resend and x == last_sent[j]):
                continue
            vtype = vtypes[node]
            wv = ua.WriteValue()
            wv.NodeId = self._ids_out[j]
            wv.AttributeId = ua.AttributeIds.Value
            # value only: many PLCs refuse writes that carry timestamps
            wv.Value = ua.DataValue(ua.Variant(_to_variant(x, vtype), vtype))
            todo.append((j, x, wv))
        if not todo:
            return
        params = ua.WriteParameters()
        params.NodesToWrite = [wv for _, _, wv in todo]
        results = await client.uaclient.write(params)
        for (j, x, _), status in zip(todo, results, strict=True):
            if status.is_good():
                last_sent[j] = x
                self.buf.head[WRITES_SENT] += 1
            else:
                self.buf.head[WRITE_ERRORS] += 1
                self.report.write_error(f"{self.output_nodes[j]}: {_status_name(status.value)}")

    async def _disconnect(self, client: Any) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), 2.0)
        except BaseException as exc:  # the transport may already be gone
            if isinstance(exc, asyncio.CancelledError):
                raise
            with contextlib.suppress(Exception):
                client.disconnect_socket()


def _endpoint_name(e: Any) -> str:
    return f"{e.SecurityPolicyUri.rsplit('#', 1)[-1]}/{e.SecurityMode.name.rstrip('_')}"


def _first_certificate(der: bytes) -> bytes:
    """The leading certificate of a DER blob that may hold a chain."""
    if len(der) < 4 or der[0] != 0x30:
        return der
    if der[1] & 0x80:
        n = der[1] & 0x7F
        length = int.from_bytes(der[2 : 2 + n], "big")
        return der[: 2 + n + length]
    return der[: 2 + der[1]]


def _load_der(der: bytes) -> Any:
    from cryptography import x509

    return x509.load_der_x509_certificate(der)


def _variant_for(base: int) -> Any:
    from asyncua import ua

    if 1 <= base <= 11:
        return ua.VariantType(base)
    return {26: ua.VariantType.Double, 27: ua.VariantType.Int64, 28: ua.VariantType.UInt64,
            29: ua.VariantType.Int32}[base]  # fmt: skip


def _to_variant(x: float, vtype: Any) -> Any:
    from asyncua import ua

    if vtype == ua.VariantType.Boolean:
        return bool(x)
    if vtype in (ua.VariantType.Float, ua.VariantType.Double):
        return x
    return int(round(x))
