"""The EMA demo's story (issue 8, defect 1): the twin's verdict names the motor current, however
long the twin takes to connect.

    plant (ema_plant.yaml, wear ramps 4 s after the first command)  <--OPC UA-->  twin
    twin writes Plant.Setpoint -> plant echoes Plant.Command -> twin's actuator model
    measured - predicted motor current: small while healthy, x3 or more once worn
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from live_helpers import free_port
from test_cli_live import Child

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _summary(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _assert_current_is_the_hint(s: dict) -> None:
    current = s["residuals"]["act.i_motor"]
    # flagged: the last third's RMS is at least RISING_RATIO (1.5) times the first third's.
    # Quiet machine: x3 or more; on a loaded one the healthy residual grows with the command's
    # network delay (seen x1.9), so the flag itself is the assertion
    assert current["rising"] and current["ratio"] >= 1.5, current
    assert "act.i_motor" in s["verdict"] and s["verdict"].startswith("maintenance hint")


def test_demo_verdict_names_the_motor_current(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "demo", "ema", "--json", "--out", str(tmp_path / "d")],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    _assert_current_is_the_hint(_summary(proc))


def test_wear_story_survives_a_twin_that_connects_late(tmp_path):
    """The plant runs 8 s before the twin connects: longer than the whole wear ramp would take
    if fault times counted from the plant's start (it did, before fault_origin)."""
    plant_ep = f"opc.tcp://127.0.0.1:{free_port()}"
    twin_ep = f"opc.tcp://127.0.0.1:{free_port()}"
    plant_yaml = tmp_path / "ema_plant.yaml"
    twin_yaml = tmp_path / "ema_twin.yaml"
    text = (ROOT / "systems" / "ema_plant.yaml").read_text()
    plant_yaml.write_text(text.replace("opc.tcp://127.0.0.1:4840", plant_ep))
    text = (ROOT / "systems" / "ema_twin.yaml").read_text()
    twin_yaml.write_text(
        text.replace("opc.tcp://127.0.0.1:4840", plant_ep).replace(
            "opc.tcp://127.0.0.1:4841", twin_ep
        )
    )
    plant = Child("plant", plant_yaml, "--quiet", cwd=tmp_path)
    try:
        plant.wait_for(" serving ", timeout=120)
        time.sleep(8.0)
        proc = subprocess.run(
            [sys.executable, "-m", "cosim", "run", str(twin_yaml), "--stop", "10", "--json",
             "--out", str(tmp_path / "twin")],
            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        plant.interrupt()
    _assert_current_is_the_hint(_summary(proc))
