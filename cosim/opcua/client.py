"""InputBridge/OutputBridge: the step loop's side of a plant link; the client runs elsewhere.

The asyncua client (cosim.opcua.session) runs in a worker process of its own by default
(cosim.opcua.worker), or in a thread of this process (isolation="thread"); either way it
fills LiveBuffers (cosim.opcua.buffers) that the step loop reads without waiting.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from cosim.errors import BridgeError
from cosim.model.live import CLIENT_ISOLATION
from cosim.opcua._loop import LoopThread
from cosim.opcua.buffers import (
    ALL_SEEN,
    CONNECTED,
    DOWN_AT,
    NON_FINITE,
    NOTIFICATIONS,
    QUEUE_OVERFLOWS,
    SAMPLE_DTYPE,
    UP_AT,
    UPS,
    WRITE_ERRORS,
    WRITES_SENT,
    LiveBuffers,
)
from cosim.opcua.config import OpcuaSpec
from cosim.opcua.session import ClientSession, SessionOptions

_log = logging.getLogger(__name__)
ISOLATIONS = CLIENT_ISOLATION  # where the asyncua client runs (the opcua.isolation key)
_RESPAWN = 0.5  # s: a worker process that died is started again after this long


@dataclass(frozen=True)
class Gap:
    """A time without a working plant connection (wall-clock seconds, time.time())."""

    start: float
    end: float | None  # None: still disconnected
    reason: str

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


class _Events:
    """The session's reports, kept for the step thread (Reporter; any thread may call)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.lock = threading.Lock()
        self.gaps: list[Gap] = []
        self.error: BridgeError | None = None
        self.keepalive_period = math.nan
        self.last_write_error: str | None = None
        self.nodes: tuple[str, ...] = ()
        self.is_up = threading.Event()
        self.started: concurrent.futures.Future = concurrent.futures.Future()

    def ready(self, error: str | None) -> None:
        if not self.started.done():
            self.started.set_result(error)

    def up(self, at: float) -> None:
        with self.lock:
            if self.gaps and self.gaps[-1].end is None:
                g = self.gaps[-1]
                self.gaps[-1] = Gap(g.start, at, g.reason)
        self.is_up.set()

    def down(self, reason: str, at: float) -> None:
        with self.lock:  # the gap first: whoever sees `connected` false finds it
            if not self.gaps or self.gaps[-1].end is not None:
                self.gaps.append(Gap(at, None, reason))
        self.is_up.clear()
        _log.warning("OPC UA connection to %s lost (%s); reconnecting", self.endpoint, reason)

    def problem(self, message: str | None) -> None:
        self.error = None if message is None else BridgeError(message)

    def keepalive(self, period: float) -> None:
        self.keepalive_period = period

    def resolved(self, nodes: tuple[str, ...]) -> None:
        self.nodes = nodes

    def write_error(self, message: str) -> None:
        self.last_write_error = message

    def closed(self) -> None:
        """The bridge was closed: an open gap ends now."""
        self.is_up.clear()
        with self.lock:
            if self.gaps and self.gaps[-1].end is None:
                g = self.gaps[-1]
                self.gaps[-1] = Gap(g.start, time.time(), g.reason)


class InputBridge:
    """Live plant values by OPC UA subscription, for a step loop that must never block.


    Call order: construct -> start() (or `with`) -> read_latest() every communication step,
    drain_samples() whenever convenient -> close().

    The asyncua client runs in a worker process of its own (isolation="process", the default:
    decoding thousands of notifications a second then never competes with the step loop for
    the GIL) or in a thread of this process (isolation="thread"). A worker that dies is
    started again, like a lost session. start() connects, retrying with
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
        isolation: str = "process",
        ring_capacity: int = 1 << 16,
        queue_size: int = 16,
        request_timeout: float = 4.0,
        keepalive: float = 0.5,
        max_backoff: float = 2.0,
        first_values_timeout: float = 2.0,
    ) -> None:
        if spec.endpoint is None:
            raise BridgeError("InputBridge needs opcua.endpoint (the plant's server)")
        if isolation not in ISOLATIONS:
            raise BridgeError(f"InputBridge isolation: one of {ISOLATIONS}, not {isolation!r}")
        self.spec = spec
        self.endpoint = spec.endpoint
        self.isolation = isolation
        self.nodes: tuple[str, ...] = tuple(i.node for i in spec.inputs)
        self.targets = tuple(i.to for i in spec.inputs)
        self.output_nodes: tuple[str, ...] = (
            tuple(o.node for o in spec.outputs) if spec.write else ()
        )
        self._options = SessionOptions(queue_size, request_timeout, keepalive, max_backoff)
        self._first_values_timeout = first_values_timeout
        self._stale_after = np.array(
            [math.inf if i.stale_after is None else i.stale_after for i in spec.inputs]
        )
        n, m = len(self.nodes), len(self.output_nodes)
        if isolation == "process":
            self._buf = LiveBuffers.shared(n, m, ring_capacity)
        else:
            self._buf = LiveBuffers(n, m, ring_capacity)
            self._buf.reset()
        self._events = _Events(self.endpoint)
        self._writes_enabled = False
        self._running = False
        self._password: str | None = None
        self._backend: _ThreadBackend | _ProcessBackend | None = None

    # ----------------------------------------------------------------- step-thread API
    @property
    def n_inputs(self) -> int:
        return len(self.nodes)

    @property
    def connected(self) -> bool:
        """The plant session is up (as the session's own flag says, at once)."""
        return self._running and bool(self._buf.head[CONNECTED])

    @property
    def gaps(self) -> tuple[Gap, ...]:
        """Every time without a session, in step with `connected`: a loss or a reconnect
        whose report is still on its way (from the worker) shows with the session's own
        time and, until its reason arrives, "connection lost"."""
        with self._events.lock:
            gaps = list(self._events.gaps)
        buf = self._buf
        if self._running and buf.head[UPS]:
            if not buf.head[CONNECTED] and (not gaps or gaps[-1].end is not None):
                gaps.append(Gap(float(buf.clock[DOWN_AT]), None, "connection lost"))
            elif buf.head[CONNECTED] and gaps and gaps[-1].end is None:
                g = gaps[-1]
                gaps[-1] = Gap(g.start, float(buf.clock[UP_AT]), g.reason)
        return tuple(gaps)

    @property
    def reconnects(self) -> int:
        """Sessions after the first (a worker started again continues the count)."""
        return max(0, int(self._buf.head[UPS]) - 1)

    @property
    def error(self) -> BridgeError | None:
        """The last non-retryable problem seen mid-run (None while the link works)."""
        return self._events.error

    @property
    def keepalive_period(self) -> float:
        """The subscription's keep-alive period in s, as revised by the server (NaN: none)."""
        return self._events.keepalive_period

    @property
    def notifications(self) -> int:
        return int(self._buf.head[NOTIFICATIONS])

    @property
    def queue_overflows(self) -> int:
        return int(self._buf.head[QUEUE_OVERFLOWS])

    @property
    def non_finite(self) -> int:
        return int(self._buf.head[NON_FINITE])

    @property
    def samples_dropped(self) -> int:
        return self._buf.dropped

    @property
    def writes_sent(self) -> int:
        return int(self._buf.head[WRITES_SENT])

    @property
    def write_errors(self) -> int:
        return int(self._buf.head[WRITE_ERRORS])

    @property
    def last_write_error(self) -> str | None:
        return self._events.last_write_error

    def read_latest(
        self, out_values: np.ndarray, out_age: np.ndarray, out_stale: np.ndarray
    ) -> int:
        """Fill the caller's arrays with the latest value, its age (s) and stale flag per
        input; return the number of stale inputs. Never blocks on the network, takes no lock
        and never allocates: its cost is a few copies of n_inputs words.

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
        return self._buf.read_latest(self._stale_after, out_values, out_age, out_stale)

    def read_at(
        self, when: float, out_values: np.ndarray, out_age: np.ndarray, out_stale: np.ndarray
    ) -> int:
        """read_latest(), but each input's value as of the wall-clock time `when` by the
        samples' source timestamps (the plant's clock), linear between the two samples around
        it: a jitter buffer. An input with no sample at or before `when` keeps its latest
        value; one with none after `when` yet holds its newest."""
        n_stale = self.read_latest(out_values, out_age, out_stale)
        self._buf.value_at(when, out_values)
        return n_stale

    @property
    def resolved_nodes(self) -> tuple[str, ...]:
        """The input node ids as sent in the current session (nsu= resolved to ns=)."""
        return self._events.nodes

    def drain_samples(self) -> np.ndarray:
        """Every raw sample (SAMPLE_DTYPE) received since the last call, oldest first.

        The ring holds ring_capacity samples; if more arrived since the last drain the
        oldest were overwritten and are counted in samples_dropped.
        """
        return self._buf.drain()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until the plant session is up (for on_disconnect: pause); False on timeout."""
        return self._events.is_up.wait(timeout)

    # ----------------------------------------------------------------- life cycle
    def start(self) -> InputBridge:
        """Connect and subscribe; BridgeError if that fails for good or times out."""
        if self._running:
            return self
        sec = self.spec.security
        self._password = sec.password() if sec is not None else None  # fail early, clearly
        self._events = _Events(self.endpoint)
        self._running = True
        budget = self.spec.connect_timeout + 2 * self._options.request_timeout + 10.0
        try:
            if self.isolation == "process":
                self._backend = _ProcessBackend(self, self._password)
            else:
                self._backend = _ThreadBackend(self, self._password)
            error = self._events.started.result(budget)
        except concurrent.futures.TimeoutError:
            self.close()
            raise BridgeError(
                f"no OPC UA session to {self.endpoint} after {budget:.0f} s"
            ) from None
        except BaseException:
            self.close()
            raise
        if error is not None:
            self.close()
            raise BridgeError(error)
        if self.n_inputs:
            deadline = time.monotonic() + self._first_values_timeout
            while not self._buf.head[ALL_SEEN] and time.monotonic() < deadline:
                time.sleep(0.002)
        return self

    def close(self) -> None:
        """Unsubscribe, disconnect and end the client (safe to call twice)."""
        backend, self._backend = self._backend, None
        if not self._running:
            return
        self._running = False
        try:
            if backend is not None:
                backend.close()
        except BaseException as exc:  # closing must not raise over the original error
            _log.debug("closing the OPC UA bridge: %r", exc)
        finally:
            self._buf.set_connected(False)
            self._events.closed()

    def __enter__(self) -> InputBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writes (OutputBridge)
    def _queue(self, values: np.ndarray) -> None:
        if not (self.spec.write and self._writes_enabled):
            raise BridgeError("writing to the plant is not enabled (opcua.write is not true)")
        if self._buf.queue_outputs(values) and self._backend is not None:
            self._backend.wake()


class _ThreadBackend:
    """The session in a LoopThread of this process."""

    def __init__(self, bridge: InputBridge, password: str | None) -> None:
        self.thread = LoopThread("opcua-input-bridge")
        self.session = ClientSession(
            bridge.spec, bridge._buf, bridge._events, bridge._options, password
        )
        self.main = self.thread.submit(self.session.supervise())

    def wake(self) -> None:
        self.thread.wake(self.session.wake)

    def close(self) -> None:
        try:
            self.thread.run(self.session.stop(), 5.0, "stopping the bridge")
            self.main.result(10.0)
        finally:
            self.thread.close()


class _ProcessBackend:
    """The session in a worker process (cosim.opcua.worker), restarted if it dies.

    To the worker: its set-up (pickled) once, then single bytes: b"w" (outputs queued),
    b"s" (stop). From the worker: pickled (event, *args) tuples, Reporter calls and log
    records, read here by a thread of ours.
    """

    def __init__(self, bridge: InputBridge, password: str | None) -> None:
        self.bridge = bridge
        self.password = password
        self.stopping = False
        self.send_lock = threading.Lock()
        self.conn: Connection | None = None
        self.proc: subprocess.Popen | None = None
        self.err: Any = None
        self.spawn()
        self.reader = threading.Thread(target=self.serve, name="opcua-worker-events", daemon=True)
        self.reader.start()

    def spawn(self) -> None:
        bridge, buf = self.bridge, self.bridge._buf
        parent, child = socket.socketpair()
        self.err = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - closed in serve()
        assert buf.fd is not None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cosim.opcua.worker", str(child.fileno()), str(buf.fd)],
            pass_fds=[child.fileno(), buf.fd], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.err,
            start_new_session=True,  # Ctrl-C in a terminal reaches only us; we stop it
        )  # fmt: skip
        child.close()
        self.conn = Connection(parent.detach())
        level = logging.getLogger("cosim.opcua").getEffectiveLevel()
        setup = (bridge.spec, bridge._options, buf.n_in, buf.n_out, buf.capacity)
        self.conn.send_bytes(pickle.dumps((*setup, self.password, level)))

    def serve(self) -> None:
        """The reader thread: the worker's events until it ends; a dead worker is replaced."""
        events = self.bridge._events
        while True:
            assert self.conn is not None and self.proc is not None
            try:
                while True:
                    message = pickle.loads(self.conn.recv_bytes())
                    kind, args = message[0], message[1:]
                    if kind == "log":
                        _relay(*args)
                    else:
                        getattr(events, kind)(*args)
            except (EOFError, OSError, TypeError, ValueError):  # gone, or closed under us
                pass
            code = self.proc.wait()
            self.conn.close()
            if self.stopping or code == 0:  # asked to stop, or start-up failed (reported)
                self.err.close()
                return
            why = _death(code, self.err)
            was_up = bool(self.bridge._buf.head[CONNECTED])
            at = self.bridge._buf.set_connected(False)  # the session can no longer say so
            if not events.started.done():
                events.ready(f"the OPC UA worker process for {self.bridge.endpoint} {why}")
                return
            if was_up:
                events.down(f"the OPC UA worker process {why}", at)
            _log.error("OPC UA: the worker process %s; starting it again", why)
            time.sleep(_RESPAWN)
            if self.stopping:
                return
            self.spawn()

    def wake(self) -> None:
        self._send(b"w")

    def _send(self, data: bytes) -> None:
        with self.send_lock:
            if self.conn is not None and not self.conn.closed:
                with contextlib.suppress(OSError):
                    self.conn.send_bytes(data)

    def close(self) -> None:
        self.stopping = True
        self._send(b"s")
        assert self.proc is not None
        try:
            self.proc.wait(8.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.reader.join(5.0)


def _relay(level: int, name: str, message: str) -> None:
    """A worker's log record, logged here as if it came from this process."""
    logger = logging.getLogger(name)
    if logger.isEnabledFor(level):
        logger.log(level, "%s", message)


def _death(code: int, err: Any) -> str:
    """How a worker process ended, with the last lines it wrote to stderr."""
    import signal

    if code < 0 and -code in signal.valid_signals():
        why = f"died of {signal.Signals(-code).name}"
    else:
        why = f"exited with code {code}"
    with contextlib.suppress(OSError, ValueError):
        err.seek(0)
        lines = err.read().decode("utf-8", "replace").strip().splitlines()[-5:]
        if lines:
            why += ": " + " | ".join(lines)
    return why


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


__all__ = ["ISOLATIONS", "SAMPLE_DTYPE", "Gap", "InputBridge", "OutputBridge"]
