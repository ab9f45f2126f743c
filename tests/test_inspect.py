"""`cosim inspect`: the report against fmpy's own reading of the FMU, and every bad FMU gives one
line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fmpy import read_model_description

from cosim.library import build as library

REPO = Path(library.__file__).resolve().parents[2]
CASES = ["Mass2", "fmi3/Mass2", "Gain", "fmi3/Gain"]  # ME + output feedthrough; CS-only + types


def cosim_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "cosim", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=120,
    )


def _typed(type_: str, text: str | None):
    if text is None:
        return None
    if type_ == "Boolean":
        return text == "true"
    if type_ in ("Integer", "Int32", "Enumeration"):
        return int(text)
    return float(text)


def _interface_attributes(path: Path) -> dict[str, dict[str, str]]:
    with zipfile.ZipFile(path) as zf:
        root = ElementTree.fromstring(zf.read("modelDescription.xml"))
    return {child.tag: dict(child.attrib) for child in root}


@pytest.mark.parametrize("name", CASES)
def test_json_report_matches_model_description(name: str) -> None:
    path = library.bundled_fmu(name)
    proc = cosim_cli("inspect", name, "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    r = json.loads(proc.stdout)
    md = read_model_description(str(path))
    fmi3 = md.fmiVersion.startswith("3")

    assert r["path"] == str(path.resolve())
    for key in ("fmiVersion", "modelName", "description", "generationTool", "guid"):
        assert r[key] == getattr(md, key), key
    for key in ("startTime", "stopTime", "stepSize"):
        assert r["defaultExperiment"][key] == float(getattr(md.defaultExperiment, key))
    assert r["numberOfContinuousStates"] == len(md.derivatives)

    expected_interfaces = {"CoSimulation": md.coSimulation, "ModelExchange": md.modelExchange}
    assert set(r["interfaces"]) == {k for k, v in expected_interfaces.items() if v is not None}
    raw = _interface_attributes(path)
    for label, interface in r["interfaces"].items():
        ref = expected_interfaces[label]
        caps = interface["capabilities"]
        assert interface["modelIdentifier"] == ref.modelIdentifier
        assert caps["canGetAndSetFMUstate"] is ref.canGetAndSetFMUstate is True
        assert caps["canSerializeFMUstate"] is ref.canSerializeFMUstate is True
        # fmpy drops this FMI 3.0 flag, so compare with the XML itself
        spelled = "providesDirectionalDerivatives" if fmi3 else "providesDirectionalDerivative"
        assert caps["providesDirectionalDerivative"] is (raw[label].get(spelled) == "true")
        if label == "CoSimulation":
            assert caps["canHandleVariableCommunicationStepSize"] is (
                ref.canHandleVariableCommunicationStepSize
            )

    assert [v["name"] for v in r["variables"]] == [v.name for v in md.modelVariables]
    for got, ref in zip(r["variables"], md.modelVariables, strict=True):
        for key in ("valueReference", "causality", "variability", "type", "unit", "description"):
            assert got[key] == getattr(ref, key), (ref.name, key)
        assert got["start"] == _typed(ref.type, ref.start), ref.name
        assert got["derivativeOf"] == (ref.derivative.name if ref.derivative else None)
    deps = {v["name"]: v["dependencies"] for v in r["variables"]}
    for unknown in md.outputs:
        assert deps[unknown.variable.name] == [d.name for d in unknown.dependencies]
    for unit in md.unitDefinitions:
        assert r["units"][unit.name]["factor"] == float(unit.baseUnit.factor)


@pytest.mark.parametrize("name", CASES)
def test_text_report_lists_interfaces_capabilities_and_variables(name: str) -> None:
    path = library.bundled_fmu(name)
    md = read_model_description(str(path))
    proc = cosim_cli("inspect", name)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"{md.modelName}  FMI {md.fmiVersion}" in out
    assert md.guid in out
    assert ("ModelExchange" in out) == (md.modelExchange is not None)
    assert "CoSimulation" in out
    capability = next(line.split() for line in out.splitlines() if "canGetAndSetFMUstate" in line)
    assert capability[1:] == ["yes"] * (1 + (md.modelExchange is not None))
    variables = out[out.index("Variables (") : out.index("Output dependencies")]
    rows = {line.split()[0]: line.split() for line in variables.splitlines() if line.strip()}
    for v in md.modelVariables:
        row = rows[v.name]
        assert row[1:5] == [v.causality, v.variability, v.type, v.unit or "-"], row


def test_a_path_gives_the_same_report_as_the_bundled_name(tmp_path: Path) -> None:
    by_name = json.loads(cosim_cli("inspect", "fmi3/Mass1", "--json").stdout)
    relative = os.path.relpath(library.bundled_fmu("fmi3/Mass1"), tmp_path)
    proc = cosim_cli("inspect", relative, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == by_name


# --------------------------------------------------------------------------- bad FMUs
def _zip(path: Path, entries: dict[str, str], symlink: str | None = None) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3  # Unix: the mode below is meaningful
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")


MD = '<?xml version="1.0"?><fmiModelDescription fmiVersion="2.0" modelName="x" guid="{1}"/>'
BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing": (lambda p: None, "no such file"),
    "not_a_zip": (lambda p: p.write_text("not a zip archive"), "not a valid zip"),
    "truncated": (
        lambda p: p.write_bytes(library.bundled_fmu("Mass1").read_bytes()[:300]),
        "not a valid zip",
    ),
    "no_model_description": (lambda p: _zip(p, {"binaries/x.txt": "x"}), "no modelDescription"),
    "broken_xml": (lambda p: _zip(p, {"modelDescription.xml": "<fmiModel"}), "modelDescription"),
    "zip_slip": (lambda p: _zip(p, {"modelDescription.xml": MD, "../evil.txt": "x"}), "../evil"),
    "zip_slip_backslash": (
        lambda p: _zip(p, {"modelDescription.xml": MD, "resources\\..\\..\\evil.txt": "x"}),
        "evil.txt",
    ),
    "absolute": (lambda p: _zip(p, {"modelDescription.xml": MD, "/abs/evil.txt": "x"}), "/abs"),
    "symlink": (lambda p: _zip(p, {"modelDescription.xml": MD}, symlink="resources/ln"), "link"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_fmu_gives_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    make, expected = BAD[case]
    path = tmp_path / f"{case}.fmu"
    make(path)
    proc = cosim_cli("inspect", str(path), "--json")
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0] and str(path) in lines[0]
    assert not (tmp_path.parent / "evil.txt").exists()


def test_unknown_bundled_name_suggests_the_closest() -> None:
    proc = cosim_cli("inspect", "fmi3/Mas1")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "fmi3/Mass1" in lines[0], proc.stderr


def test_fmus_lists_every_bundled_fmu_as_built() -> None:
    proc = cosim_cli("fmus")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.strip()}
    for name in library.bundled_names():
        md = read_model_description(str(library.bundled_fmu(name)))
        interfaces = "CS+ME" if md.modelExchange is not None else "CS"
        assert rows[name][1:4] == [md.fmiVersion, interfaces, "built"], rows[name]
