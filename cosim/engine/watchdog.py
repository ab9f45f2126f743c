"""The watchdog: a thread that bounds FMI calls and takes signals while an FMU call is stuck.

It enforces `timeout:` and takes Ctrl-C or SIGTERM while the step thread is stuck inside an FMU.

An FMU call runs in C with the GIL released (fmpy's ctypes functions, the compiled kernel), so
the step thread cannot run a Python signal handler or check a clock until the call returns.
This thread can. The step thread publishes the call it is in (`CallRecord`: the instance, the
FMI function, when it began) around every FMI call of the components that have a timeout;
the watchdog polls it. Signals reach the watchdog through `signal.set_wakeup_fd`, which the
interpreter writes to from its C-level handler even while the main thread is in C.

    a call overruns its timeout      -> the run is asked to stop (the step thread raises the
                                        FmuError when the call returns, at the next step)
    ... and does not return in GRACE -> `on_fatal("failed", 1, message)`
    a signal the step thread's       -> `on_fatal("interrupted", 130, message)`
    handler does not take in GRACE      (`handled()`: the handler tells the watchdog)

`on_fatal` (the command line's) closes the results, prints the message and ends the process:
the stuck thread cannot be joined. Without it (the Python API) the watchdog logs the message.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import threading
import time as _time
from collections.abc import Callable, Sequence
from typing import Any

from cosim.errors import FmuError

GRACE = 0.5  # s: how long a stop request may take before the watchdog acts itself
_log = logging.getLogger(__name__)


class CallRecord:
    """The FMI call the step thread is in: written by it, read by the watchdog (no lock: each
    field is one atomic store; a torn read is at worst one poll late)."""

    __slots__ = ("function", "instance", "started")

    def __init__(self) -> None:
        self.instance = -1
        self.function = ""
        self.started = 0.0  # time.monotonic() when the call began; 0: in no call

    def enter(self, instance: int, function: str) -> None:
        self.instance, self.function = instance, function
        self.started = _time.monotonic()

    def leave(self) -> None:
        self.started = 0.0


def watched(call: Callable[[], int], record: CallRecord, instance: int, function: str):
    """`call` with the record set around it (a bound set, doStep or get of the step loop)."""
    monotonic = _time.monotonic

    def run() -> int:
        record.instance, record.function = instance, function
        record.started = monotonic()
        try:
            return call()
        finally:
            record.started = 0.0

    return run


def function_name(version: str, what: str) -> str:
    """The FMI function's name: ("3.0", "DoStep") -> "fmi3DoStep"."""
    return f"fmi{'3' if str(version).startswith('3') else '2'}{what}"


def watched_stage(stage: Any, record: CallRecord, name_of: Callable[[Any], str]) -> Any:
    """The Stage (cosim.engine.stages) with its sets, doStep and gets each `watched`, named
    by `name_of(call)` (the adapter's registry: fmi2SetReal, fmi3DoStep, ...)."""
    i = stage.instance

    def wrap(call: Any) -> Any:
        return watched(call, record, i, name_of(call))

    return stage._replace(
        sets=tuple(map(wrap, stage.sets)), step=wrap(stage.step), gets=tuple(map(wrap, stage.gets))
    )


class _Progress(ctypes.Structure):
    """The kernel's per-thread call record (kernel.c's Progress)."""

    _fields_ = [("op", ctypes.c_void_p), ("calls", ctypes.c_int64)]


class Watchdog:
    """Watches one run: `start()` before initialize, `stop()` after close (or use `with`)."""

    def __init__(
        self,
        record: CallRecord,
        names: Sequence[str],
        timeouts: Sequence[float | None],
        *,
        sim_time: Callable[[], float] = lambda: 0.0,
        request_stop: Callable[[str], None] = lambda reason: None,
        on_fatal: Callable[[str, int, str], Any] | None = None,
        signals: bool = False,
        grace: float = GRACE,
        interrupt: Callable[[], None] = lambda: None,
    ) -> None:
        self.record = record
        self.names = list(names)
        self.timeouts = list(timeouts)
        self.sim_time = sim_time
        self.request_stop = request_stop
        self.interrupt = interrupt  # a signal came: let a kernel chunk end after its step
        self.on_fatal = on_fatal
        self.grace = grace
        self.overrun: FmuError | None = None  # raised by the step thread at the next step
        self._kernel: Any = None  # (Progress, ops base, op size, names): watch_kernel
        self._kernel_key: Any = None
        self._kernel_seen = 0.0
        self._seen = 0  # signals that reached the wakeup fd
        self._handled = 0  # signals the step thread's Python handler took (handled())
        self._signals = signals and threading.current_thread() is threading.main_thread()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._pair: tuple[socket.socket, socket.socket] | None = None
        self._old_fd = -1
        bounds = [t for t in self.timeouts if t]
        self._poll = min(0.1, max(0.005, min(bounds) / 10)) if bounds else 0.1

    def __enter__(self) -> Watchdog:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def watch_kernel(
        self, address: int, base: int, size: int, names: Sequence[tuple[int, str]]
    ) -> None:
        """Also watch the compiled kernel's calls: its Progress record at `address`, its ops
        table at `base` (`size` bytes per op), each op's (instance, FMI function)."""
        self._kernel = (_Progress.from_address(address), base, size, list(names))

    def _current(self, now: float) -> tuple[float, int, str, Any]:
        """(when the current call began, its instance, its FMI function, a key that changes
        with every call); started 0 if no call is under way."""
        rec = self.record
        if rec.started:
            return rec.started, rec.instance, rec.function, rec.started
        if self._kernel is not None:
            progress, base, size, names = self._kernel
            op, calls = progress.op, progress.calls
            if op:
                key = (op, calls)
                if key != self._kernel_key:  # first seen now: it began at most a poll ago
                    self._kernel_key, self._kernel_seen = key, now
                k = (op - base) // size
                instance, function = names[k] if 0 <= k < len(names) else (-1, "?")
                return self._kernel_seen, instance, function, key
        return 0.0, -1, "", None

    def handled(self) -> None:
        """Called by the Python signal handler: the main thread is alive and took a signal
        (it will stop at the end of the step): the watchdog need not act on it."""
        self._handled += 1

    @property
    def active(self) -> bool:
        return self._signals or any(self.timeouts)

    def start(self) -> None:
        if not self.active or self._thread is not None:
            return
        self._pair = socket.socketpair()
        for s in self._pair:
            s.setblocking(False)
        if self._signals:
            self._old_fd = signal.set_wakeup_fd(self._pair[1].fileno(), warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="cosim-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The run ended (normally or by an exception): stand down."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._signals and self._pair is not None:
            signal.set_wakeup_fd(self._old_fd)
        if self._pair is not None:
            for s in self._pair:
                s.close()
            self._pair = None

    # ------------------------------------------------------------------ the thread
    def _where(self, instance: int, function: str) -> tuple[str, str, float]:
        name = self.names[instance] if 0 <= instance < len(self.names) else "?"
        return name, function or "?", self.sim_time()

    def _fatal(self, status: str, code: int, message: str) -> None:
        self._done.set()
        if self.on_fatal is not None:
            self.on_fatal(status, code, message)
        else:
            _log.error("%s", message)

    def _watch(self) -> None:
        assert self._pair is not None
        reader = self._pair[0]
        signalled_at = overrun_at = 0.0
        signum = 0
        stuck_on: Any = None  # the key of the call that overran
        while not self._done.is_set():
            ready, _, _ = select.select([reader], [], [], self._poll)
            now = _time.monotonic()
            if ready:
                try:
                    data = reader.recv(64)
                except OSError:
                    data = b""
                if data:
                    self._seen += len(data)
                    signalled_at, signum = signalled_at or now, data[-1]
                    self.interrupt()  # the Python handler runs once the kernel returns
            if self._done.is_set():
                return
            started, i, function, key = self._current(now)
            if started and 0 <= i < len(self.timeouts) and self.timeouts[i] and not overrun_at:
                limit = self.timeouts[i]
                if now - started > limit:
                    name, function, t = self._where(i, function)
                    self.overrun = FmuError(
                        name, function, f"nothing within its timeout of {limit:g} s", t
                    )
                    overrun_at, stuck_on = now, key
                    self.request_stop(f"{name}: {function} overran its timeout of {limit:g} s")
            if overrun_at > 0 and now - overrun_at > self.grace:
                if key is not None and key == stuck_on:  # still in the very same call
                    self._fatal("failed", 1, f"{self.overrun}; it never returned")
                    return
                overrun_at = -1.0  # it returned: the step thread raises the error
            if signalled_at and self._handled >= self._seen:
                signalled_at = 0.0  # the step thread took it: it is not stuck
            if signalled_at and now - signalled_at > self.grace:
                name, function, t = self._where(i, function)
                valid = signum in signal.valid_signals()
                what = signal.Signals(signum).name if valid else "a signal"
                inside = f" while {name!r} was in {function}" if started else ""
                self._fatal(
                    "interrupted",
                    130,
                    f"interrupted by {what}{inside} at t = {t:g} s (the call did not return "
                    f"within {self.grace:g} s)",
                )
                return


def exit_now(code: int) -> None:
    """End the process at once (the stuck step thread cannot be joined); stdio flushed."""
    import sys

    for f in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say
            f.flush()
    os._exit(code)


__all__ = [
    "GRACE",
    "CallRecord",
    "Watchdog",
    "exit_now",
    "function_name",
    "watched",
    "watched_stage",
]
