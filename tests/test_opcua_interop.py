"""InputBridge/OutputBridge against a plain asyncua Server written here (not cosim's ValueServer).

    this test's PlainPlant (asyncua Server, own thread)     cosim client thread
      ns=2 urn:test:other, ns=3 urn:test:plant          -->   InputBridge / OutputBridge
      numeric ids, Float/Int16/UInt32/Boolean/Double
      constant values are never re-stamped (unlike ValueServer)

What it pins down: ns= and nsu= node ids, mixed data types, constant values that stay fresh
while the subscription is alive, NaN/Inf held and counted, the server's queue-overflow bit
counted, nsu= re-resolved after a restart that changed the namespace index, outputs queued
just before close() still written.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from asyncua import Server, ua
from live_helpers import free_port, wait_for

from cosim.errors import BridgeError
from cosim.model.spec import VarRef
from cosim.opcua import InputBridge, OpcuaSpec, OutputBridge
from cosim.opcua.config import InputSpec, OutputSpec

PLANT_URI = "urn:test:plant"
OTHER_URI = "urn:test:other"
# A change must be visible within this bound: the expected latency is ~10-20 ms (one
# publishing interval of 10 ms plus decoding); 2 s leaves room for a loaded 2-core machine.
VISIBLE_WITHIN = 2.0

# name -> (numeric id in the plant namespace, VariantType, initial value, writable)
VARIABLES: dict[str, tuple[int, ua.VariantType, Any, bool]] = {
    "F": (1234, ua.VariantType.Float, 1.5, False),
    "I16": (1235, ua.VariantType.Int16, -7, False),
    "U32": (1236, ua.VariantType.UInt32, 42, False),
    "B": (1237, ua.VariantType.Boolean, True, False),
    "D": (1238, ua.VariantType.Double, 0.0, False),
    "W": (1240, ua.VariantType.Double, 0.0, True),
    "WI": (1241, ua.VariantType.Int16, 0, True),
}


class PlainPlant:
    """A plain asyncua Server in its own thread and loop. Values change only by write()."""

    def __init__(self, port: int) -> None:
        self.endpoint = f"opc.tcp://127.0.0.1:{port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server: Server | None = None
        self.vars: dict[str, Any] = {}
        self.plant_ns = 0

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30.0)

    def start(self, plant_first: bool = False) -> PlainPlant:
        self._run(self._start(plant_first))
        return self

    async def _start(self, plant_first: bool) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        uris = (PLANT_URI, OTHER_URI) if plant_first else (OTHER_URI, PLANT_URI)
        indices = [await server.register_namespace(u) for u in uris]
        ns = self.plant_ns = indices[uris.index(PLANT_URI)]
        folder = await server.nodes.objects.add_object(ua.NodeId(1, ns), "Plant")
        for name, (ident, vtype, value, writable) in VARIABLES.items():
            var = await folder.add_variable(ua.NodeId(ident, ns), name, ua.Variant(value, vtype))
            if writable:
                await var.set_writable()
            self.vars[name] = var
        await server.start()
        self.server = server

    def stop(self) -> None:
        if self.server is not None:
            self._run(self.server.stop())
            self.server = None

    def close(self) -> None:
        self.stop()
        self._run(_cancel_leftovers())  # asyncua leaves session timers behind
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10.0)

    def write(self, name: str, value: float, status: int = 0) -> None:
        vtype = VARIABLES[name][1]
        dv = ua.DataValue(ua.Variant(value, vtype), StatusCode=ua.StatusCode(status))
        self._run(self.vars[name].write_value(dv))

    def read(self, name: str) -> Any:
        return self._run(self.vars[name].read_value())


async def _cancel_leftovers() -> None:
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture(scope="module")
def plant() -> Iterator[PlainPlant]:
    server = PlainPlant(free_port()).start()
    try:
        yield server
    finally:
        server.close()


def numeric(name: str, ns: int = 3) -> str:
    return f"ns={ns};i={VARIABLES[name][0]}"


def by_uri(name: str) -> str:
    return f"nsu={PLANT_URI};i={VARIABLES[name][0]}"


def inputs_spec(
    endpoint: str, nodes: list[str], stale_after: float | None = 0.3, **kw: Any
) -> OpcuaSpec:
    inputs = tuple(InputSpec(n, VarRef("m", f"u{k}"), stale_after) for k, n in enumerate(nodes))
    return OpcuaSpec(endpoint=endpoint, inputs=inputs, **{"connect_timeout": 5.0, **kw})


class Reader:
    def __init__(self, bridge: InputBridge) -> None:
        n = bridge.n_inputs
        self.bridge = bridge
        self.values, self.age, self.stale = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)

    def read(self) -> Reader:
        self.bridge.read_latest(self.values, self.age, self.stale)
        return self


# ----------------------------------------------------------------------------- node ids, types
def test_numeric_and_nsu_ids_of_mixed_types_reach_read_latest(plant: PlainPlant) -> None:
    assert plant.plant_ns == 3  # the test's premise: ns=2 is another namespace
    nodes = [numeric("F"), by_uri("I16"), numeric("U32"), by_uri("B")]
    with InputBridge(inputs_spec(plant.endpoint, nodes, None)) as bridge:
        r = Reader(bridge)
        expected = [1.5, -7.0, 42.0, 1.0]  # initial values above; 1.5 is exact in Float
        wait_for(lambda: list(r.read().values) == expected, VISIBLE_WITHIN, "initial values")
        assert not r.stale.any()
        assert bridge.resolved_nodes == tuple(numeric(n) for n in ("F", "I16", "U32", "B"))


def test_unknown_namespace_uri_is_one_clear_error(plant: PlainPlant) -> None:
    spec = inputs_spec(plant.endpoint, [numeric("F"), "nsu=urn:test:nowhere;i=1234"])
    with pytest.raises(BridgeError) as info:
        InputBridge(spec).start()
    text = str(info.value)
    assert "opcua.inputs[1] nsu=urn:test:nowhere;i=1234: the server has no namespace" in text
    assert f"3: {PLANT_URI}" in text  # lists what the server has
    assert "inputs[0]" not in text


# ----------------------------------------------------------------------------- freshness
def test_constant_values_stay_fresh_while_the_subscription_is_alive() -> None:
    """The server never re-stamps: no notification after the first, only keep-alives."""
    stale_after = 0.3
    plant = PlainPlant(free_port()).start()
    try:
        nodes = [numeric("F"), numeric("I16"), numeric("U32"), numeric("B")]
        with InputBridge(inputs_spec(plant.endpoint, nodes, stale_after)) as bridge:
            r = Reader(bridge)
            wait_for(lambda: r.read().values[1] == -7.0, VISIBLE_WITHIN, "initial values")
            # the keep-alive is requested at most every stale_after / 2
            assert bridge.keepalive_period <= stale_after / 2 + 1e-9
            seen = bridge.notifications
            t0, max_age, stale_reads = time.monotonic(), 0.0, 0
            while time.monotonic() - t0 < 5 * stale_after:
                r.read()
                stale_reads += int(r.stale.any())
                max_age = max(max_age, float(r.age.max()))
                time.sleep(0.01)
            assert bridge.notifications == seen  # really constant: nothing was re-sent
            assert stale_reads == 0
            # a keep-alive every <= 0.15 s vouches for the values; 0.15 s of slack covers a
            # late keep-alive on a loaded machine and still stays below stale_after
            assert max_age <= stale_after
            assert list(r.values) == [1.5, -7.0, 42.0, 1.0]

            # the plant goes away: stale within stale_after (by age even if the loss is
            # not detected yet), plus one keep-alive of slack and scheduling noise
            plant.stop()
            took = wait_for(lambda: r.read().stale.all(), 2.0, "stale after the server stopped")
            assert took <= stale_after + 0.5
            assert list(r.values) == [1.5, -7.0, 42.0, 1.0]  # held
    finally:
        plant.close()


def test_nan_and_inf_with_good_status_are_held_flagged_stale_and_counted(
    plant: PlainPlant,
) -> None:
    with InputBridge(inputs_spec(plant.endpoint, [by_uri("D"), numeric("F")], 10.0)) as bridge:
        r = Reader(bridge)
        plant.write("D", 2.0)
        wait_for(lambda: r.read().values[0] == 2.0, VISIBLE_WITHIN, "a finite value")
        assert not r.stale.any() and bridge.non_finite == 0
        for k, bad in enumerate((math.nan, math.inf, -math.inf), start=1):
            plant.write("D", bad)  # status Good
            wait_for(lambda k=k: bridge.non_finite == k, VISIBLE_WITHIN, f"non-finite {bad}")
            r.read()
            assert r.values[0] == 2.0  # held: never NaN/Inf to the FMU
            assert list(r.stale) == [True, False]
        samples = bridge.drain_samples()
        raw = samples[samples["input"] == 0]["value"][-3:]  # recorded as received
        assert np.isnan(raw[0]) and list(raw[1:]) == [math.inf, -math.inf]
        assert (samples["status"] == 0).all()
        plant.write("D", 3.0)
        wait_for(lambda: r.read().values[0] == 3.0, VISIBLE_WITHIN, "finite again")
        assert not r.stale.any() and bridge.non_finite == 3


def test_queue_overflow_bit_is_counted_and_the_value_used(plant: PlainPlant) -> None:
    overflow = 0x0480  # Good + InfoType DataValue + Overflow (OPC UA Part 4, StatusCode)
    with InputBridge(inputs_spec(plant.endpoint, [numeric("D")], 10.0)) as bridge:
        r = Reader(bridge)
        plant.write("D", 4.0)
        wait_for(lambda: r.read().values[0] == 4.0, VISIBLE_WITHIN, "value")
        assert bridge.queue_overflows == 0
        plant.write("D", 5.0, status=overflow)
        wait_for(lambda: r.read().values[0] == 5.0, VISIBLE_WITHIN, "value after overflow")
        assert bridge.queue_overflows == 1 and not r.stale.any()
        plant.write("D", 6.0, status=0x0080)  # bit 7 without InfoType DataValue: no meaning
        wait_for(lambda: r.read().values[0] == 6.0, VISIBLE_WITHIN, "value")
        assert bridge.queue_overflows == 1


# ----------------------------------------------------------------------------- restart
def test_nsu_ids_are_resolved_again_after_a_restart_moved_the_namespace() -> None:
    plant = PlainPlant(free_port()).start(plant_first=False)  # plant namespace: 3
    spec = inputs_spec(plant.endpoint, [by_uri("D")], 5.0, connect_timeout=30.0)
    bridge = InputBridge(spec, max_backoff=0.25)
    try:
        bridge.start()
        r = Reader(bridge)
        plant.write("D", 1.25)
        wait_for(lambda: r.read().values[0] == 1.25, VISIBLE_WITHIN, "value before")
        assert bridge.resolved_nodes == ("ns=3;i=1238",)
        plant.stop()
        wait_for(lambda: not bridge.connected, 3.0, "loss detected")
        plant.start(plant_first=True)  # same URI, now namespace 2; ns=3 is the other one
        assert plant.plant_ns == 2
        plant.write("D", 2.5)
        wait_for(lambda: r.read().values[0] == 2.5, 10.0, "value after restart")
        assert bridge.connected and not r.stale.any()
        assert bridge.resolved_nodes == ("ns=2;i=1238",)
        assert bridge.reconnects == 1 and bridge.error is None
    finally:
        bridge.close()
        plant.close()


# ----------------------------------------------------------------------------- outputs
def test_outputs_queued_just_before_close_are_written(plant: PlainPlant) -> None:
    spec = inputs_spec(
        plant.endpoint,
        [numeric("F")],
        outputs=(
            OutputSpec(VarRef("c", "u"), numeric("W")),
            OutputSpec(VarRef("c", "n"), by_uri("WI")),
        ),
        write=True,
    )
    for k in range(3):  # the race is timing-dependent: try it a few times
        bridge = InputBridge(spec)
        out = OutputBridge(bridge)
        bridge.start()
        value = 7.25 + k
        out.queue(np.array([value, -3.6]))
        bridge.close()  # immediately: the value must still reach the plant
        assert plant.read("W") == value
        assert plant.read("WI") == -4  # Int16 node: rounded
        assert out.write_errors == 0
        plant.write("W", 0.0)
        plant.write("WI", 0)
