"""The one place that maps an FMI version to its adapter: slave creation and value types.

Everything above `cosim.fmu` asks this module, never `fmi2` / `fmi3` directly:

    value_type(component, var)   the buffer type (ValueType) the component's adapter uses for var
    adapter_class(fmi_version)   Fmi2Slave | Fmi3Slave
    NativeSlaves()(component)    unpack the FMU once, open one adapter instance per component
    can_get_and_set_state(component)   what the model description says about FMU states
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cosim.errors import ConfigError, Problem
from cosim.fmu.adapter import NativeSlave, Slave, ValueType
from cosim.model.spec import ResolvedComponent, VariableInfo

SlaveFactory = Callable[[ResolvedComponent], Slave]


def adapter_class(fmi_version: str) -> type[NativeSlave]:
    """The adapter for an FMI version ("3.0" -> Fmi3Slave, anything else -> Fmi2Slave)."""
    if fmi_version.startswith("3"):
        from cosim.fmu.fmi3 import Fmi3Slave

        return Fmi3Slave
    from cosim.fmu.fmi2 import Fmi2Slave

    return Fmi2Slave


def value_type(component: ResolvedComponent, var: VariableInfo) -> ValueType:
    """The buffer type the adapter for this component's FMI version uses for `var`."""
    return adapter_class(component.fmi_version).value_type(var)


def can_get_and_set_state(component: ResolvedComponent) -> bool | None:
    """canGetAndSetFMUstate of the component's Co-Simulation interface (None: no model
    description, e.g. a test double: ask the slave itself)."""
    md = component.model_description
    if md is None:
        return None
    name = "modelExchange" if getattr(component, "interface", "cs") == "me" else "coSimulation"
    interface = getattr(md, name, None)
    return bool(getattr(interface, "canGetAndSetFMUstate", False))


def _library_reference(fmu: Any) -> Any:
    """One more reference (dlopen: the library's count goes up by one, released by one
    fmpy freeLibrary of the same handle) to the library an fmpy object has loaded."""
    import ctypes

    return ctypes.CDLL(fmu.dll._name)


class NativeSlaves:
    """Default slave factory: unpack each FMU once, open an FMI 2.0/3.0 adapter per component.

    `close()` removes the unpacked folders (call it after every slave was freed).
    """

    def __init__(self) -> None:
        self._unzipped: dict[Path, Path] = {}
        # fmpy objects of freed instances, library loaded and functions bound, by what they
        # were made for: the next run of the same component reuses one instead of loading
        # the library again (studies: ~1 ms per FMU and run)
        self._loaded: dict[tuple, list[Any]] = {}
        # per FMU and adapter class: an fmpy object whose functions are bound, and the
        # factory's own reference to its library (so the bound functions stay valid); further
        # instances of the FMU are shallow copies of it instead of loading it anew (fmpy binds
        # ~35 functions per object through inspect.signature: ~2 ms per instance)
        self._templates: dict[tuple, tuple[Any, Any]] = {}

    def __call__(self, component: ResolvedComponent) -> Slave:
        md = component.model_description
        me = getattr(component, "interface", "cs") == "me"
        wanted = "modelExchange" if me else "coSimulation"
        if md is not None and getattr(md, wanted, None) is None:
            what = "Model Exchange" if me else "Co-Simulation"
            raise ConfigError(
                Problem(
                    component.spec.loc,
                    f"component {component.name!r}: {component.fmu_path.name} has no {what} "
                    "interface",
                    "choose the interface it has with interface: cs | me",
                )
            )
        from cosim.fmu.archive import extract

        path = Path(component.fmu_path)
        if path not in self._unzipped:
            self._unzipped[path] = extract(path)
        categories: Any = getattr(md, "logCategories", None) or ()
        if me:
            from cosim.fmu.me import Me2Slave, Me3Slave

            cls: Any = Me3Slave if component.fmi_version.startswith("3") else Me2Slave
        else:
            cls = adapter_class(component.fmi_version)
        key = (
            cls,
            self._unzipped[path],
            component.model_identifier,
            component.guid,
            component.name,
        )
        pool = self._loaded.setdefault(key, [])
        interface = getattr(md, wanted, None)
        once = bool(getattr(interface, "canBeInstantiatedOnlyOncePerProcess", False))
        shared = key[:4] if not (me or once) else None
        slave = cls(
            component.name,
            self._unzipped[path],
            component.model_identifier,
            component.guid,
            log_categories=categories,
            fmu=pool.pop() if pool else self._copy(shared, component.name),
        )
        if shared is not None and shared not in self._templates:
            self._templates[shared] = (slave._fmu, _library_reference(slave._fmu))
        if not once:
            slave.release = pool.append  # (such an FMU's library is unloaded after each run)
        if me:
            slave.setup(component.solver, component.tolerance, component.max_step, md)
        elif getattr(component, "input_clocks", ()):
            slave.use_event_mode(component.input_clocks)
        return slave

    def _copy(self, shared: tuple | None, name: str) -> Any:
        """A new fmpy object for instance `name`: a copy of the FMU's template with its own
        reference to the (already loaded) library, or None to load it the usual way."""
        template = self._templates.get(shared) if shared is not None else None
        if template is None:
            return None
        fmu = copy.copy(template[0])  # shares the bound functions and fmpy's typed CDLL object
        _library_reference(fmu)  # its own count on the library: its freeLibrary releases it
        fmu.instanceName = name
        fmu.component = None
        fmu.callbacks = None
        return fmu

    def close(self) -> None:
        for pool in self._loaded.values():
            for fmu in pool:
                fmu.freeLibrary()
        self._loaded.clear()
        from fmpy import freeLibrary

        for _, library in self._templates.values():
            freeLibrary(library._handle)
        self._templates.clear()
        for path, unzip_dir in self._unzipped.items():
            if unzip_dir != path:  # extract() returns folders unchanged: never delete those
                shutil.rmtree(unzip_dir, ignore_errors=True)
        self._unzipped.clear()


__all__ = ["NativeSlaves", "SlaveFactory", "adapter_class", "can_get_and_set_state", "value_type"]
