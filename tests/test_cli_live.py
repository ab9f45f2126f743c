"""The live commands through the real command line (subprocess): Ctrl-C of `cosim run` on a
twin, of `cosim plant` and of `cosim demo`; `cosim run --plot` offline and live; and
`cosim validate` on bad live links (opcua.inputs/outputs, plant.serve/commands/faults).

    cosim plant plant.yaml  (child)  --Plant.U = 1.25-->  cosim run twin.yaml  (child)
                                                           g.u -> Gain k=2 -> g.y
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from engine_helpers import dual_mass_yaml
from live_helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
PNG = b"\x89PNG\r\n\x1a\n"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Child:
    """`python -m cosim ...` in the background; its stdout lines arrive in a queue."""

    def __init__(self, *args: object, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cosim", *map(str, args)], cwd=cwd, env=ENV,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, False), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream: Any, out: bool) -> None:
        for line in stream:
            (self.stdout if out else self.stderr).append(line)
            if out:
                self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if text in line:
                return line
        self.proc.kill()
        self.proc.wait(10)
        raise AssertionError(f"no line with {text!r}; stdout {self.stdout}, stderr {self.stderr}")

    def interrupt(self, timeout: float = 30.0) -> tuple[int, str, str]:
        """Ctrl-C; wait for the exit; (exit code, whole stdout, whole stderr)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        for pump in self._pumps:  # both pipes are at EOF once the process is gone
            pump.join(10)
        return self.proc.returncode, "".join(self.stdout), "".join(self.stderr)


PLANT = """name: src_plant
simulation: {{start: 0.0, stop: 100.0, step: 0.01}}
components:
  src: {{fmu: Gain, parameters: {{k: 0.0, b: 1.25}}}}
plant:
  endpoint: {endpoint}
  serve: [{{from: src.y, node: "ns=2;s=Plant.U"}}]
"""

TWIN = """name: live
simulation: {{start: 0.0, stop: 60.0, step: 0.01, realtime: 1.0}}
components:
  g: {{fmu: Gain, parameters: {{k: 2.0, b: 0.0}}}}
record:
  variables: [g.u, g.y]
opcua:
  endpoint: {endpoint}
  inputs:
    - {{node: "ns=2;s=Plant.U", to: g.u, stale_after: 0.5}}
  connect_timeout: 10
"""


def test_ctrl_c_stops_the_twin_run_and_the_plant_cleanly(tmp_path: Path) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    (tmp_path / "plant.yaml").write_text(PLANT.format(endpoint=endpoint))
    (tmp_path / "twin.yaml").write_text(TWIN.format(endpoint=endpoint))
    plant = Child("plant", "plant.yaml", cwd=tmp_path)
    try:
        plant.wait_for(" serving ")
        twin = Child("run", "twin.yaml", "--out", "out", cwd=tmp_path)
        try:
            twin.wait_for("live: running to t =")  # initialized and stepping
            time.sleep(0.5)
            code, out, err = twin.interrupt()
        finally:
            if twin.proc.poll() is None:
                twin.proc.kill()
        # the twin: exit 130, the results file completed, closed and marked interrupted
        assert code == 130, out + err
        assert "interrupted; results so far are in" in err
        assert "live: interrupted" in out
        with h5py.File(tmp_path / "out" / "results.h5", "r") as f:
            assert f.attrs["status"] == "interrupted"
            t = f["time"][:]
            assert 0.3 < t[-1] < 30.0
            np.testing.assert_allclose(t, np.arange(len(t)) * 0.01, atol=1e-9)
            # the first row already holds the plant's value (the Gain's own start u is 0)
            assert f["signals/g.u"][0] == 1.25 and f["signals/g.y"][0] == 2.5
            assert np.all(f["twin/inputs/g.u/value"][:] == 1.25)
            assert f["opcua"].attrs["samples_dropped"] == 0
        # the plant: Ctrl-C ends it at the end of a step, exit 0, port closed
        code, out, err = plant.interrupt()
        assert code == 0, out + err
        assert "plant stopped at t = " in out
        assert not port_open(int(endpoint.rsplit(":", 1)[1]))
    finally:
        if plant.proc.poll() is None:
            plant.proc.kill()


def test_ctrl_c_stops_the_demo_and_its_plant_child(tmp_path: Path) -> None:
    demo = Child("demo", "ema", "--duration", "60", "--out", "demo", cwd=tmp_path)
    try:
        line = demo.wait_for("starting the plant simulator", timeout=120)
        port = int(line.split("opc.tcp://127.0.0.1:")[1].split()[0])
        demo.wait_for("ema_degradation_twin: running to t =", timeout=120)  # the twin is stepping
        assert port_open(port)
        time.sleep(0.5)
        code, out, err = demo.interrupt()
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()
    assert code == 130, out + err
    assert "plant simulator stopped (exit code 0)" in out
    assert not port_open(port)  # the plant child is gone
    with h5py.File(tmp_path / "demo" / "results.h5", "r") as f:
        assert f.attrs["status"] == "interrupted"


# ----------------------------------------------------------------------------- --plot
@pytest.mark.parametrize("path", ["offline", "live"])
def test_run_plot_writes_plot_png_and_names_it_in_the_json(tmp_path: Path, path: str) -> None:
    system = tmp_path / "dual.yaml"
    system.write_text(dual_mass_yaml("2.0", stop=0.2, record_interval=1e-2))
    args = ["run", system, "--out", tmp_path / "out", "--plot", "--json"]
    if path == "live":
        args += ["--realtime", "20"]  # the live runner (real-time pacing), 10 ms of wall time
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", *map(str, args)], cwd=tmp_path, env=ENV,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    plot = tmp_path / "out" / "plot.png"
    assert summary["plot"] == str(plot)
    assert plot.read_bytes()[:8] == PNG
    if path == "live":
        assert summary["realtime_target"] == 20.0
        for key in ("samples_dropped", "non_finite", "queue_overflows"):
            assert summary[key] == 0  # always in the JSON summary


def test_twin_summary_shows_lost_values_only_when_there_are_some(capsys) -> None:
    from cosim.cli.live import print_twin_summary

    base = {
        "system": "s", "status": "completed", "steps": 10, "start": 0.0,
        "simulated_time": 0.1, "wall_time": 0.1, "realtime_target": None,
        "realtime_factor": 1.0, "plant": "opc.tcp://127.0.0.1:1", "inputs": [], "gaps": [],
        "reconnects": 0, "results": "r.h5",
        "samples_dropped": 0, "non_finite": 0, "queue_overflows": 0,
    }  # fmt: skip
    print_twin_summary(base)
    quiet = capsys.readouterr().out
    assert "dropped" not in quiet and "non-finite" not in quiet and "overflow" not in quiet
    print_twin_summary({**base, "non_finite": 3, "queue_overflows": 2})
    out = capsys.readouterr().out
    assert "non-finite values ignored 3" in out and "client queue overflows 2" in out
    assert "dropped" not in out


# ----------------------------------------------------------------------------- validate
BAD_TWIN = """name: live
simulation: {start: 0.0, stop: 1.0, step: 0.01}
components:
  g: {fmu: Gain}
  a: {fmu: Actuator, parameters: {delta_cmd: 0.0, q_dyn: 1.0e4}}
opcua:
  endpoint: opc.tcp://127.0.0.1:4840
  inputs:
    - {node: "ns=2;s=Plant.U", to: g.uu}
    - {node: "ns=2;s=Plant.R", to: a.R}
    - {node: "ns=2;s=Plant.V", to: g.u}
  outputs:
    - {from: g.yy, node: "ns=2;s=Plant.Out"}
  write: true
"""

BAD_PLANT = """name: p
simulation: {start: 0.0, stop: 1.0, step: 0.01}
components:
  g: {fmu: Gain}
  a: {fmu: Actuator, parameters: {delta_cmd: 0.0, q_dyn: 1.0e4}}
plant:
  serve:
    - {from: g.yy, node: "ns=2;s=P.Y"}
    - {from: g.y, node: "ns=2;s=P.Y2"}
  commands:
    - {node: "ns=2;s=P.C", to: g.y}
    - {node: "ns=2;s=P.D", to: a.R}
  faults:
    - {at: 0.5, set: {g.kk: 1.0}}
    - {at: 0.5, ramp: {g.u: {to: 1.0, over: 1.0}}}
"""


def _at(text: str, line_text: str, key: str) -> tuple[int, int]:
    """1-based line and column of `key` on the line holding `line_text`."""
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if line_text in line)
    return k + 1, lines[k].index(key) + 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BAD_TWIN,
            [
                ("to: g.uu", "to:", "opcua.inputs[0].to: Gain.fmu has no variable 'uu'",
                 "did you mean 'g.u'?"),
                ("to: a.R", "to:", "opcua.inputs[1].to: a.R is a fixed parameter", ""),
                ("from: g.yy", "from:", "opcua.outputs[0].from: Gain.fmu has no variable 'yy'",
                 "did you mean 'g.y'?"),
            ],
        ),
        (
            BAD_PLANT,
            [
                ("from: g.yy", "from:", "plant.serve[0].from: Gain.fmu has no variable 'yy'",
                 "did you mean 'g.y'?"),
                ("to: g.y}", "to:", "plant.commands[0].to: g.y is an output", ""),
                ("to: a.R", "to:", "plant.commands[1].to: a.R is a fixed parameter", ""),
                ("g.kk", "g.kk", "plant.faults[0].set: Gain.fmu has no variable 'kk'",
                 "did you mean 'g.k'?"),
            ],
        ),
    ],
    ids=["twin", "plant"],
)  # fmt: skip
def test_validate_reports_bad_live_links_where_they_are(
    tmp_path: Path, text: str, expected: list
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "validate", str(path), "--json"], cwd=tmp_path, env=ENV,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert len(errors) == len(expected), errors
    for line_text, key, message, hint in expected:
        line, column = _at(text, line_text, key)
        found = [p for p in errors if p["message"].startswith(message)]
        assert len(found) == 1, (message, errors)
        assert (found[0]["file"], found[0]["line"], found[0]["column"]) == (str(path), line, column)
        assert hint in found[0]["hint"]
    # g.u is set live (opcua input / plant fault), so no "keeps its start value" warning for
    # it; the truly unconnected g.n_in still gets one
    warnings = [p["message"] for p in report["problems"] if p["severity"] == "warning"]
    assert not any(m.startswith("input g.u is not connected") for m in warnings), warnings
    assert any(m.startswith("input g.n_in is not connected") for m in warnings), warnings
