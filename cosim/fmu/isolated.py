"""An isolated component: its FMU runs in a worker process (cosim.fmu.worker), not in ours.

`IsolatedSlave` is a Slave whose every FMI call is a request to the worker over a Unix
socket: the per-step calls (bound set, get, doStep) as packed bytes, everything else pickled.
A crash of the FMU kills only the worker: the next request finds the socket closed and raises
an FmuError naming the component, the FMI function, the simulation time and the signal, with
the FMU's last log lines (the worker writes them to its stderr as they come). A call that
takes longer than `timeout` (the component's `timeout:`) kills the worker and raises the same
way; so does a stop request (Ctrl-C) while a call is outstanding (`cancelled`).

The FMU then counts as Fatal: the engine makes no further call and `abandon()`s it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time as _time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from cosim.errors import FmuError
from cosim.fmu.adapter import FATAL, OK, WARNING, Slave, StatusCall, ValueType
from cosim.model.spec import ResolvedComponent, VariableInfo

_STATUS = struct.Struct("<i")
_STEP = struct.Struct("<Idd")
_SLICE_MS = 100  # how often (ms) a wait for the worker looks at `cancelled` and the clock


class IsolatedSlave(Slave):
    """A Slave served by a worker process; see the module docstring."""

    def __init__(self, component: ResolvedComponent, timeout: float | None = None) -> None:
        super().__init__(component.name)
        self.fmi_version = component.fmi_version
        self.timeout = timeout
        self.cancelled: Callable[[], bool] = lambda: False
        self._err = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - closed in _end()
        parent, child = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "cosim.fmu.worker", str(child.fileno())],
            pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=self._err,
            stderr=self._err, start_new_session=True,  # Ctrl-C in a terminal reaches only us
        )  # fmt: skip
        child.close()
        self._conn = Connection(parent.detach())
        self._poller = select.poll()  # cheaper than Connection.poll on the per-step path
        self._poller.register(self._conn.fileno(), select.POLLIN | select.POLLHUP)
        self._dead = ""  # why the worker is gone
        self._function = "instantiate"
        # the step loop's calls travel together (one round trip per instance-step): sets wait
        # here until the next call; a doStep's reply brings every get's values (_cache)
        self._sets: list[bytes] = []  # packed (id, size, payload) of the pending sets
        self._set_ids: list[int] = []
        self._names: dict[int, str] = {}  # bound call id in the worker -> FMI function
        self._sizes: dict[int, int] = {}  # get id -> bytes of its values
        self._cache: dict[int, tuple[int, bytes]] = {}
        self._conn.send_bytes(pickle.dumps(component))
        kind, result, state = pickle.loads(self._receive(60.0))
        if kind == "err":
            self._end()
            raise result
        self._mirror(state)
        if self.fmi_version.startswith("3"):  # fmi3DoStep's terminateSimulation, mirrored
            import ctypes

            self.terminate_simulation = ctypes.c_bool(False)

    # ------------------------------------------------------------------ transport
    def _receive(self, timeout: float | None) -> bytes:
        """The worker's reply, waiting at most `timeout` s (None: as long as it takes)."""
        start = _time.monotonic()
        conn, ready = self._conn, self._poller.poll
        while not ready(_SLICE_MS):
            if self.cancelled():  # Ctrl-C / SIGTERM: the worker goes, the run ends interrupted
                self._stop_worker("interrupted during the call; the worker was killed")
                raise KeyboardInterrupt(f"{self.name}: {self._function}: {self._dead}")
            if timeout is not None and _time.monotonic() - start > timeout:
                self._kill(f"it overran its timeout of {timeout:g} s; the worker was killed")
            if self._proc.poll() is not None:
                break
        try:
            return conn.recv_bytes()
        except (EOFError, OSError):
            self._kill("")
            raise AssertionError("unreachable") from None

    def _stop_worker(self, why: str) -> int:
        """Kill the worker if it still runs; the FMU counts as Fatal from now on."""
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
        code = self._proc.wait()
        self._dead = why or self._dead
        self.worst_status = FATAL
        self.failed = True
        return code

    def _kill(self, why: str) -> None:
        """End the worker (if it still runs) and raise the FmuError of the current call."""
        code = self._stop_worker(why)
        if not why:
            why = (
                f"the worker process died of {signal.Signals(-code).name}"
                if code < 0 and -code in signal.valid_signals()
                else f"the worker process exited with code {code}"
            )
        self._dead = why
        raise FmuError(self.name, self._function, f"nothing: {why}", self.time, self._tail())

    def _tail(self, n: int = 20) -> list[str]:
        """The last lines the worker wrote to stderr (the FMU's log, a crash message)."""
        try:
            self._err.seek(0)
            lines = self._err.read().decode("utf-8", "replace").splitlines()
        except (OSError, ValueError):
            return []
        return lines[-n:]

    def _batch(self, op: bytes) -> memoryview:
        """Send the pending sets and `op` (b"N", b"T..." or b"G..."); check the sets'
        statuses; the rest of the reply (after them) for the caller to read."""
        head = b"B" + struct.pack("<H", len(self._sets))
        ids = self._set_ids
        self._conn.send_bytes(head + b"".join(self._sets) + op)
        self._sets, self._set_ids = [], []
        reply = memoryview(self._receive(self.timeout))
        (n,) = struct.unpack_from("<H", reply, 0)
        for k in range(n):
            (status,) = _STATUS.unpack_from(reply, 2 + 4 * k)
            if status > WARNING or status < OK:  # reported at the call that sent it
                raise self.error(self._names.get(ids[k], "set"), status, self.time)
        return reply[2 + 4 * n :]

    def _request(self, method: str, *args: Any, timeout: float | None = -1.0) -> Any:
        if self._dead:
            raise FmuError(self.name, method, f"nothing: {self._dead}", self.time, self._tail())
        self._cache.clear()
        if self._sets:
            self._function = "set (pending)"
            self._batch(b"N")
        self._function = method
        self._conn.send_bytes(pickle.dumps(("call", method, args)))
        kind, result, state = pickle.loads(
            self._receive(self.timeout if timeout == -1.0 else timeout)
        )
        self._mirror(state)
        if kind == "err":
            raise result
        return result

    def _mirror(self, state: dict[str, Any]) -> None:
        """Take the worker adapter's flags; statuses only ever get worse (the engine records
        the per-step statuses here, through error())."""
        for key in ("instantiated", "initialized", "terminated"):
            if key in state:
                setattr(self, key, state[key])
        self.failed = self.failed or bool(state.get("failed"))
        self.worst_status = max(self.worst_status, int(state.get("worst_status", 0)))
        if state.get("time") is not None:
            self.time = state["time"]

    # ------------------------------------------------------------------ Slave
    @staticmethod
    def value_type(var: VariableInfo) -> ValueType:  # the engine asks the factory instead
        raise NotImplementedError

    @property
    def log(self) -> list[str]:
        if self._dead:
            return self._tail()
        try:
            return list(self._request("log")[0])
        except (FmuError, OSError):
            return self._tail()

    @property
    def warnings(self) -> list[str]:
        return [] if self._dead else list(self._request("log")[1])

    def instantiate(self, logging_on: bool = False) -> None:
        self._request("instantiate", logging_on)

    def enter_initialization(
        self, start: float, stop: float | None = None, tolerance: float | None = None
    ) -> None:
        self._request("enter_initialization", start, stop, tolerance)

    def exit_initialization(self) -> None:
        self._request("exit_initialization")

    def configure(self, values: Sequence[tuple[ValueType, tuple[list[int], list[Any]]]]) -> None:
        self._request("configure", [(int(t), (list(v), list(x))) for t, (v, x) in values])

    def set_values(self, vtype: ValueType, vrs: Sequence[int], values: Sequence[Any]) -> None:
        self._request("set_values", ValueType(vtype), list(vrs), list(values))

    def get_values(
        self, vtype: ValueType, vrs: Sequence[int], count: int | None = None
    ) -> list[Any]:
        return self._request("get_values", ValueType(vtype), list(vrs), count)

    def get_state(self) -> Any:
        return self._request("get_state")

    def set_state(self, state: Any) -> None:
        self._request("set_state", state)

    def free_state(self, state: Any) -> None:
        self._request("free_state", state)

    def serialize_state(self, state: Any) -> bytes:
        return self._request("serialize_state", state)

    def deserialize_state(self, data: bytes) -> Any:
        return self._request("deserialize_state", data)

    def wants_to_terminate(self) -> bool:
        return bool(self._request("wants_to_terminate"))

    def terminate(self) -> None:
        self._request("terminate")

    def free(self) -> None:
        if not self._dead and self._proc.poll() is None:
            with contextlib.suppress(FmuError, OSError):
                self._request("free", timeout=10.0)
        self._end()

    def abandon(self) -> None:
        self._end()

    def _end(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._conn.close()
        self._err.close()
        self._dead = self._dead or "freed"

    # ------------------------------------------------------------------ the step loop
    def _bound(self, kind: str, *args: Any) -> tuple[int, str]:
        """Bind the call in the worker: (its id there, its FMI function name)."""
        i = int(self._request("bind", kind, *args))
        self._names[i] = name = str(self._request("function_name", i))
        return i, name

    def bind_set(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        import ctypes

        i, name = self._bound("set", int(vtype), list(vrs))
        head = struct.pack("<II", i, ctypes.sizeof(values))
        cache = self._cache

        def call() -> int:  # sent with the instance's next call (its status checked there)
            if self._dead:
                self._request(name)
            cache.clear()
            self._sets.append(head + bytes(values))
            self._set_ids.append(i)
            return OK

        return self._register(call, name, values)

    def bind_get(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        import ctypes

        i, name = self._bound("get", int(vtype), list(vrs))
        size = self._sizes[i] = ctypes.sizeof(values)
        op = b"G" + struct.pack("<I", i)
        cache = self._cache

        def call() -> int:
            hit = cache.pop(i, None)
            if hit is None:  # not brought by a doStep's reply: ask for it
                if self._dead:
                    self._request(name)
                self._function = name
                rest = self._batch(op)
                hit = (_STATUS.unpack_from(rest)[0], bytes(rest[4 : 4 + size]))
            ctypes.memmove(values, hit[1], size)
            return hit[0]

        return self._register(call, name, values)

    def bind_step(self, time: Any, step: Any) -> StatusCall:
        i, name = self._bound("step")
        pack, sizes, cache = _STEP.pack, self._sizes, self._cache
        end_flag = getattr(self, "terminate_simulation", None)

        def call() -> int:
            if self._dead:
                self._request(name)
            self._function = name
            self.time = time.value
            cache.clear()
            rest = self._batch(b"T" + pack(i, time.value, step.value))
            status, ends, n = struct.unpack_from("<iBH", rest)
            if end_flag is not None:
                end_flag.value = bool(ends)
            at = 7
            for _ in range(n):  # every get's values, read right after this doStep
                k, got = struct.unpack_from("<Ii", rest, at)
                at += 8
                cache[k] = (got, bytes(rest[at : at + sizes[k]]))
                at += sizes[k]
            self.time = time.value + step.value
            return status

        return self._register(call, name, time, step)


__all__ = ["IsolatedSlave"]
