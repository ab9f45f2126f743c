"""Read an input table (CSV or HDF5) into time, named columns and units; problems at file:line.

CSV: a header row, then one row per sample. The time column is the first one unless `time`
names another; a column name may carry its unit as ``name [unit]`` (the convention of
`cosim export --csv`), quotes are removed, ``,`` or ``;`` separates, ``true``/``false``
read as 1/0, and blank lines and lines starting with ``#`` are skipped.

HDF5: a cosim results.h5 (``/time`` and ``/signals/<label>``), or a file with a 1-D ``/time``
(or the dataset `time` names) and 1-D numeric datasets of the same length beside it, each with
an optional ``unit`` attribute.

Time must be finite and never decrease; a repeated time is a discontinuity (the later row
holds from that time on). A problem names the file and, for CSV, the line and column.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cosim.errors import ConfigError, Location, Problem
from cosim.io.signals import HDF5_SIGNATURE, signal_label, split_unit

# seconds per unit of a time column
TIME_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "min": 60.0, "h": 3600.0}
_BOOLEAN = {"true": 1.0, "false": 0.0}


@dataclass(frozen=True)
class Table:
    """A time table: `time` in seconds (non-decreasing), columns by name, units by name."""

    source: str
    time: np.ndarray
    columns: Mapping[str, np.ndarray]
    units: Mapping[str, str] = field(default_factory=dict)
    lines: np.ndarray | None = None  # CSV: the file line of each row (1-based)

    def where(self, row: int) -> Location:
        """The location of a row: file:line for CSV, the file (row index in words) for HDF5."""
        if self.lines is not None and 0 <= row < len(self.lines):
            return Location(self.source, int(self.lines[row]), 1)
        return Location(self.source)


def read_table(path: str | Path, *, time: str | None = None) -> Table:
    """The table in `path` (CSV or HDF5); ConfigError with file:line for what is wrong."""
    p = Path(path)
    if not p.is_file():
        what = "is a directory, not a table file" if p.is_dir() else "no such file"
        raise _error(p, what, "check the path under inputs[].file (relative to the system file)")
    try:
        with p.open("rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
    except OSError as err:
        raise _error(p, f"cannot read: {err.strerror or err}") from None
    if not head:
        raise _error(p, "the file is empty", "a table needs a header row and at least one row")
    if head == HDF5_SIGNATURE:
        return _read_h5(p, time)
    if p.suffix.lower() in (".h5", ".hdf5"):
        raise _error(p, "is not an HDF5 file (no HDF5 signature)")
    return _read_csv(p, time)


# --------------------------------------------------------------------------- CSV
def _read_csv(path: Path, time: str | None) -> Table:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _error(path, "is neither HDF5 nor UTF-8 text", "write the table as CSV") from None
    except OSError as err:
        raise _error(path, f"cannot read: {err.strerror or err}") from None
    lines = text.splitlines()
    first = next(
        (i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")),
        None,
    )
    if first is None:
        raise _error(path, "the file is empty", "a table needs a header row and rows")
    head = lines[first]
    delimiter = ";" if head.count(";") > head.count(",") else ","
    names: list[str] = []
    units: list[str] = []
    for col, raw in enumerate(next(csv.reader([head], delimiter=delimiter))):
        name, unit = split_unit(raw)
        if not name:
            raise _error(path, f"column {col + 1} of the header has no name", line=first + 1)
        if name in names:
            raise _error(path, f"the header names the column {name!r} twice", line=first + 1)
        names.append(name)
        units.append(unit)
    if len(names) < 2:
        raise _error(
            path,
            "the header has fewer than two columns",
            "write a time column and one column per input, e.g. time,speed",
            line=first + 1,
        )
    t_col = 0 if time is None else _column_index(path, names, time, first + 1)
    row_lines = [
        number
        for number, line in enumerate(lines[first + 1 :], start=first + 2)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not row_lines:
        raise _error(path, "the table has a header but no rows", line=first + 1)
    data = _fast_rows(lines, row_lines, delimiter, len(names))
    if data is None:  # something numpy cannot read: find it, line by line (or read booleans)
        data = np.array(
            [_parse_row(path, lines[n - 1], n, delimiter, names) for n in row_lines],
            dtype=np.float64,
        )
    bad = ~np.isfinite(data)
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        raise _error(
            path,
            f"{names[col]}: {data[row, col]} is not a finite number",
            "a table holds finite numbers only",
            line=row_lines[row],
        )
    scale = _time_scale(path, names[t_col], units[t_col], first + 1)
    t = data[:, t_col] * scale
    columns = {n: np.ascontiguousarray(data[:, k]) for k, n in enumerate(names) if k != t_col}
    table = Table(
        str(path),
        np.ascontiguousarray(t),
        columns,
        {n: u for k, (n, u) in enumerate(zip(names, units, strict=True)) if k != t_col},
        np.array(row_lines, dtype=np.int64),
    )
    _check_time(table)
    return table


def _fast_rows(
    lines: list[str], row_lines: list[int], delimiter: str, width: int
) -> np.ndarray | None:
    """The rows as one float64 array through numpy, or None where a cell is not a plain
    number (quotes, true/false, a short row): the line-by-line reader then says where."""
    body = "\n".join(lines[n - 1] for n in row_lines)
    try:
        data = np.loadtxt(io.StringIO(body), delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError:
        return None
    return data if data.shape == (len(row_lines), width) else None


def _parse_row(path: Path, line: str, number: int, delimiter: str, names: list[str]) -> list[float]:
    cells = next(csv.reader([line], delimiter=delimiter))
    if len(cells) != len(names):
        raise _error(
            path,
            f"the row has {len(cells)} values, the header {len(names)} columns",
            "every row needs one value per column",
            line=number,
        )
    return [_number(path, cell, number, names[k]) for k, cell in enumerate(cells)]


def _number(path: Path, cell: str, line: int, column: str) -> float:
    text = cell.strip().strip('"').strip()
    try:
        return float(text)
    except ValueError:
        pass
    if text.lower() in _BOOLEAN:
        return _BOOLEAN[text.lower()]
    raise _error(
        path, f"{column}: {text!r} is not a number", "write numbers (true/false for Booleans)",
        line=line,
    )  # fmt: skip


def _column_index(path: Path, names: list[str], wanted: str, line: int) -> int:
    if wanted in names:
        return names.index(wanted)
    from cosim.io.locate import did_you_mean

    close = did_you_mean(wanted, names)
    raise _error(
        path,
        f"the table has no time column {wanted!r}",
        f"did you mean {close!r}?" if close else f"columns: {', '.join(names)}",
        line=line,
    )


def _time_scale(path: Path, name: str, unit: str, line: int) -> float:
    if unit in TIME_UNITS:
        return TIME_UNITS[unit]
    raise _error(
        path,
        f"the time column {name!r} has the unit {unit!r}",
        f"time is read in {', '.join(u for u in TIME_UNITS if u)}",
        line=line,
    )


# --------------------------------------------------------------------------- HDF5
def _read_h5(path: Path, time: str | None) -> Table:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise _error(path, f"is not a readable HDF5 file ({_short(err)})") from None
    try:
        with f:
            t_name = (time or "time").lstrip("/")
            t_ds = f.get(t_name)
            if not isinstance(t_ds, h5py.Dataset) or t_ds.ndim != 1:
                raise _error(
                    path,
                    f"has no 1-D dataset /{t_name} for the time",
                    "write the time in seconds as /time (or name it with inputs[].time)",
                )
            t = np.asarray(t_ds[()], dtype=np.float64)
            unit = _text(t_ds.attrs.get("unit", ""))
            t = t * _time_scale(path, t_name, unit, 0)
            signals = f.get("signals")
            results = isinstance(signals, h5py.Group)  # a cosim results.h5
            group = signals if results else f
            columns: dict[str, np.ndarray] = {}
            units: dict[str, str] = {}
            for key in group:
                ds = group[key]
                name = signal_label(key) if results else key
                if name == t_name or not isinstance(ds, h5py.Dataset):
                    continue
                if ds.ndim != 1 or ds.dtype.kind not in "fiub":
                    continue
                values = np.asarray(ds[()], dtype=np.float64)
                if values.shape != t.shape:
                    if results and values.shape[0] > t.shape[0]:  # a killed run: common rows
                        values = values[: t.shape[0]]
                    else:
                        raise _error(
                            path,
                            f"dataset {name!r} has {values.shape[0]} values, /{t_name} "
                            f"{t.shape[0]}",
                            "every column needs one value per time",
                        )
                columns[name] = values
                units[name] = _text(ds.attrs.get("unit", ""))
    except ConfigError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise _error(path, f"cannot read the HDF5 data ({_short(err)})") from None
    if t.shape[0] == 0:
        raise _error(path, f"/{t_name} is empty", "a table needs at least one row")
    table = Table(str(path), t, columns, units)
    _check_time(table)
    return table


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------- checks
def _check_time(table: Table) -> None:
    t = table.time
    bad = ~np.isfinite(t)
    if bad.any():
        row = int(np.argmax(bad))
        raise ConfigError(
            Problem(table.where(row), f"the time {t[row]} is not finite" + _row(table, row))
        )
    back = np.diff(t) < 0
    if back.any():
        row = int(np.argmax(back)) + 1
        raise ConfigError(
            Problem(
                table.where(row),
                f"the time goes backwards: {_g(t[row - 1])} s, then {_g(t[row])} s"
                + _row(table, row),
                "times must not decrease; repeat a time for a step change (discontinuity)",
            )
        )


def _row(table: Table, row: int) -> str:
    return "" if table.lines is not None else f" (row {row} of the time dataset)"


def _g(x: float) -> str:
    return f"{x:.9g}" if math.isfinite(x) else str(x)


def _error(path: Path, message: str, hint: str = "", *, line: int = 0) -> ConfigError:
    return ConfigError(Problem(Location(str(path), line, 1 if line else 0), message, hint))


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


__all__ = ["TIME_UNITS", "Table", "read_table"]
