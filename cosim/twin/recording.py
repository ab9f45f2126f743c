"""Recorded plant data as arrays: the /twin group of a twin run's results.h5, or a CSV file.

A Recording is a time axis and named signals. Each signal carries a validity mask (finite and
not flagged stale) and, when the file says so, its role: "drive" (the plant value drove this
FMU input) or "watch" (a measured output). A CSV names no roles; the system decides them.

    results.h5:  /twin/time                          float64, s
                 /twin/inputs/<comp.var>/value       the value used (drive) or measured (watch)
                 /twin/inputs/<comp.var>/stale       uint8, 1 = stale (optional)
                 group attributes role, unit
    CSV:         time [s],act.delta_cmd [rad],act.i_motor [A],...   (units in brackets optional)
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosim.errors import ConfigError, Location, Problem

ROLES = ("drive", "watch")
_HEADER = re.compile(r"^\s*(?P<name>[^\[]*?)\s*(?:\[(?P<unit>[^\]]*)\])?\s*$")


@dataclass(frozen=True)
class RecordedSignal:
    """One recorded signal: a value per row of the recording's time axis."""

    label: str  # "comp.var"
    values: np.ndarray  # float64
    valid: np.ndarray  # bool: finite and not stale
    role: str | None = None  # "drive" | "watch"; None = not stated (CSV)
    unit: str = ""

    @property
    def n_valid(self) -> int:
        return int(np.count_nonzero(self.valid))


@dataclass(frozen=True)
class Recording:
    """Recorded plant data: a strictly increasing time axis (s) and signals by label."""

    time: np.ndarray
    signals: Mapping[str, RecordedSignal]
    source: str = ""  # the file it came from

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.signals)


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a twin run's results.h5 (its /twin group) or a CSV (by suffix; ConfigError if bad)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(Problem(Location(str(p)), "no such data file"))
    if p.suffix.lower() == ".csv":
        return _read_csv(p)
    return _read_h5(p)


def _bad(p: Path, message: str) -> ConfigError:
    return ConfigError(Problem(Location(str(p)), message))


def _check_time(p: Path, time: np.ndarray) -> np.ndarray:
    time = np.asarray(time, dtype=np.float64).ravel()
    if time.size == 0:
        raise _bad(p, "the recording has no rows")
    if not np.all(np.isfinite(time)):
        raise _bad(p, "the time column holds a value that is not a finite number")
    if time.size > 1 and not np.all(np.diff(time) > 0):
        k = int(np.argmax(np.diff(time) <= 0)) + 1
        raise _bad(p, f"time must increase strictly (row {k + 1}: t = {time[k]:g} s)")
    return time


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return "" if value is None else str(value)


def _read_h5(p: Path) -> Recording:
    import h5py

    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise _bad(p, f"cannot read the data as HDF5 ({exc}); a .csv file is read as CSV") from None
    with f:
        twin = f.get("twin")
        if not isinstance(twin, h5py.Group) or not isinstance(twin.get("time"), h5py.Dataset):
            raise _bad(p, "not a twin recording: no /twin/time (record a twin run, or use a CSV)")
        time = _check_time(p, twin["time"][()])
        inputs = twin.get("inputs")
        signals: dict[str, RecordedSignal] = {}
        for label, group in inputs.items() if isinstance(inputs, h5py.Group) else ():
            if not isinstance(group, h5py.Group) or "value" not in group:
                continue
            values = np.asarray(group["value"][()], dtype=np.float64).ravel()
            if values.shape != time.shape:
                raise _bad(
                    p, f"/twin/inputs/{label}/value has {values.size} rows, time {time.size}"
                )
            stale = np.zeros(time.shape, dtype=bool)
            if "stale" in group:
                stale = np.asarray(group["stale"][()]).ravel().astype(bool)
                if stale.shape != time.shape:
                    raise _bad(
                        p, f"/twin/inputs/{label}/stale has {stale.size} rows, time {time.size}"
                    )
            role = _text(group.attrs.get("role")) or None
            if role == "truth":  # a simulator's ground truth, for evaluation: never fitted
                continue
            if role is not None and role not in ROLES:
                raise _bad(p, f"/twin/inputs/{label}: role {role!r} is neither drive nor watch")
            signals[label] = RecordedSignal(
                label, values, np.isfinite(values) & ~stale, role, _text(group.attrs.get("unit"))
            )
    return Recording(time, signals, str(p))


def _parse_header(p: Path, cell: str) -> tuple[str, str]:
    m = _HEADER.match(cell)
    name = m.group("name") if m else cell.strip()
    unit = (m.group("unit") or "").strip() if m else ""
    if not name:
        raise _bad(p, f"line 1: empty column name in {cell!r}")
    return name, unit


def _read_csv(p: Path) -> Recording:
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and not r[0].lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _bad(p, f"cannot read the CSV: {exc}") from None
    if not rows:
        raise _bad(p, "empty CSV: expected a header `time [s],comp.var [unit],...`")
    header = [_parse_header(p, c) for c in rows[0]]
    (first, first_unit), columns = header[0], header[1:]
    if first.lower() != "time" or first_unit not in ("", "s"):
        raise _bad(p, f"the first column must be `time [s]`, not {rows[0][0].strip()!r}")
    if not columns:
        raise _bad(p, "the CSV has a time column only")
    names = [name for name, _ in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _bad(p, f"column {twice[0]!r} appears more than once")
    data = np.full((len(rows) - 1, len(header)), math.nan)
    for i, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise _bad(p, f"line {i + 2}: {len(row)} values, the header has {len(header)}")
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell:
                try:
                    data[i, j] = float(cell)
                except ValueError:
                    raise _bad(p, f"line {i + 2}: {cell!r} is not a number") from None
    time = _check_time(p, data[:, 0])
    signals = {
        name: RecordedSignal(name, data[:, j + 1].copy(), np.isfinite(data[:, j + 1]), None, unit)
        for j, (name, unit) in enumerate(columns)
    }
    return Recording(time, signals, str(p))


__all__ = ["ROLES", "RecordedSignal", "Recording", "read_recording"]
