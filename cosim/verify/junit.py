"""Write a regression suite's results as JUnit XML: one testsuite, one testcase per system.

The layout is the common denominator CI servers read (Jenkins, GitLab, GitHub actions)::

    <testsuites>
      <testsuite name="cosim" tests=N failures=F errors=E skipped=0 time=S timestamp hostname>
        <testcase name="<system>" classname="cosim.<yaml path, dotted>" file="<yaml>" time=S>
          <failure message="2 signals failed: mass1.x1 (max |dev| 0.05 m), ..." type="regression">
            one line per failing signal: name, max deviation, unit, reason
          </failure>                      (or <error> when the run itself failed)
          <system-out>per-signal table / update summary</system-out>
        </testcase>
      </testsuite>
    </testsuites>

A failing case gets <failure>; a case whose run or input broke gets <error>.
"""

from __future__ import annotations

import math
import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cosim.verify.regression import ERROR, FAIL, CaseResult, SuiteResult

# characters XML 1.0 cannot hold, even escaped (FMU logs may carry them)
_BAD_XML = {c: None for c in range(32) if chr(c) not in "\t\n\r"}


def _text(s: str) -> str:
    return s.translate(_BAD_XML)


def _num(x: float, unit: str = "") -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.4g}" + (f" {unit}" if unit else "")


def failure_message(case: CaseResult) -> str:
    """One line: how many signals failed and, for each, its largest deviation."""
    failing = case.failing_signals
    if not failing:
        return case.message.splitlines()[0] if case.message else case.status
    parts = [f"{name} (max |dev| {_num(dev, unit)})" for name, dev, unit, _ in failing]
    noun = "signal" if len(failing) == 1 else "signals"
    return f"{len(failing)} {noun} failed: " + ", ".join(parts)


def failure_details(case: CaseResult) -> str:
    """One line per failing signal: name, max deviation (and when), unit, reason."""
    if case.report is None:
        return case.message
    lines = []
    for v in case.report.failures:
        at = f" at t={v.max_deviation_time:.6g} s" if math.isfinite(v.max_deviation_time) else ""
        lines.append(
            f"{v.name}: max |dev| {_num(v.max_deviation, v.unit)}{at}, band {_num(v.band)}"
            + (f" - {v.reason}" if v.reason else "")
        )
    return "\n".join(lines)


def _classname(case: CaseResult) -> str:
    path = Path(case.path)
    parts = [p for p in path.with_suffix("").parts if p not in (".", "..", "/")]
    return ".".join(["cosim", *parts]) if parts else "cosim"


def _summary(case: CaseResult) -> str:
    if case.report is not None:
        return "\n".join(
            f"{'PASS' if v.passed else v.status.upper()} {v.name}: max |dev| "
            f"{_num(v.max_deviation, v.unit)}, band {_num(v.band)}"
            + (f" - {v.reason}" if v.reason else "")
            for v in case.report.signals
        )
    if case.changes:
        return "\n".join(
            f"{c.name}: {c.status}"
            + (f", max |dev| {_num(c.max_deviation, c.unit)}" if c.status == "changed" else "")
            for c in case.changes
        )
    return ""


def to_xml(
    suite: SuiteResult | Sequence[CaseResult],
    name: str = "cosim",
    timestamp: datetime | None = None,
) -> ET.ElementTree:
    """The JUnit XML tree for a suite (or a list of case results)."""
    cases = list(suite.cases if isinstance(suite, SuiteResult) else suite)
    total = suite.wall_time if isinstance(suite, SuiteResult) else sum(c.wall_time for c in cases)
    root = ET.Element("testsuites")
    ts = ET.SubElement(
        root,
        "testsuite",
        {
            "name": name,
            "tests": str(len(cases)),
            "failures": str(sum(c.status == FAIL for c in cases)),
            "errors": str(sum(c.status == ERROR for c in cases)),
            "skipped": "0",
            "time": f"{total:.3f}",
            "timestamp": (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": socket.gethostname(),
        },
    )
    for case in cases:
        tc = ET.SubElement(
            ts,
            "testcase",
            {
                "name": case.id,
                "classname": _classname(case),
                "file": case.path,
                "time": f"{case.wall_time:.3f}",
            },
        )
        if case.status in (FAIL, ERROR):
            tag = "failure" if case.status == FAIL else "error"
            kind = "regression" if case.status == FAIL else ("config" if case.bad_input else "run")
            el = ET.SubElement(tc, tag, {"message": _text(failure_message(case)), "type": kind})
            el.text = _text(failure_details(case))
        out = _summary(case)
        notes = "\n".join(f"note: {n}" for n in case.notes)
        if out or notes:
            ET.SubElement(tc, "system-out").text = _text("\n".join(filter(None, [out, notes])))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(
    suite: SuiteResult | Sequence[CaseResult], path: str | os.PathLike[str], name: str = "cosim"
) -> Path:
    """Write the suite as JUnit XML (UTF-8, with declaration) to path; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_xml(suite, name).write(path, encoding="utf-8", xml_declaration=True)
    return path


__all__ = ["failure_details", "failure_message", "to_xml", "write_junit"]
