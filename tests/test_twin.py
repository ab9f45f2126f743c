"""The live twin (cosim/twin.py) against real asyncua servers on 127.0.0.1, free ports.

    plant (ValueServer, driven by the test)            twin (TwinRun)
      Plant.U    --subscription-->  g.u  (Gain k=2: g.y = 2 u)  --> f.u (FirstOrder T=0.5)
      Plant.Meas --subscription-->  watches f.y: residual = measured - predicted
      Plant.Out  <--write (write: true)--  g.y
                                     twin server: every recorded signal + residuals + run state

The plant publishes U = 0.01 k (k = 1, 2, ...) every 20 ms, so every value the twin used can be
traced back to one the plant published.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from asyncua import Client
from live_helpers import free_port

from cosim.errors import BridgeError, ConfigError
from cosim.io.yaml import load_system
from cosim.opcua import ServedVariable, ValueServer, generate_certificate
from cosim.twin.runner import TwinResult, TwinRun

ROOT = Path(__file__).resolve().parents[1]
H = 0.01
T_LAG = 0.5
MEAS = 0.5
PASSWORD_ENV = "COSIM_TEST_TWIN_PASSWORD"
PASSWORD = "twin-secret-42"


def endpoint() -> str:
    return f"opc.tcp://127.0.0.1:{free_port()}"


class Publisher:
    """Publishes Plant.U = 0.01 k, Plant.Meas = MEAS every `period` seconds, in a thread."""

    def __init__(self, server: ValueServer, period: float = 0.02) -> None:
        self.server = server
        self.period = period
        self.published: set[float] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            k += 1
            value = 0.01 * k
            self.published.add(value)
            self.server.publish(np.array([value, MEAS]))
            time.sleep(self.period)

    def __enter__(self) -> Publisher:
        self._thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def plant() -> Iterator[ValueServer]:
    server = ValueServer(
        endpoint(),
        [ServedVariable("Plant.U"), ServedVariable("Plant.Meas")],
        [ServedVariable("Plant.Out")],
        name="plant",
    )
    with server:
        yield server


def twin_yaml(
    tmp_path: Path,
    plant_endpoint: str,
    *,
    stop: float = 2.0,
    realtime: float | None = 1.0,
    on_disconnect: str = "hold",
    write: bool = True,
    outputs: bool = True,
    serve: str | None = None,
    extra: str = "",
) -> Path:
    rt = f", realtime: {realtime}" if realtime else ""
    text = f"""
name: live
simulation: {{start: 0.0, stop: {stop}, step: {H}{rt}}}
components:
  g: {{fmu: Gain, parameters: {{k: 2.0, b: 0.0}}}}
  f: {{fmu: FirstOrder, parameters: {{T: {T_LAG}, k: 1.0}}}}
connections:
  - {{from: g.y, to: f.u}}
record:
  variables: [g.u, g.y, f.y]
opcua:
  endpoint: {plant_endpoint}
  inputs:
    - {{node: "ns=2;s=Plant.U", to: g.u, stale_after: 0.3}}
    - {{node: "ns=2;s=Plant.Meas", to: f.y, stale_after: 0.3}}
  on_disconnect: {on_disconnect}
  connect_timeout: 5
{extra}"""
    if outputs:
        text += '  outputs:\n    - {from: g.y, node: "ns=2;s=Plant.Out"}\n'
        text += f"  write: {'true' if write else 'false'}\n"
    if serve:
        text += f"  serve:\n    endpoint: {serve}\n"
    path = tmp_path / "twin.yaml"
    path.write_text(text)
    return path


def run_in_thread(twin: TwinRun) -> tuple[threading.Thread, dict, threading.Event]:
    box: dict = {}
    ready = threading.Event()

    def target() -> None:
        try:
            box["result"] = twin.run(on_ready=lambda info: ready.set())
        except BaseException as exc:  # re-raised in the test thread
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box, ready


def finish(thread: threading.Thread, box: dict, timeout: float = 30.0) -> TwinResult:
    thread.join(timeout)
    assert not thread.is_alive(), "the twin run did not end"
    if "error" in box:
        raise box["error"]
    return box["result"]


# ----------------------------------------------------------------------------- live coupling
async def _read_twin_server(url: str, names: list[str]) -> list[dict[str, float]]:
    reads = []
    async with Client(url, timeout=5) as client:
        nodes = [client.get_node(f"ns=2;s={n}") for n in names]
        for _ in range(2):
            await asyncio.sleep(0.5)
            values = await client.read_values(nodes)
            reads.append(dict(zip(names, [float(v) for v in values], strict=True)))
    return reads


def test_live_values_reach_fmu_inputs_and_twin_values_reach_plant_and_server(
    tmp_path: Path, plant: ValueServer
) -> None:
    serve = endpoint()
    path = twin_yaml(tmp_path, plant.endpoint, stop=2.5, serve=serve)
    twin = TwinRun(load_system(path), tmp_path / "out" / "results.h5")
    received: set[float] = set()
    with Publisher(plant) as pub:
        thread, box, ready = run_in_thread(twin)
        assert ready.wait(30)
        run = ["SimulationTime", "PlantConnected", "StaleInputs", "RealTimeFactor",
               "MaxLateness", "P99Lateness"]  # fmt: skip
        names = ["live.g.y", "live.Residual.f.y"] + [f"live.Run.{n}" for n in run]
        reads = asyncio.run(_read_twin_server(serve, names))
        out = np.zeros(1)
        while thread.is_alive():
            plant.read_commands(out)
            received.add(float(out[0]))
            time.sleep(0.005)
        result = finish(thread, box)
        published = set(pub.published)
    assert result.status == "completed", result.error

    with h5py.File(result.results) as f:
        t = f["time"][:]
        u = f["twin/inputs/g.u/value"][:]
        gu = f["signals/g.u"][:]
        first_values = json.loads(f["twin"].attrs["first_values"])
        counters = {k: f["opcua"].attrs[k] for k in ("samples_dropped", "non_finite",
                                                      "queue_overflows")}  # fmt: skip
        gy = f["signals/g.y"][:]
        fy = f["signals/f.y"][:]
        meas = f["twin/inputs/f.y/value"][:]
        residual = f["twin/residuals/f.y"][:]
        assert np.array_equal(f["twin/time"][:], t)
        assert f["opcua/ns=2;s=Plant.U/value"].shape[0] > 20  # raw samples with timestamps
        assert np.all(f["opcua/ns=2;s=Plant.U/status"][:] == 0)
        assert np.all(np.isfinite(f["opcua/ns=2;s=Plant.U/source_time"][:]))
    assert t[0] == 0.0 and t[-1] == pytest.approx(2.5) and len(t) == 251
    # every value the FMU input got was published by the plant, and it saw many of them
    assert set(u.tolist()) <= published
    assert len(set(u.tolist())) > 20
    # a live value set after step k acts on step k + 1: g.y(t_k+1) = 2 u(t_k), exactly
    np.testing.assert_array_equal(gy[1:], 2.0 * u[:-1])
    # the first row already shows a live value (the FMU started from it, not from g.u = 0)
    assert gu[0] in published and gy[0] == 2.0 * gu[0] and first_values == {"g.u": gu[0]}
    assert counters == {"samples_dropped": 0, "non_finite": 0, "queue_overflows": 0}
    assert result.summary()["samples_dropped"] == 0
    # f integrates the live input: exact discrete solution of T y' = u_f - y for an input held
    # over each step (RK4 at h/T = 0.02 is accurate to ~1e-11; 1e-9 leaves margin)
    a = math.exp(-H / T_LAG)
    y = np.zeros_like(fy)
    for k in range(len(fy) - 1):
        y[k + 1] = a * y[k] + (1.0 - a) * gy[k + 1]  # Gauss-Seidel: f sees this step's g.y
    np.testing.assert_allclose(fy, y, atol=1e-9)
    # watched output: measured - predicted
    assert np.all(meas == MEAS)
    np.testing.assert_allclose(residual, MEAS - fy, atol=1e-15)
    assert result.residuals["f.y"]["mean"] == pytest.approx(np.mean(MEAS - fy))
    # the plant's command node got the twin's g.y values (write: true)
    twin_values = {2.0 * v for v in published} | {0.0}
    assert received <= twin_values and len(received - {0.0}) > 10
    # the twin's own server published its values and run state while it ran
    first, second = reads
    for r in reads:
        assert r["live.g.y"] in twin_values
        assert r["live.Run.PlantConnected"] == 1.0
        assert r["live.Run.StaleInputs"] == 0.0
        assert math.isfinite(r["live.Residual.f.y"])
        # p99 lateness is published too (histogram estimate, refreshed once a second): it is
        # never above the largest lateness seen
        assert 0.0 <= r["live.Run.P99Lateness"] <= r["live.Run.MaxLateness"]
    assert 0 < first["live.Run.SimulationTime"] < second["live.Run.SimulationTime"] <= 2.5
    # wall clock between the two reads ~0.5 s: simulated time advanced about as much
    assert second["live.Run.RealTimeFactor"] == pytest.approx(1.0, rel=0.2)


def test_outputs_without_write_true_are_refused(tmp_path: Path) -> None:
    path = twin_yaml(tmp_path, "opc.tcp://127.0.0.1:4840", write=False)
    with pytest.raises(ConfigError) as info:
        TwinRun(load_system(path), tmp_path / "r.h5")
    text = str(info.value)
    assert "write: true" in text and "twin.yaml:" in text


def test_a_live_input_to_a_connected_input_is_refused(tmp_path: Path) -> None:
    path = twin_yaml(tmp_path, "opc.tcp://127.0.0.1:4840", outputs=False)
    path.write_text(path.read_text().replace("to: g.u,", "to: f.u,"))
    with pytest.raises(ConfigError) as info:
        TwinRun(load_system(path), tmp_path / "r.h5")
    assert "f.u is already driven by a connection from g.y" in str(info.value)


# ----------------------------------------------------------------------------- faults
def _stop_and_restart(server: ValueServer, ready: threading.Event, at: float, down: float) -> None:
    def target() -> None:
        ready.wait(30)
        time.sleep(at)
        server.stop()
        time.sleep(down)
        server.start()

    threading.Thread(target=target, daemon=True).start()


def test_plant_restart_mid_run_keeps_a_complete_run_and_records_the_gap(
    tmp_path: Path, plant: ValueServer
) -> None:
    path = twin_yaml(tmp_path, plant.endpoint, stop=4.0, outputs=False)
    twin = TwinRun(load_system(path), tmp_path / "results.h5")
    with Publisher(plant) as pub:
        thread, box, ready = run_in_thread(twin)
        _stop_and_restart(plant, ready, at=1.0, down=0.8)
        result = finish(thread, box)
        published = set(pub.published)
    assert result.status == "completed"
    with h5py.File(result.results) as f:
        t = f["time"][:]
        stale = f["twin/inputs/g.u/stale"][:].astype(bool)
        u = f["twin/inputs/g.u/value"][:]
        watched_stale = f["twin/inputs/f.y/stale"][:].astype(bool)
        residual = f["twin/residuals/f.y"][:]
        gaps = {k: f["opcua/gaps"][k][:] for k in ("start", "end", "duration", "sim_start")}
        assert f.attrs["gaps"] == 1 and f.attrs["status"] == "completed"
    # complete: every communication step from start to stop is in the file
    np.testing.assert_allclose(t, np.arange(401) * H, atol=1e-12)
    assert len(gaps["start"]) == 1 and np.isfinite(gaps["end"][0])
    assert 0.7 < gaps["duration"][0] < 4.0  # down 0.8 s, plus detection and reconnect backoff
    assert 0.5 < gaps["sim_start"][0] < 2.5
    # stale while the plant was away, fresh again after the reconnect
    assert stale.any() and not stale[-20:].any()
    assert not stale[:50].any()
    after = u[~stale][-1]
    assert after in published and after > u[stale][0]  # new values arrived after the gap
    assert result.reconnects == 1
    # no residual without a valid measurement
    assert watched_stale.any()
    assert np.isnan(residual[watched_stale]).all() and np.isfinite(residual[~watched_stale]).all()


def test_on_disconnect_pause_stops_stepping_until_the_plant_is_back(
    tmp_path: Path, plant: ValueServer
) -> None:
    path = twin_yaml(tmp_path, plant.endpoint, stop=2.5, outputs=False, on_disconnect="pause")
    twin = TwinRun(load_system(path), tmp_path / "results.h5")
    with Publisher(plant):
        thread, box, ready = run_in_thread(twin)
        _stop_and_restart(plant, ready, at=0.8, down=0.8)
        result = finish(thread, box)
    assert result.status == "completed"
    assert len(result.pauses) == 1
    pause = result.pauses[0]
    paused = pause["end"] - pause["start"]
    assert paused > 0.7  # at least the 0.8 s the plant was down (minus detection)
    assert 0.3 < pause["sim_time"] < 1.5
    # stepping time excludes the pause, and pacing restarted from a new fixed instant after it:
    # the real-time factor over stepping time is still 1 (5 %), the loop's wall time is longer
    assert result.realtime_factor == pytest.approx(1.0, rel=0.05)
    assert result.stats.wall_time > 2.5 + 0.7
    with h5py.File(result.results) as f:
        np.testing.assert_allclose(f["time"][:], np.arange(251) * H, atol=1e-12)
        assert len(f["twin/pauses/start"][:]) == 1


def test_on_disconnect_abort_stops_cleanly_and_keeps_results(
    tmp_path: Path, plant: ValueServer
) -> None:
    path = twin_yaml(tmp_path, plant.endpoint, stop=5.0, outputs=False, on_disconnect="abort")
    twin = TwinRun(load_system(path), tmp_path / "results.h5")
    with Publisher(plant):
        thread, box, ready = run_in_thread(twin)
        ready.wait(30)
        time.sleep(0.8)
        plant.stop()
        result = finish(thread, box)
    assert result.status == "aborted"
    assert isinstance(result.error, BridgeError)
    assert "on_disconnect is abort" in str(result.error) and plant.endpoint in str(result.error)
    with h5py.File(result.results) as f:
        t = f["time"][:]
        assert f.attrs["status"] == "aborted"
        assert 0.5 < t[-1] < 3.0  # stopped soon after the loss, results up to there kept
        np.testing.assert_allclose(t, np.arange(len(t)) * H, atol=1e-12)


# ----------------------------------------------------------------------------- security
@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("twin_certs")
    for name in ("plant", "twin", "reader"):
        generate_certificate(
            base / f"{name}.der", base / f"{name}.pem", application_uri=f"urn:cosim:test:{name}"
        )
    return base


SECURE_PLANT = """
name: secure_plant
simulation: {{start: 0.0, stop: 100.0, step: 0.01, realtime: 1.0}}
components:
  src: {{fmu: Gain, parameters: {{k: 0.0, b: 1.25}}}}
plant:
  endpoint: {endpoint}
  serve: [{{from: src.y, node: "ns=2;s=Plant.U"}}, {{from: src.y, node: "ns=2;s=Plant.Meas"}}]
  security:
    mode: SignAndEncrypt
    certificate: {certs}/plant.der
    private_key: {certs}/plant.pem
    trusted_clients: [{certs}/twin.der]
    username: twin
    password_env: {env}
"""

CLIENT_SECURITY = """  security:
    policy: Basic256Sha256
    mode: SignAndEncrypt
    certificate: {certs}/twin.der
    private_key: {certs}/twin.pem
    server_certificate: {certs}/plant.der
    username: twin
    password_env: {env}
"""

SERVE_SECURITY = """    security:
      mode: SignAndEncrypt
      certificate: {certs}/twin.der
      private_key: {certs}/twin.pem
      trusted_clients: [{certs}/reader.der]
      username: reader
      password_env: {env}
"""


async def _secure_read(url: str, certs: Path, password: str) -> float:
    from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
    from asyncua.ua import MessageSecurityMode

    client = Client(url, timeout=5)
    client.application_uri = "urn:cosim:test:reader"
    await client.set_security(
        SecurityPolicyBasic256Sha256,
        certificate=str(certs / "reader.der"),
        private_key=str(certs / "reader.pem"),
        server_certificate=str(certs / "twin.der"),
        mode=MessageSecurityMode.SignAndEncrypt,
    )
    client.set_user("reader")
    client.set_password(password)
    async with client:
        return float(await client.get_node("ns=2;s=live.g.y").read_value())


def test_secure_plant_twin_and_twin_server(
    tmp_path: Path, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cosim.plant.simulator import Plant

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    plant_path = tmp_path / "plant.yaml"
    plant_path.write_text(SECURE_PLANT.format(endpoint=endpoint(), certs=certs, env=PASSWORD_ENV))
    plant = Plant(load_system(plant_path))
    plant_ready = threading.Event()
    plant_thread = threading.Thread(
        target=lambda: plant.run(on_ready=lambda p: plant_ready.set()), daemon=True
    )
    plant_thread.start()
    try:
        assert plant_ready.wait(30)
        serve = endpoint()
        path = twin_yaml(
            tmp_path, plant.endpoint, stop=2.0, outputs=False, serve=serve,
            extra=CLIENT_SECURITY.format(certs=certs, env=PASSWORD_ENV),
        )  # fmt: skip
        path.write_text(path.read_text() + SERVE_SECURITY.format(certs=certs, env=PASSWORD_ENV))
        twin = TwinRun(load_system(path), tmp_path / "results.h5")
        thread, box, ready = run_in_thread(twin)
        assert ready.wait(30)
        time.sleep(0.3)
        # the twin's own server: right credentials read g.y = 2 * 1.25, wrong ones are refused
        assert asyncio.run(_secure_read(serve, certs, PASSWORD)) == 2.5
        with pytest.raises(Exception, match="BadUserAccessDenied|BadIdentityToken"):
            asyncio.run(_secure_read(serve, certs, "wrong"))
        result = finish(thread, box)
        assert result.status == "completed"
        with h5py.File(result.results) as f:
            assert np.all(f["twin/inputs/g.u/value"][:] == 1.25)  # over SignAndEncrypt

        # the same twin with a wrong password is refused by the plant, with one clear error
        monkeypatch.setenv(PASSWORD_ENV, "wrong")
        t0 = time.monotonic()
        with pytest.raises(BridgeError, match="rejected the login of user 'twin'"):
            TwinRun(load_system(path), tmp_path / "r2.h5").run()
        assert time.monotonic() - t0 < 5.0  # refused at once, not retried until the timeout
    finally:
        plant.request_stop()
        plant_thread.join(30)


# ----------------------------------------------------------------------------- real time
PACED = """
name: paced
simulation: {{start: 0.0, stop: {stop}, step: 0.01, realtime: {factor}}}
components:
  m1: {{fmu: Mass1}}
  m2: {{fmu: Mass2}}
connections:
  - {{from: m1.x1, to: m2.x1}}
  - {{from: m1.v1, to: m2.v1}}
  - {{from: m2.F, to: m1.F}}
"""


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_realtime_pacing_holds_the_target_factor(tmp_path: Path, factor: float) -> None:
    path = tmp_path / "paced.yaml"
    wall = 3.0 if factor == 1.0 else 1.5
    path.write_text(PACED.format(stop=wall * factor, factor=factor))
    t0 = time.perf_counter()
    result = TwinRun(load_system(path), tmp_path / "results.h5").run()
    elapsed = time.perf_counter() - t0
    assert result.status == "completed"
    # the engine's own loop wall time (not the pacer's): simulated / wall within 5 % of target
    measured = result.stats.simulated_time / result.stats.wall_time
    assert measured == pytest.approx(factor, rel=0.05)
    assert elapsed >= wall * 0.95  # the whole call really took the paced time
    with h5py.File(result.results) as f:
        assert f.attrs["realtime_target"] == factor
        for key in ("overruns", "max_lateness", "p99_lateness"):
            assert key in f.attrs
        assert json.loads(f.attrs["twin"])["pacing"]["steps"] == result.stats.steps


def test_cli_realtime_option_overrides_the_yaml(tmp_path: Path) -> None:
    path = tmp_path / "paced.yaml"
    path.write_text(PACED.format(stop=1.0, factor=1.0))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "cosim", "run", str(path), "--out", str(out), "--realtime", "4"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "real time: target factor 4" in proc.stdout
    with h5py.File(out / "results.h5") as f:
        assert f.attrs["realtime_target"] == 4.0
        assert f.attrs["wall_time"] == pytest.approx(0.25, rel=0.1)  # 1 s at 4x
    bad = subprocess.run(cmd[:-1] + ["0"], capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2 and "--realtime must be > 0" in bad.stderr


def test_lateness_histogram_p99_is_a_tight_upper_bound() -> None:
    """The twin server's P99Lateness vs the exact nearest-rank p99 of the same samples."""
    from cosim.realtime import LatenessHistogram

    rng = np.random.default_rng(3)
    # mostly tens of microseconds with a heavy tail into milliseconds, plus on-time zeros
    samples = np.concatenate(
        [rng.lognormal(np.log(3e-5), 1.0, 20_000), rng.uniform(1e-3, 5e-2, 300), np.zeros(500)]
    )
    rng.shuffle(samples)
    hist = LatenessHistogram()
    for x in samples:
        hist.add(float(x))
    for q in (0.5, 0.9, 0.99, 0.999):
        exact = np.sort(samples)[math.ceil(q * len(samples)) - 1]  # nearest rank
        estimate = hist.quantile(q)
        # the bin's upper edge: never below the true value, at most one bin width (20 bins
        # per decade: a factor 10^(1/20) = 1.122) above it
        assert exact <= estimate <= exact * 10 ** (1 / 20) * (1 + 1e-12), q
    assert hist.quantile(1.0) == samples.max()
    assert LatenessHistogram().quantile(0.99) == 0.0


# ----------------------------------------------------------------------------- demo
def test_demo_ema_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "cosim", "demo", "ema", "--duration", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "residuals, measured - predicted" in proc.stdout
    assert "plant simulator stopped (exit code 0)" in proc.stdout
    with h5py.File(out / "results.h5") as f:
        t = f["time"][:]
        assert t[0] == 0.0 and t[-1] == pytest.approx(3.0) and f.attrs["status"] == "completed"
        r = f["twin/residuals/act.i_motor"][:]
        assert len(r) == len(t) and np.isfinite(r[5:]).all()
        assert f["opcua/ns=2;s=Plant.MotorCurrent/value"].shape[0] > 100
        summary = json.loads(f.attrs["twin"])
        assert summary["writes_sent"] > 100  # the twin commanded the plant


def test_twin_run_spec_helpers_keep_the_yaml_contract(tmp_path: Path) -> None:
    """--stop style replacement keeps opcua intact; endpoints are overridable (cosim demo)."""
    spec = load_system(ROOT / "systems" / "ema_twin.yaml")
    spec = replace(spec, simulation=replace(spec.simulation, stop=1.0))
    twin = TwinRun(
        spec, tmp_path / "r.h5", endpoint="opc.tcp://127.0.0.1:1", serve_endpoint=endpoint()
    )
    assert twin.opcua is not None and twin.opcua.endpoint == "opc.tcp://127.0.0.1:1"
    roles = {link.label: link.role for link in twin.links}
    assert roles == {"act.delta_cmd": "drive", "act.i_motor": "watch",
                     "act.delta_meas": "watch", "act.T_winding": "watch"}  # fmt: skip
    assert twin.prefix == "ema_twin"
