"""Write dual_mass_oscillator.h5: the exact solution of systems/dual_mass_oscillator.yaml.

The two FMUs together are one linear ODE in z = (x1, v1, x2, v2) with the coupling force
F = kc*(x2 - x1) + cc*(v2 - v1) acting on mass 1 (and -F on mass 2):

    m1*x1'' = -k1*x1 - c1*v1 + F + F_ext
    m2*x2'' = -k2*x2 - c2*v2 - F

so z' = A z + b with b = (0, F_ext/m1, 0, 0), constant between the timed events. On each
piece the solution is exact through the matrix exponential of the augmented system
[z; 1]' = [[A, b], [0, 0]] [z; 1]. Parameters are the models' declared start values
(fmus/models/*/model.yaml) with the system file's `parameters:` applied; start values and the
F_ext events come from the system file too. The result is sampled on the system's record
grid (record.interval) and written in the results.h5 layout, compressed.

Run from anywhere: python systems/references/make_dual_mass_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml
from scipy.linalg import expm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SYSTEM = ROOT / "systems" / "dual_mass_oscillator.yaml"
OUTPUT = HERE / "dual_mass_oscillator.h5"
SIGNALS = {"mass1.x1": (0, "m"), "mass2.x2": (2, "m")}  # name -> (index in z, unit)


def model_starts(name: str) -> dict[str, float]:
    """Declared start values of a bundled model's variables."""
    data = yaml.safe_load((ROOT / "fmus" / "models" / name / "model.yaml").read_text())
    return {k: float(v["start"]) for k, v in data["variables"].items() if "start" in v}


def main() -> int:
    system = yaml.safe_load(SYSTEM.read_text())
    p1 = {**model_starts("Mass1"), **system["components"]["mass1"].get("parameters", {})}
    p2 = {**model_starts("Mass2"), **(system["components"]["mass2"].get("parameters") or {})}
    m1, k1, c1 = p1["m1"], p1["k1"], p1["c1"]
    m2, k2, c2, kc, cc = p2["m2"], p2["k2"], p2["c2"], p2["kc"], p2["cc"]
    a = np.array(
        [
            [0.0, 1.0, 0.0, 0.0],
            [-(k1 + kc) / m1, -(c1 + cc) / m1, kc / m1, cc / m1],
            [0.0, 0.0, 0.0, 1.0],
            [kc / m2, cc / m2, -(k2 + kc) / m2, -(c2 + cc) / m2],
        ]
    )
    z = np.array([p1["x1"], p1["v1"], p2["x2"], p2["v2"]])

    sim = system["simulation"]
    start, stop = float(sim.get("start", 0.0)), float(sim["stop"])
    interval = float(system["record"]["interval"])
    n = round((stop - start) / interval)
    times = start + interval * np.arange(n + 1)

    # piecewise-constant F_ext: (time, value) from the timed events
    f_ext = p1["F_ext"]
    changes = []
    for event in system.get("events") or []:
        for ref, value in event["set"].items():
            if ref != "mass1.F_ext":
                raise SystemExit(f"{SYSTEM}: event on {ref} is not modelled by this script")
            changes.append((float(event["at"]), float(value)))
    changes.sort()

    out = np.empty((times.size, 4))
    t0, k = start, 0
    bounds = [*changes, (np.inf, 0.0)]
    for t_next, value in bounds:
        aug = np.zeros((5, 5))
        aug[:4, :4] = a
        aug[1, 4] = f_ext / m1
        piece = (times >= t0) & (times < t_next) if np.isfinite(t_next) else times >= t0
        for i in np.flatnonzero(piece):
            out[i] = (expm(aug * (times[i] - t0)) @ np.append(z, 1.0))[:4]
        k += int(piece.sum())
        if np.isfinite(t_next):  # state at the event, then the new force
            z = (expm(aug * (t_next - t0)) @ np.append(z, 1.0))[:4]
            t0, f_ext = t_next, value
    assert k == times.size

    sys.path.insert(0, str(ROOT))
    from cosim.verify.regression import write_reference_file

    write_reference_file(
        OUTPUT,
        times,
        {name: out[:, i] for name, (i, _) in SIGNALS.items()},
        {name: unit for name, (_, unit) in SIGNALS.items()},
        attrs={
            "system_name": system.get("name", SYSTEM.stem),
            "source": "exact solution (matrix exponential), "
            "systems/references/make_dual_mass_reference.py",
            "record_interval": interval,
        },
    )
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {times.size} samples of {', '.join(SIGNALS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
