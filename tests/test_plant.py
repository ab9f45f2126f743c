"""The plant simulator (cosim/plant.py) on a real asyncua server at 127.0.0.1, free ports.

    test client (asyncua) --write T.U--> [ValueServer] --command--> g.u
                          <--subscribe-- [ValueServer] <--serve--- clock.y, g.y, g.u, n.y
                                            Plant: Execution + Pacer + PlantIO (faults, noise)

`clock` is a FirstOrder with T = k = 1e6 and u = 1, so y(t) = 1e6 (1 - exp(-t / 1e6)): the
plant's own simulated time, served next to the other values. Values published in one plant
step share one source timestamp, which lets the test line every sample up with its plant time
and check it against the closed form of the fault schedule.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from asyncua import Client, ua
from live_helpers import free_port

from cosim.errors import ConfigError
from cosim.io.yaml import load_system
from cosim.plant.simulator import Plant

H = 0.01  # communication step of the test plant
U_WRITTEN = 2.0  # what the client writes to the command node
SIGMA = 0.1

PLANT_YAML = """
name: test_plant
simulation: {{start: 0.0, stop: 100.0, step: {h}}}
components:
  clock: {{fmu: FirstOrder, parameters: {{T: 1.0e6, k: 1.0e6, u: 1.0}}}}
  g: {{fmu: Gain, parameters: {{k: 1.0, b: 0.0}}}}
  n: {{fmu: Gain, parameters: {{k: 0.0, b: 1.0}}}}
plant:
  endpoint: {endpoint}
  serve:
    - {{from: clock.y, node: "ns=2;s=T.Clock"}}
    - {{from: g.y, node: "ns=2;s=T.Y"}}
    - {{from: g.u, node: "ns=2;s=T.UEcho"}}
    - {{from: n.y, node: "ns=2;s=T.Noisy"}}
  commands:
    - {{node: "ns=2;s=T.U", to: g.u, start: 1.0}}
  noise:
    seed: 7
    signals: {{n.y: {sigma}}}
  faults:
    - {{at: 0.5, ramp: {{g.b: {{to: 1.0, over: 1.0}}}}}}
    - {{at: 2.0, set: {{g.k: 2.0}}}}
    - {{at: 3.0, freeze: g.y}}
"""


def expected_y(tau: float, u: float) -> float:
    """g.y served at plant time tau: the step that ends at tau started at tau - H with the
    ramp/set values due at tau - H (faults act on the step starting at their time)."""
    s = tau - H
    b = min(1.0, max(0.0, (s - 0.5) / 1.0))
    k = 2.0 if s >= 2.0 - 1e-9 else 1.0
    return k * u + b


async def _collect(endpoint: str, seconds: float, write_at: float) -> dict[str, list]:
    """Subscribe to every served node; write the command once; return (value, source) lists."""
    names = ["T.Clock", "T.Y", "T.UEcho", "T.Noisy"]
    out: dict[str, list] = {n: [] for n in names}

    class Handler:
        def datachange_notification(self, node, val, data):  # noqa: ANN001
            dv = data.monitored_item.Value
            out[ids[node.nodeid.to_string()]].append((float(val), dv.SourceTimestamp.timestamp()))

    async with Client(endpoint, timeout=5) as client:
        nodes = [client.get_node(f"ns=2;s={n}") for n in names]
        ids = {node.nodeid.to_string(): n for node, n in zip(nodes, names, strict=True)}
        sub = await client.create_subscription(5, Handler())
        await sub.subscribe_data_change(nodes, queuesize=100)
        t0 = time.monotonic()
        written = 0
        node = client.get_node("ns=2;s=T.U")
        while time.monotonic() - t0 < seconds:
            if written == 0 and time.monotonic() - t0 > write_at:
                await node.write_value(ua.DataValue(ua.Variant(U_WRITTEN, ua.VariantType.Double)))
                written = 1
            elif written == 1 and time.monotonic() - t0 > write_at + 0.2:
                # a NaN from a client must not reach the FMU (it would fail the plant): the
                # plant keeps the last good command
                await node.write_value(ua.DataValue(ua.Variant(math.nan, ua.VariantType.Double)))
                written = 2
            await asyncio.sleep(0.01)
        await sub.delete()
    return out


@pytest.fixture(scope="module")
def plant_run(tmp_path_factory) -> dict:
    """Run the test plant at 2x real time for 4 simulated seconds while a client listens."""
    folder = tmp_path_factory.mktemp("plant")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    path = folder / "plant.yaml"
    path.write_text(PLANT_YAML.format(h=H, endpoint=endpoint, sigma=SIGMA))
    plant = Plant(load_system(path), realtime=2.0)
    ready = threading.Event()
    box: dict = {}

    def serve() -> None:
        box["result"] = plant.run(4.0, on_ready=lambda p: ready.set())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the plant did not start"
        # write the command after ~0.6 s of plant time (0.3 s wall at 2x)
        samples = asyncio.run(_collect(endpoint, 2.1, 0.3))
    finally:
        plant.request_stop()
        thread.join(30)
    assert not thread.is_alive()
    return {"samples": samples, "result": box["result"]}


def _snapshots(samples: dict[str, list]) -> list[tuple[float, dict[str, float]]]:
    """Plant time and the latest value of every node for each distinct source timestamp."""
    stamps = sorted({s for _, s in samples["T.Clock"]})
    snaps = []
    for stamp in stamps:
        latest = {}
        for name, items in samples.items():
            before = [v for v, s in items if s <= stamp]
            if before:
                latest[name] = before[-1]
        clock = [v for v, s in samples["T.Clock"] if s == stamp][-1]
        tau = -1e6 * math.log1p(-clock / 1e6)  # invert the clock's closed form
        snaps.append((round(tau / H) * H, latest))
    return snaps


def test_served_values_follow_the_fault_schedule_and_the_written_command(plant_run) -> None:
    snaps = _snapshots(plant_run["samples"])
    assert len(snaps) > 50, "too few plant steps seen"
    checked = 0
    frozen = None
    for tau, v in snaps:
        if not {"T.Y", "T.UEcho"} <= set(v):
            continue
        u = v["T.UEcho"]
        assert u in (1.0, U_WRITTEN)  # start value, then exactly what the client wrote
        if tau <= 3.0 + 1e-9:
            # y = k*u + b exactly (no noise on g.y); 1e-9 covers the clock's inversion only
            assert v["T.Y"] == pytest.approx(expected_y(tau, u), abs=1e-9), f"t = {tau}"
            checked += 1
        else:
            frozen = v["T.Y"] if frozen is None else frozen
            assert v["T.Y"] == frozen  # the frozen sensor does not move
    assert checked > 50
    taus = [tau for tau, _ in snaps]
    assert min(taus) < 0.5 and max(taus) > 3.2  # the ramp, the set and the freeze were seen
    assert frozen == pytest.approx(expected_y(3.0, U_WRITTEN), abs=1e-9)
    assert any(v.get("T.UEcho") == U_WRITTEN for _, v in snaps)  # the command reached g.u
    assert plant_run["result"].commands_received >= 1
    assert plant_run["result"].error is None  # the NaN written later was ignored
    assert not any(math.isnan(v) for v, _ in plant_run["samples"]["T.UEcho"])


def test_seeded_noise_has_the_declared_sigma(plant_run) -> None:
    values = np.array([v for v, _ in plant_run["samples"]["T.Noisy"]])
    n = len(values)
    assert n > 100
    # n.y = 1 exactly; the mean of n samples of N(1, sigma) is within 5 sigma/sqrt(n) of 1,
    # and the sample standard deviation within 25 % of sigma for n > 100 (chi-square, ~5 sd)
    assert abs(values.mean() - 1.0) < 5 * SIGMA / math.sqrt(n)
    assert values.std(ddof=1) == pytest.approx(SIGMA, rel=0.25)


def test_plant_keeps_real_time(plant_run) -> None:
    pacing = plant_run["result"].pacing
    assert pacing is not None and pacing.target_factor == 2.0
    # 4 s at 2x = 2 s wall; Pacer measures against one fixed start, so the mean factor is
    # close to the target even with a few late steps (5 % covers a loaded 2-core machine)
    assert pacing.realtime_factor == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        ("serve: []", "plant.serve must be a non-empty list"),
        ("serve: [{from: g.y, node: 'ns=2;s=A'}]\n  speed: 3", "unknown key 'speed'"),
        ("serve: [{from: nope.y, node: 'ns=2;s=A'}]", "no component named 'nope'"),
        (
            "serve: [{from: g.y, node: 'ns=2;s=A'}]\n  faults: [{at: 1, ramp: {g.b: {to: 1}}}]",
            "must be {to: value, over: seconds > 0}",
        ),
        (
            "serve: [{from: g.y, node: 'ns=2;s=A'}]\n  faults: [{at: 1, freeze: g.u}]",
            "g.u is not served",
        ),
        (
            "serve: [{from: g.y, node: 'ns=2;s=A'}]\n  noise: {signals: {g.u: 0.1}}",
            "g.u is not served",
        ),
        (
            "serve: [{from: g.y, node: 'ns=2;s=A'}, {from: g.u, node: 'ns=2;s=A'}]",
            "already used",
        ),
        ("serve: [{from: g.y, node: 'ns=2;s=A'}]\n  endpoint: http://x:1", "opc.tcp://"),
        (
            "serve: [{from: g.y, node: 'ns=2;s=A'}]\n  commands: [{node: 'ns=2;s=C', to: g.y}]",
            "only inputs and tunable parameters",
        ),
        (
            "serve: [{from: g.y, node: 'ns=2;s=A'}]\n  commands: [{node: 'ns=2;s=C', to: g.u}]"
            "\n  fault_origin: first_comand",
            "did you mean 'first_command'?",
        ),
        ("serve: [{from: g.y, node: 'ns=2;s=A'}]\n  fault_origin: first_command", "needs plant"),
    ],
)
def test_plant_section_problems_are_reported(tmp_path: Path, plant: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\nsimulation: {stop: 1, step: 0.01}\ncomponents:\n  g: {fmu: Gain}\n"
        f"plant:\n  {plant}\n"
    )
    with pytest.raises(ConfigError) as info:
        Plant(load_system(path))
    assert message in str(info.value)
    assert "p.yaml:" in str(info.value)  # every problem says where


def test_plant_runtime_errors_say_where_in_the_yaml(tmp_path: Path) -> None:
    """A taken port is a run-time error; it names plant.endpoint's file:line:col."""
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}"
    text = (
        "name: p\nsimulation: {stop: 1, step: 0.01}\ncomponents:\n  g: {fmu: Gain}\n"
        f"plant:\n  serve: [{{from: g.y, node: 'ns=2;s=A'}}]\n  endpoint: {endpoint}\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(text)
    line = text.splitlines().index(f"  endpoint: {endpoint}") + 1
    with socket.socket() as squatter:  # something else listens on the plant's port
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = Plant(load_system(path)).run(0.1)
    assert result.status == "failed"
    assert str(result.error).startswith(f"{path}:{line}:3: ")
    assert "another server" in str(result.error)
