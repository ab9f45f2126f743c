"""Hostile or unlucky input files give a clean error (exit 2, file:line:col), never a
traceback, a hang or a crash (issue 14, hardened parsing: the reproducers found by fuzzing)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cosim.cli import main

BASE = "simulation: {stop: 0.1, step: 0.01}\n"
CASES = {
    "brackets nested 600 deep": "name: " + "[" * 600 + "]" * 600 + "\n",
    "block sequences nested 100,000 deep": "- " * 100_000 + "x\n",
    "flow nested 100,000 deep": "name: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "an alias inside itself": "name: &a [*a]\n",
    "a bool tag on a non-bool": "name: !!bool maybe\n",
    "an fmu: path too long": BASE + "components: {g: {fmu: " + "a" * 300 + ".fmu}}\n",
    "a NUL byte in fmu:": BASE + 'components: {g: {fmu: "a\\0.fmu"}}\n',
    "fmu: a device": BASE + "components: {g: {fmu: /dev/zero}}\n",
}
MESSAGES = {
    "brackets nested 600 deep": "nests too deeply",
    "block sequences nested 100,000 deep": "nests too deeply",
    "flow nested 100,000 deep": "nests too deeply",
    "an alias inside itself": "alias inside itself",
    "a bool tag on a non-bool": "cannot read 'maybe' as !!bool",
    "an fmu: path too long": "cannot use the FMU path",
    "a NUL byte in fmu:": "embedded null byte",
    "fmu: a device": "not a regular file",
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_system_file_is_bad_input_with_a_message(case, tmp_path, capfd):
    path = tmp_path / "system.yaml"
    path.write_text(CASES[case])
    assert main(["validate", str(path)]) == 2
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert f"{path}:" in out and MESSAGES[case] in out, out + err


def test_an_fmu_that_is_a_fifo_does_not_hang_validate(tmp_path):
    fifo = tmp_path / "pipe.fmu"
    os.mkfifo(fifo)
    path = tmp_path / "system.yaml"
    path.write_text(BASE + f"components: {{g: {{fmu: {fifo}}}}}\n")
    out = subprocess.run(
        [sys.executable, "-m", "cosim", "validate", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stdout + out.stderr
    assert "not a regular file" in out.stdout
