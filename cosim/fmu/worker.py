"""The worker process of an isolated component: one FMU instance served over a socket.

Started by `cosim.fmu.isolated.IsolatedSlave` as ``python -m cosim.fmu.worker FD``. It opens
the component with the same factory the engine uses in-process, then serves requests until the
socket closes. Two kinds of request (protocol in cosim.fmu.isolated):

    pickled ("call", method, args)      any Slave method; the reply is ("ok", result, flags) or
                                        ("err", exception, flags), flags = the adapter's state
    b"B" + sets + one call              the step loop's calls of one instance in one round
                                        trip: its pending sets, then a doStep (followed by
                                        every bound get, returned with the reply), one get, or
                                        nothing: packed bytes both ways, no pickle

The FMU's log lines also go to stderr as they come, so that the parent can show the last ones
when this process dies (a crash inside the FMU).
"""

from __future__ import annotations

import ctypes
import pickle
import socket
import struct
import sys
from multiprocessing.connection import Connection
from typing import Any

FLAGS = ("instantiated", "initialized", "terminated", "failed", "worst_status", "time")
STATUS = struct.Struct("<i")
STEP = struct.Struct("<Idd")  # id, t, h


def flags(slave: Any) -> dict[str, Any]:
    return {name: getattr(slave, name) for name in FLAGS}


class _Server:
    def __init__(self, conn: Connection, slave: Any) -> None:
        self.conn = conn
        self.slave = slave
        self.calls: list[Any] = []  # bound calls by id: (kind, call, values array or cells)
        self.states: dict[int, Any] = {}
        original = slave.on_log

        def log(status: int, category: Any, message: Any) -> None:
            original(status, category, message)
            text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
            sys.stderr.write(f"[{status}] {text}\n")
            sys.stderr.flush()

        slave.on_log = log

    def bind(self, kind: str, *args: Any) -> int:
        from cosim.fmu.adapter import CTYPES, ValueType

        s = self.slave
        if kind == "step":
            t, h = ctypes.c_double(0.0), ctypes.c_double(0.0)
            self.calls.append(("T", s.bind_step(t, h), (t, h)))
        else:
            vtype, vrs = ValueType(args[0]), list(args[1])
            values = (CTYPES[vtype] * len(vrs))()
            call = (s.bind_get if kind == "get" else s.bind_set)(vtype, vrs, values)
            self.calls.append(("G" if kind == "get" else "S", call, values))
        return len(self.calls) - 1

    def call(self, method: str, args: tuple) -> Any:
        s = self.slave
        if method == "bind":
            return self.bind(*args)
        if method == "log":
            return s.log, s.warnings, s.warning_count
        if method == "function_name":
            return s.function_name(self.calls[args[0]][1])
        if method == "get_state":
            key = len(self.states) + 1 + max(self.states, default=0)
            self.states[key] = s.get_state()
            return key
        if method in ("set_state", "free_state", "serialize_state"):
            state = self.states[args[0]]
            if method == "free_state":
                del self.states[args[0]]
            return getattr(s, method)(state)
        if method == "deserialize_state":
            key = len(self.states) + 1 + max(self.states, default=0)
            self.states[key] = s.deserialize_state(*args)
            return key
        return getattr(s, method)(*args)

    def batch(self, data: bytes) -> bytes:
        """b"B": the instance's pending sets, then one call (b"T" doStep, after which every
        bound get runs too, b"G" one get, b"N" none); one reply for all of it."""
        calls = self.calls
        (n,) = struct.unpack_from("<H", data, 1)
        at = 3
        out = [struct.pack("<H", n)]
        for _ in range(n):
            i, size = struct.unpack_from("<II", data, at)
            at += 8
            _, call, values = calls[i]
            ctypes.memmove(values, data[at : at + size], size)
            at += size
            out.append(STATUS.pack(call()))
        op = data[at : at + 1]
        if op == b"T":
            i, t, h = STEP.unpack_from(data, at + 1)
            _, call, (tc, hc) = calls[i]
            tc.value, hc.value = t, h
            status = call()
            self.slave.time = t + h
            flag = getattr(self.slave, "terminate_simulation", None)  # FMI 3.0 out-argument
            out.append(struct.pack("<iB", status, bool(flag is not None and flag.value)))
            gets = [k for k, c in enumerate(calls) if c[0] == "G"] if status <= 1 else []
            out.append(struct.pack("<H", len(gets)))
            for k in gets:
                _, get, values = calls[k]
                out.append(struct.pack("<Ii", k, get()))
                out.append(bytes(values))
        elif op == b"G":
            (i,) = struct.unpack_from("<I", data, at + 1)
            _, call, values = calls[i]
            out.append(STATUS.pack(call()))
            out.append(bytes(values))
        return b"".join(out)

    def serve(self) -> None:
        conn, calls = self.conn, self.calls
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                return
            kind = data[:1]
            if kind == b"B":
                conn.send_bytes(self.batch(data))
            elif kind == b"S":
                (i,) = struct.unpack_from("<I", data, 1)
                _, call, values = calls[i]
                ctypes.memmove(values, data[5:], len(data) - 5)
                conn.send_bytes(STATUS.pack(call()))
            elif kind == b"G":
                (i,) = struct.unpack_from("<I", data, 1)
                _, call, values = calls[i]
                status = call()
                conn.send_bytes(STATUS.pack(status) + bytes(values))
            elif kind == b"T":
                i, t, h = STEP.unpack_from(data, 1)
                _, call, (tc, hc) = calls[i]
                tc.value, hc.value = t, h
                status = call()
                self.slave.time = t + h
                conn.send_bytes(STATUS.pack(status))
            else:
                _, method, args = pickle.loads(data)
                try:
                    reply = ("ok", self.call(method, args), flags(self.slave))
                except BaseException as exc:  # noqa: BLE001 - sent back, raised in the parent
                    reply = ("err", exc, flags(self.slave))
                try:
                    payload = pickle.dumps(reply)
                except Exception as exc:  # noqa: BLE001 - an exception that does not pickle
                    payload = pickle.dumps(("err", RuntimeError(repr(exc)), flags(self.slave)))
                conn.send_bytes(payload)
                if method == "free":
                    return


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    conn = Connection(sock.detach())
    from cosim.fmu.factory import NativeSlaves

    component = pickle.loads(conn.recv_bytes())
    factory = NativeSlaves()
    try:
        slave = factory(component)
    except BaseException as exc:  # noqa: BLE001 - the parent raises it
        conn.send_bytes(pickle.dumps(("err", exc, {})))
        return 1
    conn.send_bytes(pickle.dumps(("ok", type(slave).__name__, flags(slave))))
    try:
        _Server(conn, slave).serve()
    finally:
        factory.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
