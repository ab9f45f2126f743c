"""InputBridge/OutputBridge: an asyncua client in its own thread that fills latest-value buffers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

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
from cosim.opcua.config import OpcuaSpec, SecuritySpec

_log = logging.getLogger(__name__)

#: One raw sample as received: which input, its value (NaN if the server sent none),
#: source/server timestamps (wall-clock seconds, NaN if absent), receive time (wall-clock
#: seconds, this machine) and the OPC UA status code (0 = Good).
SAMPLE_DTYPE = np.dtype(
    [
        ("input", "<i4"),
        ("value", "<f8"),
        ("source_time", "<f8"),
        ("server_time", "<f8"),
        ("receive_time", "<f8"),
        ("status", "<u4"),
    ]
)

_BAD = 0x80000000  # severity bit of an OPC UA status code: Bad
# info bits of a status code (OPC UA Part 4, StatusCode): InfoType (bits 10-11) = DataValue
# (0x400) makes the low bits meaningful; bit 7 then means the server's monitored-item queue
# overflowed and dropped values before this one
_INFO_TYPE_MASK, _INFO_TYPE_DATAVALUE, _OVERFLOW = 0x0C00, 0x0400, 0x0080
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


_HISTORY = 256  # samples kept per input for read_at (the jitter buffer)


@dataclass(frozen=True)
class Gap:
    """A time without a working plant connection (wall-clock seconds, time.time())."""

    start: float
    end: float | None  # None: still disconnected
    reason: str

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


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


class InputBridge:
    """Live plant values by OPC UA subscription, for a step loop that must never block.

    Call order: construct -> start() (or `with`) -> read_latest() every communication step,
    drain_samples() whenever convenient -> close().

    The asyncua client runs in its own thread and event loop. start() connects, retrying with
    exponential backoff until spec.connect_timeout, checks every node (exists, is a numeric or
    Boolean scalar variable; outputs also writable) and subscribes to the inputs
    (data-change, sampling interval 0, publishing interval spec.publishing_interval, trigger
    on status/value/source timestamp). Each notification updates one slot of a
    latest-value buffer and is appended to a bounded ring of raw samples.

    Node ids given as `nsu=<namespace URI>;...` are resolved through the server's
    NamespaceArray on every (re)connect; `ns=<index>;...` ids are used as written.

    OPC UA only notifies on change, so a constant plant value gets no notifications. The
    subscription's keep-alive (requested at most every min(stale_after)/2) proves it is
    alive; an input therefore stays fresh while its subscription keeps answering (see
    read_latest).

    If the session is lost mid-run (socket closed, subscription keep-alive missed, server
    watchdog), all inputs become stale, a Gap is recorded and the bridge reconnects and
    resubscribes on its own, with backoff, until close(). Values are held meanwhile.

    Counters (read any time): notifications, samples_dropped (raw-sample ring overrun),
    queue_overflows (notifications flagged by the server as coming after values its
    monitored-item queue dropped), non_finite (NaN/Inf/empty values with a usable status:
    not passed on, the last finite value is held), writes_sent, write_errors, reconnects.
    """

    def __init__(
        self,
        spec: OpcuaSpec,
        *,
        ring_capacity: int = 1 << 16,
        queue_size: int = 16,
        request_timeout: float = 4.0,
        keepalive: float = 0.5,
        max_backoff: float = 2.0,
        first_values_timeout: float = 2.0,
    ) -> None:
        if spec.endpoint is None:
            raise BridgeError("InputBridge needs opcua.endpoint (the plant's server)")
        self.spec = spec
        self.endpoint = spec.endpoint
        self.nodes: tuple[str, ...] = tuple(i.node for i in spec.inputs)
        self.targets = tuple(i.to for i in spec.inputs)
        self.output_nodes: tuple[str, ...] = (
            tuple(o.node for o in spec.outputs) if spec.write else ()
        )
        n = len(self.nodes)
        self._queue_size = queue_size
        self._validity_warned: set[bytes] = set()  # server certificates warned about
        self._request_timeout = request_timeout
        self._keepalive = keepalive
        self._max_backoff = max_backoff
        self._first_values_timeout = first_values_timeout
        self._lock = threading.Lock()
        # latest-value buffer (guarded by _lock; written by the client thread)
        self._values = np.zeros(n)
        # time.monotonic() of the last notification (-inf until a usable value arrived)
        self._rx = np.full(n, -np.inf)
        self._status = np.zeros(n, dtype=np.uint32)
        # the last notification cannot be used (Bad status, non-finite) or none arrived yet
        self._unusable = np.ones(n, dtype=bool)
        # notified at least once by the current subscription, so its keep-alives vouch for it
        self._live = np.zeros(n, dtype=bool)
        self._alive_at = -math.inf  # time.monotonic() of the current subscription's last answer
        self._stale_after = np.array(
            [math.inf if i.stale_after is None else i.stale_after for i in spec.inputs]
        )
        self._connected = False
        # scratch for read_latest (step thread only)
        self._snap_rx = np.empty(n)
        self._snap_live = np.empty(n, dtype=bool)
        self._snap_bad = np.empty(n, dtype=bool)
        # per-input history of (source time, value) for read_at (playout_delay)
        self._hist_t = np.full((n, _HISTORY), -math.inf)
        self._hist_v = np.zeros((n, _HISTORY))
        self._hist_n = np.zeros(n, dtype=np.int64)  # samples ever written per input
        # raw-sample ring
        self._ring = np.zeros(ring_capacity, dtype=SAMPLE_DTYPE)
        self._ring_w = 0  # samples ever written
        self._ring_r = 0  # samples ever drained
        self.samples_dropped = 0
        self.notifications = 0
        self.queue_overflows = 0
        self.non_finite = 0
        # outputs (queued by OutputBridge from the step thread)
        m = len(self.output_nodes)
        self._out_values = np.full(m, np.nan)
        self._out_pending = False
        self._writes_enabled = False
        self.writes_sent = 0
        self.write_errors = 0
        self.last_write_error: str | None = None
        # supervision
        self._gaps: list[Gap] = []
        self.reconnects = 0
        self.error: BridgeError | None = None  # last non-retryable problem seen mid-run
        self._seen = np.zeros(n, dtype=bool)
        self._first_values = threading.Event()
        self._up = threading.Event()
        self._thread: LoopThread | None = None
        self._main: concurrent.futures.Future | None = None
        self._ready: concurrent.futures.Future | None = None
        self._signal: asyncio.Event | None = None
        self._stopping = False
        self._lost_reason: str | None = None
        self._last_publish = 0.0
        self._keepalive_timeout = math.inf
        self.keepalive_period = math.nan  # s, as revised by the server (NaN: no subscription)
        finite = self._stale_after[np.isfinite(self._stale_after)]
        self._min_stale_after = float(finite.min()) if finite.size else math.inf
        # node ids as sent in the current session (nsu= resolved to the server's index)
        self._ids_in: list[Any] = []
        self._ids_out: list[Any] = []
        self._password: str | None = None

    # ----------------------------------------------------------------- step-thread API
    @property
    def n_inputs(self) -> int:
        return len(self.nodes)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def gaps(self) -> tuple[Gap, ...]:
        with self._lock:
            return tuple(self._gaps)

    def read_latest(
        self, out_values: np.ndarray, out_age: np.ndarray, out_stale: np.ndarray
    ) -> int:
        """Fill the caller's arrays with the latest value, its age (s) and stale flag per
        input; return the number of stale inputs. Never blocks on the network and never
        allocates (the lock is held only for a few small copies).

        The age is the time since the plant last vouched for the value held, on this
        machine's monotonic clock (plant clock skew does not matter): since the later of the
        input's last notification and the last Publish response (data or keep-alive) of the
        subscription that notified it. OPC UA notifies only on change, so a keep-alive means
        "nothing changed": a constant but healthy value stays fresh. The age is inf until a
        usable value arrived.

        An input is stale if its age exceeds stale_after, its last status was Bad, its last
        value was NaN/Inf/empty, nothing usable arrived yet, or the session to the plant is
        down. Stale values are held: the last good, finite value (never NaN).
        """
        with self._lock:
            np.copyto(out_values, self._values)
            np.copyto(self._snap_rx, self._rx)
            np.copyto(self._snap_live, self._live)
            np.copyto(self._snap_bad, self._unusable)
            alive_at = self._alive_at
            connected = self._connected
        now = time.monotonic()  # after the copy, so no age is negative
        np.maximum(self._snap_rx, alive_at, out=self._snap_rx, where=self._snap_live)
        np.subtract(now, self._snap_rx, out=out_age)
        if not connected:
            out_stale.fill(True)
            return len(out_stale)
        np.greater(out_age, self._stale_after, out=out_stale)
        np.logical_or(out_stale, self._snap_bad, out=out_stale)
        return int(np.count_nonzero(out_stale))

    def read_at(
        self, when: float, out_values: np.ndarray, out_age: np.ndarray, out_stale: np.ndarray
    ) -> int:
        """read_latest(), but each input's value as of the wall-clock time `when` by the
        samples' source timestamps (the plant's clock), linear between the two samples around
        it: a jitter buffer. An input with no sample at or before `when` keeps its latest
        value; one with none after `when` yet holds its newest."""
        n_stale = self.read_latest(out_values, out_age, out_stale)
        hist_t, hist_v, hist_n = self._hist_t, self._hist_v, self._hist_n
        with self._lock:
            for i in range(len(out_values)):
                count = int(hist_n[i])
                if count == 0:
                    continue
                k = (count - 1) % _HISTORY
                t_new = hist_t[i, k]
                if t_new <= when:
                    if math.isfinite(t_new):
                        out_values[i] = hist_v[i, k]
                    continue
                for back in range(1, min(count, _HISTORY)):
                    j = (k - back) % _HISTORY
                    t_old = hist_t[i, j]
                    if t_old <= when:
                        k2 = (j + 1) % _HISTORY
                        t_next, v_old = hist_t[i, k2], hist_v[i, j]
                        span = t_next - t_old
                        a = (when - t_old) / span if span > 0 else 1.0
                        out_values[i] = v_old + a * (hist_v[i, k2] - v_old)
                        break
        return n_stale

    @property
    def resolved_nodes(self) -> tuple[str, ...]:
        """The input node ids as sent in the current session (nsu= resolved to ns=)."""
        return tuple(n.to_string() for n in self._ids_in)

    def drain_samples(self) -> np.ndarray:
        """Every raw sample (SAMPLE_DTYPE) received since the last call, oldest first.

        The ring holds ring_capacity samples; if more arrived since the last drain the
        oldest were overwritten and are counted in samples_dropped.
        """
        cap = len(self._ring)
        with self._lock:
            w, r = self._ring_w, self._ring_r
            if w - r > cap:
                self.samples_dropped += w - r - cap
                r = w - cap
            n = w - r
            start = r % cap
            if start + n <= cap:
                out = self._ring[start : start + n].copy()
            else:
                out = np.concatenate((self._ring[start:], self._ring[: (start + n) - cap]))
            self._ring_r = w
        return out

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until the plant session is up (for on_disconnect: pause); False on timeout."""
        return self._up.wait(timeout)

    # ----------------------------------------------------------------- life cycle
    def start(self) -> InputBridge:
        """Connect and subscribe; BridgeError if that fails for good or times out."""
        if self._thread is not None:
            return self
        sec = self.spec.security
        self._password = sec.password() if sec is not None else None  # fail early, clearly
        self._stopping = False
        self._thread = LoopThread("opcua-input-bridge")
        self._ready = concurrent.futures.Future()
        self._main = self._thread.submit(self._supervise())
        budget = self.spec.connect_timeout + 2 * self._request_timeout + 10.0
        try:
            self._ready.result(budget)
        except concurrent.futures.TimeoutError:
            self.close()
            raise BridgeError(
                f"no OPC UA session to {self.endpoint} after {budget:.0f} s"
            ) from None
        except BaseException:
            self.close()
            raise
        if self.n_inputs:
            self._first_values.wait(self._first_values_timeout)
        return self

    def close(self) -> None:
        """Unsubscribe, disconnect and end the client thread (safe to call twice)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        try:
            thread.run(self._astop(), 5.0, "stopping the bridge")
            if self._main is not None:
                self._main.result(10.0)
        except BaseException as exc:  # closing must not raise over the original error
            _log.debug("closing the OPC UA bridge: %r", exc)
        finally:
            thread.close()
            self._thread = None
            with self._lock:
                self._connected = False
                if self._gaps and self._gaps[-1].end is None:
                    g = self._gaps[-1]
                    self._gaps[-1] = Gap(g.start, time.time(), g.reason)
            self._up.clear()

    def __enter__(self) -> InputBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writes (OutputBridge)
    def _queue(self, values: np.ndarray) -> None:
        if not (self.spec.write and self._writes_enabled):
            raise BridgeError("writing to the plant is not enabled (opcua.write is not true)")
        with self._lock:
            np.copyto(self._out_values, values)
            wake = not self._out_pending
            self._out_pending = True
        thread, signal = self._thread, self._signal
        if wake and thread is not None and signal is not None:
            thread.wake(signal.set)

    # ----------------------------------------------------------------- client thread
    async def _astop(self) -> None:
        self._stopping = True
        if self._signal is not None:
            self._signal.set()

    async def _supervise(self) -> None:
        assert self._ready is not None
        self._signal = asyncio.Event()
        deadline = time.monotonic() + self.spec.connect_timeout
        delay, attempts, last = 0.05, 0, "no attempt made"
        while not self._stopping:
            attempts += 1
            try:
                await self._session()
                delay = 0.05  # it was up: start the backoff again from the bottom
            except _Fatal as exc:
                if not self._ready.done():
                    self._ready.set_exception(BridgeError(str(exc)))
                    return
                self.error = BridgeError(str(exc))
                _log.error("OPC UA: %s", exc)
            except Exception as exc:  # transient: refused, timed out, dropped...
                last = _describe_exc(exc)
                _log.debug(
                    "OPC UA connect attempt %d to %s failed: %r", attempts, self.endpoint, exc
                )
            if self._stopping:
                break
            if not self._ready.done():
                left = deadline - time.monotonic()
                if left <= 0:
                    self._ready.set_exception(
                        BridgeError(
                            f"could not connect to the OPC UA server at {self.endpoint} within "
                            f"{self.spec.connect_timeout:g} s ({attempts} attempt(s); last error: "
                            f"{last}). Is the plant running? Start it (e.g. `cosim plant ...`) "
                            "or raise opcua.connect_timeout"
                        )
                    )
                    return
                wait = min(delay, left)
            else:
                wait = delay
            self._signal.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signal.wait(), wait)
            delay = min(delay * 2, self._max_backoff)
        if not self._ready.done():
            self._ready.set_exception(BridgeError("the OPC UA bridge was closed while connecting"))

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
        with self._lock:  # a new subscription vouches only for what it notified itself
            self._live.fill(False)
            self._alive_at = -math.inf
        self._last_publish = time.monotonic()
        result = await client.uaclient.create_subscription(params, self._on_publish)
        revised = result.RevisedPublishingInterval * result.RevisedMaxKeepAliveCount / 1000.0
        self.keepalive_period = revised
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
                if code & _BAD:
                    self._lose(f"subscription status {_status_name(code)}")
                    return  # not an answer from a live subscription
        for notif in data:
            if isinstance(notif, ua.DataChangeNotification):
                self._store(notif.MonitoredItems)
        now = time.monotonic()
        self._last_publish = now
        with self._lock:
            self._alive_at = now

    def _store(self, items: list[Any]) -> None:
        mono, wall = time.monotonic(), time.time()
        ring, cap = self._ring, len(self._ring)
        values, rx, status, seen = self._values, self._rx, self._status, self._seen
        unusable, live = self._unusable, self._live
        n = len(values)
        overflows = non_finite = 0
        with self._lock:
            w = self._ring_w
            for item in items:
                i = item.ClientHandle
                if not 0 <= i < n:
                    continue
                dv = item.Value
                code = dv.StatusCode.value if dv.StatusCode is not None else 0
                v = dv.Value.Value if dv.Value is not None else None
                try:
                    x = float(v) if v is not None else math.nan
                except (TypeError, ValueError):
                    x = math.nan
                if code & _BAD:
                    unusable[i] = True  # hold the last value, flag it stale
                elif math.isfinite(x):
                    values[i] = x
                    unusable[i] = False
                else:  # NaN, +-Inf or no value with a usable status: never reaches an FMU
                    unusable[i] = True
                    non_finite += 1
                if (code & _INFO_TYPE_MASK) == _INFO_TYPE_DATAVALUE and code & _OVERFLOW:
                    overflows += 1
                if not unusable[i] or rx[i] > -math.inf:
                    rx[i] = mono  # the age stays inf until a usable value arrived
                    live[i] = True
                status[i] = code
                seen[i] = True
                src = dv.SourceTimestamp.timestamp() if dv.SourceTimestamp is not None else math.nan
                srv = dv.ServerTimestamp.timestamp() if dv.ServerTimestamp is not None else math.nan
                ring[w % cap] = (i, x, src, srv, wall, code)
                w += 1
                if not unusable[i] and math.isfinite(src):
                    k = int(self._hist_n[i]) % _HISTORY
                    self._hist_t[i, k] = src
                    self._hist_v[i, k] = x
                    self._hist_n[i] += 1
            self.notifications += w - self._ring_w
            self.queue_overflows += overflows
            self.non_finite += non_finite
            self._ring_w = w
        if not self._first_values.is_set() and seen.all():
            self._first_values.set()

    def _lose(self, reason: str) -> None:
        if self._lost_reason is None:
            self._lost_reason = reason
        if self._signal is not None:
            self._signal.set()

    def _mark_up(self) -> None:
        with self._lock:
            self._connected = True
            if self._gaps and self._gaps[-1].end is None:
                g = self._gaps[-1]
                self._gaps[-1] = Gap(g.start, time.time(), g.reason)
                self.reconnects += 1
        self._up.set()
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(True)

    def _mark_down(self, reason: str) -> None:
        self._up.clear()
        with self._lock:
            self._connected = False
            self._live.fill(False)
            self._alive_at = -math.inf
            if not self._gaps or self._gaps[-1].end is not None:
                self._gaps.append(Gap(time.time(), None, reason))
        _log.warning("OPC UA connection to %s lost (%s); reconnecting", self.endpoint, reason)

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
            self.error = None
            self._mark_up()
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
            if up and not self._stopping:
                self._mark_down(self._lost_reason or "connection lost")
            await self._disconnect(client)

    async def _serve(self, client: Any, vtypes: dict[str, Any]) -> None:
        from asyncua.client.ua_client import UaClientState

        assert self._signal is not None
        last_sent = np.full(len(self.output_nodes), np.nan)
        resend = True  # a (re)connected plant gets every output again
        with self._lock:
            if self._writes_enabled and not np.isnan(self._out_values).all():
                self._out_pending = True
        while True:
            if self._stopping:
                await self._flush(client, vtypes, last_sent, resend)
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
            if self._out_pending and self._writes_enabled:
                await self._send_writes(client, vtypes, last_sent, resend)
                resend = False
            self._signal.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signal.wait(), 0.05)

    async def _flush(
        self, client: Any, vtypes: dict[str, Any], last_sent: np.ndarray, resend: bool
    ) -> None:
        """On close: send outputs queued but not yet written (at most _FLUSH_TIMEOUT)."""
        from asyncua.client.ua_client import UaClientState

        if not (self._out_pending and self._writes_enabled):
            return
        if self._lost_reason is not None or client.uaclient.state is not UaClientState.CONNECTED:
            _log.warning("OPC UA: closing with output values not written (plant not connected)")
            return
        try:
            await asyncio.wait_for(
                self._send_writes(client, vtypes, last_sent, resend), _FLUSH_TIMEOUT
            )
        except Exception as exc:
            self.write_errors += 1
            self.last_write_error = f"last outputs before close: {_describe_exc(exc)}"
            _log.warning(
                "OPC UA: could not write the last output values: %s", self.last_write_error
            )

    async def _send_writes(
        self, client: Any, vtypes: dict[str, Any], last_sent: np.ndarray, resend: bool
    ) -> None:
        from asyncua import ua

        with self._lock:
            values = self._out_values.copy()
            self._out_pending = False
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
                self.writes_sent += 1
            else:
                self.write_errors += 1
                self.last_write_error = f"{self.output_nodes[j]}: {_status_name(status.value)}"

    async def _disconnect(self, client: Any) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), 2.0)
        except BaseException as exc:  # the transport may already be gone
            if isinstance(exc, asyncio.CancelledError):
                raise
            with contextlib.suppress(Exception):
                client.disconnect_socket()


class OutputBridge:
    """FMU outputs -> plant nodes, through an InputBridge's session (only with write: true).

    queue(values) copies the values and wakes the client thread; it never waits for the
    network. The client thread writes, in one Write call, every output whose value changed
    since it was last written (all of them after a reconnect); values queued faster than
    they can be sent coalesce to the latest.
    """

    def __init__(self, bridge: InputBridge) -> None:
        spec = bridge.spec
        if spec.write is not True:
            raise BridgeError(
                "refusing to write to the plant: opcua.write is not true. Writing to live "
                "hardware must be enabled explicitly with `write: true` under `opcua:`"
            )
        if not spec.outputs:
            raise BridgeError("OutputBridge: opcua.outputs is empty, nothing to write")
        self.bridge = bridge
        self.nodes = bridge.output_nodes
        self.sources = tuple(o.source for o in spec.outputs)
        bridge._writes_enabled = True

    @property
    def n_outputs(self) -> int:
        return len(self.nodes)

    def queue(self, values: np.ndarray) -> None:
        """Hand the latest output values (one per opcua.outputs entry) to the client thread."""
        self.bridge._queue(values)

    @property
    def writes_sent(self) -> int:
        return self.bridge.writes_sent

    @property
    def write_errors(self) -> int:
        return self.bridge.write_errors

    @property
    def last_write_error(self) -> str | None:
        return self.bridge.last_write_error


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


__all__ = ["SAMPLE_DTYPE", "Gap", "InputBridge", "OutputBridge"]
