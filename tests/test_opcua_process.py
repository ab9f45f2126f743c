"""The plant link's client in a worker process: LiveBuffers, the worker's life cycle, pacing.

LiveBuffers.store is checked against a one-sample-at-a-time reference written here from the
documented rules; the worker tests use a real ValueServer on 127.0.0.1 and a real worker
process (`python -m cosim.opcua.worker`).
"""

from __future__ import annotations

import math
import os
import signal
import socket
import time

import numpy as np
import pytest
import yaml
from live_helpers import free_port, wait_for

from cosim.errors import ConfigError
from cosim.model.spec import VarRef
from cosim.opcua import InputBridge, OpcuaSpec, ValueServer
from cosim.opcua import buffers as B
from cosim.opcua.buffers import HISTORY, LiveBuffers
from cosim.opcua.config import InputSpec, parse_opcua
from cosim.realtime import Pacer, short_slice

BAD = 0x80340000  # BadNodeIdUnknown: severity bit set
OVERFLOW = 0x00000480  # Good, InfoType DataValue, Overflow bit


class Sequential:
    """The rules of LiveBuffers.store, one sample at a time (the reference)."""

    def __init__(self, n: int) -> None:
        self.values = np.zeros(n)
        self.rx = np.full(n, -math.inf)
        self.unusable = np.ones(n, dtype=bool)
        self.live = np.zeros(n, dtype=bool)
        self.status = np.zeros(n, dtype=np.uint32)
        self.hist: list[list[tuple[float, float]]] = [[] for _ in range(n)]
        self.ring: list[tuple] = []
        self.non_finite = self.overflows = 0

    def store(self, handles, xs, codes, srcs, mono) -> None:
        for i, x, code, src in zip(handles, xs, codes, srcs, strict=True):
            if code & 0x80000000:
                self.unusable[i] = True
            elif math.isfinite(x):
                self.values[i] = x
                self.unusable[i] = False
            else:
                self.unusable[i] = True
                self.non_finite += 1
            if (code & 0x0C00) == 0x0400 and code & 0x80:
                self.overflows += 1
            if not self.unusable[i] or self.rx[i] > -math.inf:
                self.rx[i] = mono
                self.live[i] = True
            self.status[i] = code
            self.ring.append((i, x, code))
            if not self.unusable[i] and math.isfinite(src):
                self.hist[i].append((src, x))


@pytest.mark.parametrize("seed", range(20))
def test_store_of_a_batch_equals_storing_its_samples_one_by_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6
    buf, ref = LiveBuffers(n, 0, 128), Sequential(n)  # the ring holds all 8 batches
    buf.reset()
    for batch in range(8):
        k = int(rng.integers(1, 12))
        handles = rng.integers(0, n, k)  # repeats: a queue of several values per item
        xs = rng.normal(size=k)
        xs[rng.random(k) < 0.15] = np.nan
        xs[rng.random(k) < 0.05] = np.inf
        codes = np.where(rng.random(k) < 0.2, BAD, 0).astype(np.uint32)
        codes[rng.random(k) < 0.1] = OVERFLOW
        srcs = 1000.0 + batch + np.arange(k) * 1e-3
        srcs[rng.random(k) < 0.1] = np.nan
        mono = 50.0 + batch
        buf.store(handles, xs, codes, srcs, srcs, mono, 2000.0 + batch)
        ref.store(handles, xs, codes, srcs, mono)
        np.testing.assert_array_equal(buf.values, ref.values)
        np.testing.assert_array_equal(buf.unusable, ref.unusable)
        np.testing.assert_array_equal(buf.rx, ref.rx)
        np.testing.assert_array_equal(buf.live, ref.live)
        np.testing.assert_array_equal(buf.status, ref.status)
    assert buf.head[B.NON_FINITE] == ref.non_finite
    assert buf.head[B.QUEUE_OVERFLOWS] == ref.overflows
    ring = buf.drain()
    assert [(int(r["input"]), r["status"]) for r in ring] == [(i, c) for i, _, c in ref.ring]
    np.testing.assert_array_equal(ring["value"], [x for _, x, _ in ref.ring])
    for i in range(n):  # the history, newest last, in order per input
        count = int(buf.hist_n[i])
        assert count == len(ref.hist[i])
        got = [
            (buf.hist_t[i, j % HISTORY], buf.hist_v[i, j % HISTORY])
            for j in range(max(0, count - HISTORY), count)
        ]
        assert got == ref.hist[i][-HISTORY:]


def test_ring_overrun_between_drains_is_counted_and_keeps_the_newest() -> None:
    buf = LiveBuffers(1, 0, 8)
    buf.reset()
    for k in range(3):  # 3 batches of 5: 15 written, 8 kept
        x = np.arange(5, dtype=float) + 5 * k
        buf.store(np.zeros(5, dtype=np.int64), x, np.zeros(5, np.uint32), x, x, 1.0, 1.0)
    out = buf.drain()
    assert list(out["value"]) == list(range(7, 15))
    assert buf.dropped == 7
    assert buf.drain().size == 0


def test_samples_overwritten_while_being_copied_are_dropped_not_returned() -> None:
    buf = LiveBuffers(1, 0, 8)
    buf.reset()
    x = np.arange(6, dtype=float)
    buf.store(np.zeros(6, dtype=np.int64), x, np.zeros(6, np.uint32), x, x, 1.0, 1.0)
    # a writer that claimed 4 more slots than the ring holds beyond what we read: the 4
    # oldest entries we are about to copy are being overwritten
    buf.head[B.RING_CLAIM] = 12  # 12 - 8: the slots of samples 0..3 are being reused
    out = buf.drain()
    assert list(out["value"]) == [4.0, 5.0]
    assert buf.dropped == 4


def test_a_second_mapping_of_the_shared_buffers_sees_the_writes() -> None:
    writer = LiveBuffers.shared(3, 1, 16)
    reader = LiveBuffers(3, 1, 16, os.dup(writer.fd))  # as the worker maps it
    writer.store(
        np.array([2]), np.array([7.5]), np.zeros(1, np.uint32), np.ones(1), np.ones(1),
        time.monotonic(), time.time(),
    )  # fmt: skip
    writer.set_connected(True)
    values, age = np.zeros(3), np.zeros(3)
    stale = np.zeros(3, dtype=bool)
    n = reader.read_latest(np.full(3, math.inf), values, age, stale)
    assert values[2] == 7.5 and not stale[2] and n == 2  # the other two: nothing yet
    assert reader.queue_outputs(np.array([4.0]))  # and the other way round
    np.testing.assert_array_equal(writer.take_outputs(), [4.0])
    assert writer.take_outputs() is None


def _spec(server: ValueServer, **kw) -> OpcuaSpec:
    inputs = (InputSpec(server.node_ids[0], VarRef("m", "x"), 5.0),)
    return OpcuaSpec(endpoint=server.endpoint, inputs=inputs, connect_timeout=10.0, **kw)


def test_a_killed_worker_is_a_gap_then_started_again_and_values_flow() -> None:
    with ValueServer(f"opc.tcp://127.0.0.1:{free_port()}", ["Plant.X"], name="w") as server:
        server.publish(np.array([1.0]))
        bridge = InputBridge(_spec(server))
        values, age, stale = np.zeros(1), np.zeros(1), np.zeros(1, dtype=bool)
        with bridge:
            wait_for(lambda: bridge.read_latest(values, age, stale) == 0, 5.0, "first value")
            first = bridge._backend.proc  # the worker process
            os.kill(first.pid, signal.SIGKILL)
            wait_for(lambda: not bridge.connected, 5.0, "the loss")
            (gap,) = bridge.gaps
            assert "worker process died of SIGKILL" in gap.reason
            assert bridge.read_latest(values, age, stale) == 1 and values[0] == 1.0  # held
            wait_for(lambda: bridge.connected, 15.0, "a new worker's session")
            server.publish(np.array([2.0]))
            wait_for(
                lambda: bridge.read_latest(values, age, stale) == 0 and values[0] == 2.0,
                5.0,
                "values through the new worker",
            )
            assert bridge._backend.proc.pid != first.pid
            assert bridge.reconnects == 1 and bridge.gaps[0].end is not None
            worker = bridge._backend.proc
        assert worker.poll() is not None  # close() ends the worker


def test_the_worker_goes_when_its_parent_closes_the_link_without_a_word() -> None:
    with ValueServer(f"opc.tcp://127.0.0.1:{free_port()}", ["Plant.X"], name="w") as server:
        bridge = InputBridge(_spec(server)).start()
        backend = bridge._backend
        backend.stopping = True  # as if this process died: the socket just closes
        sock = socket.socket(fileno=os.dup(backend.conn.fileno()))
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        backend.proc.wait(10.0)
        assert backend.proc.returncode == 0
        bridge.close()


def test_isolation_key_is_read_and_a_misspelling_is_a_clear_error(tmp_path) -> None:
    text = "opcua:\n  endpoint: opc.tcp://127.0.0.1:4840\n  isolation: {}\n"
    for value in ("thread", "process"):
        data = yaml.safe_load(text.format(value))["opcua"]
        assert parse_opcua(data, tmp_path).isolation == value
    assert parse_opcua({"endpoint": "opc.tcp://127.0.0.1:4840"}, tmp_path).isolation == "process"
    bad = text.format("proces")
    with pytest.raises(ConfigError) as err:
        parse_opcua(yaml.safe_load(bad)["opcua"], tmp_path, file="twin.yaml", text=bad)
    message = str(err.value)
    assert "twin.yaml:3:" in message and "opcua.isolation must be one of process, thread" in message
    assert "did you mean 'process'?" in message


def test_the_pacer_asks_for_a_short_slice_on_the_stepping_thread() -> None:
    import ctypes
    import platform
    import threading

    from cosim.realtime import _SchedAttr

    result: dict[str, object] = {}

    def run() -> None:  # a thread of its own, so the test runner's thread keeps its slice
        pacer = Pacer(0.01)
        pacer.start()
        result["granted"] = pacer.slice_granted
        attr = _SchedAttr()
        number = {"x86_64": 315, "aarch64": 275}.get(platform.machine())
        if number is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall(number, 0, ctypes.byref(attr), ctypes.sizeof(attr), 0)
            result["runtime"] = attr.sched_runtime

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if result["granted"]:  # Linux >= 6.12 (EEVDF custom slices)
        assert result["runtime"] == 300_000
    else:  # elsewhere nothing changes and nothing fails
        assert short_slice(0.0003) is False


def test_value_server_names_the_publish_calls_it_replaced_before_serving_them() -> None:
    with ValueServer(f"opc.tcp://127.0.0.1:{free_port()}", ["Plant.X"], name="s") as server:
        for k in range(1, 201):  # far faster than the 10 ms server update
            server.publish(np.array([float(k)]))
        wait_for(lambda: server._pushed_seq == 200, 5.0, "the last publish served")
        served = list(server.skipped)
        assert len(served) == server.coalesced > 0
        assert served == sorted(set(served)) and 200 not in served
        assert all(1 <= s < 200 for s in served)
