"""Read recorded signals (results.h5 or CSV) into one time vector plus named 1-D arrays and units.

The results.h5 contract: ``/time`` (1-D float64, seconds) and ``/signals/<component>.<variable>``
(one 1-D dataset per recorded variable, with a ``unit`` attribute). A CSV file has a header row
``time,<name>,<name>,...``; the first column is always time in seconds, whatever it is called.
A column name may carry its unit in brackets after a space, ``mass1.x1 [m]`` (as `cosim export`
writes them, see cosim.results.csv); quotes around names are removed, so CSV files from other
tools (fmpy, OMSimulator, Dymola, test-bench loggers) and unit-less CSV files load too.

Values are float64 by default (what compare, plot and the regression tools compute with).
`read_signals(path, exact=True)` keeps every value exact instead: a results.h5 dataset keeps its
own dtype (int64, uint64, int8, float32, ...; see cosim.results.layout), and a CSV column whose
every entry is an integer (``-4611686018427387905``) is read as int64, or uint64 when a value
needs it, never through float64.

Every problem with a file (missing, empty, corrupt, unreadable numbers, time going backwards)
is a ConfigError with a one-line message naming the file.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cosim.errors import ConfigError, Location, Problem

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_GLOB_CHARS = re.compile(r"[*?\[]")
# "mass1.x1 [m]": the unit in brackets after white space (so array elements like x[1] stay names)
_UNIT_IN_NAME = re.compile(r"^(?P<name>.*\S)\s+\[(?P<unit>[^\[\]]*)\]$")
_UNESCAPE = re.compile("%(25|2F)")


def dataset_name(label: str) -> str:
    """The dataset name of a signal label under /signals: "%" -> "%25", "/" -> "%2F"."""
    return label.replace("%", "%25").replace("/", "%2F")


def signal_label(name: str) -> str:
    """The label of a dataset name under /signals (the inverse of `dataset_name`)."""
    return _UNESCAPE.sub(lambda m: "%" if m.group(1) == "25" else "/", name)


@dataclass(frozen=True)
class SignalSet:
    """One file's signals: a shared time vector (s), values per name (float64; with
    `read_signals(..., exact=True)` each in its exact dtype), units per name."""

    source: str
    time: np.ndarray
    values: Mapping[str, np.ndarray]
    units: Mapping[str, str] = field(default_factory=dict)
    # names present in the file but not loadable as numbers (e.g. strings): name -> why
    skipped: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # every signal name in the file, loaded or not (a pattern may have limited what was read)
    available: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return list(self.values)

    def unit(self, name: str) -> str:
        return self.units.get(name, "")

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def select(self, patterns: Sequence[str] | None) -> list[str]:
        """Names matching any pattern (exact name or fnmatch glob), in file order; all if None."""
        return select_names(self.names, patterns)


def is_glob(pattern: str) -> bool:
    """True when the pattern has fnmatch wildcards (``*``, ``?``, ``[...]``)."""
    return bool(_GLOB_CHARS.search(pattern))


def matches(name: str, pattern: str) -> bool:
    """Exact, case-sensitive match for plain names; fnmatch for globs."""
    return fnmatch.fnmatchcase(name, pattern) if is_glob(pattern) else name == pattern


def select_names(names: Iterable[str], patterns: Sequence[str] | None) -> list[str]:
    """Names matching any pattern, in the given order; every name if patterns is None."""
    names = list(names)
    if patterns is None:
        return names
    return [n for n in names if any(matches(n, p) for p in patterns)]


def from_arrays(
    time: Sequence[float] | np.ndarray,
    values: Mapping[str, Sequence[float] | np.ndarray],
    units: Mapping[str, str] | None = None,
    source: str = "<memory>",
) -> SignalSet:
    """Build a SignalSet from arrays (tests, benchmarks, callers holding data in memory)."""
    t = _check_time(np.asarray(time, dtype=np.float64), source)
    out: dict[str, np.ndarray] = {}
    for name, v in values.items():
        arr = np.asarray(v, dtype=np.float64)
        if arr.ndim != 1 or arr.shape[0] != t.shape[0]:
            raise ConfigError(
                _problem(source, f"signal {name!r} has shape {arr.shape}, expected ({t.shape[0]},)")
            )
        out[name] = arr
    return SignalSet(source, t, out, dict(units or {}), available=tuple(out))


def read_signals(
    path: str | os.PathLike[str], patterns: Sequence[str] | None = None, *, exact: bool = False
) -> SignalSet:
    """Load a results.h5 or CSV file; with patterns, only the matching signals are read.

    Values are float64, or with exact=True each in the dtype that holds it exactly (see the
    module docstring)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(_problem(p, "no such file"))
    if p.is_dir():
        inside = "; pass the results.h5 inside it" if (p / "results.h5").exists() else ""
        raise ConfigError(_problem(p, f"is a directory, expected a results.h5 or CSV file{inside}"))
    try:
        size = p.stat().st_size
        with p.open("rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
    except OSError as err:
        raise ConfigError(_problem(p, f"cannot read: {err.strerror or err}")) from err
    if size == 0:
        raise ConfigError(_problem(p, "file is empty"))
    if head == HDF5_SIGNATURE or p.suffix.lower() in (".h5", ".hdf5"):
        return _read_h5(p, patterns, exact)
    return _read_csv(p, patterns, exact)


# --------------------------------------------------------------------------- HDF5
def _read_h5(path: Path, patterns: Sequence[str] | None, exact: bool = False) -> SignalSet:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ConfigError(_problem(path, f"not a readable HDF5 file ({_short(err)})")) from err
    try:
        with f:
            if "time" not in f or not isinstance(f["time"], h5py.Dataset):
                raise ConfigError(_problem(path, "has no /time dataset (not a results.h5?)"))
            t = np.asarray(f["time"][()], dtype=np.float64)
            if t.ndim != 1:
                raise ConfigError(_problem(path, f"/time has shape {t.shape}, expected 1-D"))
            group = f.get("signals")
            if group is None or not isinstance(group, h5py.Group):
                raise ConfigError(_problem(path, "has no /signals group (not a results.h5?)"))
            values: dict[str, np.ndarray] = {}
            units: dict[str, str] = {}
            skipped: dict[str, str] = {}
            notes: list[str] = []
            datasets = {signal_label(key): key for key in group}
            available = tuple(datasets)
            for name in select_names(available, patterns):
                ds = group[datasets[name]]
                if not isinstance(ds, h5py.Dataset):
                    skipped[name] = "not a dataset"
                    continue
                if ds.ndim != 1:
                    skipped[name] = f"shape {ds.shape}, expected 1-D"
                    continue
                if ds.dtype.kind not in "fiub":
                    skipped[name] = f"non-numeric type {ds.dtype}"
                    continue
                values[name] = np.asarray(ds[()], dtype=None if exact else np.float64)
                unit = ds.attrs.get("unit", "")
                units[name] = unit.decode() if isinstance(unit, bytes) else str(unit)
    except ConfigError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise ConfigError(_problem(path, f"cannot read HDF5 data ({_short(err)})")) from err
    t, values = _common_length(path, t, values, notes)
    t = _check_time(t, path)
    return SignalSet(str(path), t, values, units, skipped, tuple(notes), available)


def _common_length(
    path: Path, t: np.ndarray, values: dict[str, np.ndarray], notes: list[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A file cut short by a killed run may hold more rows in one dataset: keep common rows."""
    n = min([t.shape[0], *(v.shape[0] for v in values.values())])
    if n == 0:
        raise ConfigError(_problem(path, "holds no samples (empty /time or signal)"))
    if any(v.shape[0] != n for v in values.values()) or t.shape[0] != n:
        notes.append(f"{path}: datasets differ in length; using the first {n} common samples")
        t = t[:n]
        values = {k: v[:n] for k, v in values.items()}
    return t, values


# --------------------------------------------------------------------------- CSV
def _read_csv(path: Path, patterns: Sequence[str] | None, exact: bool = False) -> SignalSet:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            _problem(path, "is neither HDF5 nor UTF-8 text (expected results.h5 or CSV)")
        ) from err
    except OSError as err:
        raise ConfigError(_problem(path, f"cannot read: {err.strerror or err}")) from err
    first, _, body = text.partition("\n")
    if not first.strip():
        raise ConfigError(_problem(path, "has no CSV header row (expected 'time,<name>,...')"))
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = next(csv.reader([first.strip("\r")], delimiter=delimiter))
    header = [h.strip() for h in header]
    if len(header) < 2:
        raise ConfigError(
            _problem(path, "CSV header has fewer than two columns (expected 'time,<name>,...')")
        )
    names: list[str] = []
    units: dict[str, str] = {}
    for col in header[1:]:
        name, unit = split_unit(col)
        if not name:
            raise ConfigError(_problem(path, "CSV header has an empty column name"))
        if name in units:
            raise ConfigError(_problem(path, f"CSV header names {name!r} twice"))
        names.append(name)
        units[name] = unit
    wanted = select_names(names, patterns)
    cols = [0] + [1 + names.index(n) for n in wanted]
    if not body.strip():
        raise ConfigError(_problem(path, "CSV file has a header but no data rows"))
    try:
        data = np.loadtxt(
            io.StringIO(body), delimiter=delimiter, dtype=np.float64, ndmin=2, usecols=cols
        )
    except ValueError as err:
        raise ConfigError(
            _problem(path, f"CSV data is not numeric or rows differ in length ({_short(err)})")
        ) from err
    if data.shape[0] == 0:
        raise ConfigError(_problem(path, "CSV file has a header but no data rows"))
    t = _check_time(np.ascontiguousarray(data[:, 0]), path)
    values = {n: np.ascontiguousarray(data[:, i + 1]) for i, n in enumerate(wanted)}
    if exact and wanted:
        text = np.loadtxt(io.StringIO(body), delimiter=delimiter, dtype=str, ndmin=2, usecols=cols)
        for i, n in enumerate(wanted):
            values[n] = _exact_column(text[:, i + 1], values[n])
    return SignalSet(str(path), t, values, {n: units[n] for n in wanted}, available=tuple(names))


def _exact_column(tokens: np.ndarray, parsed: np.ndarray) -> np.ndarray:
    """A CSV column of integers as int64 (uint64 if a value needs it); else parsed (float64)."""
    tokens = np.char.strip(tokens)
    digits = np.char.lstrip(tokens, "+-")
    if not (np.char.str_len(digits) > 0).all() or not np.char.isdigit(digits).all():
        return parsed
    try:
        return tokens.astype(np.int64)
    except OverflowError:
        pass
    try:
        return tokens.astype(np.uint64)
    except OverflowError:  # beyond both: keep the float64 values
        return parsed


def split_unit(column: str) -> tuple[str, str]:
    """A CSV column name as (name, unit): ``"mass1.x1 [m]"`` -> ("mass1.x1", "m")."""
    column = column.strip().strip('"').strip()
    m = _UNIT_IN_NAME.match(column)
    if m and m.group("name"):
        return m.group("name").strip().strip('"'), m.group("unit").strip()
    return column, ""


# --------------------------------------------------------------------------- checks
def _check_time(t: np.ndarray, source: str | Path) -> np.ndarray:
    if t.ndim != 1:
        raise ConfigError(_problem(source, f"time has shape {t.shape}, expected 1-D"))
    if t.shape[0] == 0:
        raise ConfigError(_problem(source, "holds no samples"))
    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(_problem(source, f"time is not finite at row {i} ({t[i]})"))
    back = np.diff(t) < 0
    if back.any():
        i = int(np.argmax(back))
        raise ConfigError(
            _problem(source, f"time goes backwards at row {i + 1} ({t[i]:.9g} -> {t[i + 1]:.9g} s)")
        )
    return t


def _problem(source: str | Path, message: str) -> Problem:
    return Problem(Location(str(source)), message)


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


__all__ = [
    "HDF5_SIGNATURE",
    "SignalSet",
    "dataset_name",
    "signal_label",
    "from_arrays",
    "is_glob",
    "matches",
    "read_signals",
    "select_names",
    "split_unit",
]
