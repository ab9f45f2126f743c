"""`cosim convert X.ssp -o Y.yaml` and `cosim run X.ssp`, as real subprocesses.

src(Gain, b=2) --y*3+1--> dst(Gain).u      [SSP with the cosim step annotation]
convert -> Y.yaml + Y_fmus/Gain.fmu; running Y.yaml gives the SSP's results bit for bit.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest
from test_ssp_read import (
    GAIN_IO,
    component,
    connection,
    inline_params,
    package,
    real,
    ssd,
    system,
)

from cosim.io.dump import dump_system
from cosim.io.yaml import read_system
from cosim.library.build import bundled_fmu

SIM = (
    '<ssd:Annotations><ssc:Annotation type="org.cosim">'
    '<cosim:Simulation xmlns:cosim="https://cosim.dev/ssp/1" step="0.1" algorithm="jacobi"/>'
    "</ssc:Annotation></ssd:Annotations>\n"
)


def cosim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cosim", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture
def ssp(tmp_path):
    ints = '<ssd:Connector name="n_out" kind="output"><ssc:Integer/></ssd:Connector>'
    text = ssd(
        system(
            component("src", "Gain", GAIN_IO + ints, inline_params(real("b", 2.0)))
            + component(
                "dst",
                "Gain",
                GAIN_IO + ints + ints.replace("n_out", "n_in").replace("output", "input"),
            )
            + component("2nd", "Gain", GAIN_IO),
            connection("src.y", "dst.u", '<ssc:LinearTransformation factor="3" offset="1"/>')
            + connection(
                "src.n_out",
                "dst.n_in",
                '<ssc:IntegerMappingTransformation><ssc:MapEntry source="0" target="4"/>'
                "</ssc:IntegerMappingTransformation>",
            )
            + connection("dst.y", "2nd.u"),
            inner=SIM,
        ),
        '<ssd:DefaultExperiment startTime="0" stopTime="1.5"/>',
    )
    return package(tmp_path, text)


def _h5(path):
    out = {}

    def keep(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(keep)
    return out


def test_convert_then_run_gives_the_same_results(tmp_path, ssp):
    out = tmp_path / "out" / "system.yaml"
    proc = cosim("convert", str(ssp), "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "communication step 0.1 s from the cosim annotation" in proc.stdout
    assert "component _2nd is the SSP element 2nd" in proc.stdout
    assert (tmp_path / "out" / "system_fmus" / "Gain.fmu").is_file()  # one copy per FMU
    assert len(list((tmp_path / "out" / "system_fmus").iterdir())) == 1
    text = out.read_text()
    assert "fmu: system_fmus/Gain.fmu" in text and "mapping:" in text
    # the YAML reads back into the same spec (names, parameters, gains, mapping, settings)
    from cosim.ssp.read import read_ssp

    a, _ = read_ssp(ssp)
    b, problems = read_system(out)
    assert not [p for p in problems if p.severity == "error"], problems
    assert a.simulation == b.simulation and a.connections == b.connections
    for name in a.components:
        assert a.components[name].parameters == b.components[name].parameters
    runs = {}
    for label, source in (("ssp", ssp), ("yaml", out)):
        proc = cosim("run", str(source), "--out", str(tmp_path / label), "--quiet")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs[label] = _h5(tmp_path / label / "results.h5")
    assert runs["ssp"].keys() == runs["yaml"].keys()
    for key, value in runs["ssp"].items():
        if np.asarray(value).dtype.kind in "fiub":
            assert np.array_equal(value, runs["yaml"][key]), key
    time = runs["ssp"]["time"]
    assert time[-1] == pytest.approx(1.5) and np.allclose(np.diff(time), 0.1)
    # closed form: dst.y = 3*2 + 1 (Jacobi: from the second step on); dst.n_out = 4 (mapped)
    signals = {k.split("/")[-1]: v for k, v in runs["ssp"].items()}
    assert np.all(signals["dst.y"][1:] == 7.0) and np.all(signals["dst.n_out"][1:] == 4)


def test_convert_refuses_to_overwrite_without_force(tmp_path, ssp):
    out = tmp_path / "system.yaml"
    out.write_text("keep me")
    proc = cosim("convert", str(ssp), "-o", str(out))
    assert proc.returncode == 2 and "pass --force" in proc.stdout + proc.stderr
    assert out.read_text() == "keep me"
    assert cosim("convert", str(ssp), "-o", str(out), "--force").returncode == 0
    assert out.read_text().startswith("# written by cosim convert")


def test_convert_and_run_a_broken_ssp_exit_2(tmp_path):
    text = ssd(system(component("a", "Gain", GAIN_IO), connection("a.y", "a.uu")))
    path = package(tmp_path, text)
    for args in (("convert", str(path), "-o", str(tmp_path / "x.yaml")), ("run", str(path))):
        proc = cosim(*args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "has no connector 'uu'" in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "x.yaml").exists()
    broken = tmp_path / "broken.ssp"
    broken.write_bytes(b"PK\x03\x04 truncated")
    proc = cosim("run", str(broken), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_convert_bare_ssd_references_the_fmus_in_place(tmp_path):
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "Gain.fmu").write_bytes(bundled_fmu("Gain").read_bytes())
    (tmp_path / "s.ssd").write_text(ssd(system(component("a", "Gain", GAIN_IO))))
    out = tmp_path / "yaml" / "s.yaml"
    proc = cosim("convert", str(tmp_path / "s.ssd"), "-o", str(out), "--step", "0.05")
    assert proc.returncode == 0, proc.stderr
    assert "fmu: ../resources/Gain.fmu" in out.read_text()
    assert "step: 0.05" in out.read_text()
    assert not (tmp_path / "yaml" / "s_fmus").exists()


def test_dump_writes_floats_that_read_back_bit_for_bit(tmp_path):
    """0.1 + 0.2, 1/3, 1e-05 and a subnormal survive dump -> io.yaml."""
    values = [0.1 + 0.2, 1 / 3, 1e-05, 5e-324, 123456789.123456789, -2.5e300]
    fmu = bundled_fmu("Gain")
    params = "".join(f"      p{i}: {v!r}\n" for i, v in enumerate(values))
    src = tmp_path / "a.yaml"
    src.write_text(
        f"simulation: {{stop: 1, step: 0.1}}\ncomponents:\n  g:\n    fmu: {fmu}\n"
        f"    parameters:\n{params}"
    )
    spec, _ = read_system(src)
    again = tmp_path / "b.yaml"
    again.write_text(dump_system(spec))
    back, _ = read_system(again)
    assert [back.components["g"].parameters[f"p{i}"] for i in range(len(values))] == values


def test_zip_members_are_not_extracted_outside(tmp_path):
    """The unsafe-archive check guards convert too (exit 2, nothing written)."""
    path = tmp_path / "evil.ssp"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("SystemStructure.ssd", ssd(system(component("a", "Gain"))))
        z.writestr("../../pwned.txt", "x")
    proc = cosim("convert", str(path), "-o", str(tmp_path / "x.yaml"))
    assert proc.returncode == 2 and "unpack outside" in proc.stdout + proc.stderr
