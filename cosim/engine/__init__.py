"""The engine: the flat plan, the algorithms, the one loop, the execution life cycle.

    plan.py        ResolvedSystem -> Plan: arrays only (stores, calls, connections, events,
                   external-input slots); names in side tables
    algorithms.py  Jacobi, GaussSeidel behind one protocol: they order a step's operations
    stages.py      Plan + slaves -> bound Stages and the phase table the loop runs
    execution.py   Execution: life cycle, stores, the one loop body, get/set, system state
    hooks.py       Observer (reads only) and Manipulator (writes through input slots)
    slots.py       InputView: writes into external-input slots
    readers.py     SignalReader: reads chosen values from the stores (for observers)
    state.py       SystemState (whole-system FMU state + stores + loop position)
    statistics.py  RunStatistics

Modules are imported directly (`from cosim.engine.execution import Execution`), so importing
the package costs nothing.
"""
