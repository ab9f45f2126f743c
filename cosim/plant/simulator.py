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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from cosim.errors import BridgeError, ConfigError, CosimError, Location, Problem, SimulationError
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem, SystemSpec, VariableInfo, VarRef

if TYPE_CHECKING:
    from cosim.engine.execution import Execution
    from cosim.opcua import SecuritySpec, ValueServer
    from cosim.realtime import PacingStats

_log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "opc.tcp://127.0.0.1:4840"
_FOREVER = 100 * 365 * 86400 * TICKS_PER_SECOND  # "until Ctrl-C": a hundred years of ticks
_PLANT_KEYS = ("endpoint", "serve", "commands", "noise", "faults", "security", "namespace")


# ============================================================================ spec
@dataclass(frozen=True)
class ServedSignal:
    source: VarRef  # YAML key `from`
    node: str
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Command:
    node: str
    target: VarRef  # YAML key `to`
    start: float | None = None  # None: the variable's own start value
    loc: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: set a value, ramp it linearly, or freeze a served signal."""

    at: float
    action: str  # "set" | "ramp" | "freeze"
    target: VarRef
    value: float = math.nan  # set: the value; ramp: the end value
    over: float = 0.0  # ramp: duration, s
    loc: Location | None = field(default=None, compare=False)
    where: str = field(default="plant.faults", compare=False)  # e.g. plant.faults[0].set


@dataclass(frozen=True)
class PlantSpec:
    endpoint: str
    serve: tuple[ServedSignal, ...]
    commands: tuple[Command, ...] = ()
    noise_seed: int | None = None
    noise: tuple[tuple[VarRef, float], ...] = ()
    faults: tuple[Fault, ...] = ()
    security: SecuritySpec | None = None
    namespace: str = "urn:cosim:plant"
    # where `endpoint`, `commands` and `faults` are written, for errors while the plant runs
    locs: dict[str, Location] = field(default_factory=dict, compare=False)


class _Locator:
    """file:line:col of a key path in the YAML text (for problems in the plant section)."""

    def __init__(self, spec: SystemSpec) -> None:
        self.file = str(spec.path)
        try:
            self.root = yaml.compose(spec.text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self.root = None

    def __call__(self, *path: str | int) -> Location:
        node, mark = self.root, None
        for part in ("plant", *path):
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        mark, node = key.start_mark, value
                        break
                else:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    break
                node = node.value[part]
                mark = node.start_mark
            else:
                break
        if mark is None:
            return Location(self.file)
        return Location(self.file, mark.line + 1, mark.column + 1)


def _where(path: Sequence[str | int]) -> str:
    text = "plant"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_plant(spec: SystemSpec, endpoint: str | None = None) -> PlantSpec:
    """Validate the `plant:` section (structure only, no FMU); ConfigError with every problem."""
    from cosim.opcua.config import check_endpoint, check_security

    loc = _Locator(spec)
    problems: list[Problem] = []

    def err(path: Sequence[str | int], message: str, hint: str = "") -> None:
        problems.append(Problem(loc(*path), message, hint))

    data = spec.extra.get("plant")
    if data is None:
        raise ConfigError(
            Problem(
                Location(str(spec.path)),
                f"{spec.path.name} has no `plant:` section: nothing to serve",
                'add plant: {serve: [{from: comp.var, node: "ns=2;s=Plant.X"}]} (see docs/twin.md)',
            )
        )
    if not isinstance(data, dict):
        raise ConfigError(Problem(loc(), "plant must be a mapping (endpoint, serve, commands...)"))
    for key in data:
        if key not in _PLANT_KEYS:
            import difflib

            close = difflib.get_close_matches(str(key), _PLANT_KEYS, n=1)
            err((key,), f"unknown key '{key}' in plant",
                (f"did you mean '{close[0]}'? " if close else "") +
                f"allowed keys: {', '.join(_PLANT_KEYS)}")  # fmt: skip

    def ref(value: Any, path: Sequence[str | int]) -> VarRef | None:
        comp, _, var = value.partition(".") if isinstance(value, str) else ("", "", "")
        if not comp or not var:
            err(path, f"{_where(path)} must be 'component.variable', got {value!r}",
                "for example act.i_motor")  # fmt: skip
            return None
        if comp not in spec.components:
            err(path, f"{_where(path)}: no component named '{comp}'",
                f"components: {', '.join(spec.components)}")  # fmt: skip
            return None
        return VarRef(comp, var, loc(*path))

    def node_id(value: Any, path: Sequence[str | int]) -> str | None:
        from asyncua import ua

        if not isinstance(value, str) or not value.strip():
            err(path, f"{_where(path)} must be an OPC UA node id, got {value!r}",
                'for example "ns=2;s=Plant.MotorCurrent"')  # fmt: skip
            return None
        try:
            parsed = ua.NodeId.from_string(value.strip())
        except Exception as exc:  # asyncua raises several types for malformed ids
            err(path, f"{_where(path)}: '{value}' is not a valid OPC UA node id ({exc})",
                'write it as ns=<index>;s=<name>, e.g. "ns=2;s=Plant.MotorCurrent"')  # fmt: skip
            return None
        if "ns=" in value and parsed.NamespaceIndex < 2:
            err(path, f"{_where(path)}: '{value}' is in the reserved OPC UA namespace "
                f"{parsed.NamespaceIndex}", "use ns=2 (the plant's namespace) or above, "
                'e.g. "ns=2;s=Plant.MotorCurrent"')  # fmt: skip
            return None
        return value.strip()

    # endpoint
    url = endpoint if endpoint is not None else data.get("endpoint", DEFAULT_ENDPOINT)
    where = ("--endpoint",) if endpoint is not None else ("plant", "endpoint")
    checked, found = check_endpoint(url, path=where, file=str(spec.path), text=spec.text)
    problems += found
    # serve
    serve: list[ServedSignal] = []
    items = data.get("serve")
    if not isinstance(items, list) or not items:
        err(
            ("serve",),
            "plant.serve must be a non-empty list of {from: comp.var, node: ...}",
            'for example serve: [{from: act.i_motor, node: "ns=2;s=Plant.MotorCurrent"}]',
        )
        items = []
    nodes: dict[str, str] = {}
    for i, item in enumerate(items):
        path = ("serve", i)
        if (
            not isinstance(item, dict)
            or set(item) - {"from", "node"}
            or not {"from", "node"} <= set(item)
        ):
            err(
                path, f'{_where(path)} must be {{from: comp.var, node: "ns=2;s=..."}}, got {item!r}'
            )
            continue
        source = ref(item["from"], (*path, "from"))
        node = node_id(item["node"], (*path, "node"))
        if node is not None and node in nodes:
            err((*path, "node"), f"{_where(path)}: node {node} is already used by {nodes[node]}")
            continue
        if source is not None and node is not None:
            nodes[node] = _where(path)
            serve.append(ServedSignal(source, node, loc(*path)))
    # commands
    commands: list[Command] = []
    items = data.get("commands") or []
    if not isinstance(items, list):
        err(("commands",), "plant.commands must be a list of {node, to, start}")
        items = []
    for i, item in enumerate(items):
        path = ("commands", i)
        if (
            not isinstance(item, dict)
            or set(item) - {"node", "to", "start"}
            or not {
                "node",
                "to",
            }
            <= set(item)
        ):
            err(path, f"{_where(path)} must be {{node: \"ns=2;s=...\", to: comp.var, start: x}}, "
                f"got {item!r}")  # fmt: skip
            continue
        node = node_id(item["node"], (*path, "node"))
        target = ref(item["to"], (*path, "to"))
        start = item.get("start")
        if start is not None and not _number(start):
            err((*path, "start"), f"{_where(path)}.start must be a number, got {start!r}")
            continue
        if node is not None and node in nodes:
            err((*path, "node"), f"{_where(path)}: node {node} is already used by {nodes[node]}")
            continue
        if node is not None and target is not None:
            nodes[node] = _where(path)
            commands.append(Command(node, target, None if start is None else float(start),
                                    loc(*path)))  # fmt: skip
    # noise
    noise: list[tuple[VarRef, float]] = []
    seed = None
    nd = data.get("noise")
    if nd is not None:
        if not isinstance(nd, dict) or set(nd) - {"seed", "signals"}:
            err(("noise",), "plant.noise must be {seed: int, signals: {comp.var: sigma}}")
        else:
            seed = nd.get("seed")
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                err(("noise", "seed"), f"plant.noise.seed must be an integer, got {seed!r}")
                seed = None
            signals = nd.get("signals") or {}
            if not isinstance(signals, dict):
                err(("noise", "signals"), "plant.noise.signals must map comp.var to sigma")
                signals = {}
            served = {str(s.source) for s in serve}
            for name, sigma in signals.items():
                path = ("noise", "signals", name)
                r = ref(name, path)
                if r is None:
                    continue
                if not _number(sigma) or sigma < 0:
                    err(path, f"{_where(path)}: sigma must be a number >= 0, got {sigma!r}")
                    continue
                if str(r) not in served:
                    err(path, f"{_where(path)}: {r} is not served; noise goes on served values",
                        "add it to plant.serve or remove it here")  # fmt: skip
                    continue
                noise.append((r, float(sigma)))
    # faults
    faults: list[Fault] = []
    items = data.get("faults") or []
    if not isinstance(items, list):
        err(("faults",), "plant.faults must be a list")
        items = []
    for i, item in enumerate(items):
        path = ("faults", i)
        actions = [k for k in ("set", "ramp", "freeze") if isinstance(item, dict) and k in item]
        if not isinstance(item, dict) or len(actions) != 1 or set(item) - {"at", actions[0]}:
            err(path, f"{_where(path)} must be {{at: t, set: {{...}}}}, {{at: t, ramp: {{comp.var: "
                "{to: x, over: s}}}} or {at: t, freeze: comp.var}")  # fmt: skip
            continue
        at = item.get("at")
        if not _number(at):
            err((*path, "at"), f"{_where(path)}.at must be a time in seconds, got {at!r}")
            continue
        action = actions[0]
        body = item[action]
        fl = loc(*path)
        if action == "freeze":
            names = body if isinstance(body, list) else [body]
            served = {str(s.source) for s in serve}
            for name in names:
                r = ref(name, (*path, "freeze"))
                if r is None:
                    continue
                if str(r) not in served:
                    err((*path, "freeze"), f"{_where(path)}: {r} is not served; only served "
                        "signals can freeze", "add it to plant.serve")  # fmt: skip
                    continue
                faults.append(Fault(float(at), "freeze", r, loc=fl))
            continue
        if not isinstance(body, dict) or not body:
            err((*path, action), f"{_where(path)}.{action} must map comp.var to a value")
            continue
        for name, value in body.items():
            r = ref(name, (*path, action, name))
            if r is None:
                continue
            if action == "set":
                if not _number(value) and not isinstance(value, bool):
                    err((*path, action, name), f"{_where(path)}.set.{name} must be a number")
                    continue
                faults.append(Fault(float(at), "set", r, float(value), loc=fl,
                                    where=f"{_where(path)}.set"))  # fmt: skip
            else:
                ok = isinstance(value, dict) and set(value) == {"to", "over"}
                if (
                    not ok
                    or not _number(value["to"])
                    or not _number(value["over"])
                    or (value["over"] <= 0)
                ):
                    err((*path, action, name),
                        f"{_where(path)}.ramp.{name} must be {{to: value, over: seconds > 0}}, "
                        f"got {value!r}")  # fmt: skip
                    continue
                faults.append(Fault(float(at), "ramp", r, float(value["to"]),
                                    float(value["over"]), fl, f"{_where(path)}.ramp"))  # fmt: skip
    # security
    security = None
    if data.get("security") is not None:
        security, found = check_security(
            data["security"], spec.path.parent, side="server", path=("plant", "security"),
            file=str(spec.path), text=spec.text,
        )  # fmt: skip
        problems += found
    namespace = data.get("namespace", "urn:cosim:plant")
    if not isinstance(namespace, str) or not namespace:
        err(("namespace",), f"plant.namespace must be text, got {namespace!r}")
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(problems)
    locs = {
        "endpoint": Location("--endpoint") if endpoint is not None else loc("endpoint"),
        "commands": loc("commands"),
        "faults": loc("faults"),
    }
    return PlantSpec(
        locs=locs,
        endpoint=str(checked),
        serve=tuple(serve),
        commands=tuple(commands),
        noise_seed=seed,
        noise=tuple(noise),
        faults=tuple(sorted(faults, key=lambda f: f.at)),
        security=security,
        namespace=str(namespace),
    )


def _variable(system: ResolvedSystem, ref: VarRef, what: str) -> tuple[int, VariableInfo] | Problem:
    """Look `ref` up in the resolved system: (component index, variable) or a Problem."""
    import difflib

    comps = {c.name: c for c in system.components}
    comp = comps.get(ref.component)
    if comp is None:
        return Problem(ref.loc, f"{what}: no component named '{ref.component}'",
                       f"components: {', '.join(comps) or '(none)'}")  # fmt: skip
    var = comp.variables.get(ref.variable)
    if var is None:
        close = difflib.get_close_matches(ref.variable, list(comp.variables), n=1)
        hint = f"did you mean '{ref.component}.{close[0]}'?" if close else (
            f"run `cosim inspect {comp.fmu_path}` to list its variables")  # fmt: skip
        return Problem(ref.loc, f"{what}: {comp.fmu_path.name} has no variable "
                       f"'{ref.variable}'", hint)  # fmt: skip
    if var.kind == "string":
        return Problem(ref.loc, f"{what}: {ref} is a String variable; the plant serves and "
                       "sets numbers only")  # fmt: skip
    return comp.index, var


def _settable(system: ResolvedSystem, ref: VarRef, what: str) -> tuple[int, VariableInfo] | Problem:
    found = _variable(system, ref, what)
    if isinstance(found, Problem):
        return found
    _, var = found
    tunable = var.causality == "parameter" and var.variability == "tunable"
    if var.causality != "input" and not tunable:
        kind = var.causality if var.causality != "parameter" else f"{var.variability} parameter"
        kind = ("an " if kind[0] in "aeiou" else "a ") + kind
        return Problem(ref.loc, f"{what}: {ref} is {kind}; only inputs and tunable parameters "
                       "can be changed while the plant runs",
                       f"give it a value under components.{ref.component}.parameters instead"
                       if var.causality == "parameter" else "")  # fmt: skip
    for c in system.connections:
        if system.components[c.target_component].name == ref.component and (
            c.target.name == ref.variable
        ):
            return Problem(ref.loc, f"{what}: {ref} is driven by a connection; the connection "
                           "would overwrite it every step", "remove the connection")  # fmt: skip
    return found


def check_plant_links(plant: PlantSpec, system: ResolvedSystem) -> list[Problem]:
    """Check the plant's links against the FMUs' variables, each problem with file:line:col.

    `serve[].from` must exist (any numeric variable); `commands[].to` and the targets of
    `set` and `ramp` faults must be unconnected inputs or tunable parameters. (Noise and
    freeze targets are served signals, checked by parse_plant.)
    """
    problems: list[Problem] = []
    for i, s in enumerate(plant.serve):
        found = _variable(system, s.source, f"plant.serve[{i}].from")
        if isinstance(found, Problem):
            problems.append(found)
    for i, c in enumerate(plant.commands):
        found = _settable(system, c.target, f"plant.commands[{i}].to")
        if isinstance(found, Problem):
            problems.append(found)
    for f in plant.faults:
        if f.action == "freeze":
            continue
        found = _settable(system, f.target, f.where)
        if isinstance(found, Problem):
            problems.append(found)
    return problems


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
    """Observer (after the pacer): publish served values, then read commands and apply faults
    for the next step."""

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
        self.active: list[str] = []
        self._ex: Execution | None = None
        self._reader: Any = None
        self._cmd_setter: Any = None
        self._fault_setter: Any = None
        self._last_report = 0.0
        self.progress: Callable[[PlantStatus], None] | None = None
        self.progress_interval = 1.0
        self.pacing: Any = None

    def simulation_initialized(self, execution: Execution) -> None:
        from cosim.twin.runner import InputSetter, SignalReader, current_values

        self._ex = execution
        self._reader = SignalReader(execution, self._labels)
        comps = {c.name: c.index for c in self.system.components}

        def target(ref: VarRef) -> tuple[int, VariableInfo]:
            c = comps[ref.component]
            return c, self.system.components[c].variables[ref.variable]

        cmd_targets = [target(c.target) for c in self.plant.commands]
        if cmd_targets:
            self._cmd_setter = InputSetter(execution, cmd_targets)
            # the command nodes start at these values; only later client writes count
            self._command_seq = self.server.read_commands(self.commands)
            self._set(self._cmd_setter, self.commands, "commands", execution.time)
            np.copyto(self._commands_applied, self.commands)
        fault_targets = [target(VarRef(*x.split(".", 1))) for x in self._fault_labels]
        if fault_targets:
            self._fault_setter = InputSetter(execution, fault_targets)
            self.fault_values[:] = current_values(execution, fault_targets)
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
        self._apply(tick)
        if self.progress is not None:
            now = time.monotonic()
            if now - self._last_report >= self.progress_interval:
                self._last_report = now
                self.progress(self.status(tick))

    def status(self, tick: int) -> PlantStatus:
        assert self._ex is not None
        h = self.pacing.pacer if self.pacing is not None else None
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
        self.server.publish(self.served)

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
        faults = self.plant.faults
        changed = False
        while self._next_fault < len(faults) and faults[self._next_fault].at <= t + 1e-12:
            f = faults[self._next_fault]
            self._next_fault += 1
            label = str(f.target)
            if f.action == "freeze":
                k = self._labels.index(label)
                self.frozen_values[k] = self.served[k]
                self.frozen[k] = True
                self.active.append(f"{label} frozen at {self.served[k]:.6g} (t = {f.at:g} s)")
                _log.info("fault at t = %g s: %s frozen", t, label)
                continue
            slot = self._fault_labels.index(label)
            self._ramps = [r for r in self._ramps if r[0] != slot]  # a later fault wins
            if f.action == "set":
                self.fault_values[slot] = f.value
                self.active.append(f"{label} = {f.value:g} (t = {f.at:g} s)")
            else:
                self._ramps.append((slot, t, float(self.fault_values[slot]), f.value, f.over))
                self.active.append(
                    f"{label} ramp {self.fault_values[slot]:g} -> {f.value:g} over {f.over:g} s "
                    f"(t = {f.at:g} s)"
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
            setter.apply(values)
        except CosimError as exc:
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
        from cosim.twin.runner import with_records

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
        if self._ex is not None:
            self._ex.request_stop(reason)

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
        from cosim.engine.execution import Execution
        from cosim.engine.plan import build_plan
        from cosim.opcua import ValueServer
        from cosim.twin.runner import Health, Pacing

        system = self.system
        plan = build_plan(system)
        served, commands = self.variables()
        server = ValueServer(
            self.endpoint, served, commands, security=self.plant.security,
            namespace=self.plant.namespace, name=system.spec.name,
        )  # fmt: skip
        io = PlantIO(self.plant, system, server)
        pacing = Pacing(plan.step_ticks / TICKS_PER_SECOND, self.realtime, Health())
        io.pacing = pacing
        io.progress = progress
        ex = Execution(system, observers=[pacing, io], plan=plan)
        self._ex = ex
        error: BaseException | None = None
        try:
            with ex:
                ex.initialize()
                # serve from the first instant with the initialized values (not the nodes'
                # placeholders): a client subscribing at once must never see a value the
                # plant did not have
                served = [
                    replace(v, initial=float(x)) for v, x in zip(served, io.served, strict=True)
                ]
                server = ValueServer(
                    self.endpoint, served, commands, security=self.plant.security,
                    namespace=self.plant.namespace, name=system.spec.name,
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
                    ex.request_stop("stop requested")
                until = plan.start_tick + (
                    round(duration * TICKS_PER_SECOND) if duration is not None else _FOREVER
                )
                pacing.start()
                if not self._stop:
                    ex.run_until(until)
        except BaseException as exc:
            error = exc
        finally:
            try:
                server.close()
            except Exception as exc:  # never hide the run's own error
                _log.warning("closing the plant server: %r", exc)
        if isinstance(error, ConfigError):
            raise error
        status = "stopped" if error is None else (
            "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        )  # fmt: skip
        return PlantResult(
            status=status,
            steps=ex.step_count,
            sim_time=ex.time,
            pacing=pacing.stats() if ex.step_count else None,
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
