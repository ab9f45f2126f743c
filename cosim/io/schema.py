"""The JSON Schema (draft 2020-12) of the system YAML format: the one table of its keys."""

from __future__ import annotations

import copy
from typing import Any

from cosim.model.spec import MAX_SECONDS

# A name usable as a component (no dots: `component.variable` splits at the first dot).
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# `component.variable`; the variable part may itself hold dots and brackets: a.b[1], der(x).
REF_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*\..+$"

CONVERSIONS = ("round", "floor", "ceil", "truncate")
ALGORITHMS = ("gauss-seidel", "jacobi")

_REF: dict[str, Any] = {
    "type": "string",
    "pattern": REF_PATTERN,
    "patternErrorMessage": "must be written component.variable (e.g. mass1.x1)",
    "description": "A variable of a component, written component.variable (e.g. mass1.x1).",
}
_VALUE: dict[str, Any] = {
    "type": ["number", "boolean", "string"],
    "description": "A value: a number for Real/Integer variables, true/false for Boolean, "
    "text for String.",
}
# Times are integer nanoseconds in 64 bits (cosim.model.spec.MAX_SECONDS, about 292 years either
# side of 0). config.py reports a value beyond `minimum`/`maximum` as out of that range: only
# time keys carry these two keywords.
_SECONDS: dict[str, Any] = {"type": "number", "minimum": -MAX_SECONDS, "maximum": MAX_SECONDS}
_POSITIVE_SECONDS: dict[str, Any] = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": MAX_SECONDS,
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "cosim system",
    "description": "A co-simulation system: FMUs (components) wired together by connections.",
    "type": "object",
    "additionalProperties": False,
    "required": ["simulation", "components"],
    "properties": {
        "name": {
            "type": "string",
            "description": "Name of the system (default: the file name without .yaml).",
        },
        "description": {
            "type": ["string", "null"],
            "description": "Free text describing the system.",
        },
        "simulation": {
            "type": "object",
            "additionalProperties": False,
            "required": ["stop", "step"],
            "description": "Time span, communication step and master algorithm.",
            "properties": {
                "start": {
                    **_SECONDS,
                    "default": 0.0,
                    "description": "Start time in seconds (default 0).",
                },
                "stop": {
                    **_SECONDS,
                    "description": "Stop time in seconds; stop - start must be an integer "
                    "multiple of step.",
                },
                "step": {
                    **_POSITIVE_SECONDS,
                    "description": "Communication step in seconds (> 0); every exchange of "
                    "values between components happens on this grid.",
                },
                "algorithm": {
                    "enum": list(ALGORITHMS),
                    "default": "gauss-seidel",
                    "description": "Master algorithm: gauss-seidel (components step one after "
                    "another along the connections, default) or jacobi (all step in parallel "
                    "on the previous step's values).",
                },
                "realtime": {
                    "type": ["number", "null"],
                    "exclusiveMinimum": 0,
                    "default": None,
                    "description": "Pace the run against the wall clock: 1 = real time, "
                    "2 = twice as fast; empty (default) = as fast as possible.",
                },
            },
        },
        "components": {
            "type": "object",
            "minProperties": 1,
            "description": "The FMU instances of the system, by name (letters, digits, _).",
            "propertyNames": {
                "pattern": NAME_PATTERN,
                "patternErrorMessage": "must start with a letter or _ and contain only "
                "letters, digits and _",
            },
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["fmu"],
                "description": "One FMU instance.",
                "properties": {
                    "fmu": {
                        "type": "string",
                        "description": "The FMU: a path ending in .fmu, relative to this "
                        "YAML file, or a bundled model name such as Mass1 (FMI 2.0) or "
                        "fmi3/Mass1 (FMI 3.0).",
                    },
                    "description": {
                        "type": ["string", "null"],
                        "description": "Free text describing this component.",
                    },
                    "parameters": {
                        "type": ["object", "null"],
                        "additionalProperties": _VALUE,
                        "description": "Start values by variable name: parameters, inputs "
                        "and states (variables with initial exact or approx).",
                    },
                    "step": {
                        **_POSITIVE_SECONDS,
                        "description": "This component's own step in seconds, an integer "
                        "multiple of simulation.step (default: simulation.step).",
                    },
                },
            },
        },
        "connections": {
            "type": ["array", "null"],
            "description": "Wires from outputs to inputs: target = gain * source + offset "
            "(after unit conversion).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["from", "to"],
                "description": "One wire from an output to an input.",
                "properties": {
                    "from": {**_REF, "description": "The source: an output, component.variable."},
                    "to": {**_REF, "description": "The target: an input, component.variable."},
                    "gain": {
                        "type": "number",
                        "default": 1.0,
                        "description": "Factor applied to the source value (default 1).",
                    },
                    "offset": {
                        "type": "number",
                        "default": 0.0,
                        "description": "Added after the gain (default 0).",
                    },
                    "convert": {
                        "enum": list(CONVERSIONS),
                        "description": "How a Real value becomes an Integer input: round "
                        "(half away from zero), floor, ceil or truncate (towards zero). "
                        "Required for Real to Integer connections.",
                    },
                },
            },
        },
        "record": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "description": "What goes into results.h5 and how often.",
            "properties": {
                "variables": {
                    "type": "array",
                    "items": _REF,
                    "description": "Variables to record, component.variable (default: every "
                    "output of every component).",
                },
                "interval": {
                    **_POSITIVE_SECONDS,
                    "description": "Recording interval in seconds, an integer multiple of "
                    "simulation.step (default: every communication step).",
                },
            },
        },
        "events": {
            "type": ["array", "null"],
            "description": "A scenario: timed changes of inputs or tunable parameters.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["at", "set"],
                "description": "At one time, set one or more variables.",
                "properties": {
                    "at": {
                        **_SECONDS,
                        "description": "Time in seconds, between simulation.start and "
                        "simulation.stop; applied at the nearest communication point.",
                    },
                    "set": {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {
                            "pattern": REF_PATTERN,
                            "patternErrorMessage": _REF["patternErrorMessage"],
                        },
                        "additionalProperties": _VALUE,
                        "description": "Values by component.variable (inputs or tunable "
                        "parameters).",
                    },
                },
            },
        },
        "opcua": {"description": "Live OPC UA bridge settings (see docs/opcua.md)."},
        "plant": {"description": "Plant model settings for the digital twin (see docs)."},
        "regression": {"description": "Regression test settings (see docs)."},
    },
}

# Top-level sections owned by later features; kept as plain data in SystemSpec.extra.
EXTRA_SECTIONS = ("opcua", "plant", "regression")


def json_schema() -> dict[str, Any]:
    """A fresh copy of the schema (callers may modify it)."""
    return copy.deepcopy(SCHEMA)


__all__ = [
    "ALGORITHMS",
    "CONVERSIONS",
    "EXTRA_SECTIONS",
    "NAME_PATTERN",
    "REF_PATTERN",
    "SCHEMA",
    "json_schema",
]
