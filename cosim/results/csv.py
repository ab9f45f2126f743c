"""CSV export of results: one header row with units in the column names, then one row per sample.

Format::

    time [s],mass1.x1 [m],mass1.v1 [m/s],ctrl.mode
    0,0,0,1
    0.01,4.9833416646828148e-05,0.0099667110793791,1

The first column is time in seconds. Every other column is a signal label followed by its unit
in brackets after one space; a signal without a unit has no brackets (a label that would itself
read as "name [unit]" gets an empty "[]", so it reads back unchanged). Columns follow the
recording order; integers and booleans are written as integers, exactly (an Int64 or UInt64
never passes through float64), float64 reals with 17 significant digits and float32 reals with
9 (both read back bit-exactly). `cosim.results.signals.read_signals` reads the units back,
and still reads CSV files without units (a plain ``time,<name>,...`` header).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from cosim.errors import ConfigError, Location, Problem
from cosim.results.layout import label_of, text_attr
from cosim.results.signals import split_unit


def column_name(label: str, unit: str) -> str:
    """The CSV column name of a signal: ``label [unit]``, or ``label`` without a unit."""
    if unit:
        return f"{label} [{unit}]"
    return f"{label} []" if split_unit(label) != (label, "") else label


def write_header(out: TextIO, labels: Sequence[str], units: Sequence[str]) -> None:
    """The header row: ``time [s]`` and one column name per signal (quoted where CSV needs)."""
    names = ["time [s]", *(column_name(lb, u) for lb, u in zip(labels, units, strict=True))]
    csv.writer(out, lineterminator="\n").writerow(names)


def value_format(dtype: np.dtype) -> str:
    """The printf format that writes values of dtype exactly: %d for integers and booleans,
    %.9g for float32, %.17g for float64."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        return "%d"
    return "%.9g" if dtype.itemsize <= 4 else "%.17g"


def write_rows(out: TextIO, time: np.ndarray, columns: Sequence[np.ndarray]) -> None:
    """Rows of time and the signal columns, each column formatted by its own dtype.

    The rows are one structured array (a field per column, each in its own dtype), so no
    value is converted on the way to the text."""
    columns = [np.asarray(c) for c in columns]
    fields = [("t", np.float64), *((f"c{j}", c.dtype) for j, c in enumerate(columns))]
    rows = np.empty(int(np.shape(time)[0]), dtype=fields)
    rows["t"] = time
    for j, c in enumerate(columns):
        rows[f"c{j}"] = c
    fmts = ["%.17g", *(value_format(c.dtype) for c in columns)]
    np.savetxt(out, rows, fmt=fmts, delimiter=",")


def write_csv(
    path: str | Path,
    time: np.ndarray,
    columns: Sequence[tuple[str, str, np.ndarray]],
) -> int:
    """Write (label, unit, values) columns next to time; returns the number of rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(time.shape[0])
    with open(path, "w", newline="") as out:
        write_header(out, [c[0] for c in columns], [c[1] for c in columns])
        if n:
            write_rows(out, time, [c[2] for c in columns])
    return n


def export_csv(h5_path: str | Path, csv_path: str | Path, chunk_rows: int = 65536) -> int:
    """Write a results.h5 file as CSV (format in the module docstring); returns the row count."""
    import h5py

    h5_path, csv_path = Path(h5_path), Path(csv_path)
    try:
        f = h5py.File(h5_path, "r")
    except OSError as exc:
        raise ConfigError(
            Problem(Location(str(h5_path)), f"cannot open results file: {exc}", "pass a results.h5")
        ) from None
    with f:
        if "time" not in f or "signals" not in f:
            raise ConfigError(
                Problem(Location(str(h5_path)), "not a cosim results file: no /time or /signals")
            )
        time_ds = f["time"]
        by_label = {label_of(ds, name): ds for name, ds in f["signals"].items()}
        labels = json.loads(f.attrs.get("signals", "null") or "null")
        order = labels if labels and sorted(labels) == sorted(by_label) else list(by_label)
        datasets = [by_label[label] for label in order]
        n = time_ds.shape[0]
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as out:
            write_header(out, order, [text_attr(ds.attrs, "unit") for ds in datasets])
            for a in range(0, n, chunk_rows):
                b = min(n, a + chunk_rows)
                write_rows(out, time_ds[a:b], [ds[a:b] for ds in datasets])
    return n


__all__ = [
    "column_name",
    "export_csv",
    "value_format",
    "write_csv",
    "write_header",
    "write_rows",
]
