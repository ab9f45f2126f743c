"""Read the `plant:` section of a system YAML into a PlantSpec, with every problem located."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cosim.errors import ConfigError, Location, Problem
from cosim.io.locate import Problems, did_you_mean, finite_number, locator, where
from cosim.model.live import Command, Fault, PlantSpec, ServedSignal
from cosim.model.spec import SystemSpec, VarRef

DEFAULT_ENDPOINT = "opc.tcp://127.0.0.1:4840"
_PLANT_KEYS = (
    "endpoint", "serve", "commands", "noise", "faults", "fault_origin", "security", "namespace",
)  # fmt: skip
FAULT_ORIGINS = ("start", "first_command")
_SERVE_KEYS = ("from", "node")
_COMMAND_KEYS = ("node", "to", "start")
_NOISE_KEYS = ("seed", "signals")
_FAULT_ACTIONS = ("set", "ramp", "freeze")
_RAMP_KEYS = ("to", "over")
# every key the parser accepts, by node path ("[]": any list item or mapping value), for
# cosim.io.schema's test; plant.security is checked as opcua.serve.security (io.opcua.KEYS)
KEYS: dict[str, tuple[str, ...]] = {
    "plant": _PLANT_KEYS,
    "plant.serve[]": _SERVE_KEYS,
    "plant.commands[]": _COMMAND_KEYS,
    "plant.noise": _NOISE_KEYS,
    "plant.faults[]": ("at", *_FAULT_ACTIONS),
    "plant.faults[].ramp[]": _RAMP_KEYS,
}


def _where(path: Sequence[str | int]) -> str:
    return where(("plant", *path))


def _number(value: Any) -> bool:
    return finite_number(value)


def parse_plant(
    spec: SystemSpec, endpoint: str | None = None, *, file: str | None = None
) -> PlantSpec:
    """Validate the `plant:` section (structure only, no FMU); ConfigError with every problem.

    `endpoint` (from `--endpoint`) replaces plant.endpoint; `file` names the file in problem
    locations (default: the spec's absolute path).
    """
    from cosim.io.opcua import check_endpoint, check_security

    file = file or str(spec.path)
    located = locator(spec.text, file)
    collect = Problems(located, ("plant",))
    problems = collect.items
    err = collect.error

    def loc(*path: str | int) -> Location:
        return located.key("plant", *path)

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
            close = did_you_mean(str(key), _PLANT_KEYS, cutoff=0.6)
            err((key,), f"unknown key '{key}' in plant",
                (f"did you mean '{close}'? " if close else "") +
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
    checked, found = check_endpoint(url, path=where, file=file, text=spec.text)
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
            or set(item) - set(_SERVE_KEYS)
            or not set(_SERVE_KEYS) <= set(item)
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
            or set(item) - set(_COMMAND_KEYS)
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
        if not isinstance(nd, dict) or set(nd) - set(_NOISE_KEYS):
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
        actions = [k for k in _FAULT_ACTIONS if isinstance(item, dict) and k in item]
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
                ok = isinstance(value, dict) and set(value) == set(_RAMP_KEYS)
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
            file=file, text=spec.text,
        )  # fmt: skip
        problems += found
    origin = data.get("fault_origin", "start")
    if origin not in FAULT_ORIGINS:
        close = did_you_mean(str(origin), FAULT_ORIGINS, cutoff=0.5)
        err(("fault_origin",), f"plant.fault_origin must be one of {', '.join(FAULT_ORIGINS)}, "
            f"got {origin!r}", f"did you mean '{close}'?" if close else
            "start: fault times count from the plant's start; first_command: from the first "
            "value a client writes to a command node")  # fmt: skip
        origin = "start"
    elif origin == "first_command" and not commands:
        err(("fault_origin",), "plant.fault_origin: first_command needs plant.commands",
            "add a command node, or count fault times from the start")  # fmt: skip
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
        fault_origin=str(origin),
        security=security,
        namespace=str(namespace),
        warnings=tuple(problems),
    )
