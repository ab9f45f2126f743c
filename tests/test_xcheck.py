"""`cosim xcheck`: a cross-check tree built from the bundled FMUs, with closed-form references.

The tree (fmus/<version>/<cs|me>/<platform>/<Tool>/<ToolVersion>/<Model>/)::

    2.0/cs/linux64/Ref/1.0/BouncingBall       closed form            -> passed
    2.0/me/linux64/Ref/1.0/BouncingBall       closed form, ME        -> passed
    3.0/cs/x86_64-linux/Ref/1.0/BouncingBall  closed form            -> passed
    2.0/cs/linux64/Ref/1.0/BouncingBallOff    g 10 % too big         -> failed
    2.0/cs/linux64/Ref/1.0/BadBinary          the .so is garbage     -> failed (it errors)
    2.0/cs/linux64/Ref/1.0/Garbage            not a zip              -> rejected
    2.0/me/linux64/Ref/1.0/Gain               no ME interface        -> rejected
    2.0/cs/win64/Ref/1.0/BouncingBall         another platform       -> rejected
    2.0/cs/linux64/Ref/1.0/Marked             notCompliant...        -> skipped

The bouncing ball (h0 = 1 m, g = 9.81 m/s2, e = 0.8, from fmus/models/BouncingBall/model.yaml)
falls for t1 = sqrt(2 h0 / g) = 0.4515 s, rebounds at e * g * t1, and so on: piecewise
parabolas, exact. CS steps integrate it inside the FMU with events located to ~1e-9 s, so it
lies well within the 2e-3 tubes; the reference with g 10 % too big is 0.1 m off by t = 0.4 s,
50 times the band.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cosim import __version__
from cosim.errors import ConfigError
from cosim.verify import xcheck
from cosim.verify.xcheck import FAILED, PASSED, REJECTED, SKIPPED

FMUS = Path(__file__).resolve().parents[1] / "fmus"
STOP, STEP = 1.5, 0.01
OPT = f"StartTime, 0.0\nStopTime, {STOP}\nStepSize, {STEP}\nRelTol, 1e-6\n"


def ball(t: np.ndarray, g: float = 9.81, e: float = 0.8, h0: float = 1.0) -> tuple:
    """Height and velocity of the bouncing ball: parabolas between bounces."""
    h, v = np.empty_like(t), np.empty_like(t)
    start, h_start, v_start = 0.0, h0, 0.0
    end = math.sqrt(2 * h0 / g)
    segments = []
    for _ in range(12):
        segments.append((start, h_start, v_start, end))
        v_up = e * (g * (end - start) - v_start)  # e times the speed it lands with
        start, h_start, v_start = end, 0.0, v_up
        end = start + 2 * v_up / g
    for i, x in enumerate(t):
        a, ha, va, _ = next(s for s in segments if s[0] <= x <= s[3])
        s = x - a
        h[i], v[i] = ha + va * s - g * s * s / 2, va - g * s
    return h, v


def test_closed_form_ball_bounces_where_it_should():
    t1 = math.sqrt(2 / 9.81)
    h, v = ball(np.array([0.0, t1, 1.8 * t1, 2.6 * t1]))
    # the first rebound at e*g*t1 rises for e*t1 to e^2*h0, lands e*t1 later as fast as it left
    assert h == pytest.approx([1.0, 0.0, 0.64, 0.0], abs=1e-12)
    assert v == pytest.approx([0.0, -9.81 * t1, 0.0, -0.8 * 9.81 * t1], abs=1e-12)


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    rows = np.column_stack([columns[n] for n in names])
    with open(path, "w") as f:
        f.write(",".join(f'"{n}"' for n in names) + "\n")
        for row in rows:
            f.write(",".join(f"{x:.17g}" for x in row) + "\n")


def model_folder(root: Path, rel: str, fmu: Path | None) -> Path:
    folder = root / "fmus" / rel
    folder.mkdir(parents=True)
    if fmu is not None:
        shutil.copy(fmu, folder / f"{folder.name}.fmu")
    return folder


def ball_case(root: Path, rel: str, fmu: Path | None, g: float = 9.81) -> Path:
    folder = model_folder(root, rel, fmu)
    t = np.round(np.arange(0, STOP + STEP / 2, STEP), 12)
    h, v = ball(t, g=g)
    write_csv(folder / f"{folder.name}_ref.csv", {"time": t, "h": h, "v": v})
    (folder / f"{folder.name}_ref.opt").write_text(OPT)
    return folder


def garbage_binary(src: Path, dst: Path) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = b"\x7fELF not a library" if name.endswith(".so") else zin.read(name)
            zout.writestr(name, data)


EXPECTED = {
    "2.0/cs/linux64/Ref/1.0/BouncingBall": PASSED,
    "2.0/me/linux64/Ref/1.0/BouncingBall": PASSED,
    "3.0/cs/x86_64-linux/Ref/1.0/BouncingBall": PASSED,
    "2.0/cs/linux64/Ref/1.0/BouncingBallOff": FAILED,
    "2.0/cs/linux64/Ref/1.0/BadBinary": FAILED,
    "2.0/cs/linux64/Ref/1.0/Garbage": REJECTED,
    "2.0/me/linux64/Ref/1.0/Gain": REJECTED,
    "2.0/cs/win64/Ref/1.0/BouncingBall": REJECTED,
    "2.0/cs/linux64/Ref/1.0/Marked": SKIPPED,
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("xc")
    bb2, bb3 = FMUS / "BouncingBall.fmu", FMUS / "fmi3" / "BouncingBall.fmu"
    ball_case(root, "2.0/cs/linux64/Ref/1.0/BouncingBall", bb2)
    ball_case(root, "2.0/me/linux64/Ref/1.0/BouncingBall", bb2)
    ball_case(root, "3.0/cs/x86_64-linux/Ref/1.0/BouncingBall", bb3)
    ball_case(root, "2.0/cs/linux64/Ref/1.0/BouncingBallOff", bb2, g=9.81 * 1.1)
    bad = ball_case(root, "2.0/cs/linux64/Ref/1.0/BadBinary", None)
    garbage_binary(bb2, bad / "BadBinary.fmu")
    broken = ball_case(root, "2.0/cs/linux64/Ref/1.0/Garbage", None)
    (broken / "Garbage.fmu").write_bytes(b"PK\x03\x04 this is no zip archive")
    gain = model_folder(root, "2.0/me/linux64/Ref/1.0/Gain", FMUS / "Gain.fmu")
    write_csv(gain / "Gain_ref.csv", {"time": np.array([0.0, 1.0]), "y": np.zeros(2)})
    (gain / "Gain_ref.opt").write_text("StartTime, 0\nStopTime, 1\nStepSize, 0.01\nRelTol, 0\n")
    ball_case(root, "2.0/cs/win64/Ref/1.0/BouncingBall", bb2)
    marked = ball_case(root, "2.0/cs/linux64/Ref/1.0/Marked", bb2)
    (marked / "notCompliantWithLatestRules").write_text("")
    return root


@pytest.fixture(scope="module")
def checked(tree: Path) -> tuple[Path, list[xcheck.CaseResult]]:
    out = tree  # results/ beside fmus/, as in the cross-check repository
    return out, xcheck.run_xcheck(tree, out)


def _by_id(results: list[xcheck.CaseResult]) -> dict[str, xcheck.CaseResult]:
    return {r.case.id: r for r in results}


def test_every_case_gets_the_verdict_the_rules_give(checked):
    _, results = checked
    got = {i: r.verdict for i, r in _by_id(results).items()}
    assert got == EXPECTED, {i: r.reason for i, r in _by_id(results).items()}


def test_reasons_name_the_problem(checked):
    r = _by_id(checked[1])
    off = r["2.0/cs/linux64/Ref/1.0/BouncingBallOff"]
    assert off.reason.startswith("2 signals outside the tube") and "h (" in off.reason
    assert "shared library" in r["2.0/cs/linux64/Ref/1.0/BadBinary"].reason
    assert "zip" in r["2.0/cs/linux64/Ref/1.0/Garbage"].reason
    assert "no Model Exchange interface" in r["2.0/me/linux64/Ref/1.0/Gain"].reason
    assert "win64" in r["2.0/cs/win64/Ref/1.0/BouncingBall"].reason


def test_passing_results_follow_the_closed_form(checked):
    for rid in [i for i, v in EXPECTED.items() if v == PASSED]:
        report = _by_id(checked[1])[rid].report
        assert report is not None and [s.name for s in report.signals] == ["h", "v"]
        # CS: the FMU's own event location; ME: CVODE at RelTol 1e-6 with root finding
        assert report.verdict("h").max_deviation < 2e-3, rid
        assert report.verdict("h").band == pytest.approx(2e-3 * 1.0, rel=0.01)  # range of h: 1 m


def result_dir(out: Path, rid: str) -> Path:
    version, kind, platform, tool, tool_version, model = rid.split("/")
    return (
        out / "results" / version / kind / platform / "cosim" / __version__ / tool / tool_version
    ) / model


def test_result_folders_hold_one_empty_verdict_file(checked):
    out, results = checked
    for rid, verdict in EXPECTED.items():
        folder = result_dir(out, rid)
        if verdict == SKIPPED:
            assert not folder.exists()
            continue
        marks = [p.name for p in folder.iterdir() if p.name in ("passed", "failed", "rejected")]
        assert marks == [verdict], rid
        assert (folder / verdict).stat().st_size == 0
        readme = (folder / "README.md").read_text()
        assert readme.startswith(f"# {folder.name}: {verdict}")
        if verdict != PASSED:
            assert _by_id(results)[rid].reason.splitlines()[0] in readme


def test_out_csv_has_the_reference_columns_and_the_run(checked):
    out, _ = checked
    folder = result_dir(out, "2.0/cs/linux64/Ref/1.0/BouncingBall")
    text = (folder / "BouncingBall_out.csv").read_text()
    assert text.splitlines()[0] == '"time","h","v"'  # quoted names, no units (CSV rules)
    data = np.loadtxt(text.splitlines()[1:], delimiter=",")
    assert data[0, 0] == 0 and data[-1, 0] == pytest.approx(STOP)
    h, v = ball(data[:, 0])
    assert np.max(np.abs(data[:, 1] - h)) < 1e-6
    assert np.max(np.abs(data[:, 2] - v)) < 1e-5
    assert not (result_dir(out, "2.0/cs/linux64/Ref/1.0/Garbage") / "Garbage_out.csv").exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fmpy imports scipy.ndimage.filters
def test_fmpys_cross_check_validator_accepts_the_passed_results(checked):
    """fmpy's validate_vendor_repo reads _out.csv as the repository's CI does."""
    from fmpy.cross_check.validate_vendor_repo import validate_cross_check_result

    out, _ = checked
    for rid in [i for i, v in EXPECTED.items() if v == PASSED]:
        assert validate_cross_check_result(str(result_dir(out, rid))) == [], rid


def test_a_rerun_replaces_the_verdict(tree, tmp_path):
    src = tree / "fmus" / "2.0" / "me" / "linux64" / "Ref" / "1.0" / "Gain"
    folder = tmp_path / "fmus" / "2.0" / "cs" / "linux64" / "Ref" / "1.0" / "Gain"
    shutil.copytree(src, folder)  # Gain is CS: the cs folder runs it; y = k*u + b = 0
    (case,) = xcheck.find_cases(folder)
    first = xcheck.run_case(case, tmp_path)
    assert first.verdict == PASSED, first.reason
    out = first.result_dir
    assert out is not None and (out / "passed").exists()
    (out / "failed").write_text("")  # a stale verdict from an earlier run
    xcheck.run_case(case, tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["Gain_out.csv", "README.md", "passed"]


# --------------------------------------------------------------------------- inputs
def first_order_ramp(t: np.ndarray) -> np.ndarray:
    """FirstOrder (T = 1 s, k = 1, y(0) = 0) driven by u = t up to 2 s, then u = 2 held:
    y = t - 1 + exp(-t) until 2 s, then y = 2 + (y(2) - 2) exp(-(t - 2))."""
    y2 = 1 + math.exp(-2)
    return np.where(t <= 2, t - 1 + np.exp(-t), 2 + (y2 - 2) * np.exp(-(t - 2)))


@pytest.mark.parametrize("kind", ["cs", "me"])
def test_in_csv_drives_the_inputs_interpolated_and_held(tmp_path, kind):
    """_in.csv covers 0..2 s of a 0..3 s run: linear in between, its last row held after."""
    folder = model_folder(tmp_path, f"2.0/{kind}/linux64/T/1/FirstOrder", FMUS / "FirstOrder.fmu")
    write_csv(
        folder / "FirstOrder_in.csv", {"time": np.array([0.0, 2.0]), "u": np.array([0.0, 2.0])}
    )
    t = np.round(np.arange(0, 3 + STEP / 2, STEP), 12)
    write_csv(folder / "FirstOrder_ref.csv", {"time": t, "y": first_order_ramp(t)})
    (folder / "FirstOrder_ref.opt").write_text(
        f"StartTime, 0\nStopTime, 3\nStepSize, {STEP}\nRelTol, 1e-6\n"
    )
    (result,) = xcheck.run_xcheck(folder, tmp_path / "out")
    assert result.verdict == PASSED, result.reason
    # an input held over each step (as fmpy applies them) lags u by h/2 on average: |dy| <= h/2
    assert result.report is not None
    assert result.report.verdict("y").max_deviation < STEP / 2 + 1e-4
    out = result.result_dir / "FirstOrder_out.csv"  # type: ignore[operator]
    y = np.loadtxt(out, delimiter=",", skiprows=1)[:, 1]
    assert y[-1] == pytest.approx(first_order_ramp(np.array([3.0]))[0], abs=STEP / 2)


# --------------------------------------------------------------------------- layouts, options
def test_find_cases_reads_the_layout_and_smaller_folders(tree):
    ids = {c.id for c in xcheck.find_cases(tree / "fmus")}
    assert set(EXPECTED) <= ids
    one = tree / "fmus" / "2.0" / "cs" / "linux64" / "Ref" / "1.0" / "BouncingBall"
    (case,) = xcheck.find_cases(one)
    assert (case.fmi_version, case.fmi_type, case.platform, case.tool) == (
        "2.0",
        "cs",
        "linux64",
        "Ref",
    )


def test_a_folder_outside_the_layout_takes_version_and_interface_from_the_fmu(tmp_path):
    folder = ball_case(tmp_path, "Tool/2.1/BouncingBall", FMUS / "fmi3" / "BouncingBall.fmu")
    (case,) = xcheck.find_cases(tmp_path / "fmus" / "Tool")
    assert (case.tool, case.tool_version, case.fmi_version) == ("Tool", "2.1", "")
    result = xcheck.run_case(case, tmp_path / "out")
    assert result.verdict == PASSED, result.reason
    assert result.case.id == "3.0/cs/x86_64-linux/Tool/2.1/BouncingBall"
    assert result.result_dir == result_dir(tmp_path / "out", result.case.id)
    assert folder.name == "BouncingBall"


def test_read_options(tmp_path):
    opt = tmp_path / "M_ref.opt"
    opt.write_text("StartTime, 0.5\nStopTime,10 // s\n\nStepSize, 0\nRelTol, 1e-4\nAbsTol, 2\n")
    o = xcheck.read_options(opt)
    assert (o.start, o.stop, o.step, o.rel_tol, o.abs_tol) == (0.5, 10.0, 0.0, 1e-4, 2.0)
    opt.write_text("StartTime, 0\nStopTime, soon\nnonsense\n")
    with pytest.raises(ConfigError) as err:
        xcheck.read_options(opt)
    text = str(err.value)
    assert f"{opt}:2:1" in text and "soon" in text and f"{opt}:3:1" in text
    assert "missing StopTime, StepSize, RelTol" in text
    opt.write_text("StartTime, 2\nStopTime, 1\nStepSize, 0.1\nRelTol, 0\n")
    with pytest.raises(ConfigError, match="not below StopTime"):
        xcheck.read_options(opt)


BAD_FOLDERS = {
    "EmptyRef": ("_ref.csv", "", "file is empty"),
    "HeaderRef": ("_ref.csv", '"time","h"\n', "no data rows"),
    "TextRef": ("_ref.csv", '"time","h"\n0,a\n', "not numeric"),
    "UnknownRef": ("_ref.csv", '"time","nope"\n0,1\n1,2\n', "'nope': not variables"),
    "GarbageOpt": ("_ref.opt", "hello\nStopTime, x\n\x00", "expected 'key, value'"),
    "NoOpt": ("_ref.opt", None, "_ref.opt: error: no such file"),
    "BadInputs": ("_in.csv", '"time","h"\n0,1\n', "'h': not inputs of the FMU"),
}


@pytest.mark.parametrize("name", sorted(BAD_FOLDERS))
def test_broken_test_files_are_rejected_with_the_reason(tmp_path, name):
    suffix, content, reason = BAD_FOLDERS[name]
    folder = ball_case(tmp_path, f"2.0/cs/linux64/Fuzz/1/{name}", FMUS / "BouncingBall.fmu")
    target = folder / f"{name}{suffix}"
    if content is None:
        target.unlink()
    else:
        target.write_text(content)
    (result,) = xcheck.run_xcheck(folder, tmp_path / "out")
    assert result.verdict == REJECTED and reason in result.reason, result.reason
    assert str(folder) not in result.reason  # file names, not the whole path


def test_a_folder_without_an_fmu_is_rejected(tmp_path):
    ball_case(tmp_path, "2.0/cs/linux64/T/1/HasOne", FMUS / "BouncingBall.fmu")
    nofmu = ball_case(tmp_path, "2.0/cs/linux64/T/1/Secret", None)
    (nofmu / "Secret.nofmu").write_text("")
    results = _by_id(xcheck.run_xcheck(tmp_path, tmp_path / "out"))
    assert results["2.0/cs/linux64/T/1/Secret"].verdict == REJECTED
    assert "not provided" in results["2.0/cs/linux64/T/1/Secret"].reason
    with pytest.raises(ConfigError, match="no FMUs found"):
        xcheck.run_xcheck(nofmu, tmp_path / "out")


def crashing_fmu(src: Path, dst: Path, tmp: Path) -> None:
    """src with its shared library replaced by one that raises SIGSEGV as it is loaded."""
    c = tmp / "boom.c"
    c.write_text(
        "#include <signal.h>\n"
        "__attribute__((constructor)) static void boom(void) { raise(SIGSEGV); }\n"
    )
    lib = tmp / "boom.so"
    subprocess.run(["gcc", "-shared", "-fPIC", str(c), "-o", str(lib)], check=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, lib.read_bytes() if name.endswith(".so") else zin.read(name))


def test_an_fmu_that_crashes_its_process_fails_only_itself(tmp_path):
    bb = FMUS / "BouncingBall.fmu"
    crash = ball_case(tmp_path, "2.0/cs/linux64/T/1/Crash", None)
    crashing_fmu(bb, crash / "Crash.fmu", tmp_path)
    for name in ("A", "B"):
        ball_case(tmp_path, f"2.0/cs/linux64/T/1/{name}", bb)
    results = _by_id(xcheck.run_xcheck(tmp_path / "fmus", tmp_path / "out", workers=2))
    assert {i: r.verdict for i, r in results.items()} == {
        "2.0/cs/linux64/T/1/A": PASSED,
        "2.0/cs/linux64/T/1/B": PASSED,
        "2.0/cs/linux64/T/1/Crash": FAILED,
    }
    assert "died" in results["2.0/cs/linux64/T/1/Crash"].reason
    assert (result_dir(tmp_path / "out", "2.0/cs/linux64/T/1/Crash") / "failed").exists()


# --------------------------------------------------------------------------- JUnit
def test_junit_xml(checked, tmp_path):
    _, results = checked
    path = xcheck.write_junit(results, tmp_path / "xc.xml")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    n = len(results)
    assert suite.get("tests") == str(n)
    assert suite.get("failures") == "2" and suite.get("errors") == "0"
    assert suite.get("skipped") == "4"  # 3 rejected + 1 marked notCompliantWithLatestRules
    cases = {tc.get("name"): tc for tc in suite.findall("testcase")}
    off = cases["2.0/cs/linux64/Ref/1.0/BouncingBallOff"].find("failure")
    assert off is not None and "h (max |dev|" in off.get("message", "")
    gain = cases["2.0/me/linux64/Ref/1.0/Gain"].find("skipped")
    assert gain is not None and gain.get("message", "").startswith("rejected: the FMU has no")
    ok = cases["2.0/cs/linux64/Ref/1.0/BouncingBall"]
    assert ok.find("failure") is None and ok.find("skipped") is None
    strict = ET.parse(xcheck.write_junit(results, tmp_path / "s.xml", strict=True)).getroot()
    assert strict.find("testsuite").get("errors") == "3"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the command
def cosim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cosim", "xcheck", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_exit_codes_table_and_json(tree, tmp_path):
    ok = tree / "fmus" / "2.0" / "cs" / "linux64" / "Ref" / "1.0" / "BouncingBall"
    done = cosim(str(ok), "--out", str(tmp_path / "a"), "--junit", str(tmp_path / "a.xml"))
    assert done.returncode == 0, done.stderr
    assert "PASS" in done.stdout and "1 FMUs: 1 passed" in done.stdout
    assert (tmp_path / "a.xml").exists()

    rejected = tree / "fmus" / "2.0" / "me"  # ME ball passes, Gain (no ME) is rejected
    done = cosim(str(rejected), "--out", str(tmp_path / "b"), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["summary"] == {"passed": 1, "failed": 0, "rejected": 1, "skipped": 0}
    assert cosim(str(rejected), "--out", str(tmp_path / "b"), "--strict").returncode == 1

    done = cosim(str(tree / "fmus"), "--out", str(tmp_path / "c"), "--workers", "2")
    assert done.returncode == 1, done.stderr  # BouncingBallOff and BadBinary failed
    assert "Traceback" not in done.stderr
    assert "9 FMUs: 3 passed, 2 failed, 3 rejected, 1 skipped" in done.stdout


def test_cli_bad_input_exits_2(tmp_path):
    missing = cosim(str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    empty = cosim(str(tmp_path), "--out", str(tmp_path / "out"))
    assert empty.returncode == 2 and "no FMUs found" in empty.stderr
    assert "Traceback" not in missing.stderr + empty.stderr
    assert cosim(str(tmp_path), "--workers", "0").returncode == 2
