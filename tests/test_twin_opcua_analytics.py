"""The predicting twin over OPC UA: monitor state nodes, Alarms & Conditions events, estimate
nodes and the Forecast method (`cosim forecast`), seen by a real asyncua client.

The twin runs paced (2x real time) with its real plant simulator stepped in its loop and its
own OPC UA server on a free loopback port; the client watches it while it runs.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import h5py
import yaml
from asyncua import Client, ua
from live_helpers import free_port

from cosim.api import System
from cosim.twin.runner import TwinRun

ROOT = Path(__file__).resolve().parents[1]
TWIN = ROOT / "systems" / "ema_degradation_twin.yaml"
PLANT = ROOT / "systems" / "ema_degradation_plant.yaml"


class Events:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def event_notification(self, event: Any) -> None:
        self.events.append(event)


def test_monitor_alarms_estimates_and_forecasts_reach_an_opcua_client(tmp_path):
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}"
    twin = yaml.safe_load(TWIN.read_text())
    twin["simulation"]["stop"] = 24.0
    twin["forecast"]["every"] = 1000.0  # only on request
    twin["forecast"]["horizon"] = 20.0
    plant = yaml.safe_load(PLANT.read_text())
    plant["plant"]["fault_origin"] = "start"
    # fast wear: the friction alarm comes about 5 s after the ramp starts
    plant["plant"]["faults"] = [{"at": 1.0, "ramp": {"act.wear": {"to": 1.0, "over": 8.0}}}]
    (tmp_path / "twin.yaml").write_text(yaml.safe_dump(twin, sort_keys=False))
    (tmp_path / "plant.yaml").write_text(yaml.safe_dump(plant, sort_keys=False))
    spec = System.from_file(tmp_path / "twin.yaml").spec
    plant_spec = System.from_file(tmp_path / "plant.yaml").spec
    run = TwinRun(
        spec, tmp_path / "results.h5", realtime=2.0, plant=plant_spec, serve_endpoint=endpoint
    )
    ready = threading.Event()
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["result"] = run.run(on_ready=lambda info: ready.set())
        except BaseException as exc:  # reported by the main thread
            box["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    assert ready.wait(60), "the twin did not start"
    assert "error" not in box, box.get("error")
    name = spec.name

    async def watch() -> dict[str, Any]:
        async with Client(endpoint, timeout=10) as client:
            idx = await client.get_namespace_index("urn:cosim")
            handler = Events()
            sub = await client.create_subscription(20, handler)
            await sub.subscribe_events(client.nodes.server, ua.ObjectIds.AlarmConditionType)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            while not any(
                e.Severity == 800 and e.ConditionName == "friction" for e in handler.events
            ):
                assert loop.time() - t0 < 20, [e.Message.Text for e in handler.events]
                await asyncio.sleep(0.05)
            state = await client.get_node(
                ua.NodeId(f"{name}.Monitor.friction.State", idx)
            ).read_value()
            mean = await client.get_node(
                ua.NodeId(f"{name}.Estimate.act.wear.Mean", idx)
            ).read_value()
            std = await client.get_node(
                ua.NodeId(f"{name}.Estimate.act.wear.Std", idx)
            ).read_value()
            return {"events": list(handler.events), "state": state, "mean": mean, "std": std}

    seen = asyncio.run(watch())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosim",
            "forecast",
            str(tmp_path / "twin.yaml"),
            "--endpoint",
            endpoint,
            "--json",
            "--timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    text = subprocess.run(
        [
            sys.executable,
            "-m",
            "cosim",
            "forecast",
            str(tmp_path / "twin.yaml"),
            "--endpoint",
            endpoint,
            "--timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    thread.join(60)
    assert not thread.is_alive()
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result.status == "completed", result.error

    friction = [e for e in seen["events"] if e.ConditionName == "friction"]
    assert [e.Severity for e in friction][:2] == [500, 800]
    assert all(getattr(e, "ActiveState/Id") for e in friction[:2])
    assert "friction: alarm raised" in friction[1].Message.Text
    assert seen["state"] == 2
    assert 0.0 < seen["mean"] <= 1.0 and 0.0 < seen["std"] < 0.2

    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["targets"][0]["target"] == "end_of_life"
    assert 0 < answer["made_at"] <= 24.0 and answer["horizon"] == 20.0
    assert text.returncode == 0, text.stderr
    assert "end_of_life: act.wear above 0.8" in text.stdout
    with h5py.File(tmp_path / "results.h5") as f:
        made = f["twin/forecasts/end_of_life/time"][:]
        assert len(made) == 2  # the two requests, nothing periodic
        assert answer["made_at"] in list(made)
        assert f["twin/alarms/time"].shape[0] >= 2


def test_cosim_forecast_without_a_running_twin_is_one_clear_error(tmp_path):
    twin = yaml.safe_load(TWIN.read_text())
    twin["opcua"]["serve"]["endpoint"] = f"opc.tcp://127.0.0.1:{free_port()}"
    (tmp_path / "twin.yaml").write_text(yaml.safe_dump(twin, sort_keys=False))
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "forecast", str(tmp_path / "twin.yaml"), "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "cannot reach the twin" in proc.stderr and "Traceback" not in proc.stderr
