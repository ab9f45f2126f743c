"""The bundled FMU library: every FMU validates, simulates, restores its state exactly, reports
bad parameters through the logger; the builder rebuilds on change only; and the small oscillator
models match closed-form solutions."""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from fmpy import read_model_description, simulate_fmu
from fmpy.fmi1 import FMICallException
from fmpy.fmi2 import (
    FMU2Model,
    FMU2Slave,
    calloc,
    fmi2CallbackAllocateMemoryTYPE,
    fmi2CallbackFreeMemoryTYPE,
    fmi2CallbackFunctions,
    fmi2CallbackLoggerTYPE,
    free,
)
from fmpy.fmi3 import FMU3Model, FMU3Slave
from fmpy.validation import validate_fmu
from scipy.linalg import expm

from cosim.fmu.archive import extract
from cosim.library import build as library

NAMES = library.bundled_names()
VERSIONS = ["", "fmi3/"]  # bundled-name prefix: FMI 2.0, FMI 3.0
INTERFACES = ["CoSimulation", "ModelExchange"]


def _model_yaml(name: str) -> dict:
    """The model's own source (model.yaml), read independently of the builder."""
    model = name.removeprefix("fmi3/")
    return yaml.safe_load((library.MODELS_DIR / model / "model.yaml").read_text())


def _declares_me(name: str) -> bool:
    return bool(_model_yaml(name).get("model_exchange", True))


SIM_CASES = [(n, "CoSimulation") for n in NAMES] + [
    (n, "ModelExchange") for n in NAMES if _declares_me(n)
]


# --------------------------------------------------------------------------- every FMU
@pytest.mark.parametrize("name", NAMES)
def test_validates_without_problems(name: str) -> None:
    assert validate_fmu(str(library.bundled_fmu(name))) == []


@pytest.mark.parametrize("name", NAMES)
def test_declares_interfaces_and_state_capabilities(name: str) -> None:
    md = read_model_description(str(library.bundled_fmu(name)))
    assert md.fmiVersion == ("3.0" if name.startswith("fmi3/") else "2.0")
    assert md.coSimulation is not None
    assert (md.modelExchange is not None) == _declares_me(name)
    for interface in (md.coSimulation, md.modelExchange):
        if interface is not None:
            assert interface.canGetAndSetFMUstate and interface.canSerializeFMUstate


@pytest.mark.parametrize(("name", "interface"), SIM_CASES)
def test_simulates_default_experiment(name: str, interface: str) -> None:
    path = library.bundled_fmu(name)
    md = read_model_description(str(path))
    result = simulate_fmu(str(path), fmi_type=interface)
    assert result["time"][-1] == pytest.approx(float(md.defaultExperiment.stopTime))
    for column in result.dtype.names:
        assert np.all(np.isfinite(result[column].astype(float))), column


# --------------------------------------------------------------------------- FMU state
class _Logger:
    """Collects the FMU's log messages; builds the FMI 2 callback struct / FMI 3 callback."""

    def __init__(self) -> None:
        self.messages: list[str] = []

        def fmi2(env, instance, status, category, message) -> None:
            self.messages.append(message.decode(errors="replace"))

        def fmi3(env, status, category, message) -> None:
            self.messages.append(message.decode(errors="replace"))

        self.callbacks = fmi2CallbackFunctions()
        self.callbacks.logger = fmi2CallbackLoggerTYPE(fmi2)
        self.callbacks.allocateMemory = fmi2CallbackAllocateMemoryTYPE(calloc)
        self.callbacks.freeMemory = fmi2CallbackFreeMemoryTYPE(free)
        self.fmi3 = fmi3


class _Instance:
    """One FMU instance over fmpy's low-level classes, hiding the FMI 2 / FMI 3 differences."""

    def __init__(self, name: str, unzipdir: Path, interface: str = "CoSimulation") -> None:
        path = library.bundled_fmu(name)
        self.md = read_model_description(str(path))
        self.fmi3 = self.md.fmiVersion.startswith("3")
        self.log = _Logger()
        cls = {
            (False, "CoSimulation"): FMU2Slave,
            (True, "CoSimulation"): FMU3Slave,
            (False, "ModelExchange"): FMU2Model,
            (True, "ModelExchange"): FMU3Model,
        }[(self.fmi3, interface)]
        ident = self.md.coSimulation if interface == "CoSimulation" else self.md.modelExchange
        self.fmu = cls(
            guid=self.md.guid,
            unzipDirectory=str(unzipdir),
            modelIdentifier=ident.modelIdentifier,
            instanceName="test",
        )
        if self.fmi3:
            self.fmu.instantiate(loggingOn=True, logMessage=self.log.fmi3)
        else:
            self.fmu.instantiate(callbacks=self.log.callbacks, loggingOn=True)
        self.vars = {v.name: v for v in self.md.modelVariables}
        self.time = 0.0

    def vr(self, *names: str) -> list[int]:
        return [self.vars[n].valueReference for n in names]

    def set_real(self, values: dict[str, float]) -> None:
        setter = self.fmu.setFloat64 if self.fmi3 else self.fmu.setReal
        setter(self.vr(*values), list(values.values()))

    def get_real(self, *names: str) -> np.ndarray:
        getter = self.fmu.getFloat64 if self.fmi3 else self.fmu.getReal
        return np.array(getter(self.vr(*names)), dtype=float)

    def initialize(self, start: float = 0.0) -> None:
        self.time = start
        if self.fmi3:
            self.fmu.enterInitializationMode(startTime=start)
            self.fmu.exitInitializationMode()
            if isinstance(self.fmu, FMU3Model):
                self.fmu.updateDiscreteStates()
                self.fmu.enterContinuousTimeMode()
        else:
            self.fmu.setupExperiment(startTime=start)
            self.fmu.enterInitializationMode()
            self.fmu.exitInitializationMode()
            if isinstance(self.fmu, FMU2Model):
                self.fmu.newDiscreteStates()
                self.fmu.enterContinuousTimeMode()

    def step(self, h: float) -> None:
        self.fmu.doStep(self.time, h)
        self.time += h

    def free(self) -> None:
        self.fmu.terminate()
        self.fmu.freeInstance()


def _real_inputs(md) -> list:
    return [
        v for v in md.modelVariables if v.causality == "input" and v.type in ("Real", "Float64")
    ]


def _excitation(md, t: float) -> dict[str, float]:
    """Deterministic input signals: start + a*(1 + sin(w t))/2, never below start (min-safe)."""
    values = {}
    for i, v in enumerate(_real_inputs(md)):
        start = float(v.start or 0.0)
        a = 0.01 * max(1.0, abs(start))
        u = start + 0.5 * a * (1.0 + math.sin((1.0 + i) * t))
        if v.max is not None:
            u = min(u, float(v.max))
        values[v.name] = u
    return values


def _run(inst: _Instance, steps: int, h: float, observed: list[str]) -> np.ndarray:
    rows = []
    for _ in range(steps):
        if inputs := _excitation(inst.md, inst.time):
            inst.set_real(inputs)
        inst.step(h)
        rows.append(inst.get_real(*observed))
    return np.array(rows)


@pytest.mark.parametrize("mode", ["get_set", "serialize"])
@pytest.mark.parametrize("name", NAMES)
def test_fmu_state_restores_exact_trajectory(name: str, mode: str, tmp_path: Path) -> None:
    """Simulate to t1, save the state, continue to t2 (A); restore the state and continue again
    (B): A and B must be bit-identical, because the FMU is deterministic C code and the state
    holds everything that determines the future. With `serialize` the state travels as bytes
    into a second, fresh instance."""
    unzipdir = extract(library.bundled_fmu(name), tmp_path / "fmu")
    first = _Instance(name, unzipdir)
    h = float(first.md.defaultExperiment.stepSize)
    observed = [
        v.name
        for v in first.md.modelVariables
        if v.type in ("Real", "Float64") and v.causality in ("output", "local")
    ]
    first.initialize()
    _run(first, 20, h, observed)
    t1 = first.time
    state = first.fmu.getFMUState()  # fmpy spells FMI 2's fmi2GetFMUstate the FMI 3 way too
    a = _run(first, 30, h, observed)
    assert not np.array_equal(a[0], a[-1]), "the trajectory must move, or the test proves nothing"

    if mode == "get_set":
        target = first
        first.fmu.setFMUState(state)
    else:
        blob = first.fmu.serializeFMUState(state)
        assert isinstance(blob, bytes) and len(blob) > 0
        target = _Instance(name, unzipdir)
        target.initialize()
        restored = target.fmu.deserializeFMUState(blob)
        target.fmu.setFMUState(restored)
        target.fmu.freeFMUState(restored)
    target.time = t1
    b = _run(target, 30, h, observed)
    np.testing.assert_array_equal(a, b)
    first.fmu.freeFMUState(state)
    first.free()
    if target is not first:
        target.free()


@pytest.mark.parametrize("name", [n for n in NAMES if _declares_me(n)])
def test_model_exchange_state_restores_states_and_derivatives(name: str, tmp_path: Path) -> None:
    """Model Exchange: save the state, move time and continuous states, restore: the states and
    the derivatives the FMU reports must be exactly those before the change."""
    inst = _Instance(name, extract(library.bundled_fmu(name), tmp_path / "fmu"), "ModelExchange")
    inst.initialize()
    nx = len(inst.md.derivatives)
    fmu = inst.fmu
    get_der = fmu.getContinuousStateDerivatives if inst.fmi3 else fmu.getDerivatives

    def snapshot() -> tuple[np.ndarray, np.ndarray]:
        x, dx = np.zeros(nx), np.zeros(nx)
        ptr = ctypes.POINTER(ctypes.c_double)
        fmu.getContinuousStates(x.ctypes.data_as(ptr), nx)
        get_der(dx.ctypes.data_as(ptr), nx)
        return x, dx

    fmu.setTime(0.25)
    if inputs := _excitation(inst.md, 0.25):
        inst.set_real(inputs)
    x0, dx0 = snapshot()
    state = fmu.getFMUState()
    fmu.setTime(0.5)
    moved = x0 + 0.1 * (1.0 + np.abs(x0))
    fmu.setContinuousStates(moved.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), nx)
    x1, dx1 = snapshot()
    assert np.array_equal(x1, moved) and (nx == 0 or not np.array_equal(x1, x0))
    fmu.setFMUState(state)
    x2, dx2 = snapshot()
    np.testing.assert_array_equal(x2, x0)
    np.testing.assert_array_equal(dx2, dx0)
    fmu.freeFMUState(state)
    inst.free()


# --------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("when", ["initialization", "step"])
@pytest.mark.parametrize("version", VERSIONS)
def test_negative_mass_is_an_error_with_log_message(version: str, when: str, tmp_path) -> None:
    name = f"{version}Mass1"
    inst = _Instance(name, extract(library.bundled_fmu(name), tmp_path / "fmu"))
    inst.set_real({"x1": 0.1})
    if when == "initialization":
        inst.set_real({"m1": -1.0})
        with pytest.raises(FMICallException) as info:
            inst.initialize()
    else:
        inst.initialize()
        inst.step(0.01)
        assert np.all(np.isfinite(inst.get_real("x1", "v1")))
        inst.set_real({"m1": -1.0})  # tunable: accepted now, refused by the next step
        with pytest.raises(FMICallException) as info:
            inst.step(0.01)
    assert info.value.status == 3  # fmi2Error / fmi3Error
    assert any("m1" in m and "-1" in m for m in inst.log.messages), inst.log.messages
    inst.fmu.freeInstance()


@pytest.mark.parametrize("version", VERSIONS)
def test_negative_mass_never_yields_nan_results(version: str) -> None:
    with pytest.raises(FMICallException):
        simulate_fmu(str(library.bundled_fmu(f"{version}Mass1")), start_values={"m1": -1.0})


# --------------------------------------------------------------------------- the builder
_STALENESS_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from cosim.library import build as library

    systems = Path(sys.argv[1])
    facts = {"fmus_dir": str(library.FMUS_DIR)}
    def ident(p):
        st = p.stat()
        return [st.st_ino, st.st_mtime_ns]
    def guid(p):
        from fmpy import read_model_description
        return read_model_description(str(p)).guid

    name = "FirstOrder"
    source = library.MODELS_DIR / name / "model.c"
    facts["stale_fresh"] = library.is_stale(name)
    p = library.bundled_fmu(name)
    facts["built"] = p.is_file()
    facts["stale_after_build"] = library.is_stale(name)
    first = (ident(p), guid(p))
    p = library.bundled_fmu(name)
    facts["same_after_second_use"] = (ident(p), guid(p)) == first
    os.utime(source, (1e9, 4e9))  # new mtime, same content
    facts["stale_after_touch"] = library.is_stale(name)
    p = library.bundled_fmu(name)
    facts["same_after_touch"] = (ident(p), guid(p)) == first
    source.write_text(source.read_text() + "\\n/* edited */\\n")
    facts["stale_after_edit"] = library.is_stale(name)
    p = library.bundled_fmu(name)
    facts["rebuilt_after_edit"] = ident(p) != first[0]
    facts["guid_changed"] = guid(p) != first[1]
    facts["stale_after_rebuild"] = library.is_stale(name)

    facts["mass1_before"] = (library.FMUS_DIR / "Mass1.fmu").exists()
    resolved = library.resolve_fmu("../fmus/Mass1.fmu", systems)
    facts["resolved"] = str(resolved)
    facts["resolved_exists"] = resolved.is_file()
    facts["resolved_stale"] = library.is_stale("Mass1")
    print(json.dumps(facts))
    """
)


def test_builder_rebuilds_on_source_change_only(tmp_path: Path) -> None:
    """In a copy of fmus/ (COSIM_FMUS_DIR is read at import, hence the subprocess): a fresh copy
    is stale, builds on first use, is reused unchanged (also after a touch that keeps the
    content), and is rebuilt with a new GUID once a model source changes. A path that names a
    bundled FMU's output location (`../fmus/Mass1.fmu` from systems/) builds on first use."""
    fmus = tmp_path / "fmus"
    shutil.copytree(library.COMMON_DIR, fmus / "common")
    for model in ("FirstOrder", "Mass1"):
        shutil.copytree(library.MODELS_DIR / model, fmus / "models" / model)
    (tmp_path / "systems").mkdir()
    repo = Path(library.__file__).resolve().parents[1]
    env = {
        **os.environ,
        "COSIM_FMUS_DIR": str(fmus),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _STALENESS_SCRIPT, str(tmp_path / "systems")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["fmus_dir"] == str(fmus)
    assert facts["stale_fresh"] and facts["built"] and not facts["stale_after_build"]
    assert facts["same_after_second_use"]
    assert not facts["stale_after_touch"] and facts["same_after_touch"]
    assert facts["stale_after_edit"] and facts["rebuilt_after_edit"] and facts["guid_changed"]
    assert not facts["stale_after_rebuild"]
    assert not facts["mass1_before"]
    assert facts["resolved"] == str((fmus / "Mass1.fmu").resolve())
    assert facts["resolved_exists"] and not facts["resolved_stale"]


# --------------------------------------------------------------------------- closed forms
def _simulate(name: str, interface: str, start_values: dict, stop: float, dt: float):
    kwargs = {}
    if interface == "ModelExchange":
        kwargs = {"solver": "CVode", "relative_tolerance": 1e-10}
    return simulate_fmu(
        str(library.bundled_fmu(name)),
        fmi_type=interface,
        start_time=0.0,
        stop_time=stop,
        output_interval=dt,
        start_values=start_values,
        **kwargs,
    )


# Tolerances. Co-Simulation integrates with classical RK4 at the model's max_step (Mass1/Mass2:
# 1e-4 s, FirstOrder: 1e-2 s). RK4's local error is ~(w h)^5/120 per sub-step and its global
# error ~(w h)^4 w t / 120. Oscillators: w h <= 6e-4 gives ~1e-13 m, below the round-off bound
# (1e5 sub-steps * 1e-16 = 1e-11 m, worst case): 1e-10 m, while a wrong coefficient (relative
# 1e-3) would show as >= 1e-4 m. FirstOrder: h/T = 0.02 gives ~k (h/T)^4 / 120 * t/T e^{-t/T}
# ~ 1e-9: 1e-7. Model Exchange uses CVode (BDF, variable order and step) at rtol 1e-10; its
# local-error control does not bound the global error, which grows with the number of steps
# over the ~3 periods (~100 rtol, i.e. ~1e-8 m): 1e-6.
CS_TOL = {"Mass1": 1e-10, "Mass2": 1e-10, "FirstOrder": 1e-7}
ME_TOL = 1e-6


def _tol(model: str, interface: str) -> float:
    return CS_TOL[model] if interface == "CoSimulation" else ME_TOL


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("version", VERSIONS)
def test_mass1_free_damped_oscillation(version: str, interface: str) -> None:
    """m x'' + c x' + k x = 0, x(0) = x0, v(0) = 0 (F = F_ext = 0), underdamped:
        x(t) = e^{-z w t} (x0 cos(wd t) + z w x0 / wd sin(wd t))
        v(t) = -x0 w^2 / wd e^{-z w t} sin(wd t)
    with w = sqrt(k/m), z = c / (2 sqrt(k m)), wd = w sqrt(1 - z^2)."""
    m, k, c, x0 = 2.0, 8.0, 0.4, 0.3  # not the defaults: the parameters must reach the equations
    res = _simulate(f"{version}Mass1", interface, {"m1": m, "k1": k, "c1": c, "x1": x0}, 10.0, 0.01)
    t = res["time"]
    w = math.sqrt(k / m)
    z = c / (2 * math.sqrt(k * m))
    wd = w * math.sqrt(1 - z * z)
    decay = np.exp(-z * w * t)
    x = decay * (x0 * np.cos(wd * t) + z * w * x0 / wd * np.sin(wd * t))
    v = -x0 * w * w / wd * decay * np.sin(wd * t)
    tol = _tol("Mass1", interface)
    np.testing.assert_allclose(res["x1"], x, rtol=0, atol=tol)
    np.testing.assert_allclose(res["v1"], v, rtol=0, atol=tol * w)  # |v| ~ w |x|


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("version", VERSIONS)
def test_first_order_step_response(version: str, interface: str) -> None:
    """T y' = k u - y, y(0) = 0, u = 1 from t = 0:  y(t) = k (1 - e^{-t/T})."""
    T, k = 0.5, 2.0
    res = _simulate(f"{version}FirstOrder", interface, {"T": T, "k": k, "u": 1.0}, 3.0, 0.01)
    expected = k * (1.0 - np.exp(-res["time"] / T))
    np.testing.assert_allclose(res["y"], expected, rtol=0, atol=_tol("FirstOrder", interface))


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("version", VERSIONS)
def test_mass2_with_fixed_inputs_matches_matrix_exponential(version: str, interface: str) -> None:
    """With x1, v1 held constant, Mass2 is linear: z = (x2, v2), z' = A z + b with
    A = [[0, 1], [-(k2 + kc)/m2, -(c2 + cc)/m2]], b = [0, (kc x1 + cc v1)/m2];
    [z(t); 1] = expm([[A, b], [0, 0]] t) [z(0); 1]. F = kc (x2 - x1) + cc (v2 - v1)."""
    m2, k2, c2, kc, cc = 1.0, 10.0, 0.5, 20.0, 0.3  # the documented defaults
    x1, v1 = 0.2, 0.1
    res = _simulate(f"{version}Mass2", interface, {"x1": x1, "v1": v1}, 5.0, 0.01)
    aug = np.zeros((3, 3))
    aug[0, 1] = 1.0
    aug[1, 0] = -(k2 + kc) / m2
    aug[1, 1] = -(c2 + cc) / m2
    aug[1, 2] = (kc * x1 + cc * v1) / m2
    z0 = np.array([0.5, 0.0, 1.0])  # x2(0) = 0.5 m, the documented start value
    z = np.array([expm(aug * t) @ z0 for t in res["time"]])
    tol = _tol("Mass2", interface)
    np.testing.assert_allclose(res["x2"], z[:, 0], rtol=0, atol=tol)
    np.testing.assert_allclose(res["v2"], z[:, 1], rtol=0, atol=tol * 6)  # |v| ~ w |x|, w ~ 5.5
    force = kc * (z[:, 0] - x1) + cc * (z[:, 1] - v1)
    np.testing.assert_allclose(res["F"], force, rtol=0, atol=tol * 30)  # kc + cc*w ~ 22


@pytest.mark.parametrize("version", VERSIONS)
def test_non_finite_input_is_an_error_not_a_nan_trajectory(version: str, capfd) -> None:
    with pytest.raises(FMICallException):
        simulate_fmu(
            str(library.bundled_fmu(f"{version}Mass1")),
            start_values={"F_ext": float("nan")},
            stop_time=0.1,
        )
    assert "variable F_ext is not finite" in capfd.readouterr().out


@pytest.mark.parametrize("version", VERSIONS)
def test_step_needing_too_many_internal_steps_is_an_error(version: str, capfd) -> None:
    # 1e6 s / max_step 1e-4 s = 1e10 RK4 sub-steps: refused instead of overflowing a counter
    with pytest.raises(FMICallException):
        simulate_fmu(
            str(library.bundled_fmu(f"{version}Mass1")),
            start_values={"F_ext": 1.0},
            stop_time=1e6,
            output_interval=1e6,
        )
    assert "use a smaller communication step" in capfd.readouterr().out
