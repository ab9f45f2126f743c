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
from cosim.fmu.adapter import CTYPES, FATAL, Slave, StatusCall, ValueType
from cosim.model.spec import ResolvedComponent, VariableInfo

_STATUS = struct.Struct("<i")
_STEP = struct.Struct("<cIdd")
_SLICE = 0.1  # s: how often a wait for the worker looks at `cancelled`


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
        self._dead = ""  # why the worker is gone
        self._function = "instantiate"
        self._conn.send_bytes(pickle.dumps(component))
        kind, result, state = pickle.loads(self._receive(60.0))
        if kind == "err":
            self._end()
            raise result
        self._mirror(state)

    # ------------------------------------------------------------------ transport
    def _receive(self, timeout: float | None) -> bytes:
        """The worker's reply, waiting at most `timeout` s (None: as long as it takes)."""
        start = _time.monotonic()
        conn = self._conn
        while not conn.poll(_SLICE):
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

    def _request(self, method: str, *args: Any, timeout: float | None = -1.0) -> Any:
        if self._dead:
            raise FmuError(self.name, method, f"nothing: {self._dead}", self.time, self._tail())
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
        return i, str(self._request("function_name", i))

    def bind_set(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        i, name = self._bound("set", int(vtype), list(vrs))
        head, send, unpack = b"S" + struct.pack("<I", i), self._conn.send_bytes, _STATUS.unpack

        def call() -> int:
            if self._dead:
                self._request(name)
            self._function = name
            send(head + bytes(values))
            return unpack(self._receive(self.timeout))[0]

        return self._register(call, name, values)

    def bind_get(self, vtype: ValueType, vrs: Sequence[int], values: Any) -> StatusCall:
        import ctypes

        i, name = self._bound("get", int(vtype), list(vrs))
        head, send = b"G" + struct.pack("<I", i), self._conn.send_bytes
        size = ctypes.sizeof(CTYPES[ValueType(vtype)]) * len(vrs)

        def call() -> int:
            if self._dead:
                self._request(name)
            self._function = name
            send(head)
            data = self._receive(self.timeout)
            ctypes.memmove(values, data[4:], min(size, len(data) - 4))
            return _STATUS.unpack_from(data)[0]

        return self._register(call, name, values)

    def bind_step(self, time: Any, step: Any) -> StatusCall:
        i, name = self._bound("step")
        send, pack, unpack = self._conn.send_bytes, _STEP.pack, _STATUS.unpack

        def call() -> int:
            if self._dead:
                self._request(name)
            self._function = name
            self.time = time.value
            send(pack(b"T", i, time.value, step.value))
            status = unpack(self._receive(self.timeout))[0]
            self.time = time.value + step.value
            return status

        return self._register(call, name, time, step)


__all__ = ["IsolatedSlave"]
