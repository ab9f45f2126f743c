"""The two ways to take part in a run: Observer (reads only) and Manipulator (writes via slots).

Call order, per Execution (see cosim.engine.execution)::

    initialize():   ... FMUs initialized ...
                    manipulator.simulation_initialized(execution)   # bind input views
                    observer.simulation_initialized(execution)      # first row of results
    each step n:    manipulator.before_step(n, tick)   # write inputs for the step starting at tick
                    (pending ex.set() values, timed events, the algorithm's step)
                    observer.step_complete(n + 1, tick + h)         # read the stores
                    pacer.wait()                                    # a run option, not a hook

An observer never writes to the system: it reads `execution.views`, `gather_records` or
`value`. A manipulator writes only into the plan's external-input slots through
`execution.input_view(labels)`; the values reach the FMUs through each instance's normal
bound set call in the step, so no writer ever calls an FMU itself. Either may call
`execution.request_stop(reason)`.

Chunks. The compiled loop (cosim.engine.native) runs many steps per call when every hook can
take part: an observer whose class sets `every_step = False` gets step_complete once per call,
for the last step of it (progress bars, wall-clock budgets); a recorder (kernel_rows /
rows_taken, cosim.results.recorder.GridRecorder) lets the kernel take its rows into its block;
a manipulator with kernel_inputs(step, tick) hands the kernel blocks of input rows
(cosim.engine.inputs.TableInputs). Any other observer or manipulator, a pacer, events and the
shortened last steps make those steps go one by one, with every hook called at every step.
"""

from __future__ import annotations

from typing import Any, Protocol

Execution = Any  # cosim.engine.execution.Execution (not imported: execution imports this module)


class Observer(Protocol):
    """Reads results after initialization and after each step; never writes to the system."""

    def simulation_initialized(self, execution: Execution) -> None: ...

    def step_complete(self, step: int, tick: int) -> None: ...


class Manipulator(Protocol):
    """Writes FMU inputs before each communication step, only through plan input slots."""

    def simulation_initialized(self, execution: Execution) -> None: ...

    def before_step(self, step: int, tick: int) -> None:
        """Step `step` (0-based) is about to run from `tick`; write its inputs now."""
        ...


__all__ = ["Manipulator", "Observer"]
