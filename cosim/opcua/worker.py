"""The worker process of a plant link: one ClientSession whose buffers the twin maps.

Started by cosim.opcua.client (isolation="process") as ``python -m cosim.opcua.worker SOCK
MEM``: SOCK is a socket to the parent, MEM the shared LiveBuffers' file descriptor. The first
message is the set-up (pickled: spec, options, buffer sizes, password, log level); after it
the parent sends single bytes, b"w" (outputs were queued) and b"s" (stop: flush the outputs,
disconnect, exit). The session's reports and the log records of level >= the parent's go
back pickled. The parent gone (the socket closed) means stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any


class _Pipe:
    """A Reporter that sends each report to the parent (see cosim.opcua.session.Reporter)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, *message: Any) -> None:
        data = pickle.dumps(message)
        with self.lock, contextlib.suppress(OSError):  # the parent gone: EOF stops us
            self.conn.send_bytes(data)

    def __getattr__(self, kind: str) -> Any:
        return lambda *args: self.send(kind, *args)


class _Relay(logging.Handler):
    def __init__(self, pipe: _Pipe, level: int) -> None:
        super().__init__(level)
        self.pipe = pipe

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.pipe.send("log", record.levelno, record.name, record.getMessage())
        except Exception:
            self.handleError(record)


async def _serve(conn: Connection, pipe: _Pipe, setup: tuple) -> None:
    from cosim.opcua.buffers import LiveBuffers
    from cosim.opcua.session import ClientSession

    spec, options, n_in, n_out, capacity, password, _level, fd = setup
    buffers = LiveBuffers(n_in, n_out, capacity, fd)
    session = ClientSession(spec, buffers, pipe, options, password)
    loop = asyncio.get_running_loop()

    def on_message() -> None:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            data = b"s"
            loop.remove_reader(conn.fileno())
        if b"s" in data:
            loop.create_task(session.stop())
        else:
            session.wake()

    loop.add_reader(conn.fileno(), on_message)
    await session.supervise()


NICE = 5  # the step loop's wake-ups come first when both want the CPU


def main(argv: list[str]) -> int:
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICE)
    conn = Connection(int(argv[1]))
    fd = int(argv[2])
    pipe = _Pipe(conn)
    try:
        setup = pickle.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return 0
    level = setup[-1]
    relay = _Relay(pipe, level)
    root = logging.getLogger()
    root.addHandler(relay)
    root.setLevel(level)
    asyncio.run(_serve(conn, pipe, (*setup, fd)))
    root.removeHandler(relay)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
