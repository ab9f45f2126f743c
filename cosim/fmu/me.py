"""Model Exchange instances behind the Slave protocol: the adapter integrates over doStep.

An ME component looks to the engine like a Co-Simulation one: its bound doStep integrates the
FMU from t to t + h with the component's solver, inputs held as set before the step, and
handles events within the step per the FMI standard:

    state events   an event indicator changes sign: CVode's root finding, or (euler, rk4) a
                   sign change over a solver step located by bisection to 1e-12 s;
    time events    nextEventTime from the last event update: the solver stops exactly there;
    step events    fmiXCompletedIntegratorStep asks for event mode;
    event mode     fmiXEnterEventMode, then fmi2NewDiscreteStates / fmi3UpdateDiscreteStates
                   until no new discrete states are needed; the solver restarts from the new
                   states; terminateSimulation ends the run after this step (the engine polls
                   `terminate_simulation`, as for FMI 3.0 Co-Simulation).

Exit from initialization runs the initial event iteration and enters continuous-time mode.
get_state/set_state use the FMU state of the ME interface; after set_state the solver is
restarted from the restored states. Version differences are two small subclasses.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from cosim.errors import FmuError
from cosim.fmu.adapter import ERROR, StatusCall
from cosim.fmu.fmi2 import Fmi2Slave
from cosim.fmu.fmi3 import Fmi3Slave

EVENT_TIME_TOLERANCE = 1e-12  # seconds: where bisection stops locating a state event


class _Input:
    """fmpy's CVodeSolver asks its input object to apply inputs at t: the adapter's time
    callback already has (`_ModelExchange._set_time`)."""

    def apply(self, t: float) -> None:  # noqa: D102
        return None


class _ModelExchange:
    """The integration and event handling shared by the FMI 2.0 and 3.0 ME adapters."""

    _model_exchange = True
    _fmu: Any
    name: str
    time: float | None

    def setup(self, solver: str, tolerance: float | None, max_step: float | None, md: Any) -> None:
        self.solver = solver or "cvode"
        self.rtol = tolerance or 1e-6
        self.max_step = max_step
        self.nx = len(getattr(md, "derivatives", []) or [])
        self.nz = int(getattr(md, "numberOfEventIndicators", 0) or 0)
        self.x = np.zeros(self.nx)
        self.dx = np.zeros(self.nx)
        self.z = np.zeros(self.nz)
        self.z_new = np.zeros(self.nz)
        self.next_event = math.inf
        self.terminate_simulation = ctypes.c_bool(False)
        self._cvode: Any = None
        self._restart = True
        # inputs over the next step: (vrs, u(t0), du/dt, d2u/dt2, t0), from set_input_derivatives
        self._ramp: tuple[list[int], np.ndarray, np.ndarray, np.ndarray, float] | None = None
        # discrete inputs (Integer, Boolean, enumerations, discrete Reals) by value reference:
        # FMI lets them change only in Event Mode, so a new value is an event
        self._discrete_inputs = {
            int(v.valueReference)
            for v in getattr(md, "modelVariables", ())
            if v.causality == "input"
            and (v.type not in ("Real", "Float64", "Float32") or v.variability == "discrete")
        }
        self._continuous_time = False  # in Continuous-Time Mode (after initialization)

    # ------------------------------------------------------------------ discrete inputs
    def bind_set(self, vtype: Any, vrs: Any, values: Any) -> StatusCall:
        """The bound set call; where it sets discrete inputs, a changed value during the run
        goes in through Event Mode (enter, set, event iteration, back to Continuous-Time Mode)
        and the solver restarts: an input step change is an event, as FMI requires."""
        call = super().bind_set(vtype, vrs, values)  # type: ignore[misc]
        index = [k for k, vr in enumerate(vrs) if vr in self._discrete_inputs]
        if not index:
            return call
        last: list[Any] = [None]
        name = self.function_name(call)  # type: ignore[attr-defined]

        def set_discrete() -> int:
            now = tuple(values[k] for k in index)
            if not self._continuous_time:
                last[0] = now
                return call()
            if now == last[0]:  # unchanged: not sent (Continuous-Time Mode refuses it)
                return 0
            status = self._in_event_mode(call)
            if status <= 1:  # OK or Warning: the FMU took the values
                last[0] = now
            return status

        return self._register(set_discrete, name, call)  # type: ignore[attr-defined]

    def set_values(self, vtype: Any, vrs: Any, values: Any) -> None:
        """Outside the hot path (events, `Simulation.set`): during the run through Event Mode,
        since a value changed between communication points is a discontinuity (and FMI lets
        parameters and discrete inputs change only there)."""
        base = super().set_values  # type: ignore[misc]
        if not self._continuous_time:
            base(vtype, vrs, values)
            return
        self._in_event_mode(lambda: base(vtype, vrs, values) or 0)

    def _in_event_mode(self, call: Any) -> int:
        """`call()` inside Event Mode, then the event iteration and Continuous-Time Mode again;
        the solver restarts from the states the event left."""
        self._fmi("enterEventMode")
        status = call()
        if status <= 1:
            self._event_iteration()
        self._fmi("enterContinuousTimeMode")
        self._get_x()
        self._indicators(self.z)
        self._restart = True
        return status

    # ------------------------------------------------------------------ interpolated inputs
    def set_input_derivatives(self, vrs: Any, first: Any, second: Any = None) -> None:
        """The Float64 inputs `vrs` follow u(t0) + du*(t - t0) + d2u*(t - t0)^2/2 over the next
        step (t0: the communication point; u(t0): as set): the adapter sets them at every
        right-hand-side evaluation, so a Model Exchange component interpolates inputs."""
        from cosim.fmu.adapter import ValueType

        vrs = list(vrs)
        u0 = np.array(self.get_values(ValueType.F64, vrs), dtype=float)  # type: ignore[attr-defined]
        d2 = np.zeros(len(vrs)) if second is None else np.array(second, dtype=float)
        self._ramp = (vrs, u0, np.array(first, dtype=float), d2, float(self.time or 0.0))

    def _apply_inputs(self, t: float) -> None:
        from cosim.fmu.adapter import ValueType

        vrs, u0, d1, d2, t0 = self._ramp  # type: ignore[misc]
        dt = t - t0
        self.set_values(ValueType.F64, vrs, list(u0 + dt * d1 + 0.5 * dt * dt * d2))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ FMI calls
    def _fmi(self, function: str, *args: Any) -> Any:
        try:
            return getattr(self._fmu, function)(*args)
        except FmuError:
            raise
        except Exception:
            raise self.error(self._prefix + function[0].upper() + function[1:], ERROR) from None

    def _get_x(self) -> None:
        if self.nx:
            self._fmi("getContinuousStates", self.x.ctypes.data_as(_DP), self.nx)

    def _set_x(self, x: np.ndarray) -> None:
        if self.nx:
            self._fmi("setContinuousStates", x.ctypes.data_as(_DP), self.nx)

    def _derivatives(self, t: float, x: np.ndarray) -> np.ndarray:
        self._fmi("setTime", t)
        if self._ramp is not None:
            self._apply_inputs(t)
        self._set_x(x)
        self._get_dx(self.dx.ctypes.data_as(_DP), self.nx)
        return self.dx.copy()

    def _indicators(self, out: np.ndarray) -> None:
        if self.nz:
            self._fmi("getEventIndicators", out.ctypes.data_as(_DP), self.nz)

    def _event_iteration(self) -> bool:
        """Event mode: update discrete states until stable; True if the states changed."""
        changed = False
        while True:
            need, terminate, _, values_changed, defined, next_time = self._update()
            changed |= bool(values_changed)
            if terminate:
                self.terminate_simulation.value = True
            if not need or terminate:
                break
        self.next_event = float(next_time) if defined else math.inf
        return changed

    def _handle_event(self, t: float) -> None:
        self._fmi("setTime", t)
        if self._ramp is not None:
            self._apply_inputs(t)
        self._set_x(self.x)
        self._fmi("enterEventMode")
        self._event_iteration()
        self._fmi("enterContinuousTimeMode")
        self._get_x()
        self._indicators(self.z)
        self._restart = True

    def exit_initialization(self) -> None:
        super().exit_initialization()  # type: ignore[misc]
        self._after_initialization()
        self._event_iteration()
        self._fmi("enterContinuousTimeMode")
        self._continuous_time = True
        self._get_x()
        self._indicators(self.z)

    def _after_initialization(self) -> None:  # FMI 2.0: enter event mode explicitly
        self._fmi("enterEventMode")

    # ------------------------------------------------------------------ the step
    def bind_step(self, time: ctypes.c_double, step: ctypes.c_double) -> StatusCall:
        def do_step() -> int:
            if self.terminate_simulation.value:
                return 0
            self._restart = True  # the inputs changed at the communication point
            try:
                self._integrate(time.value, time.value + step.value)
            finally:
                self._ramp = None  # derivatives hold for one step
            self.time = time.value + step.value
            return 0

        return self._register(do_step, self._prefix + "DoStep (Model Exchange)", time, step)

    def _integrate(self, t: float, t_end: float) -> None:
        while t < t_end - 1e-15 * max(1.0, abs(t_end)) and not self.terminate_simulation.value:
            target = min(t_end, self.next_event)
            if self.solver == "cvode":
                t, state_event = self._cvode_step(t, target)
            else:
                t, state_event = self._fixed_steps(t, target)
            time_event = not state_event and t >= self.next_event - 1e-12
            step_event = False
            if not state_event and not time_event:
                enter, terminate = self._fmi("completedIntegratorStep", True)
                step_event = bool(enter)
                if terminate:
                    self.terminate_simulation.value = True
            if state_event or time_event or step_event:
                self._handle_event(t)
        t = t_end if not self.terminate_simulation.value else t
        self._fmi("setTime", t)
        if self._ramp is not None:
            self._apply_inputs(t)
        self._set_x(self.x)

    def _cvode_step(self, t: float, target: float) -> tuple[float, bool]:
        from fmpy.sundials import CVodeSolver

        if self._cvode is None or self._restart:
            if self._cvode is None:
                self._cvode = CVodeSolver(
                    nx=self.nx,
                    nz=self.nz,
                    get_x=self._cv_get_x,
                    set_x=self._cv_set_x,
                    get_dx=self._get_dx,
                    get_z=self._cv_get_z,
                    get_nominals=self._cv_nominals,
                    set_time=self._set_time,
                    input=_Input(),
                    startTime=t,
                    maxStep=self.max_step or math.inf,
                    relativeTolerance=self.rtol,
                    maxNumSteps=100_000,
                )
            else:
                self._cvode.reset(t)
            self._restart = False
        try:
            state_event, _, t_new = self._cvode.step(t, target)
        except RuntimeError as exc:
            log = self.log  # type: ignore[attr-defined]
            raise FmuError(self.name, "CVode", f"failed ({exc})", t, log) from None
        self._get_x()
        return t_new, bool(state_event)

    def _set_time(self, t: float) -> None:
        """CVode's time callback (before every right-hand side and root function): the time
        and, when they follow a polynomial, the inputs at that time."""
        self._fmi("setTime", t)
        if self._ramp is not None:
            self._apply_inputs(t)

    def _cv_get_x(self, px: Any, nx: int) -> None:
        self._fmi("getContinuousStates", px, nx)

    def _cv_set_x(self, px: Any, nx: int) -> None:
        self._fmi("setContinuousStates", px, nx)

    def _cv_get_z(self, pz: Any, nz: int) -> None:
        if nz:
            self._fmi("getEventIndicators", pz, nz)

    def _cv_nominals(self, p: Any, nx: int) -> None:
        self._fmi("getNominalsOfContinuousStates", p, nx)

    def _fixed_steps(self, t: float, target: float) -> tuple[float, bool]:
        """Explicit euler / rk4 steps of max_step (default: to the target) up to `target`,
        stopping at the first state event (located by bisection)."""
        dt_max = self.max_step or (target - t)
        while t < target - 1e-15 * max(1.0, abs(target)):
            dt = min(dt_max, target - t)
            x0 = self.x.copy()
            x1 = self._advance(t, x0, dt)
            if self.nz:
                self._indicators(self.z_new)
                crossed = np.flatnonzero((self.z >= 0) != (self.z_new >= 0))
                if len(crossed):
                    lo, hi = 0.0, dt
                    while hi - lo > EVENT_TIME_TOLERANCE:
                        mid = 0.5 * (lo + hi)
                        self._advance(t, x0, mid)
                        self._indicators(self.z_new)
                        if np.any((self.z[crossed] >= 0) != (self.z_new[crossed] >= 0)):
                            hi = mid
                        else:
                            lo = mid
                    self.x = self._advance(t, x0, hi)
                    return t + hi, True
                self.z[:] = self.z_new
            self.x = x1
            t += dt
        return t, False

    def _advance(self, t: float, x0: np.ndarray, dt: float) -> np.ndarray:
        f = self._derivatives
        if self.solver == "euler":
            x = x0 + dt * f(t, x0)
        else:
            k1 = f(t, x0)
            k2 = f(t + dt / 2, x0 + dt / 2 * k1)
            k3 = f(t + dt / 2, x0 + dt / 2 * k2)
            k4 = f(t + dt, x0 + dt * k3)
            x = x0 + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        self._fmi("setTime", t + dt)
        self._set_x(x)
        return x

    # ------------------------------------------------------------------ rollback
    def set_state(self, state: Any) -> None:
        super().set_state(state)  # type: ignore[misc]
        self._get_x()
        self._indicators(self.z)
        self._restart = True
        self.terminate_simulation.value = False


_DP = ctypes.POINTER(ctypes.c_double)


class Me2Slave(_ModelExchange, Fmi2Slave):
    """One FMI 2.0 Model Exchange instance, integrated by cosim."""

    def _get_dx(self, p: Any, nx: int) -> None:
        if nx:
            self._fmi("getDerivatives", p, nx)

    def _update(self) -> tuple:
        return self._fmi("newDiscreteStates")

    def bind_step(self, time: ctypes.c_double, step: ctypes.c_double) -> StatusCall:
        return _ModelExchange.bind_step(self, time, step)


class Me3Slave(_ModelExchange, Fmi3Slave):
    """One FMI 3.0 Model Exchange instance, integrated by cosim."""

    def _get_dx(self, p: Any, nx: int) -> None:
        if nx:
            self._fmi("getContinuousStateDerivatives", p, nx)

    def _update(self) -> tuple:
        return self._fmi("updateDiscreteStates")

    def _after_initialization(self) -> None:  # FMI 3.0 ME leaves initialization in event mode
        return None

    def bind_step(self, time: ctypes.c_double, step: ctypes.c_double) -> StatusCall:
        return _ModelExchange.bind_step(self, time, step)


__all__ = ["Me2Slave", "Me3Slave"]
