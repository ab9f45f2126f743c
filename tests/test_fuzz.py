"""Fuzzed input (issue 14): mutated system files and FMU archives give a clean error or a
success, never a traceback or a hang. A few hundred seeded cases here; bench/fuzz.py runs
10,000. The generator and its outcomes are in tests/fuzzing.py."""

from __future__ import annotations

import pytest
from fuzzing import Case, Fuzzer

SEED, COUNT = 14, 250


def test_fuzzed_systems_and_fmus_never_give_a_traceback(tmp_path) -> None:
    report = Fuzzer(tmp_path, time_limit=30).run_all(SEED, COUNT)
    bugs = "\n".join(
        f"case {r.case.index} ({r.case.kind}, {r.case.command}, from {r.case.origin}: "
        f"{r.case.mutation[:100]}): {r.signature}\n{r.output[-800:]}"
        for r in report.bugs[:5]
    )
    assert report.outcomes["traceback"] == 0 and report.outcomes["hang"] == 0, bugs
    # the mutations reach both sides: files that still run and files that are bad input
    assert report.outcomes["ok"] >= COUNT // 20 and report.outcomes["bad input"] >= COUNT // 2
    kinds = {kind for kind, _, _ in report.by_command}
    assert kinds == {"system", "fmu"}


def test_the_fuzzer_reports_an_escaped_exception_as_a_traceback(tmp_path, monkeypatch) -> None:
    import cosim.cli.validate

    def broken(args):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(cosim.cli.validate, "run", broken)
    case = Case(0, 0, "system", "planted", "none", b"name: x\n", "validate")
    result = Fuzzer(tmp_path).run(case)
    assert result.outcome == "traceback" and result.signature.startswith("ZeroDivisionError")


def test_the_fuzzer_reports_a_hang(tmp_path, monkeypatch) -> None:
    import time

    import cosim.cli.validate

    monkeypatch.setattr(cosim.cli.validate, "run", lambda args: time.sleep(10))
    case = Case(0, 1, "system", "planted", "none", b"name: x\n", "validate")
    t0 = time.monotonic()
    result = Fuzzer(tmp_path, time_limit=0.5).run(case)
    assert result.outcome == "hang" and time.monotonic() - t0 < 5


@pytest.mark.parametrize("seed", [0, 1])
def test_cases_are_reproduced_from_their_seed(seed) -> None:
    from fuzzing import cases

    first = [(c.kind, c.mutation, c.data) for c in cases(seed, 20)]
    again = [(c.kind, c.mutation, c.data) for c in cases(seed, 20)]
    assert first == again
