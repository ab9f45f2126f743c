"""Live OPC UA tests: ValueServer (plant stand-in) -> InputBridge/OutputBridge on 127.0.0.1.

    step thread                client thread (asyncio)            server thread (asyncio)
    read_latest() <- buffer <- subscription notifications <- ValueServer <- publish()
    OutputBridge.queue() ----> Write service -----------------> command nodes -> read_commands()

Every server runs on a free port and is always closed by its fixture.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from collections.abc import Iterator

import numpy as np
import pytest
from asyncua import Client, ua
from live_helpers import free_port, wait_for

from cosim.errors import BridgeError
from cosim.model.spec import VarRef
from cosim.opcua import (
    RUN_STATE,
    InputBridge,
    OpcuaSpec,
    OutputBridge,
    ServedVariable,
    ValueServer,
    run_state_variables,
)
from cosim.opcua.config import InputSpec, OutputSpec

# A change must be visible within this bound. The expected latency is ~10-20 ms (server
# update tick 10 ms + publishing interval 10 ms); 2 s leaves room for a loaded CI machine.
VISIBLE_WITHIN = 2.0


class Reader:
    """Step-loop side buffers for one bridge, preallocated once."""

    def __init__(self, bridge: InputBridge) -> None:
        n = bridge.n_inputs
        self.bridge = bridge
        self.values, self.age, self.stale = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
        self.n_stale = 0

    def read(self) -> Reader:
        self.n_stale = self.bridge.read_latest(self.values, self.age, self.stale)
        return self


PLANT_SIGNALS = [
    ServedVariable("Plant.Position"),
    ServedVariable("Plant.Current"),
    ServedVariable("Plant.Count", "integer"),
    ServedVariable("Plant.Enabled", "boolean"),
]
PLANT_COMMANDS = [ServedVariable("Plant.Setpoint"), ServedVariable("Plant.Mode", "integer")]


@pytest.fixture(scope="module")
def plant() -> Iterator[ValueServer]:
    with ValueServer(
        f"opc.tcp://127.0.0.1:{free_port()}", PLANT_SIGNALS, PLANT_COMMANDS, name="plant"
    ) as server:
        yield server


def node(server: ValueServer, name: str) -> str:
    return server.node_ids[[v.node for v in (*server.variables, *server.commands)].index(name)]


def spec_for(server: ValueServer, names_stale: list[tuple[str, float | None]], **kw) -> OpcuaSpec:
    inputs = tuple(
        InputSpec(node(server, name), VarRef("plant", name.split(".")[-1]), stale)
        for name, stale in names_stale
    )
    return OpcuaSpec(endpoint=server.endpoint, inputs=inputs, **{"connect_timeout": 5.0, **kw})


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_published_values_reach_read_latest_with_timestamps_and_status(
    plant: ValueServer, isolation: str
) -> None:
    names = [(v.node, 5.0) for v in PLANT_SIGNALS]
    with InputBridge(spec_for(plant, names), isolation=isolation) as bridge:
        r = Reader(bridge)
        # values of their own per case: the plant is shared and publishes only changes
        sent = np.array([0.125, -3.5, 7.0, 1.0] if isolation == "process" else [1.5, 2.5, 8.0, 0.0])
        source_time = time.time() - 0.5  # distinct from any clock the server reads itself
        t_sent = time.time()
        plant.publish(sent, timestamp=source_time)
        took = wait_for(lambda: np.array_equal(r.read().values, sent), VISIBLE_WITHIN, "values")
        assert took < VISIBLE_WITHIN
        assert not r.stale.any() and r.n_stale == 0
        assert (r.age >= 0).all() and (r.age < VISIBLE_WITHIN).all()

        samples = bridge.drain_samples()
        for i, value in enumerate(sent):
            last = samples[samples["input"] == i][-1]
            assert last["value"] == value
            # OPC UA DateTime has 100 ns resolution; a float epoch has ~0.5 us: 2 us covers both
            assert last["source_time"] == pytest.approx(source_time, abs=2e-6)
            assert t_sent - 2e-6 <= last["server_time"] <= last["receive_time"] + 2e-6
            assert last["status"] == ua.StatusCodes.Good
        assert bridge.drain_samples().size == 0  # drained means gone


def test_unchanged_values_stay_fresh_and_their_age_is_bounded_by_the_keepalive(
    plant: ValueServer,
) -> None:
    """An unchanged value is vouched for by the subscription's keep-alives (requested at most
    every stale_after / 2); tests/test_opcua_interop.py checks this against a server that
    never re-stamps."""
    stale_after = 0.3
    spec = spec_for(plant, [("Plant.Position", stale_after), ("Plant.Current", None)])
    with InputBridge(spec) as bridge:
        r = Reader(bridge)
        plant.publish(np.array([11.0, 12.0, 0.0, 0.0]))
        wait_for(lambda: r.read().values[0] == 11.0, VISIBLE_WITHIN, "first value")
        assert bridge.keepalive_period <= stale_after / 2 + 1e-9
        t0, max_age = time.monotonic(), 0.0
        while time.monotonic() - t0 < 4 * stale_after:
            assert not r.read().stale.any()
            max_age = max(max_age, float(r.age.max()))
            time.sleep(0.01)
        # the age restarts at every keep-alive (<= 0.15 s apart) or re-stamp: it stays below
        # stale_after with 0.15 s of slack for a late keep-alive on a loaded machine
        assert max_age <= stale_after
        assert list(r.values) == [11.0, 12.0]
        plant.publish(np.array([13.0, 12.0, 0.0, 0.0]))
        wait_for(lambda: r.read().values[0] == 13.0, VISIBLE_WITHIN, "new value")
        assert not r.stale.any()


def test_bad_status_marks_the_input_stale_and_holds_its_value(plant: ValueServer) -> None:
    with InputBridge(spec_for(plant, [("Plant.Position", 10.0), ("Plant.Current", 10.0)])) as b:
        r = Reader(b)
        plant.publish(np.array([1.0, 2.0, 0.0, 0.0]))
        wait_for(lambda: r.read().values[1] == 2.0, VISIBLE_WITHIN, "good values")
        bad = ua.StatusCodes.BadSensorFailure
        plant.publish(np.array([99.0, 3.0, 0.0, 0.0]), status=np.array([bad, 0, 0, 0]))
        wait_for(lambda: r.read().values[1] == 3.0, VISIBLE_WITHIN, "second update")
        wait_for(lambda: r.read().stale[0], VISIBLE_WITHIN, "bad status")
        assert r.values[0] == 1.0  # the bad reading is not used; the last good one is held
        assert list(r.stale) == [True, False] and r.n_stale == 1
        samples = b.drain_samples()
        last = samples[samples["input"] == 0][-1]
        assert last["status"] == bad and np.isnan(last["value"])
        plant.publish(np.array([4.0, 3.0, 0.0, 0.0]))
        wait_for(lambda: not r.read().stale[0], VISIBLE_WITHIN, "good status again")
        assert r.values[0] == 4.0


def test_ring_keeps_the_newest_samples_and_counts_the_dropped(plant: ValueServer) -> None:
    with InputBridge(spec_for(plant, [("Plant.Current", None)]), ring_capacity=8) as bridge:
        r = Reader(bridge)
        sent = [100.0 + k for k in range(20)]
        for value in sent:
            plant.publish(np.array([0.0, value, 0.0, 0.0]))
            wait_for(lambda v=value: r.read().values[0] == v, VISIBLE_WITHIN, f"value {value}")
        samples = bridge.drain_samples()
        assert len(samples) == 8
        assert list(samples["value"]) == sent[-8:]
        assert bridge.samples_dropped == bridge.notifications - 8


# ----------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_outputs_are_written_coalesced_and_converted(plant: ValueServer, isolation: str) -> None:
    spec = spec_for(
        plant,
        [("Plant.Position", None)],
        outputs=(
            OutputSpec(VarRef("ctrl", "u"), node(plant, "Plant.Setpoint")),
            OutputSpec(VarRef("ctrl", "mode"), node(plant, "Plant.Mode")),
        ),
        write=True,
    )
    commands = np.zeros(2)
    with InputBridge(spec, isolation=isolation) as bridge:
        out = OutputBridge(bridge)
        out.queue(np.array([1.5, 2.6]))  # 2.6 -> Int64 node: rounded to 3
        wait_for(
            lambda: plant.read_commands(commands) and list(commands) == [1.5, 3.0],
            VISIBLE_WITHIN,
            "first write",
        )
        before = out.writes_sent
        for k in range(200):  # far faster than one Write round trip: must coalesce
            out.queue(np.array([10.0 + k, 3.0]))
        wait_for(
            lambda: plant.read_commands(commands) and commands[0] == 209.0,
            VISIBLE_WITHIN,
            "last queued value",
        )
        assert out.writes_sent - before < 100
        assert out.write_errors == 0


def test_outputs_are_refused_without_write_true(plant: ValueServer) -> None:
    """A caller that skipped validation still cannot write: the bridge checks again."""
    commands, reference = np.zeros(2), np.zeros(2)
    plant.read_commands(reference)
    spec = spec_for(
        plant,
        [("Plant.Position", None)],
        outputs=(OutputSpec(VarRef("ctrl", "u"), node(plant, "Plant.Setpoint")),),
        write=False,
    )
    with InputBridge(spec) as bridge:
        with pytest.raises(BridgeError, match=r"write: true"):
            OutputBridge(bridge)
        with pytest.raises(BridgeError, match="not enabled"):
            bridge._queue(np.array([123.0]))
        time.sleep(0.05)
    plant.read_commands(commands)
    assert np.array_equal(commands, reference)


# ----------------------------------------------------------------------------- node errors
@pytest.mark.parametrize(
    ("node_id", "reason"),
    [
        ("ns=2;s=Plant.DoesNotExist", "no such node"),
        ("ns=0;i=2261", "has data type String"),  # ServerStatus.BuildInfo.ProductName
        ("ns=0;i=85", "is an Object node, not a Variable"),  # the Objects folder
        ("ns=0;i=2255", "has data type String"),  # NamespaceArray (String[])
    ],
)
def test_bad_input_nodes_give_one_clear_error_naming_the_node(
    plant: ValueServer, node_id: str, reason: str
) -> None:
    good = node(plant, "Plant.Position")
    spec = OpcuaSpec(
        endpoint=plant.endpoint,
        inputs=(InputSpec(good, VarRef("a", "x")), InputSpec(node_id, VarRef("a", "y"))),
        connect_timeout=5.0,
    )
    t0 = time.monotonic()
    with pytest.raises(BridgeError) as info:
        InputBridge(spec).start()
    assert time.monotonic() - t0 < 3.0  # not retried until connect_timeout: it cannot heal
    text = str(info.value)
    assert f"opcua.inputs[1] {node_id}: {reason}" in text
    assert good not in text


def test_output_to_a_read_only_node_is_refused(plant: ValueServer) -> None:
    spec = spec_for(
        plant,
        [],
        outputs=(OutputSpec(VarRef("c", "u"), node(plant, "Plant.Position")),),
        write=True,
    )
    with pytest.raises(BridgeError, match=r"opcua.outputs\[0\] ns=2;s=Plant.Position: is not wr"):
        InputBridge(spec).start()


# ----------------------------------------------------------------------------- faults
def test_plant_late_at_start_then_restarted_mid_run() -> None:
    """Down at start -> retried until it comes up; lost mid-run -> stale, gap, reconnect.

    time  --|plant down|--up--values--|down 0.3 s|--up--values-->
    bridge   retrying    connected      stale, gap   resubscribed
    """
    server = ValueServer(f"opc.tcp://127.0.0.1:{free_port()}", ["Plant.X"], name="late")
    spec = OpcuaSpec(
        endpoint=server.endpoint,
        inputs=(InputSpec("ns=2;s=Plant.X", VarRef("m", "x"), 5.0),),
        connect_timeout=30.0,
    )
    bridge = InputBridge(spec, max_backoff=0.25)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            # 1. the plant is not there yet: start() keeps retrying
            starting = pool.submit(bridge.start)
            time.sleep(0.3)
            assert not starting.done()
            server.start()
            server.publish(np.array([1.0]))
            starting.result(30.0)
            r = Reader(bridge)
            wait_for(lambda: r.read().values[0] == 1.0, VISIBLE_WITHIN, "value before")
            assert bridge.gaps == ()  # never connected before: not a gap

            # 2. the plant goes down mid-run
            server.stop()
            t_down = time.time()
            wait_for(lambda: not bridge.connected, 3.0, "loss detected")
            r.read()
            assert r.stale.all() and r.values[0] == 1.0  # stale, value held
            (gap,) = bridge.gaps
            assert gap.end is None and gap.start >= t_down - 0.01

            # 3. ... and comes back on the same port
            time.sleep(0.3)
            server.start()
            t_up = time.time()
            server.publish(np.array([2.0]))
            wait_for(lambda: r.read().values[0] == 2.0, 5.0, "value after restart")
            assert bridge.connected and not r.stale.any()
            (gap,) = bridge.gaps
            assert gap.end is not None and gap.start < t_up <= gap.end + 0.01
            assert gap.duration >= 0.3 - 0.01
            assert bridge.reconnects == 1
            assert 2.0 in bridge.drain_samples()["value"]
        finally:
            bridge.close()
            server.close()
    (gap,) = bridge.gaps  # closing does not invent a gap
    assert gap.end is not None


def test_server_down_at_start_retries_until_connect_timeout() -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"  # nothing listens here
    spec = OpcuaSpec(
        endpoint=endpoint, inputs=(InputSpec("ns=2;s=X", VarRef("m", "x")),), connect_timeout=1.0
    )
    t0 = time.monotonic()
    with pytest.raises(BridgeError) as info:
        InputBridge(spec).start()
    took = time.monotonic() - t0
    assert 1.0 <= took < 1.0 + 3.0
    text = str(info.value)
    assert f"could not connect to the OPC UA server at {endpoint} within 1 s" in text
    assert "connect_timeout" in text and "refused" in text.lower()
    attempts = int(re.search(r"\((\d+) attempt", text).group(1))
    assert attempts >= 3  # backoff 0.05, 0.1, 0.2, 0.4 s fits at least 3 tries in 1 s


# ----------------------------------------------------------------------------- server side
def test_value_server_node_types_run_state_and_commands_seen_by_a_plain_client() -> None:
    variables = [ServedVariable("Twin.mass1.x1"), *run_state_variables("Twin.Run")]
    # one distinct value per run-state node, of its kind (read back as that OPC UA type)
    kinds = [kind for _, kind, _ in RUN_STATE]
    expected: list[float | int | bool] = [0.25]
    for k, kind in enumerate(kinds):
        expected.append({"real": 0.5 + 0.25 * k, "integer": k + 2, "boolean": bool(k % 2)}[kind])
    with ValueServer(
        f"opc.tcp://127.0.0.1:{free_port()}", variables, ["Twin.Cmd"], name="twin"
    ) as server:
        server.publish(np.array(expected, dtype=float))

        async def client_side() -> tuple[list, list, list]:
            async with Client(server.endpoint) as client:
                nodes = [client.get_node(n) for n in server.node_ids]
                for _ in range(200):  # the server thread pushes within update_interval
                    read = await client.read_values(nodes[: len(variables)])
                    if read[0] == 0.25:
                        break
                    await asyncio.sleep(0.01)
                types = [await n.read_data_type() for n in nodes[: len(variables)]]
                await nodes[-1].write_value(ua.Variant(42.5, ua.VariantType.Double))
                names = [(await n.read_browse_name()).Name for n in nodes]
                return read, types, names

        read, types, names = asyncio.run(client_side())
        assert read == expected
        assert [type(x) for x in read[1:]] == [
            {"real": float, "integer": int, "boolean": bool}[kind] for kind in kinds
        ]
        node_type = {"real": ua.NodeId(11), "integer": ua.NodeId(8), "boolean": ua.NodeId(1)}
        assert types == [ua.NodeId(11)] + [node_type[kind] for kind in kinds]
        assert names[1 : 1 + len(kinds)] == [f"Twin.Run.{name}" for name, _, _ in RUN_STATE]
        # the run state the issue asks for is among them
        for name in ("SimulationTime", "RealTimeFactor", "Overruns", "MaxLateness",
                     "StaleInputs", "PlantConnected"):  # fmt: skip
            assert f"Twin.Run.{name}" in names
        commands = np.zeros(1)
        wait_for(lambda: server.read_commands(commands) > 0, VISIBLE_WITHIN, "command")
        assert commands[0] == 42.5
