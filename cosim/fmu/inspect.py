"""Build an FMU inspection report as plain data (no printing): what to know before wiring an FMU.

``inspect_fmu(fmu)`` takes a path or a bundled name (``Mass1``, ``fmi3/Mass1``) and returns a
dict of JSON-safe values. ``cosim inspect --json`` prints exactly this dict. Its keys are stable;
a value that the FMU does not declare is ``null`` (or the FMI default, for capability flags):

    path                     str   absolute path of the .fmu (or extracted folder)
    fmiVersion               str   "2.0" | "3.0" (as declared)
    modelName                str
    description              str | null
    guid                     str   FMI 2 guid, FMI 3 instantiationToken
    generationTool           str | null
    generationDateAndTime    str | null
    author, version, license str | null
    interfaces               {"CoSimulation"|"ModelExchange"|"ScheduledExecution":
                                {"modelIdentifier": str,
                                 "capabilities": {flag: bool | int | float | null}}}
                             only the interfaces the FMU implements. Capability keys are the
                             same for every FMI version, spelled as in FMI 2.0
                             (see CAPABILITIES); FMI 3.0 spellings such as
                             canGetAndSetFMUState / providesDirectionalDerivatives map onto them,
                             and needsCompletedIntegratorStep is FMI 3.0's sense (FMI 2.0:
                             not completedIntegratorStepNotNeeded).
    defaultExperiment        {"startTime", "stopTime", "tolerance", "stepSize": float | null}
    numberOfContinuousStates int
    numberOfEventIndicators  int
    units                    {name: {"baseUnit": {"kg","m","s","A","K","mol","cd","rad": int},
                                     "factor": float, "offset": float}}
    variables                [{"name", "valueReference": int, "causality", "variability",
                               "initial": str | null, "type": str (as declared: Real/Float64/..),
                               "unit": str | null, "start": value | null, "min", "max",
                               "nominal": float | null, "description": str | null,
                               "derivativeOf": str | null (the state this is the derivative of),
                               "dependencies": [str] | null (outputs: the inputs and states an
                                               output depends on directly; null = undeclared)}]
                             in declaration order.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cosim.errors import ConfigError, Location, Problem
from cosim.fmu.archive import (
    interface_attributes,
    model_description_root,
    read_model_description,
    verify_zip,
)

# canonical key -> (FMI 2.0 attribute, FMI 3.0 attribute, default); None = not in that version
_COMMON: dict[str, tuple[str | None, str | None, Any]] = {
    "canGetAndSetFMUstate": ("canGetAndSetFMUstate", "canGetAndSetFMUState", False),
    "canSerializeFMUstate": ("canSerializeFMUstate", "canSerializeFMUState", False),
    "providesDirectionalDerivative": (
        "providesDirectionalDerivative",
        "providesDirectionalDerivatives",
        False,
    ),
    "providesAdjointDerivatives": (None, "providesAdjointDerivatives", False),
    "providesPerElementDependencies": (None, "providesPerElementDependencies", False),
    "needsExecutionTool": ("needsExecutionTool", "needsExecutionTool", False),
    "canBeInstantiatedOnlyOncePerProcess": (
        "canBeInstantiatedOnlyOncePerProcess",
        "canBeInstantiatedOnlyOncePerProcess",
        False,
    ),
    "canNotUseMemoryManagementFunctions": ("canNotUseMemoryManagementFunctions", None, False),
}
CAPABILITIES: dict[str, dict[str, tuple[str | None, str | None, Any]]] = {
    "CoSimulation": {
        **_COMMON,
        "canHandleVariableCommunicationStepSize": (
            "canHandleVariableCommunicationStepSize",
            "canHandleVariableCommunicationStepSize",
            False,
        ),
        "fixedInternalStepSize": (None, "fixedInternalStepSize", None),
        "maxOutputDerivativeOrder": ("maxOutputDerivativeOrder", "maxOutputDerivativeOrder", 0),
        "recommendedIntermediateInputSmoothness": (
            None,
            "recommendedIntermediateInputSmoothness",
            0,
        ),
        "canInterpolateInputs": ("canInterpolateInputs", "canInterpolateInputs", False),
        "canRunAsynchronuously": ("canRunAsynchronuously", None, False),
        "providesIntermediateUpdate": (None, "providesIntermediateUpdate", False),
        "mightReturnEarlyFromDoStep": (None, "mightReturnEarlyFromDoStep", False),
        "canReturnEarlyAfterIntermediateUpdate": (
            None,
            "canReturnEarlyAfterIntermediateUpdate",
            False,
        ),
        "hasEventMode": (None, "hasEventMode", False),
        "providesEvaluateDiscreteStates": (None, "providesEvaluateDiscreteStates", False),
    },
    "ModelExchange": {
        **_COMMON,
        # FMI 2.0 states the negation (completedIntegratorStepNotNeeded); see _capabilities
        "needsCompletedIntegratorStep": (
            "completedIntegratorStepNotNeeded",
            "needsCompletedIntegratorStep",
            False,
        ),
        "providesEvaluateDiscreteStates": (None, "providesEvaluateDiscreteStates", False),
    },
    "ScheduledExecution": dict(_COMMON),
}
"""Per interface: every capability key of the report and where it comes from in each version."""

_INTERFACES = {  # report name -> fmpy attribute
    "CoSimulation": "coSimulation",
    "ModelExchange": "modelExchange",
    "ScheduledExecution": "scheduledExecution",
}


def inspect_fmu(fmu: str | os.PathLike[str]) -> dict[str, Any]:
    """The inspection report of the FMU file `fmu`; ConfigError if it is no usable FMU.

    A bundled name (`Mass1`) is turned into its file by cosim.resolve.fmus.fmu_file first.
    """
    path = Path(fmu).resolve()
    md = read_model_description(path)  # checks the archive (zip-slip, symlinks) first
    if not path.is_dir():
        verify_zip(path)  # a corrupt member (deflate stream, CRC, size) is no usable FMU
    major = _major(md.fmiVersion, path)
    raw = _interface_elements(path)
    interfaces: dict[str, Any] = {}
    for name, attr in _INTERFACES.items():
        obj = getattr(md, attr, None)
        if obj is None:
            continue
        interfaces[name] = {
            "modelIdentifier": obj.modelIdentifier,
            "capabilities": _capabilities(name, major, raw.get(name, {})),
        }
    de = md.defaultExperiment
    return {
        "path": str(path),
        "fmiVersion": md.fmiVersion,
        "modelName": md.modelName,
        "description": md.description,
        "guid": md.guid,
        "generationTool": md.generationTool,
        "generationDateAndTime": md.generationDateAndTime,
        "author": md.author,
        "version": md.version,
        "license": md.license,
        "interfaces": interfaces,
        "defaultExperiment": {
            key: _float(getattr(de, key, None) if de is not None else None)
            for key in ("startTime", "stopTime", "tolerance", "stepSize")
        },
        "numberOfContinuousStates": len(md.derivatives),
        "numberOfEventIndicators": int(md.numberOfEventIndicators or 0),
        "units": {u.name: _unit(u) for u in md.unitDefinitions},
        "variables": _variables(md),
    }


def _major(version: str | None, path: Path) -> int:
    try:
        major = int(str(version).split(".")[0])
    except ValueError:
        major = 0
    if major not in (2, 3):
        raise ConfigError(
            Problem(
                Location(str(path)),
                f"unsupported fmiVersion {version!r}",
                "cosim supports FMI 2.0 and FMI 3.0",
            )
        )
    return major


def _interface_elements(path: Path) -> dict[str, dict[str, str]]:
    """The raw XML attributes of each interface element (fmpy drops some FMI 3.0 flags)."""
    if model_description_root(path) is None:  # fmpy parsed it already: near impossible
        raise ConfigError(Problem(Location(str(path)), "cannot read modelDescription.xml"))
    return interface_attributes(path)


def _capabilities(interface: str, major: int, attrs: dict[str, str]) -> dict[str, Any]:
    caps: dict[str, Any] = {}
    for key, (fmi2_name, fmi3_name, default) in CAPABILITIES[interface].items():
        source = fmi2_name if major == 2 else fmi3_name
        text = attrs.get(source) if source else None
        if text is None:
            value = default
        elif isinstance(default, bool):
            value = text.strip() in ("true", "1")
        elif isinstance(default, int):
            value = _int(text)
        else:
            value = _float(text)
        if key == "needsCompletedIntegratorStep" and major == 2:
            value = not value  # from completedIntegratorStepNotNeeded
        caps[key] = value
    return caps


def _variables(md) -> list[dict[str, Any]]:
    deps: dict[str, list[str] | None] = {}
    for unknown in md.outputs:
        if unknown.variable is not None:
            d = unknown.dependencies
            deps[unknown.variable.name] = None if d is None else [v.name for v in d]
    rows = []
    for v in md.modelVariables:
        derivative_of = None
        if v.derivative is not None:  # fmpy sets `derivative` on der(x), pointing at x
            derivative_of = v.derivative.name
        rows.append(
            {
                "name": v.name,
                "valueReference": v.valueReference,
                "causality": v.causality,
                "variability": v.variability,
                "initial": v.initial,
                "type": v.type,
                "unit": _unit_of(v),
                "start": _value(v.type, v.start),
                "min": _value(v.type, v.min),
                "max": _value(v.type, v.max),
                "nominal": _float(v.nominal),
                "description": v.description,
                "derivativeOf": derivative_of,
                "dependencies": deps.get(v.name) if v.causality == "output" else None,
            }
        )
    return rows


def _unit_of(v) -> str | None:
    if v.unit is not None:
        return v.unit
    declared = v.declaredType
    return getattr(declared, "unit", None) if declared is not None else None


def _unit(u) -> dict[str, Any]:
    b = u.baseUnit
    exps = ("kg", "m", "s", "A", "K", "mol", "cd", "rad")
    return {
        "baseUnit": {k: int(getattr(b, k, 0) or 0) for k in exps},
        "factor": _float(getattr(b, "factor", 1.0)) if b is not None else 1.0,
        "offset": _float(getattr(b, "offset", 0.0)) if b is not None else 0.0,
    }


def _value(type_: str | None, text: Any) -> Any:
    """A start/min/max attribute as a JSON value of the variable's type (text if it won't parse)."""
    if text is None:
        return None
    s = str(text).strip()
    parts = s.split()
    if len(parts) > 1:  # FMI 3.0 array start values
        return [_value(type_, p) for p in parts]
    t = type_ or ""
    if t == "Boolean":
        return s in ("true", "1")
    if t.startswith(("Int", "UInt")) or t == "Enumeration":
        return _int(s)
    if t in ("Real", "Float32", "Float64"):
        return _float(s)
    return s


def _int(text: Any) -> int | str | None:
    if text is None:
        return None
    try:
        return int(str(text).strip())
    except ValueError:
        return str(text)


def _float(text: Any) -> float | str | None:
    if text is None:
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        return str(text)


__all__ = ["CAPABILITIES", "inspect_fmu"]
