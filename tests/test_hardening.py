"""Hostile or unlucky input files give a clean error (exit 2, file:line:col), never a
traceback, a hang or a crash (issue 14, hardened parsing: the reproducers found by fuzzing)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cosim.cli import main

BASE = "simulation: {stop: 0.1, step: 0.01}\n"
LIVE = (
    BASE + "components: {g: {fmu: Gain}}\n"
    "opcua: {endpoint: 'opc.tcp://127.0.0.1:4840', inputs: [{node: 'ns=2;s=X', to: g.u}]}\n"
)
CASES = {
    "brackets nested 600 deep": "name: " + "[" * 600 + "]" * 600 + "\n",
    "block sequences nested 100,000 deep": "- " * 100_000 + "x\n",
    "flow nested 100,000 deep": "name: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "an alias inside itself": "name: &a [*a]\n",
    "a bool tag on a non-bool": "name: !!bool maybe\n",
    "an fmu: path too long": BASE + "components: {g: {fmu: " + "a" * 300 + ".fmu}}\n",
    "a NUL byte in fmu:": BASE + 'components: {g: {fmu: "a\\0.fmu"}}\n',
    "fmu: a device": BASE + "components: {g: {fmu: /dev/zero}}\n",
    # found by tests/fuzzing.py: a wrong type the schema walk reports, then a parser trusted it
    "a monitor's min_duration a mapping": LIVE
    + "monitors: [{name: m, residual: g.u, alarm: 1.0, min_duration: {a: 1}}]\n",
    "a duty cycle's values a text": LIVE
    + "forecast: {targets: [{name: t, variable: g.y, above: 1}],"
    + " duty_cycles: {s: {time: [0, 1], values: x}}}\n",
    "an estimate's prior a number": LIVE
    + "estimate: {parameters: [{name: g.k, prior: 3}], measurements: [{signal: g.y, noise: 1}]}\n",
    "an integer beyond any float": LIVE
    + "forecast: {every: 1"
    + "0" * 400
    + ", targets: [{name: t, variable: g.y, above: 1}]}\n",
    "a parameter beyond any float": BASE
    + "components: {g: {fmu: Gain, parameters: {k: 1"
    + "0" * 400
    + "}}}\n",
    "an endpoint with an unbalanced bracket": BASE + "components: {g: {fmu: Gain}}\n"
    "opcua: {endpoint: 'opc.tcp://[::1:4840', inputs: [{node: 'ns=2;s=X', to: g.u}]}\n",
    "a connect_timeout beyond any float": LIVE.replace(
        "opcua: {", "opcua: {connect_timeout: 1" + "0" * 400 + ", "
    ),
    "a sweep's factorial a list": BASE
    + "components: {g: {fmu: Gain}}\nsweep: {design: {factorial: [1, 2]}, qoi: [x]}\n",
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
    "a monitor's min_duration a mapping": "monitors[0].min_duration must be a number",
    "a duty cycle's values a text": "duty_cycles.s.values must be a mapping",
    "an estimate's prior a number": "estimate.parameters[0].prior must be a mapping",
    "a sweep's factorial a list": "sweep.design.factorial must be a mapping",
    "an integer beyond any float": "forecast.every",
    "a parameter beyond any float": "g.k must be a number",
    "an endpoint with an unbalanced bracket": "is not a valid URL",
    "a connect_timeout beyond any float": "opcua.connect_timeout must be a non-negative number",
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


# ------------------------------------------------------------------ bad FMU content
def _remake(src, out, member_bytes=None, description=None):
    """A copy of the FMU `src` with the modelDescription.xml text changed by `description` or
    the raw archive bytes changed by `member_bytes(data, info of the binary)`."""
    import shutil
    import zipfile

    if description is not None:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "modelDescription.xml":
                    data = description(data.decode()).encode()
                zout.writestr(info, data)
        return out
    shutil.copy(src, out)
    with zipfile.ZipFile(src) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(".so"))
    data = bytearray(out.read_bytes())
    member_bytes(data, info)
    out.write_bytes(bytes(data))
    return out


def _flip_deflate(data, info):
    import struct

    off = info.header_offset
    n, m = struct.unpack("<HH", data[off + 26 : off + 30])
    for k in range(off + 30 + n + m + 200, off + 30 + n + m + 400):
        data[k] ^= 0x5A


def _replace(old, new):
    import struct

    def patch(data, info):
        data[:] = data.replace(struct.pack("<I", old(info)), struct.pack("<I", new(info)))

    return patch


CORRUPT = {
    "a corrupt deflate stream": (_flip_deflate, "is corrupt: Error -3"),
    "a bad CRC-32": (_replace(lambda i: i.CRC, lambda i: i.CRC ^ 0xFFFF), "Bad CRC-32"),
    "a size larger than the member": (
        _replace(lambda i: i.file_size, lambda i: 3 * i.file_size + 17),
        "its header says",
    ),
    "a size smaller than the member": (
        _replace(lambda i: i.file_size, lambda i: i.file_size // 2),
        "is corrupt",
    ),
}


def _system(tmp_path, fmu):
    path = tmp_path / "system.yaml"
    path.write_text(BASE + f"components: {{g: {{fmu: {fmu.name}}}}}\n")
    return path


def _cosim(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "cosim", *map(str, args)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize("case", list(CORRUPT))
def test_a_corrupt_fmu_archive_is_bad_input_in_validate_inspect_and_run(case, tmp_path):
    from cosim.library.build import bundled_fmu

    patch, message = CORRUPT[case]
    fmu = _remake(bundled_fmu("Gain"), tmp_path / "bad.fmu", member_bytes=patch)
    system = _system(tmp_path, fmu)
    before = set(os.listdir(tmp_path))
    for args in (["validate", system], ["inspect", fmu], ["run", system, "--out", tmp_path / "r"]):
        out = _cosim(*args)
        text = out.stdout + out.stderr
        assert out.returncode == 2, (args, text)
        assert "Traceback" not in text and message in text, (args, text)
        assert "binaries/linux64/Gain.so" in text, text
    assert set(os.listdir(tmp_path)) - before <= {"r"}  # nothing unpacked next to it


@pytest.mark.parametrize("case", list(CORRUPT)[:2])
def test_unpacking_a_corrupt_fmu_leaves_no_folder_behind(case, tmp_path):
    from cosim.errors import ConfigError
    from cosim.fmu.archive import extract
    from cosim.library.build import bundled_fmu

    fmu = _remake(bundled_fmu("Gain"), tmp_path / "bad.fmu", member_bytes=CORRUPT[case][0])
    target = tmp_path / "unpacked"
    with pytest.raises(ConfigError, match="is corrupt"):
        extract(fmu, target)
    assert not target.exists()
    import tempfile

    made = set(os.listdir(tempfile.gettempdir()))
    with pytest.raises(ConfigError, match="is corrupt"):
        extract(fmu)  # into a new temporary folder: removed again
    assert {n for n in set(os.listdir(tempfile.gettempdir())) - made if "bad" in n} == set()


DESCRIPTIONS = {
    "valueReference 2**32": ('valueReference="1"', 'valueReference="4294967296"', "out of range"),
    "valueReference -1": ('valueReference="1"', 'valueReference="-1"', "out of range"),
    "valueReference 1e20": ('valueReference="1"', 'valueReference="1e20"', "1e20"),
    "Integer start 1.5e400": ('<Integer start="0"/>', '<Integer start="1.5e400"/>', "1.5e400"),
    "Integer start beyond int32": (
        '<Integer start="0"/>',
        '<Integer start="99999999999"/>',
        "range of Integer",
    ),
    "a variable name used twice": (
        '<ScalarVariable name="b"',
        '<ScalarVariable name="k" valueReference="9" causality="local"><Real/></ScalarVariable>'
        '<ScalarVariable name="b"',
        "the name is used twice",
    ),
    "Real start 1e400": (
        '<Real unit="1" start="1.0"/>',
        '<Real unit="1" start="1e400"/>',
        "64-bit",
    ),
}


@pytest.mark.parametrize("case", list(DESCRIPTIONS))
def test_a_model_description_outside_the_standard_is_bad_input(case, tmp_path):
    from cosim.library.build import bundled_fmu

    old, new, message = DESCRIPTIONS[case]
    fmu = _remake(
        bundled_fmu("Gain"), tmp_path / "bad.fmu", description=lambda t: t.replace(old, new, 1)
    )
    system = _system(tmp_path, fmu)
    for args in (["validate", system], ["run", system, "--out", tmp_path / "r"]):
        out = _cosim(*args)
        text = out.stdout + out.stderr
        assert out.returncode == 2 and "Traceback" not in text, (args, text)
        assert f"{system}:2:" in text and message in text, (args, text)


def test_a_model_description_beyond_the_limits_is_refused_before_it_is_parsed(tmp_path):
    """A 300 MiB modelDescription.xml (compressed to 0.3 MB) and 1,000,001 variables: refused
    from the header and a streaming count, in well under the seconds parsing would take."""
    import time

    from cosim.fmu import archive
    from cosim.library.build import bundled_fmu

    gain = bundled_fmu("Gain")
    bomb = _remake(
        gain,
        tmp_path / "bomb.fmu",
        description=lambda t: t.replace(
            "</fmiModelDescription>", "<!--" + " " * (300 * 1024**2) + "-->\n</fmiModelDescription>"
        ),
    )
    many = archive.MAX_VARIABLES + 1
    variable = '<ScalarVariable name="x{}" valueReference="{}"><Real/></ScalarVariable>\n'
    crowd = _remake(
        gain,
        tmp_path / "crowd.fmu",
        description=lambda t: t.replace(
            "  </ModelVariables>",
            "".join(variable.format(i, 10**5 + i) for i in range(many)) + "  </ModelVariables>",
        ),
    )
    for fmu, message in ((bomb, "300 MiB, more than the 256 MiB"), (crowd, "1,000,000 variables")):
        t0 = time.perf_counter()
        out = _cosim("validate", _system(tmp_path, fmu))
        assert out.returncode == 2 and message in out.stdout, out.stdout + out.stderr
        assert time.perf_counter() - t0 < 20  # parsing 1e6 variables: ~30 s and ~3 GB


def test_plant_only_errors_fail_run_as_they_fail_validate(tmp_path):
    from pathlib import Path

    systems = Path(__file__).resolve().parents[1] / "systems"
    text = (systems / "ema_plant.yaml").read_text().replace("../fmus/", f"{systems.parent}/fmus/")
    path = tmp_path / "plant.yaml"
    path.write_text(text.replace("from: act.wear,", "from: act.wearr,"))
    for args in (["validate", path], ["run", path, "--stop", "0.1", "--out", tmp_path / "r"]):
        out = _cosim(*args)
        text = out.stdout + out.stderr
        assert out.returncode == 2 and "Traceback" not in text, (args, text)
        assert "plant.serve[4].from" in text and "did you mean 'act.wear'" in text, text


@pytest.mark.parametrize("name", ["system.yaml", "system.ssd"])
def test_a_system_file_that_is_a_fifo_does_not_hang(name, tmp_path):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    out = _cosim("validate", fifo)
    assert out.returncode == 2 and "Traceback" not in out.stdout + out.stderr
    assert f"{fifo}: error: cannot read" in out.stdout and "not a regular file" in out.stdout


def test_a_system_file_beyond_the_size_limit_is_refused_unread(tmp_path):
    from cosim.io.yaml import MAX_SYSTEM_BYTES

    path = tmp_path / "system.yaml"
    with open(path, "wb") as fh:  # sparse: no time spent writing it
        fh.truncate(MAX_SYSTEM_BYTES + 1)
    out = _cosim("validate", path)
    assert out.returncode == 2 and "more than the 64 MiB cosim reads" in out.stdout, out.stdout


def test_an_array_of_a_billion_elements_is_not_expanded(tmp_path):
    """FMI 3.0 `<Dimension start="1000000000"/>`: the array is named unusable, at once."""
    import time

    from cosim.library.build import bundled_fmu

    array = (
        '<Float64 name="huge" valueReference="999" causality="local" variability="continuous">'
        '<Dimension start="1000000000"/></Float64>\n  </ModelVariables>'
    )
    _remake(
        bundled_fmu("fmi3/Gain"),
        tmp_path / "huge.fmu",
        description=lambda t: t.replace("</ModelVariables>", array, 1),
    )
    path = tmp_path / "system.yaml"
    path.write_text(BASE + "components: {g: {fmu: huge.fmu}}\nrecord: {variables: [g.huge]}\n")
    t0 = time.perf_counter()
    out = _cosim("validate", path)
    assert time.perf_counter() - t0 < 20
    assert out.returncode == 2 and "Traceback" not in out.stdout + out.stderr
    assert "an array of 1,000,000,000 elements, beyond cosim's limit" in out.stdout, out.stdout
