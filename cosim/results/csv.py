"""CSV export of results: one header row with units in the column names, then one row per sample.

Format::

    time [s],mass1.x1 [m],mass1.v1 [m/s],ctrl.mode
    0,0,0,1
    0.01,4.9833416646828148e-05,0.0099667110793791,1

The first column is time in seconds. Every other column is a signal label followed by its unit
in brackets after one space; a signal without a unit has no brackets (a label that would itself
read as "name [unit]" gets an empty "[]", so it reads back unchanged). Columns follow the
recording order; integers and booleans are written as integers, reals with 17 significant
digits (they read back bit-exactly). `cosim.results.signals.read_signals` reads the units back,
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


def write_rows(out: TextIO, block: np.ndarray, integer: Sequence[bool]) -> None:
    """Rows of block [rows, 1 + signals] (time first); integer[j] for signal column j."""
    fmts = ["%.17g"] + ["%d" if i else "%.17g" for i in integer]
    np.savetxt(out, block, fmt=fmts, delimiter=",")


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
            block = np.empty((n, len(columns) + 1), dtype=np.float64)
            block[:, 0] = time
            for j, (_, _, values) in enumerate(columns):
                block[:, j + 1] = values
            write_rows(out, block, [np.asarray(c[2]).dtype.kind in "iub" for c in columns])
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
        integer = [ds.dtype.kind in "iub" for ds in datasets]
        n = time_ds.shape[0]
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as out:
            write_header(out, order, [text_attr(ds.attrs, "unit") for ds in datasets])
            for a in range(0, n, chunk_rows):
                b = min(n, a + chunk_rows)
                block = np.empty((b - a, len(datasets) + 1), dtype=np.float64)
                block[:, 0] = time_ds[a:b]
                for j, ds in enumerate(datasets):
                    block[:, j + 1] = ds[a:b]
                write_rows(out, block, integer)
    return n


__all__ = ["column_name", "export_csv", "write_csv", "write_header", "write_rows"]
