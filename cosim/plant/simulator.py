"""The plant simulator: run a system in real time and serve chosen signals on an OPC UA server.

The stand-in for real hardware that demos, tests and users without hardware run against. A
`plant:` section of the system YAML says what it serves (see docs/twin.md)::

    plant:
      endpoint: opc.tcp://127.0.0.1:4840       # --endpoint overrides
      serve:    [{from: act.i_motor, node: "ns=2;s=Plant.MotorCurrent"}]
      commands: [{node: "ns=2;s=Plant.Command", to: act.delta_cmd, start: 0.0}]
      noise:    {seed: 1, signals: {act.i_motor: 0.05}}          # Gaussian, sigma per signal
      faults:
        - {at: 10, set: {act.wear: 0.5}}                          # step change
        - {at: 5, ramp: {act.wear: {to: 1.0, over: 30}}}          # linear, from the value at 5 s
        - {at: 20, freeze: act.T_winding}                         # the served value sticks
      security: {...}                                             # as opcua.serve.security

After every communication step the plant waits for the step's wall-clock deadline (fixed-start
pacing), then publishes the served values (plus noise, minus frozen sensors), then reads the
command nodes and applies the faults due, which act on the next step.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.errors import BridgeError, ConfigError, CosimError, SimulationError
from cosim.io.plant import DEFAULT_ENDPOINT, parse_plant
from cosim.model.live import Command, Fault, PlantSpec, ServedSignal
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem, SystemSpec, VarRef
from cosim.resolve.live import check_plant_links, with_records

if TYPE_CHECKING:
    from cosim.engine.execution import Execution
    from cosim.opcua import ValueServer
    from cosim.realtime import PacingStats

_log = logging.getLogger(__name__)

_FOREVER = 100 * 365 * 86400 * TICKS_PER_SECOND  # "until Ctrl-C": a hundred years of ticks


def _with_command_starts(spec: SystemSpec, commands: Sequence[Command]) -> SystemSpec:
    """Command start values become the inputs' start values, so they hold from initialization."""
    components = dict(spec.components)
    for c in commands:
        if c.start is None:
            continue
        comp = components[c.target.component]
        params = {**comp.parameters, c.target.variable: c.start}
        components[comp.name] = replace(comp, parameters=params)
    return replace(spec, components=components)


# ============================================================================ runtime
@dataclass
class PlantStatus:
    """Progress reported to the CLI about once a second (and at the end)."""

    sim_time: float
    wall_time: float
    realtime_factor: float
    overruns: int
    commands_received: int
    active_faults: list[str]


class PlantIO:
    """Observer and manipulator of the plant's run: after each step it publishes the served
    values (with noise and frozen sensors); before each step it reads the commands clients
    wrote and applies the faults due, writing both into the plan's input slots."""

    def __init__(self, plant: PlantSpec, system: ResolvedSystem, server: ValueServer) -> None:
        self.plant = plant
        self.system = system
        self.server = server
        n = len(plant.serve)
        self.raw = np.zeros(n)
        self.served = np.zeros(n)
        self.sigma = np.zeros(n)
        labels = [str(s.source) for s in plant.serve]
        for r, sigma in plant.noise:
            self.sigma[labels.index(str(r))] = sigma
        self._noisy = bool(self.sigma.any())
        self._z = np.zeros(n)
        self._rng = np.random.default_rng(plant.noise_seed)
        self.frozen = np.zeros(n, dtype=bool)
        self.frozen_values = np.zeros(n)
        self._labels = labels
        self.commands = np.array([v.initial for v in server.commands], dtype=float)
        self._commands_applied = self.commands.copy()
        self._command_seq = -1
        self.commands_received = 0
        # fault targets: one slot per distinct variable
        self._fault_labels: list[str] = []
        for f in plant.faults:
            if f.action != "freeze" and str(f.target) not in self._fault_labels:
                self._fault_labels.append(str(f.target))
        self.fault_values = np.zeros(len(self._fault_labels))
        self._ramps: list[tuple[int, float, float, float, float]] = []  # slot, t0, v0, v1, over
        self._next_fault = 0
        # fault times count from here (plant.fault_origin); None: the first command is awaited
        self.fault_origin: float | None = 0.0 if plant.fault_origin == "start" else None
        self.active: list[str] = []
        self._sim: Any = None  # the cosim.api.Simulation while running
        self._reader: Any = None
        self._cmd_setter: Any = None
        self._fault_setter: Any = None
        self._last_report = 0.0
        self.progress: Callable[[PlantStatus], None] | None = None
        self.progress_interval = 1.0
        self.pacing: Any = None

    @property
    def driven(self) -> list[str]:
        """The labels this plant writes (its commands and fault targets): the plan's inputs."""
        labels = [str(c.target) for c in self.plant.commands]
        return labels + [x for x in self._fault_labels if x not in labels]

    def simulation_initialized(self, execution: Execution) -> None:
        from cosim.engine.readers import SignalReader

        self._ex = execution
        self._reader = SignalReader(execution, self._labels)
        if self.plant.commands:
            self._cmd_setter = execution.input_view([str(c.target) for c in self.plant.commands])
            # the command nodes start at these values; only later client writes count
            self._command_seq = self.server.read_commands(self.commands)
            self._set(self._cmd_setter, self.commands, "commands", execution.time)
            np.copyto(self._commands_applied, self.commands)
        if self._fault_labels:
            self._fault_setter = execution.input_view(self._fault_labels)
            self._fault_setter.read(self.fault_values)
        self._reader.read(self.raw)
        self._apply(execution.tick)
        self._publish()

    def attach(self, server: ValueServer) -> None:
        """Serve through `server` from now on (same variables and commands)."""
        self.server = server
        self._command_seq = server.read_commands(self.commands)
        server.publish(self.served)

    def step_complete(self, step: int, tick: int) -> None:
        self._reader.read(self.raw)
        self._publish()

    def before_step(self, step: int, tick: int) -> None:
        if step == 0:  # simulation_initialized applied what is due at the start
            return
        self._apply(tick)
        if self.progress is not None:
            now = time.monotonic()
            if now - self._last_report >= self.progress_interval:
                self._last_report = now
                self.progress(self.status(tick))

    def status(self, tick: int) -> PlantStatus:
        assert self._ex is not None
        h = self.pacing
        wall = h.elapsed if h is not None else 0.0
        t = tick / TICKS_PER_SECOND
        sim = t - self.system.start_tick / TICKS_PER_SECOND
        return PlantStatus(
            sim_time=t,
            wall_time=wall,
            realtime_factor=sim / wall if wall > 0 else math.nan,
            overruns=h.overruns if h is not None else 0,
            commands_received=self.commands_received,
            active_faults=list(self.active),
        )

    def _publish(self) -> None:
        np.copyto(self.served, self.raw)
        if self._noisy:
            self._rng.standard_normal(out=self._z)
            self.served += self.sigma * self._z
        np.copyto(self.served, self.frozen_values, where=self.frozen)
        # SourceTimestamp: when the values are due by the plant's schedule, not when this
        # (possibly late) step published them, so a client's jitter buffer sees a regular
        # timeline (opcua.playout_delay)
        pacing = self.pacing
        stamp = pacing.deadline_wall() if pacing is not None else None
        self.server.publish(self.served, timestamp=stamp)

    def _apply(self, tick: int) -> None:
        """Commands written by clients and faults due at `tick` (they act on the next step)."""
        t = tick / TICKS_PER_SECOND
        if self._cmd_setter is not None:
            seq = self.server.read_commands(self.commands)
            if seq != self._command_seq:
                self._command_seq = seq
                self.commands_received += 1
                bad = ~np.isfinite(self.commands)
                if bad.any():  # NaN or inf written by a client: keep the last good value
                    np.copyto(self.commands, self._commands_applied, where=bad)
                    names = [
                        str(c.target) for c, b in zip(self.plant.commands, bad, strict=True) if b
                    ]
                    _log.warning("t = %g s: non-finite command ignored for %s", t, ", ".join(names))
                self._set(self._cmd_setter, self.commands, "commands", t)
                np.copyto(self._commands_applied, self.commands)
                if self.fault_origin is None:
                    self.fault_origin = t
                    _log.info("t = %g s: first command; fault times count from here", t)
        faults = self.plant.faults
        changed = False
        due = t - self.fault_origin if self.fault_origin is not None else -math.inf
        while self._next_fault < len(faults) and faults[self._next_fault].at <= due + 1e-12:
            f = faults[self._next_fault]
            self._next_fault += 1
            label = str(f.target)
            if f.action == "freeze":
                k = self._labels.index(label)
                self.frozen_values[k] = self.served[k]
                self.frozen[k] = True
                self.active.append(f"{label} frozen at {self.served[k]:.6g} (t = {t:g} s)")
                _log.info("fault at t = %g s: %s frozen", t, label)
                continue
            slot = self._fault_labels.index(label)
            self._ramps = [r for r in self._ramps if r[0] != slot]  # a later fault wins
            if f.action == "set":
                self.fault_values[slot] = f.value
                self.active.append(f"{label} = {f.value:g} (t = {t:g} s)")
            else:
                self._ramps.append((slot, t, float(self.fault_values[slot]), f.value, f.over))
                self.active.append(
                    f"{label} ramp {self.fault_values[slot]:g} -> {f.value:g} over {f.over:g} s "
                    f"(t = {t:g} s)"
                )
            _log.info("fault at t = %g s: %s", t, self.active[-1])
            changed = True
        if self._ramps:
            done = []
            for r in self._ramps:
                slot, t0, v0, v1, over = r
                a = min(1.0, (t - t0) / over)
                self.fault_values[slot] = v0 + (v1 - v0) * a
                if a >= 1.0:
                    done.append(r)
            for r in done:
                self._ramps.remove(r)
            changed = True
        if changed and self._fault_setter is not None:
            self._set(self._fault_setter, self.fault_values, "faults", t)

    def _set(self, setter: Any, values: np.ndarray, section: str, t: float) -> None:
        """Apply command or fault values; an FMU refusing them names the plant section."""
        try:
            setter.write(values)
        except (CosimError, ValueError) as exc:
            where = self.plant.locs.get(section)
            targets = (
                [str(c.target) for c in self.plant.commands]
                if section == "commands"
                else list(self._fault_labels)
            )
            raise SimulationError(
                f"{where}: plant.{section} ({', '.join(targets)}) could not be applied at "
                f"t = {t:g} s: {exc}"
            ) from exc


@dataclass
class PlantResult:
    status: str
    steps: int
    sim_time: float
    pacing: PacingStats | None
    commands_received: int
    faults: list[str]
    error: BaseException | None = None


class Plant:
    """A system run in real time behind an OPC UA server (the plant simulator).

    Call order: construct (validates the plant section and resolves the FMUs) -> run()
    (blocks until `duration` simulated seconds or request_stop()).
    """

    def __init__(
        self, spec: SystemSpec, *, endpoint: str | None = None, realtime: float | None = None
    ) -> None:
        from cosim.resolve.resolver import resolve_system

        self.plant = parse_plant(spec, endpoint)
        # check the links on the system as written (recording nothing), so a bad `from` or
        # `to` is reported at its own file:line:col rather than as a record problem
        problems = check_plant_links(self.plant, resolve_system(with_records(spec, ())))
        if problems:
            raise ConfigError(problems)
        labels = [str(s.source) for s in self.plant.serve]
        self.spec = _with_command_starts(with_records(spec, labels), self.plant.commands)
        self.system = resolve_system(self.spec)
        factor = realtime if realtime is not None else spec.simulation.realtime
        self.realtime = float(factor) if factor else 1.0
        self.endpoint = self.plant.endpoint
        self._stop = False
        self._ex: Execution | None = None

    def request_stop(self, reason: str = "stop requested") -> None:
        self._stop = True
        if self._sim is not None:
            self._sim.request_stop(reason)

    def variables(self) -> tuple[list[Any], list[Any]]:
        """The ServedVariable lists (served signals, command nodes) of the plant's server."""
        from cosim.opcua import ServedVariable

        comps = {c.name: c for c in self.system.components}

        def kind(ref: VarRef) -> str:
            var = comps[ref.component].variables[ref.variable]
            return var.kind if var.kind in ("real", "integer", "boolean") else "real"

        def text(ref: VarRef) -> str:
            var = comps[ref.component].variables[ref.variable]
            return f"{ref} [{var.unit}]" if var.unit else str(ref)

        served = [ServedVariable(s.node, kind(s.source), 0.0, text(s.source))
                  for s in self.plant.serve]  # fmt: skip

        def start(c: Command) -> float:
            if c.start is not None:
                return c.start
            comp = comps[c.target.component]
            given = {v.name: value for v, value in comp.start_values}
            value = given.get(c.target.variable, comp.variables[c.target.variable].start)
            return float(value) if isinstance(value, int | float) else 0.0

        commands = [
            ServedVariable(c.node, kind(c.target), start(c), f"command -> {text(c.target)}")
            for c in self.plant.commands
        ]
        return served, commands

    def run(
        self,
        duration: float | None = None,
        *,
        on_ready: Callable[[Plant], None] | None = None,
        progress: Callable[[PlantStatus], None] | None = None,
    ) -> PlantResult:
        """Serve and step in real time until `duration` simulated seconds or request_stop()."""
        from cosim.api import Simulation, plan_for
        from cosim.opcua import ValueServer
        from cosim.realtime import Pacer

        system = self.system
        served, commands = self.variables()
        # publish every step of wall-clock time (at most every 10 ms): a sped-up plant would
        # otherwise serve each value for several of its steps, a staircase to its clients
        update = min(0.01, system.step_ticks / TICKS_PER_SECOND / self.realtime)
        server = ValueServer(
            self.endpoint, served, commands, security=self.plant.security,
            namespace=self.plant.namespace, name=system.spec.name, update_interval=update,
        )  # fmt: skip
        io = PlantIO(self.plant, system, server)
        pacing = Pacer(system.step_ticks / TICKS_PER_SECOND, self.realtime)
        io.pacing = pacing
        io.progress = progress
        sim = Simulation(
            system,
            memory=False,
            observers=[io],
            manipulators=[io],
            pacer=pacing,
            plan=plan_for(system, io.driven),
        )
        self._sim = sim
        error: BaseException | None = None
        try:
            with sim:
                sim.initialize()
                # serve from the first instant with the initialized values (not the nodes'
                # placeholders): a client subscribing at once must never see a value the
                # plant did not have
                served = [
                    replace(v, initial=float(x)) for v, x in zip(served, io.served, strict=True)
                ]
                server = ValueServer(
                    self.endpoint, served, commands, security=self.plant.security,
                    namespace=self.plant.namespace, name=system.spec.name,
                    update_interval=update,
                )  # fmt: skip
                io.attach(server)
                try:
                    server.start()
                except BridgeError as exc:  # e.g. the port is taken: say where it is set
                    where = self.plant.locs.get("endpoint")
                    raise BridgeError(f"{where}: {exc}" if where else str(exc)) from None
                if on_ready is not None:
                    on_ready(self)
                if self._stop:
                    sim.request_stop("stop requested")
                span = duration if duration is not None else _FOREVER / TICKS_PER_SECOND
                if not self._stop:
                    sim.run_until(system.start_tick / TICKS_PER_SECOND + span)
        except BaseException as exc:
            error = exc
        finally:
            try:
                server.close()
            except Exception as exc:  # never hide the run's own error
                _log.warning("closing the plant server: %r", exc)
        steps = sim.stats.steps
        if isinstance(error, ConfigError):
            raise error
        status = "stopped" if error is None else (
            "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        )  # fmt: skip
        return PlantResult(
            status=status,
            steps=steps,
            sim_time=system.start_tick / TICKS_PER_SECOND + sim.stats.simulated_time,
            pacing=pacing.stats() if steps else None,
            commands_received=io.commands_received,
            faults=list(io.active),
            error=error,
        )


__all__ = [
    "DEFAULT_ENDPOINT",
    "Command",
    "Fault",
    "Plant",
    "PlantIO",
    "PlantResult",
    "PlantSpec",
    "PlantStatus",
    "ServedSignal",
    "parse_plant",
]
