"""Benchmark: cosim's master loop against a hand-written C loop over the same FMU functions.

The scenarios of the peer engines' benchmarks (OMSimulator, ecos), with bundled FMUs:

  chain-10        10 x Gain (direct feedthrough), 10,000 steps, FMI 2.0 and 3.0
  single          one FirstOrder (a stiff-free lag), 100,000 steps, FMI 2.0
  chain-N         N = 1, 10, 100, 1000 x Gain, FMI 2.0 (steps scaled to N)

For each it prints, in µs per instance-step (stepping only; medians of fresh processes):

  floor           bench/floor.c, compiled here with gcc: set, doStep, get per instance in C
  cosim-native    cosim with the compiled step kernel (engine: native), no recording
  cosim-python    cosim's Python loop (engine: python), no recording
  + h5            the same, recording 2 signals at every step to results.h5 (the writer
                  thread drains the blocks meanwhile; the file's close is shown apart)
  + all in memory the same, recording every output at every step (in memory)

and cosim's setup per instance (resolve + instantiate + initialize, ms); then `floor calls`
times the FMU calls of the floor one by one (where the floor's time goes). It always exits
0: it measures, it does not judge.

    python bench/peers.py [--repeat 5] [--quick] [--only 'chain-10, FMI 2.0']
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_COSIM = r"""
import json, os, sys, tempfile, time
import cosim
fmu, n, steps, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
mode, engine = sys.argv[5], sys.argv[6]
comps = {f"g{i}": {"fmu": fmu} for i in range(n)}
conns = [{"from": f"g{i}.y", "to": f"g{i + 1}.u"} for i in range(n - 1)]
data = {"simulation": {"stop": steps * h, "step": h}, "components": comps, "connections": conns}
out = None
if mode == "none":
    data["record"] = {"variables": [f"g{n - 1}.y"], "interval": steps * h}
elif mode == "h5":  # 2 signals at every step into results.h5 (the writer thread drains it)
    data["record"] = {"variables": [f"g0.u", f"g{n - 1}.y"]}
    out = os.path.join(tempfile.mkdtemp(), "results.h5")
t0 = time.perf_counter()
system = cosim.System.from_dict(data)
with system.execution(out, memory=mode == "memory", engine=engine) as sim:
    sim.initialize()
    sim.set("g0.u", 1.0)
    t1 = time.perf_counter()
    sim.run_until()
    t2 = time.perf_counter()
t3 = time.perf_counter()  # the file's close: the last block, statistics, metadata
stats = sim.execution.stats
print(json.dumps({"step_us": 1e6 * (t2 - t1) / (n * steps), "setup_ms": 1e3 * (t1 - t0) / n,
                  "close_ms": 1e3 * (t3 - t2), "engine": stats.engine,
                  "kernel_steps": stats.kernel_steps}))
"""


def _unpack(fmu: Path, folder: Path) -> tuple[str, str, str, int, int]:
    """(library, guid/token, resource URI, vr of u, vr of y) of a bundled FMU."""
    from cosim.fmu.archive import read_model_description

    md = read_model_description(fmu)
    out = folder / fmu.stem
    with zipfile.ZipFile(fmu) as zf:
        zf.extractall(out)
    fmi3 = md.fmiVersion.startswith("3")
    ident = md.coSimulation.modelIdentifier
    lib = out / "binaries" / ("x86_64-linux" if fmi3 else "linux64") / f"{ident}.so"
    vrs = {v.name: v.valueReference for v in md.modelVariables}
    resources = (out / "resources").as_posix() + "/"
    uri = resources if fmi3 else f"file://{resources}"
    return str(lib), md.guid, uri, vrs["u"], vrs["y"]


def _floor(exe: Path, fmu: Path, folder: Path, n: int, steps: int, h: float) -> float:
    lib, token, uri, vr_in, vr_out = _unpack(fmu, folder)
    fmi = "3" if "fmi3" in fmu.parts else "2"
    args = [str(exe), fmi, lib, token, uri, str(vr_in), str(vr_out), str(n), str(steps), repr(h)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True)
    return float(out.stdout.split()[0])


def _cosim(name: str, n: int, steps: int, h: float, mode: str, engine: str) -> dict:
    args = [sys.executable, "-c", _COSIM, name, str(n), str(steps), repr(h), mode, engine]
    out = subprocess.run(args, capture_output=True, text=True, timeout=1200, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _calls(exe: Path, folder: Path) -> list[str]:
    """`floor calls` on the FMI 2.0 Gain and FirstOrder: where the floor's time goes."""
    from cosim.library.build import bundled_fmu

    lines = []
    for name in ("Gain", "FirstOrder"):
        lib, token, uri, vr_in, vr_out = _unpack(Path(bundled_fmu(name)), folder)
        args = [str(exe), "calls", lib, token, uri, str(vr_in), str(vr_out), "1000000"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True)
        lines.append(f"{name}: {out.stdout.strip()}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per measurement")
    parser.add_argument("--quick", action="store_true", help="a tenth of the steps")
    parser.add_argument(
        "--only", metavar="TEXT", help="only the scenarios whose title contains TEXT"
    )
    args = parser.parse_args()
    from cosim.library.build import bundled_fmu, fmi_headers

    scale = 0.1 if args.quick else 1.0
    scenarios = [
        ("chain-10, FMI 2.0", "Gain", 10, 10_000),
        ("chain-10, FMI 3.0", "fmi3/Gain", 10, 10_000),
        ("single FirstOrder, FMI 2.0", "FirstOrder", 1, 100_000),
        # the chain of N = 1, 10, 100, 1000 (N = 10 is the first row)
        *((f"chain-{n}, FMI 2.0", "Gain", n, max(100, 100_000 // n)) for n in (1, 100, 1000)),
    ]
    if args.only:
        scenarios = [sc for sc in scenarios if args.only in sc[0]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exe = folder / "floor"
        subprocess.run(
            ["gcc", "-std=c11", "-O2", "-I", str(fmi_headers()), str(ROOT / "bench" / "floor.c"),
             "-o", str(exe), "-ldl"],
            check=True,
        )  # fmt: skip
        rows = []
        for title, name, n, steps in scenarios:
            steps = max(10, int(steps * scale))
            fmu = Path(bundled_fmu(name))
            floors: list[float] = []
            runs: dict[tuple[str, str], list[dict]] = {
                (e, m): [] for e in ("python", "native") for m in ("none", "memory", "h5")
            }
            for _ in range(args.repeat):  # interleaved: a slow spell of the machine hits all
                floors.append(_floor(exe, fmu, folder, n, steps, 1e-3))
                for engine, mode in runs:
                    runs[engine, mode].append(_cosim(name, n, steps, 1e-3, mode, engine))
            floor = statistics.median(floors)

            def med(key: tuple, field: str = "step_us", runs: dict = runs) -> float:
                return statistics.median(r[field] for r in runs[key])

            assert all(r["engine"] == "native" for r in runs["native", "none"]), name
            rows.append(
                (
                    title,
                    steps,
                    floor,
                    med(("native", "none")),
                    med(("python", "none")),
                    med(("native", "h5")),
                    med(("python", "h5")),
                    med(("native", "memory")),
                    med(("python", "memory")),
                    med(("native", "none"), "setup_ms"),
                    med(("native", "h5"), "close_ms"),
                )
            )
        calls = _calls(exe, folder)
    print(f"median of {args.repeat} fresh processes; µs per instance-step (stepping only)\n")
    print(
        "| scenario | steps | floor (C) | cosim-native | × floor | cosim-python | "
        "native + h5 (2 signals) | × floor | python + h5 | native + all in memory | "
        "python + all in memory | setup ms/inst | h5 close ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for title, steps, floor, nat, py, nat_h5, py_h5, nat_mem, py_mem, setup, close in rows:
        print(
            f"| {title} | {steps} | {floor:.3f} | {nat:.3f} | {nat / floor:.2f} | {py:.2f} | "
            f"{nat_h5:.3f} | {nat_h5 / floor:.2f} | {py_h5:.2f} | {nat_mem:.3f} | "
            f"{py_mem:.2f} | {setup:.2f} | {close:.1f} |"
        )
    print("\nwhere the floor goes (floor calls, one instance, 1e6 calls each):")
    for line in calls:
        print(f"  {line}")


if __name__ == "__main__":
    main()
