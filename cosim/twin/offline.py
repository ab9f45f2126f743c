"""Offline twin runs: the plant simulator stepped in the twin's own loop, no network between.

A Loopback stands in for both ends of OPC UA: the plant's PlantIO publishes into it and reads
its commands from it (as from a ValueServer); the twin's LiveInputs and LiveOutputs read and
write it (as an InputBridge and an OutputBridge), matching nodes by id. PlantInLoop, the last
observer of the twin's run, steps the plant to the twin's time after every twin step, so the
twin's step n sees the plant's values at the same instant, deterministically and as fast as
the machine allows (or paced, with --realtime).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.errors import ConfigError, Location, Problem
from cosim.model.spec import TICKS_PER_SECOND, SystemSpec

if TYPE_CHECKING:
    from cosim.model.live import OpcuaSpec
    from cosim.plant.simulator import Plant


class Loopback:
    """The plant's server and the twin's client bridges in one object (see the module)."""

    def __init__(self, plant: Plant, opcua: OpcuaSpec, nodes: Sequence[str]) -> None:
        served, commands = plant.variables()
        self.commands = tuple(commands)  # PlantIO reads the command nodes' initial values
        index = {v.node.strip(): i for i, v in enumerate(served)}
        cmd_index = {v.node.strip(): i for i, v in enumerate(commands)}
        plant_file = plant.spec.path.name
        problems = []
        for node in nodes:
            if node.strip() not in index:
                problems.append(
                    Problem(
                        Location(str(opcua.loc.file)) if opcua.loc else None,
                        f"the twin reads {node}, which {plant_file} does not serve",
                        f"served nodes: {', '.join(index)}",
                    )
                )
        outputs = opcua.outputs if opcua.write else ()
        for o in outputs:
            if o.node.strip() not in cmd_index:
                problems.append(
                    Problem(
                        o.loc,
                        f"the twin writes {o.node}, which is not a command node of {plant_file}",
                        f"command nodes: {', '.join(cmd_index) or 'none'}",
                    )
                )
        if problems:
            raise ConfigError(problems)
        self._in = np.array([index[n.strip()] for n in nodes], dtype=int)
        self._out = np.array([cmd_index[o.node.strip()] for o in outputs], dtype=int)
        self.sources = tuple(o.source for o in outputs)
        self._served = np.zeros(len(served))
        self._commands = np.array([v.initial for v in commands], dtype=float)
        self._last = np.full(len(outputs), np.nan)
        self._seq = 0
        self.endpoint = f"offline:{plant_file}"
        self.n_inputs = len(nodes)
        self.n_outputs = len(outputs)
        self.connected = True
        self.notifications = 0
        self.reconnects = 0
        self.gaps: tuple[Any, ...] = ()
        self.error: BaseException | None = None
        self.samples_dropped = self.non_finite = self.queue_overflows = 0
        self.writes_sent = self.write_errors = 0

    # --------------------------------------------------------------- the plant's side
    def publish(self, values: np.ndarray, status: Any = None, timestamp: Any = None) -> None:
        np.copyto(self._served, values)
        self.notifications += 1

    def read_commands(self, out: np.ndarray) -> int:
        np.copyto(out, self._commands)
        return self._seq

    # --------------------------------------------------------------- the twin's side
    def start(self) -> Loopback:
        return self

    def close(self) -> None:
        pass

    def wait_connected(self, timeout: float) -> bool:
        return True

    def read_latest(self, values: np.ndarray, age: np.ndarray, stale: np.ndarray) -> int:
        np.take(self._served, self._in, out=values)
        age.fill(0.0)
        stale.fill(False)
        return 0

    def drain_samples(self) -> np.ndarray:
        from cosim.opcua import SAMPLE_DTYPE

        return np.zeros(0, dtype=SAMPLE_DTYPE)

    def queue(self, values: np.ndarray) -> None:
        if np.array_equal(values, self._last):
            return
        np.copyto(self._last, values)
        self._commands[self._out] = values
        self._seq += 1
        self.writes_sent += 1


class PlantInLoop:
    """Observer (last in the twin's list): after each twin step, steps the plant to the
    twin's time (any plant step that divides the twin's: run_until)."""

    def __init__(self, plant: Plant, loopback: Loopback) -> None:
        from cosim.api import Simulation, plan_for
        from cosim.plant.simulator import PlantIO

        self.plant = plant
        self.io = PlantIO(plant.plant, plant.system, loopback)  # type: ignore[arg-type]
        self.sim = Simulation(
            plant.system,
            memory=False,
            observers=[self.io],
            manipulators=[self.io],
            plan=plan_for(plant.system, self.io.driven),
        )

    def open(self) -> None:
        self.sim.open()
        self.sim.initialize()

    def simulation_initialized(self, execution: Any) -> None:
        pass

    def step_complete(self, step: int, tick: int) -> None:
        self.sim.run_until(tick / TICKS_PER_SECOND)

    def close(self) -> str:
        return self.sim.close()


def load_plant(spec: SystemSpec) -> Plant:
    """The plant simulator of a `plant:` system file, for an offline run."""
    from cosim.plant.simulator import Plant

    return Plant(spec)


__all__ = ["Loopback", "PlantInLoop", "load_plant"]
