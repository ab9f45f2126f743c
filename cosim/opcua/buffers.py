"""LiveBuffers: the arrays an OPC UA client session fills and the step loop reads, shareable.

One block of memory holds everything the step loop needs from the plant link: the latest
value, status, receive time and flags per input, a short per-input history (for read_at), a
ring of raw samples, the output values queued for the plant and a few counters. The client
session (cosim.opcua.session) is the only writer of the input side; the step thread is the
only writer of the output side and of the ring's read position, which it keeps to itself.

The block is ordinary memory when the session runs in a thread of this process, and a shared
mapping (a memfd, or an unlinked temporary file where there is none) when it runs in a
worker process (cosim.opcua.worker), which maps the same file descriptor. Nothing takes a
lock across the two: every field has one writer, values are 8-byte aligned words, a torn
read of one input against another is harmless (each is whole; the next step sees the rest),
and the raw-sample ring is a single-producer single-consumer ring whose write position is
published after its entries (a memory fence on both sides) and checked again after a copy, so
entries overwritten during the copy are counted as dropped, never returned torn.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import tempfile
import threading
import time

import numpy as np

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
HISTORY = 256  # samples kept per input for read_at (the jitter buffer)
BAD = 0x80000000  # severity bit of an OPC UA status code: Bad
# info bits of a status code (OPC UA Part 4, StatusCode): InfoType (bits 10-11) = DataValue
# (0x400) makes the low bits meaningful; bit 7 then means the server's monitored-item queue
# overflowed and dropped values before this one
_INFO_TYPE_MASK, _INFO_TYPE_DATAVALUE, _OVERFLOW = 0x0C00, 0x0400, 0x0080

# counters and flags (int64 words of `head`); each has one writer
RING_W = 0  # raw samples ever written (session)
NOTIFICATIONS = 1  # notifications received (session)
QUEUE_OVERFLOWS = 2  # notifications after values the server's queue dropped (session)
NON_FINITE = 3  # NaN/Inf/empty values with a usable status (session)
WRITES_SENT = 4  # output values written to the plant (session)
WRITE_ERRORS = 5  # output writes the plant refused (session)
CONNECTED = 6  # 1 while the session is up (session)
OUT_SEQ = 7  # output batches queued (step thread)
OUT_DONE = 8  # the last output batch the session took (session)
ALL_SEEN = 9  # 1 once every input was notified at least once (session)
RING_CLAIM = 10  # raw samples written or being written (session; set before the entries)
UPS = 11  # times the session came up (session)
_HEAD = 16
ALIVE_AT = 0  # clock word: time.monotonic() of the subscription's last answer (session)
UP_AT, DOWN_AT = 1, 2  # clock words: time.time() of the last up / down (session)


def _layout(n_in: int, n_out: int, capacity: int) -> list[tuple[str, np.dtype, tuple]]:
    f8, i8, u4, b1 = np.dtype("<f8"), np.dtype("<i8"), np.dtype("<u4"), np.dtype("?")
    return [
        ("head", i8, (_HEAD,)),
        ("clock", f8, (4,)),
        ("values", f8, (n_in,)),
        ("rx", f8, (n_in,)),  # time.monotonic() of the last notification (-inf: no usable one)
        ("hist_t", f8, (n_in, HISTORY)),
        ("hist_v", f8, (n_in, HISTORY)),
        ("hist_n", i8, (n_in,)),  # samples ever written to the history, per input
        ("out_values", f8, (n_out,)),
        ("ring", SAMPLE_DTYPE, (capacity,)),
        ("status", u4, (n_in,)),
        ("unusable", b1, (n_in,)),  # last notification Bad/non-finite, or none yet
        ("live", b1, (n_in,)),  # notified by the current subscription (keep-alives vouch)
        ("seen", b1, (n_in,)),
    ]


def _size(layout: list[tuple[str, np.dtype, tuple]]) -> tuple[int, list[int]]:
    offsets, at = [], 0
    for _, dtype, shape in layout:
        offsets.append(at)
        at += -(-dtype.itemsize * math.prod(shape) // 8) * 8  # keep every field 8-aligned
    return max(at, 8), offsets


def shared_file(size: int) -> int:
    """A file descriptor of `size` bytes that another process can map (memfd if available)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("cosim-opcua", 0)
    else:  # pragma: no cover - macOS and others
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - the descriptor outlives it
        fd = os.dup(handle.fileno())
        handle.close()
    os.ftruncate(fd, size)
    return fd


class LiveBuffers:
    """The plant link's arrays (see the module docstring); `fd` maps shared memory."""

    def __init__(self, n_in: int, n_out: int, capacity: int, fd: int | None = None) -> None:
        self.n_in, self.n_out, self.capacity = n_in, n_out, capacity
        layout = _layout(n_in, n_out, capacity)
        self.size, offsets = _size(layout)
        self.fd = fd
        memory = bytearray(self.size) if fd is None else mmap.mmap(fd, self.size)
        for (name, dtype, shape), offset in zip(layout, offsets, strict=True):
            setattr(self, name, np.ndarray(shape, dtype, buffer=memory, offset=offset))
        self._fence = threading.Lock()  # acquire/release: a full memory barrier
        # reader side (the step thread's; never shared)
        self.ring_r = 0  # raw samples ever drained
        self.dropped = 0  # raw samples overwritten before they were drained
        self._snap_rx = np.empty(n_in)
        self._snap_live = np.empty(n_in, dtype=bool)
        self._snap_bad = np.empty(n_in, dtype=bool)

    @classmethod
    def shared(cls, n_in: int, n_out: int, capacity: int) -> LiveBuffers:
        """New buffers in a shared mapping, zeroed and reset (the creator's side)."""
        size, _ = _size(_layout(n_in, n_out, capacity))
        buffers = cls(n_in, n_out, capacity, shared_file(size))
        buffers.reset()
        return buffers

    def reset(self) -> None:
        """The state before any session: nothing received, not connected, no outputs."""
        self.head.fill(0)
        self.clock[ALIVE_AT] = -math.inf
        self.rx.fill(-math.inf)
        self.unusable.fill(True)
        self.hist_t.fill(-math.inf)
        self.out_values.fill(math.nan)

    def __del__(self) -> None:
        # the mapping goes with the arrays; the descriptor (kept for workers started again)
        # goes with us
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None

    def fence(self) -> None:
        with self._fence:
            pass

    # ------------------------------------------------------------------ session (writer)
    def store(
        self,
        handles: np.ndarray,
        x: np.ndarray,
        codes: np.ndarray,
        src: np.ndarray,
        srv: np.ndarray,
        mono: float,
        wall: float,
    ) -> None:
        """One Publish response's data changes, in arrival order (several may be for one
        input); the same result as storing them one by one."""
        n = len(handles)
        if n == 0:
            return
        # the raw-sample ring first (entries, then the write position): a value that read_latest
        # shows is already in the ring for drain()
        ring, cap = self.ring, self.capacity
        w = int(self.head[RING_W])
        self.head[RING_CLAIM] = w + n
        self.fence()
        if cap:
            keep = min(n, cap)
            slots = (w + np.arange(n - keep, n)) % cap
            entry = ring[slots]
            entry["input"] = handles[n - keep :]
            entry["value"] = x[n - keep :]
            entry["source_time"] = src[n - keep :]
            entry["server_time"] = srv[n - keep :]
            entry["receive_time"] = wall
            entry["status"] = codes[n - keep :]
            ring[slots] = entry
        self.head[NOTIFICATIONS] += n  # never behind the ring's write position
        self.fence()
        self.head[RING_W] = w + n
        bad = (codes & BAD) != 0
        finite = np.isfinite(x)
        usable = ~bad & finite
        # the latest state of each input is that of its last item in the batch
        order = handles[::-1]
        _, last_rev = np.unique(order, return_index=True)
        last = n - 1 - last_rev
        h_last = handles[last]
        if usable.any():
            good = np.flatnonzero(usable)
            _, g_rev = np.unique(handles[good][::-1], return_index=True)
            g_last = good[len(good) - 1 - g_rev]
            self.values[handles[g_last]] = x[g_last]
        # rx: stamped if any usable item came, or an earlier usable value is held
        any_usable = np.zeros(self.n_in, dtype=bool)
        any_usable[handles[usable]] = True
        stamp = h_last[any_usable[h_last] | (self.rx[h_last] > -math.inf)]
        self.unusable[h_last] = ~usable[last]
        self.rx[stamp] = mono
        self.live[stamp] = True
        self.status[h_last] = codes[last]
        self.seen[h_last] = True
        # the per-input history (usable values with a source time), in order per input
        hist = np.flatnonzero(usable & np.isfinite(src))
        if hist.size:
            h = handles[hist]
            sort = np.argsort(h, kind="stable")
            h, hist = h[sort], hist[sort]
            starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
            counts = np.diff(np.r_[starts, len(h)])
            rank = np.arange(len(h)) - np.repeat(starts, counts)
            k = (self.hist_n[h] + rank) % HISTORY
            self.hist_t[h, k] = src[hist]
            self.hist_v[h, k] = x[hist]
            self.hist_n[h[starts]] += counts
        self.head[NON_FINITE] += int(np.count_nonzero(~bad & ~finite))
        overflow = ((codes & _INFO_TYPE_MASK) == _INFO_TYPE_DATAVALUE) & ((codes & _OVERFLOW) != 0)
        self.head[QUEUE_OVERFLOWS] += int(np.count_nonzero(overflow))
        if not self.head[ALL_SEEN] and self.seen.all():
            self.head[ALL_SEEN] = 1

    def alive(self) -> None:
        """The subscription answered (data or keep-alive): it vouches for what it notified."""
        self.clock[ALIVE_AT] = time.monotonic()

    def new_subscription(self) -> None:
        """A new subscription vouches only for what it notifies itself."""
        self.live.fill(False)
        self.clock[ALIVE_AT] = -math.inf

    def set_connected(self, up: bool) -> float:
        """The session is up or down from now (time.time(), returned); the time first, the
        flag after it, so a reader that sees the flag finds the time."""
        at = time.time()
        if up:
            self.clock[UP_AT] = at
            self.head[UPS] += 1
        else:
            self.new_subscription()
            self.clock[DOWN_AT] = at
        self.fence()
        self.head[CONNECTED] = int(up)
        return at

    def take_outputs(self, force: bool = False) -> np.ndarray | None:
        """The output values queued since the last call (None if none; `force`: the current
        ones anyway, unless none was ever queued)."""
        seq = int(self.head[OUT_SEQ])
        if seq == self.head[OUT_DONE] and not (force and seq):
            return None
        self.fence()
        values = self.out_values.copy()
        self.head[OUT_DONE] = seq
        return values

    # ------------------------------------------------------------------ step thread (reader)
    def queue_outputs(self, values: np.ndarray) -> bool:
        """Queue output values for the session; True if it had taken every earlier batch
        (so it may be idle and needs waking)."""
        np.copyto(self.out_values, values)
        self.fence()
        seq = int(self.head[OUT_SEQ])
        self.head[OUT_SEQ] = seq + 1
        return bool(self.head[OUT_DONE] == seq)

    def read_latest(
        self,
        stale_after: np.ndarray,
        out_values: np.ndarray,
        out_age: np.ndarray,
        out_stale: np.ndarray,
    ) -> int:
        """See InputBridge.read_latest; never blocks and never allocates."""
        np.copyto(out_values, self.values)
        np.copyto(self._snap_rx, self.rx)
        np.copyto(self._snap_live, self.live)
        np.copyto(self._snap_bad, self.unusable)
        alive_at = float(self.clock[ALIVE_AT])
        connected = bool(self.head[CONNECTED])
        now = time.monotonic()  # after the copy, so no age is negative
        np.maximum(self._snap_rx, alive_at, out=self._snap_rx, where=self._snap_live)
        np.subtract(now, self._snap_rx, out=out_age)
        if not connected:
            out_stale.fill(True)
            return len(out_stale)
        np.greater(out_age, stale_after, out=out_stale)
        np.logical_or(out_stale, self._snap_bad, out=out_stale)
        return int(np.count_nonzero(out_stale))

    def value_at(self, when: float, out_values: np.ndarray) -> None:
        """Each input's value as of the source time `when`, linear between the two history
        samples around it (see InputBridge.read_at)."""
        hist_t, hist_v, hist_n = self.hist_t, self.hist_v, self.hist_n
        for i in range(len(out_values)):
            count = int(hist_n[i])
            if count == 0:
                continue
            k = (count - 1) % HISTORY
            t_new = hist_t[i, k]
            if t_new <= when:
                if math.isfinite(t_new):
                    out_values[i] = hist_v[i, k]
                continue
            for back in range(1, min(count, HISTORY)):
                j = (k - back) % HISTORY
                t_old = hist_t[i, j]
                if t_old <= when:
                    k2 = (j + 1) % HISTORY
                    t_next, v_old = hist_t[i, k2], hist_v[i, j]
                    span = t_next - t_old
                    a = (when - t_old) / span if span > 0 else 1.0
                    out_values[i] = v_old + a * (hist_v[i, k2] - v_old)
                    break

    def drain(self) -> np.ndarray:
        """Every raw sample written since the last drain, oldest first (see the module
        docstring for overwritten ones)."""
        cap = self.capacity
        w = int(self.head[RING_W])
        self.fence()
        r = max(self.ring_r, w - cap)
        n = w - r
        start = r % cap if cap else 0
        if start + n <= cap:
            out = self.ring[start : start + n].copy()
        else:
            out = np.concatenate((self.ring[start:], self.ring[: (start + n) - cap]))
        self.fence()
        claimed = int(self.head[RING_CLAIM])
        torn = max(0, min(n, claimed - cap - r))  # overwritten (or being so) while we copied
        if torn:
            out = out[torn:]
        self.dropped += (r - self.ring_r) + torn
        self.ring_r = w
        return out
