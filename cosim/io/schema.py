"""The JSON Schema (draft 2020-12) of the system YAML format: every section, key, type and enum."""

from __future__ import annotations

import copy
from typing import Any

from cosim.model.live import CLIENT_ISOLATION, MODES, ON_DISCONNECT, POLICIES
from cosim.model.spec import MAX_SECONDS

# A name usable as a component (no dots: `component.variable` splits at the first dot).
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# `component.variable`; the variable part may itself hold dots and brackets: a.b[1], der(x).
REF_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*\..+$"

CONVERSIONS = ("round", "floor", "ceil", "truncate")
ALGORITHMS = ("gauss-seidel", "jacobi", "iterative-gauss-seidel")
EXTRAPOLATIONS = ("zoh", "linear", "quadratic")
SOLVERS = ("cvode", "euler", "rk4")
ENGINES = ("native", "python")
INTERFACES = ("cs", "me")
LOOP_POLICIES = ("solve", "error", "break")
LOOP_METHODS = ("newton", "fixed-point")
_TOLERANCE: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
_EXTRAPOLATION: dict[str, Any] = {
    "enum": list(EXTRAPOLATIONS),
    "description": "How an input follows its source between communication points: zoh (hold "
    "the last value, default), linear or quadratic (a polynomial through the last 2 or 3 "
    "output values, passed as input derivatives where the FMU can interpolate inputs, else as "
    "the polynomial's average over the step).",
}

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
_START_VALUE: dict[str, Any] = {
    "type": ["number", "boolean", "string", "array"],
    "items": {"type": ["number", "boolean", "array"]},
    "description": "A start value: a number for Real/Integer variables, true/false for "
    "Boolean, text for String, a list (nested lists, row-major) for a whole FMI 3.0 array.",
}
_SECONDS: dict[str, Any] = {"type": "number", "minimum": -MAX_SECONDS, "maximum": MAX_SECONDS}
_POSITIVE_SECONDS: dict[str, Any] = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": MAX_SECONDS,
}

# --------------------------------------------------------------------------- live sections
_ENDPOINT: dict[str, Any] = {
    "type": "string",
    "pattern": r"^opc\.tcp://.+:[0-9]+",
    "patternErrorMessage": "must be an OPC UA endpoint URL, opc.tcp://host:port",
}
_NODE_ID: dict[str, Any] = {
    "type": "string",
    "description": "An OPC UA node id: ns=<index>;s=<name>, ns=<index>;i=<number>, or "
    "nsu=<namespace URI>;s=<name> (robust when namespace indices change).",
}
_FILE: dict[str, Any] = {"type": "string"}


def _security(side: str) -> dict[str, Any]:
    own = "the twin's" if side == "client" else "the server's"
    keys: dict[str, Any] = {
        "policy": {
            "enum": list(POLICIES),
            "default": POLICIES[0],
            "description": "Security policy (Basic256Sha256).",
        },
        "mode": {
            "enum": list(MODES),
            "default": "SignAndEncrypt",
            "description": "Message security mode: Sign or SignAndEncrypt (default).",
        },
        "certificate": {**_FILE, "description": f"File of {own} certificate (DER or PEM)."},
        "private_key": {**_FILE, "description": f"File of {own} private key (PEM)."},
    }
    if side == "client":
        keys["server_certificate"] = {
            **_FILE,
            "description": "The plant server's certificate to trust (pinned); without it any "
            "server answering at the endpoint is trusted (a warning).",
        }
    else:
        keys["trusted_clients"] = {
            "type": ["array", "string"],
            "items": _FILE,
            "description": "Certificates of the only clients accepted (default: any client "
            "that completes the secure handshake).",
        }
    keys["username"] = {"type": "string", "description": "User name to log in with."}
    keys["password_env"] = {
        "type": "string",
        "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
        "patternErrorMessage": "must be the NAME of an environment variable",
        "description": "Name of the environment variable holding the password (a password "
        "itself is never written in a system file).",
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["certificate", "private_key"],
        "description": f"Message security and user identity of {own} side (see docs/opcua.md).",
        "properties": keys,
    }


_OPCUA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "A live twin: couple this system to a plant's OPC UA server while it runs "
    "(see docs/twin.md and docs/opcua.md).",
    "properties": {
        "endpoint": {
            **_ENDPOINT,
            "description": "The plant's OPC UA server, opc.tcp://host:port (required with "
            "inputs or outputs; `cosim run --endpoint` overrides it).",
        },
        "security": _security("client"),
        "inputs": {
            "type": "array",
            "description": "Plant nodes read into the system (by subscription).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["node", "to"],
                "description": "One plant node and the variable it feeds.",
                "properties": {
                    "node": {**_NODE_ID, "description": "The plant's node id to subscribe to."},
                    "to": {
                        **_REF,
                        "description": "An input or tunable parameter (driven by the plant "
                        "value), or an output/local (watched: residual = measured - predicted).",
                    },
                    "stale_after": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "description": "Seconds without a notification or keep-alive after "
                        "which the value counts as stale.",
                    },
                },
            },
        },
        "outputs": {
            "type": "array",
            "description": "FMU outputs written to plant nodes (only with write: true).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["from", "node"],
                "description": "One FMU output and the plant node it writes.",
                "properties": {
                    "from": {**_REF, "description": "The FMU output, component.variable."},
                    "node": {**_NODE_ID, "description": "The plant's node id to write."},
                },
            },
        },
        "write": {
            "type": "boolean",
            "default": False,
            "description": "Must be true for outputs to be written to the plant (a safety rule "
            "for hardware in the loop).",
        },
        "on_disconnect": {
            "enum": list(ON_DISCONNECT),
            "default": "hold",
            "description": "When the plant goes away: hold (keep stepping on the last values, "
            "default), pause (wait for the plant) or abort (stop the run).",
        },
        "isolation": {
            "enum": list(CLIENT_ISOLATION),
            "default": "process",
            "description": "Where the OPC UA client runs: process (a worker process of its "
            "own, default: it never competes with the step loop) or thread (in the twin's "
            "process).",
        },
        "connect_timeout": {
            "type": "number",
            "minimum": 0,
            "default": 10.0,
            "description": "Seconds to keep retrying the first connection (default 10).",
        },
        "publishing_interval": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 0.01,
            "description": "Subscription publishing interval in seconds (default 0.01).",
        },
        "playout_delay": {
            "type": "number",
            "minimum": 0,
            "default": 0.0,
            "description": "Seconds (wall clock): each step uses the plant's samples as of "
            "this long ago by their source timestamps, interpolated, instead of the latest "
            "arrival: a jitter buffer, so network delays do not reach the model as a "
            "staircase. Longer than the worst delivery delay; needs synchronised clocks "
            "(default 0: the latest value).",
        },
        "serve": {
            "type": "object",
            "additionalProperties": False,
            "required": ["endpoint"],
            "description": "The twin's own OPC UA server, publishing every recorded signal "
            "and the run state.",
            "properties": {
                "endpoint": {
                    **_ENDPOINT,
                    "description": "Where the twin serves, opc.tcp://host:port (not the "
                    "plant's port; `cosim run --serve` overrides it).",
                },
                "security": _security("server"),
                "namespace": {
                    "type": "string",
                    "default": "urn:cosim",
                    "description": "Namespace URI of the served nodes (default urn:cosim).",
                },
                "prefix": {
                    "type": "string",
                    "default": "Twin",
                    "description": "Node ids are ns=<namespace>;s=<prefix>.<component>."
                    "<variable> (default Twin).",
                },
            },
        },
    },
}

_PLANT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["serve"],
    "description": "A plant simulator: `cosim plant` runs this system in real time and serves "
    "chosen signals on an OPC UA server (see docs/twin.md).",
    "properties": {
        "endpoint": {
            **_ENDPOINT,
            "default": "opc.tcp://127.0.0.1:4840",
            "description": "Where the plant serves, opc.tcp://host:port (default "
            "opc.tcp://127.0.0.1:4840; `cosim plant --endpoint` overrides it).",
        },
        "serve": {
            "type": "array",
            "minItems": 1,
            "description": "The signals the plant publishes.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["from", "node"],
                "description": "One served signal.",
                "properties": {
                    "from": {**_REF, "description": "The variable served, component.variable."},
                    "node": {**_NODE_ID, "description": "Its node id, ns=2 or above."},
                },
            },
        },
        "commands": {
            "type": "array",
            "description": "Writable nodes whose value the plant applies to a variable.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["node", "to"],
                "description": "One command node and the variable it sets.",
                "properties": {
                    "node": {**_NODE_ID, "description": "The writable node id, ns=2 or above."},
                    "to": {
                        **_REF,
                        "description": "An unconnected input or tunable parameter.",
                    },
                    "start": {
                        "type": "number",
                        "description": "Value before the first write (default: the "
                        "variable's own start value).",
                    },
                },
            },
        },
        "noise": {
            "type": "object",
            "additionalProperties": False,
            "description": "Gaussian noise added to served values.",
            "properties": {
                "seed": {"type": "integer", "description": "Random seed (repeatable noise)."},
                "signals": {
                    "type": "object",
                    "additionalProperties": {"type": "number", "minimum": 0},
                    "description": "Standard deviation by served signal, component.variable.",
                },
            },
        },
        "faults": {
            "type": "array",
            "description": "Scheduled faults, each with exactly one of set, ramp or freeze.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["at"],
                "minProperties": 2,
                "maxProperties": 2,
                "description": "One fault at one time.",
                "properties": {
                    "at": {"type": "number", "description": "Time of the fault in seconds."},
                    "set": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": {"type": ["number", "boolean"]},
                        "description": "Step change: values by component.variable.",
                    },
                    "ramp": {
                        "type": "object",
                        "minProperties": 1,
                        "description": "Linear change from the value at `at`, by "
                        "component.variable.",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["to", "over"],
                            "description": "One ramp.",
                            "properties": {
                                "to": {"type": "number", "description": "The end value."},
                                "over": {
                                    "type": "number",
                                    "exclusiveMinimum": 0,
                                    "description": "Duration of the ramp in seconds.",
                                },
                            },
                        },
                    },
                    "freeze": {
                        "type": ["string", "array"],
                        "items": _REF,
                        "description": "A served signal (or a list) whose value sticks from "
                        "`at` on (a frozen sensor).",
                    },
                },
            },
        },
        "fault_origin": {
            "enum": ["start", "first_command"],
            "default": "start",
            "description": "What fault times count from: start (the plant's start time) or "
            "first_command (the first value a client writes to a command node, e.g. when a twin "
            "connects), so a scenario does not depend on how long its client takes to start.",
        },
        "security": _security("server"),
        "namespace": {
            "type": "string",
            "default": "urn:cosim:plant",
            "description": "Namespace URI of the plant's nodes (default urn:cosim:plant).",
        },
    },
}

_TOLERANCES: dict[str, Any] = {
    "abs_tol": {
        "type": "number",
        "minimum": 0,
        "description": "Absolute tolerance: the band's floor, in each signal's unit.",
    },
    "rel_tol": {
        "type": "number",
        "minimum": 0,
        "description": "Relative tolerance: a fraction of the range (max - min) of each "
        "reference signal.",
    },
    "time_tol": {
        "type": "number",
        "minimum": 0,
        "description": "Seconds an event may move (default: 1e-3 of the reference's span).",
    },
}

_REGRESSION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reference"],
    "description": "`cosim test`: compare this system's run against a reference "
    "(see docs/regression.md).",
    "properties": {
        "reference": {
            "type": "string",
            "pattern": r"^.*\.([hH]5|[hH][dD][fF]5|[cC][sS][vV])$",
            "patternErrorMessage": "must end in .h5, .hdf5 or .csv",
            "description": "The reference results file, relative to this YAML file "
            "(results.h5-style HDF5, or CSV with time first).",
        },
        **_TOLERANCES,
        "signals": {
            "type": ["array", "string"],
            "items": {"type": "string"},
            "description": "Signals to compare, names or globs such as mass2.* (default: "
            "every recorded signal).",
        },
        "tolerances": {
            "type": "object",
            "description": "Per-signal tolerances, by name or glob.",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "description": "Tolerances of one signal (or glob), over the section's.",
                "properties": _TOLERANCES,
            },
        },
    },
}


# --------------------------------------------------------------------------- twin analytics
_NUMBER: dict[str, Any] = {"type": "number"}
_POSITIVE: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
_NON_NEGATIVE: dict[str, Any] = {"type": "number"}  # >= 0: checked by cosim.io.analytics
FILTERS = ("none", "mean", "ewma", "cusum")
TRANSFORMS = ("none", "abs", "square")
DIRECTIONS = ("above", "below")
INDICATORS = ("residual", "signal", "measured", "estimate")
_INDICATOR_TEXT = {
    "residual": "A watched signal's residual measured - predicted (an opcua input to an output).",
    "signal": "A signal of the twin (its predicted value).",
    "measured": "A watched signal's measured (plant) value.",
    "estimate": "An estimated parameter's mean (see estimate:).",
}
_MONITORS: dict[str, Any] = {
    "type": "array",
    "description": "Health monitors: an indicator, a filter and warning/alarm levels "
    "(see docs/twin.md#monitors).",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "description": "One monitor: exactly one indicator key (residual, signal, measured or "
        "estimate), then filter and levels.",
        "properties": {
            "name": {
                "type": "string",
                "pattern": NAME_PATTERN,
                "patternErrorMessage": "must start with a letter or _ and contain only "
                "letters, digits and _",
                "description": "The monitor's name (results, log, OPC UA nodes and alarms).",
            },
            **{k: {**_REF, "description": v} for k, v in _INDICATOR_TEXT.items()},
            "transform": {
                "enum": list(TRANSFORMS),
                "default": "none",
                "description": "Applied to the indicator before the filter: none, abs or "
                "square (a residual that changes sign with the motion needs abs or square).",
            },
            "filter": {
                "enum": list(FILTERS),
                "default": "none",
                "description": "none, mean (moving mean over `window`), ewma (exponentially "
                "weighted, time constant `window`) or cusum (one-sided, integrated over time: "
                "S = max(0, S + (x - target - drift) dt), in unit.s).",
            },
            "window": {
                **_POSITIVE,
                "description": "Seconds: the moving mean's window or the EWMA's time constant.",
            },
            "target": {**_NUMBER, "description": "CUSUM: the healthy mean of the indicator."},
            "drift": {
                **_NON_NEGATIVE,
                "description": "CUSUM: the allowance k above the target that does not "
                "accumulate (default 0).",
            },
            "direction": {
                "enum": list(DIRECTIONS),
                "default": "above",
                "description": "above (default): a level is crossed when the filtered "
                "indicator rises above it; below: when it falls below it.",
            },
            "warning": {**_NUMBER, "description": "The warning level."},
            "alarm": {**_NUMBER, "description": "The alarm level."},
            "hysteresis": {
                **_NON_NEGATIVE,
                "description": "A raised level clears only once the indicator is back this "
                "far on the healthy side of it (default 0).",
            },
            "min_duration": {
                **_NON_NEGATIVE,
                "description": "Seconds a level must be crossed without interruption before "
                "it is raised (and back before it clears; default 0).",
            },
            "message": {"type": "string", "description": "Text for the log and the alarm."},
        },
    },
}
_ESTIMATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["parameters", "measurements"],
    "description": "Live estimation: an ensemble Kalman filter over copies of the twin tracks "
    "tunable parameters (see docs/twin.md#estimation).",
    "properties": {
        "method": {
            "enum": ["enkf"],
            "default": "enkf",
            "description": "enkf: a stochastic ensemble Kalman filter (perturbed "
            "observations) on the parameters, members stepped in lockstep with the twin.",
        },
        "members": {
            "type": "integer",
            "exclusiveMinimum": 2,
            "default": 20,
            "description": "Ensemble members (copies of the twin's system; default 20).",
        },
        "interval": {
            **_POSITIVE_SECONDS,
            "description": "Seconds between updates, a multiple of simulation.step (default "
            "10 steps); every step's measurements in between are used.",
        },
        "seed": {"type": "integer", "default": 0, "description": "Random seed (default 0)."},
        "inflation": {
            "type": "number",
            "default": 1.0,
            "description": "Multiplicative inflation of the parameter spread before each "
            "update (default 1: none).",
        },
        "parameters": {
            "type": "array",
            "description": "The tunable parameters to track.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "prior"],
                "description": "One parameter: its prior, process noise and bounds.",
                "properties": {
                    "name": {**_REF, "description": "A tunable parameter, component.variable."},
                    "prior": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["mean", "std"],
                        "description": "Gaussian prior: mean and standard deviation.",
                        "properties": {
                            "mean": {**_NUMBER, "description": "Prior mean."},
                            "std": {**_POSITIVE, "description": "Prior standard deviation."},
                        },
                    },
                    "process_noise": {
                        **_NON_NEGATIVE,
                        "description": "Random-walk standard deviation per sqrt(second) "
                        "(default 0).",
                    },
                    "min": {**_NUMBER, "description": "Lower bound (default: the FMU's min)."},
                    "max": {**_NUMBER, "description": "Upper bound (default: the FMU's max)."},
                    "rate": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["std"],
                        "description": "Also track the parameter's rate of change (unit/s), "
                        "so forecasts can extrapolate it: prior std (mean 0 unless given) and "
                        "process noise.",
                        "properties": {
                            "mean": {**_NUMBER, "description": "Prior mean of the rate."},
                            "std": {**_POSITIVE, "description": "Prior std of the rate."},
                            "process_noise": {
                                **_NON_NEGATIVE,
                                "description": "Random walk of the rate, per sqrt(second).",
                            },
                        },
                    },
                    "truth": {
                        **_NODE_ID,
                        "description": "A plant node holding the true value (simulators "
                        "only): recorded beside the estimate for evaluation, never used by it.",
                    },
                },
            },
        },
        "measurements": {
            "type": "array",
            "description": "The watched signals the filter compares, with their noise.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["signal", "noise"],
                "description": "One measurement: a watched signal and its noise std.",
                "properties": {
                    "signal": {
                        **_REF,
                        "description": "A watched signal (opcua input to an "
                        "output), component.variable.",
                    },
                    "noise": {**_POSITIVE, "description": "Measurement noise std, its unit."},
                },
            },
        },
    },
}
SCENARIOS = ("hold", "profile")
_PROFILE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["time"],
    "description": "Driven inputs over time: `time` (s from the forecast's start) and one "
    "list per input; linear between points; `repeat: true` loops it.",
    "properties": {
        "time": {
            "type": "array",
            "items": {**_NUMBER, "description": "A time, s."},
            "description": "Seconds, increasing.",
        },
        "repeat": {"type": "boolean", "default": False, "description": "Loop the profile."},
        "values": {
            "type": "object",
            "propertyNames": {
                "pattern": REF_PATTERN,
                "patternErrorMessage": "must be written component.variable (e.g. act.delta_cmd)",
            },
            "additionalProperties": {
                "type": "array",
                "items": {**_NUMBER, "description": "A value."},
                "description": "The input's values, one per time.",
            },
            "description": "component.variable -> values at `time`.",
        },
    },
}
_DESIGN_NAME = {
    "pattern": r"^(components\.[A-Za-z_][A-Za-z0-9_]*\.fmu|[A-Za-z_][A-Za-z0-9_]*\..+)$",
    "patternErrorMessage": "must be component.variable (a parameter or start value) or "
    "components.<name>.fmu (an FMU variant)",
}
INTERPOLATIONS = ("auto", "linear", "previous")
OUTSIDE = ("error", "hold")
_INPUTS: dict[str, Any] = {
    "type": ["array", "null"],
    "description": "Time tables (CSV or HDF5) that drive FMU inputs (see docs/inputs.md).",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["file"],
        "description": "One table: a time column and one column per input.",
        "properties": {
            "file": {
                "type": "string",
                "pattern": r"^.*\.([hH]5|[hH][dD][fF]5|[cC][sS][vV]|[tT][xX][tT])$",
                "patternErrorMessage": "must be a .csv, .txt, .h5 or .hdf5 file",
                "description": "The table, relative to this file: CSV with a header row "
                "(time first; units as `name [unit]`) or HDF5 (/time with 1-D datasets beside "
                "it, or a cosim results.h5).",
            },
            "map": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {
                    **_REF,
                    "description": "The input this column drives, component.variable.",
                },
                "description": "Column name -> the input it drives, component.variable.",
            },
            "component": {
                "type": "string",
                "pattern": NAME_PATTERN,
                "patternErrorMessage": "must be a component name",
                "description": "Drive this component's inputs from the columns named after "
                "them (the FMI cross-check `_in.csv` convention); instead of map.",
            },
            "interpolation": {
                "enum": list(INTERPOLATIONS),
                "default": "auto",
                "description": "auto (linear for continuous Reals, the previous value for "
                "discrete Reals, Integers, Booleans and enumerations), linear or previous.",
            },
            "outside": {
                "enum": list(OUTSIDE),
                "default": "error",
                "description": "A table that does not cover simulation.start..stop: error, or "
                "hold its first and last values.",
            },
            "time": {
                "type": "string",
                "description": "The time column (CSV; default the first) or dataset (HDF5; "
                "default /time), in seconds unless its header gives a unit (`time [ms]`).",
            },
        },
    },
}

_SWEEP: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["design"],
    "description": "A parameter study: `cosim sweep SYSTEM.yaml` runs the system once per case "
    "of the design and keeps each run's quantities of interest in sweep.h5 "
    "(see docs/sweeps.md).",
    "properties": {
        "design": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "description": "The cases: a factorial grid, a list of cases and a sample (any of "
            "them; written together, their product).",
            "properties": {
                "factorial": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": _DESIGN_NAME,
                    "additionalProperties": {"type": "array", "items": _VALUE},
                    "description": "Levels by name (component.variable, or components.<name>.fmu "
                    "for FMU variants): every combination is a case.",
                },
                "cases": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "propertyNames": _DESIGN_NAME,
                        "additionalProperties": _VALUE,
                    },
                    "description": "A list of cases, each a mapping of values by name; every "
                    "case names the same parameters.",
                },
                "sample": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["n", "parameters"],
                    "description": "Random or Latin-hypercube cases from distributions.",
                    "properties": {
                        "n": {"type": "integer", "minimum": 1, "description": "Cases to draw."},
                        "method": {
                            "enum": ["lhs", "random"],
                            "default": "lhs",
                            "description": "lhs (Latin hypercube, default) or random.",
                        },
                        "seed": {"type": "integer", "description": "Random seed (repeatable)."},
                        "parameters": {
                            "type": "object",
                            "minProperties": 1,
                            "propertyNames": _DESIGN_NAME,
                            "additionalProperties": {
                                "type": "object",
                                "description": "One distribution: uniform: [min, max], "
                                "normal: {mean, std}, lognormal: {mean, std} (of the log), "
                                "truncnormal: {mean, std, min, max}.",
                            },
                            "description": "A distribution by name.",
                        },
                    },
                },
            },
        },
        "qoi": {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN, "patternErrorMessage": "must be a name"},
            "additionalProperties": {"type": "string"},
            "description": "Quantities of interest by label: final(c.v), min(c.v), max(c.v), "
            "mean(c.v), integral(c.v), crossing(c.v, value) or verdict(monitor).",
        },
        "keep": {
            "enum": ["qoi", "full"],
            "default": "qoi",
            "description": "qoi: keep each run's quantities of interest only (default); full: "
            "also its recorded signals, in sweep.h5.",
        },
        "stop": {**_SECONDS, "description": "Stop time of every run (default simulation.stop)."},
        "timeout": {
            **_POSITIVE_SECONDS,
            "description": "Wall-clock seconds a run may take; a longer run fails (default none).",
        },
    },
}
_FORECAST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["targets"],
    "description": "Remaining-useful-life forecasts: fork the twin (its estimator's ensemble "
    "when there is one), simulate ahead and report when a target crosses its threshold "
    "(see docs/twin.md#forecasts).",
    "properties": {
        "horizon": {**_POSITIVE_SECONDS, "description": "Seconds to simulate ahead."},
        "every": {
            **_POSITIVE_SECONDS,
            "description": "Forecast periodically, every this many simulated seconds "
            "(default: only on request: cosim forecast or the OPC UA method).",
        },
        "scenario": {
            "type": "string",
            "description": "What drives the inputs ahead: hold (the current inputs, default) "
            "or the name of a duty cycle under duty_cycles.",
        },
        "duty_cycles": {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN, "patternErrorMessage": "must be a name"},
            "additionalProperties": _PROFILE,
            "description": "Named mission/drive profiles for scenario:.",
        },
        "targets": {
            "type": "array",
            "description": "The questions: when does a signal or parameter cross a threshold?",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "variable"],
                "description": "One target: a variable, a statistic and a threshold.",
                "properties": {
                    "name": {
                        "type": "string",
                        "pattern": NAME_PATTERN,
                        "patternErrorMessage": "must start with a letter or _ and contain "
                        "only letters, digits and _",
                        "description": "The target's name (results and OPC UA nodes).",
                    },
                    "variable": {**_REF, "description": "A signal or an estimated parameter."},
                    "above": {**_NUMBER, "description": "Crossing: the value rises above this."},
                    "below": {**_NUMBER, "description": "Crossing: the value falls below this."},
                    "statistic": {
                        "enum": ["value", "mean", "rms", "max_abs"],
                        "default": "value",
                        "description": "Compared with the threshold: the value, or its moving "
                        "mean, RMS or largest magnitude over `window` seconds.",
                    },
                    "window": {**_POSITIVE, "description": "Seconds for the statistic."},
                    "true_crossing": {
                        **_NUMBER,
                        "description": "The known true crossing time (simulators only), "
                        "recorded for evaluation.",
                    },
                },
            },
        },
    },
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
        "ssp": {
            "type": "string",
            "pattern": r"^.*\.([sS][sS][pP]|[sS][sS][dD])$",
            "patternErrorMessage": "must be an SSP package (.ssp) or a system structure "
            "description (.ssd)",
            "description": "Take the components, connections, parameters and experiment from "
            "this SSP (relative to this file); the keys below add to it (simulation keys "
            "given here win). simulation and components are then optional.",
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
                    "description": "Stop time in seconds; when stop - start is not a multiple "
                    "of step, the last communication step is shorter.",
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
                    "another along the connections, default), jacobi (all step in parallel "
                    "on the previous step's values) or iterative-gauss-seidel (every cycle of "
                    "connections is iterated within each step until its inputs converge).",
                },
                "tolerance": {
                    **_TOLERANCE,
                    "description": "Relative tolerance passed to every FMU (FMI setup "
                    "experiment) and used by Model Exchange solvers (default: each FMU's "
                    "DefaultExperiment tolerance; none if it has none).",
                },
                "extrapolation": {**_EXTRAPOLATION, "default": "zoh"},
                "algebraic_loops": {
                    "enum": list(LOOP_POLICIES),
                    "default": "solve",
                    "description": "Direct-feedthrough cycles: solve (iterate at each step, "
                    "default), error (refuse them) or break (cut each at one connection, "
                    "which then lags by a step).",
                },
                "loop_solver": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "description": "How algebraic loops and iterative Gauss-Seidel iterate.",
                    "properties": {
                        "method": {
                            "enum": list(LOOP_METHODS),
                            "default": "newton",
                            "description": "newton (finite-difference or FMU directional "
                            "derivatives, default) or fixed-point (with relaxation).",
                        },
                        "tolerance": {
                            **_TOLERANCE,
                            "default": 1e-10,
                            "description": "Converged when every loop input changes by less "
                            "than tolerance * (1 + |value|) (default 1e-10).",
                        },
                        "max_iterations": {
                            "type": "integer",
                            "minimum": 1,
                            "default": 50,
                            "description": "Iterations per communication step before the "
                            "step fails (default 50).",
                        },
                        "relaxation": {
                            "type": ["number", "string"],
                            "default": "adaptive",
                            "description": "Fixed-point relaxation factor in (0, 1], or "
                            "adaptive (Aitken, default).",
                        },
                    },
                },
                "step_control": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "description": "A variable communication step with error control: the "
                    "coupling error of each step is estimated by step doubling; steps that "
                    "miss the tolerance are rolled back and retried smaller.",
                    "properties": {
                        "tolerance": {
                            **_TOLERANCE,
                            "default": 1e-6,
                            "description": "Error per step, relative to each output's size "
                            "plus an absolute part of the same value (default 1e-6).",
                        },
                        "min": {
                            **_POSITIVE_SECONDS,
                            "description": "Smallest step in seconds (default step / 1000).",
                        },
                        "max": {
                            **_POSITIVE_SECONDS,
                            "description": "Largest step in seconds (default 100 * step).",
                        },
                    },
                },
                "realtime": {
                    "type": ["number", "null"],
                    "exclusiveMinimum": 0,
                    "default": None,
                    "description": "Pace the run against the wall clock: 1 = real time, "
                    "2 = twice as fast; empty (default) = as fast as possible.",
                },
                "isolation": {
                    "enum": ["none", "process"],
                    "description": "Where the FMUs run: none (default: in the cosim process) "
                    "or process (each in a worker process of its own: a crash or a hang of "
                    "one FMU fails the run cleanly instead of taking cosim down).",
                },
                "timeout": {
                    **_POSITIVE_SECONDS,
                    "description": "Bound every FMI call of every component to this many "
                    "seconds of wall time: a call that overruns fails the run, naming the "
                    "component and the call (default: none; `cosim test`: 60 s).",
                },
                "engine": {
                    "enum": list(ENGINES),
                    "description": "The step loop: native (the compiled kernel, the default "
                    "where a C compiler is found and the plan allows) or python.",
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
                        "additionalProperties": _START_VALUE,
                        "description": "Start values by variable name: parameters, inputs "
                        "and states (variables with initial exact or approx).",
                    },
                    "step": {
                        **_POSITIVE_SECONDS,
                        "description": "This component's own step in seconds, an integer "
                        "multiple of simulation.step (default: simulation.step).",
                    },
                    "interface": {
                        "enum": list(INTERFACES),
                        "description": "Which FMI interface to run: cs (Co-Simulation, default "
                        "when the FMU has it) or me (Model Exchange, integrated by cosim over "
                        "each communication step).",
                    },
                    "solver": {
                        "enum": list(SOLVERS),
                        "description": "Model Exchange solver: cvode (SUNDIALS BDF with "
                        "event location, default), or fixed-step explicit euler or rk4.",
                    },
                    "tolerance": {
                        **_TOLERANCE,
                        "description": "Relative tolerance for this component (default: "
                        "simulation.tolerance).",
                    },
                    "max_step": {
                        **_POSITIVE_SECONDS,
                        "description": "Largest solver step in seconds (Model Exchange; the "
                        "fixed step of euler and rk4; default: the communication step).",
                    },
                    "isolation": {
                        "enum": ["none", "process"],
                        "description": "Run this FMU in a worker process of its own "
                        "(process) or in the cosim process (none); default: "
                        "simulation.isolation.",
                    },
                    "timeout": {
                        **_POSITIVE_SECONDS,
                        "description": "Bound each FMI call of this component to this many "
                        "seconds of wall time (default: simulation.timeout).",
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
                    "extrapolation": {
                        **_EXTRAPOLATION,
                        "description": "This connection's input extrapolation (default: "
                        "simulation.extrapolation): zoh, linear or quadratic.",
                    },
                    "convert": {
                        "enum": list(CONVERSIONS),
                        "description": "How a Real value becomes an Integer input: round "
                        "(half away from zero), floor, ceil or truncate (towards zero). "
                        "Required for Real to Integer connections.",
                    },
                    "unit_conversion": {
                        "type": "boolean",
                        "default": True,
                        "description": "false: pass the value without converting between the "
                        "two variables' units (gain and offset still apply; SSP's "
                        "suppressUnitConversion).",
                    },
                    "mapping": {
                        "type": "array",
                        "description": "Value mapping instead of gain/offset (SSP Boolean/"
                        "Integer/EnumerationMappingTransformation): a list of {from, to}; "
                        "values not listed pass unchanged.",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["from", "to"],
                            "description": "One source value and the target value it becomes.",
                            "properties": {
                                "from": {**_VALUE, "description": "A source value."},
                                "to": {**_VALUE, "description": "The target value."},
                            },
                        },
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
        "inputs": _INPUTS,
        "opcua": _OPCUA,
        "plant": _PLANT,
        "regression": _REGRESSION,
        "monitors": _MONITORS,
        "estimate": _ESTIMATE,
        "forecast": _FORECAST,
        "sweep": _SWEEP,
    },
}

# Sections with their own parser (cosim.io.opcua, cosim.io.plant, cosim.verify.regression),
# which reports more specific problems than a schema walk; SystemSpec.extra keeps them as plain
# data too. The YAML reader checks the rest of the file against STRUCTURE_SCHEMA.
EXTRA_SECTIONS = ("opcua", "plant", "regression")
# Checked by the schema walk, then kept as plain data for cosim.io.analytics to type.
TWIN_SECTIONS = ("monitors", "estimate", "forecast")
# Checked by the schema walk, then kept as plain data for cosim.io.sweep to type.
STUDY_SECTIONS = ("sweep",)
STRUCTURE_SCHEMA: dict[str, Any] = {
    **SCHEMA,
    "properties": {
        k: ({"description": v["description"]} if k in EXTRA_SECTIONS else v)
        for k, v in SCHEMA["properties"].items()
    },
}


def _without_required(schema: dict[str, Any]) -> dict[str, Any]:
    """The structure schema of a file with `ssp:`: simulation and components come from the SSP."""
    out = {**schema, "required": []}
    sim = schema["properties"]["simulation"]
    out["properties"] = {**schema["properties"], "simulation": {**sim, "required": []}}
    return out


SSP_STRUCTURE_SCHEMA = _without_required(STRUCTURE_SCHEMA)


def json_schema() -> dict[str, Any]:
    """A fresh copy of the schema (callers may modify it)."""
    return copy.deepcopy(SCHEMA)


__all__ = [
    "ALGORITHMS",
    "CONVERSIONS",
    "EXTRAPOLATIONS",
    "ENGINES",
    "EXTRA_SECTIONS",
    "INTERFACES",
    "LOOP_METHODS",
    "LOOP_POLICIES",
    "SOLVERS",
    "SSP_STRUCTURE_SCHEMA",
    "STUDY_SECTIONS",
    "NAME_PATTERN",
    "REF_PATTERN",
    "SCHEMA",
    "STRUCTURE_SCHEMA",
    "TWIN_SECTIONS",
    "json_schema",
]
