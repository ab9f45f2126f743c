"""Benchmark: fuzz cosim's inputs with 10,000 seeded mutations of system files and FMU
archives (issue 14) and print the counts of each outcome, by kind and command, and the
signature of every traceback or hang (goal: 0 of both).

    python bench/fuzz.py [--cases 10000] [--seed 1] [--keep DIR]

The generator is tests/fuzzing.py (also run, a few hundred cases, by tests/test_fuzz.py). A
failing case's file stays in the work folder (--keep names it) with its seed and index, so it
is reproduced with `cosim validate` on it. It always exits 0: it measures, it does not judge.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzzing import OUTCOMES, Fuzzer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", metavar="DIR", help="work folder (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cosim-fuzz-"))
    fuzzer = Fuzzer(work, time_limit=30.0)
    t0 = time.perf_counter()

    def progress(i: int, result) -> None:
        if (i + 1) % 500 == 0:
            print(f"  {i + 1} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    report = fuzzer.run_all(args.seed, args.cases, progress)
    seconds = time.perf_counter() - t0
    per_case = 1000 * seconds / max(args.cases, 1)
    print(f"\nfuzz: {args.cases} cases, seed {args.seed}, {seconds:.0f} s "
          f"({per_case:.1f} ms per case), work folder {work}\n")  # fmt: skip
    print(f"| {'kind':<6} | {'command':<8} | " + " | ".join(f"{o:>9}" for o in OUTCOMES) + " |")
    print("|" + "---|" * (2 + len(OUTCOMES)))
    rows = sorted({(k, c) for k, c, _ in report.by_command})
    for kind, command in rows:
        counts = [report.by_command[(kind, command, o)] for o in OUTCOMES]
        print(f"| {kind:<6} | {command:<8} | " + " | ".join(f"{n:>9}" for n in counts) + " |")
    total = [report.outcomes[o] for o in OUTCOMES]
    print(f"| {'all':<6} | {'':<8} | " + " | ".join(f"{n:>9}" for n in total) + " |")
    print(f"\ntracebacks: {report.outcomes['traceback']}, hangs: {report.outcomes['hang']}")
    for signature, n in report.signatures.most_common():
        print(f"  {n:>5}  {signature}")
    for r in report.bugs[:20]:
        print(f"  case {r.case.index} ({r.case.kind} {r.case.command} from {r.case.origin}: "
              f"{r.case.mutation[:90]}): {r.signature}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
