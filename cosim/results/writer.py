"""The results.h5 file: an observer that writes recorded rows in chunks, and its CSV export.

File layout (a contract)::

    /time                          float64 [rows], seconds
    /signals/<component>.<variable> one 1-D dataset per recorded variable, attributes `name`
                                   (the label "<component>.<variable>", exactly), `unit`,
                                   `component`, `variable`, `kind`
                                   (float64 for reals, int64 for integers, uint8 for booleans)
    file attributes                system_name, description, yaml, yaml_sha256, yaml_path,
                                   cosim_version, components (JSON: name, fmu path, guid, FMI
                                   version, step), fmu_guids / fmu_paths (JSON maps), start, stop,
                                   step, algorithm, record_interval, signals (JSON list of the
                                   labels in recording order), overrides (JSON list of `--set`
                                   values, from the CLI), and at the end status, error,
                                   wall_time, steps, real_time_factor, statistics (JSON)

Dataset names: "/" separates HDF5 groups, so a variable name holding "/" (e.g. "bus/u")
would become nested groups. In dataset names "%" is written "%25" and "/" is written "%2F"
(percent-encoding of exactly these two characters; `dataset_name`, undone by `signal_label`),
so "ctrl.bus/u" is stored as /signals/ctrl.bus%2Fu with attribute name = "ctrl.bus/u". Every
other name is stored unchanged. Readers should take labels from the `name` attribute.

Rows go into a preallocated buffer and reach the file in chunks, when the buffer is full and
at least every `flush_interval` seconds of wall time (the clock is read on every recorded row
and, while rows are pending, on every step in between: about 50 ns, so even a run whose steps
take a long time flushes within one step of the interval); each write is followed by a flush,
and nothing touches the file between writes, so a process killed at any time leaves a file
that holds every row up to the last flush.
"""

from __future__ import annotations

import json
import re
import time as _time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from cosim import __version__
from cosim.errors import ConfigError, Location, Problem
from cosim.model.spec import TICKS_PER_SECOND, ResolvedSystem

if TYPE_CHECKING:
    from cosim.engine.execution import Execution, RunStatistics
    from cosim.engine.plan import Plan

_DTYPES = {"real": np.float64, "integer": np.int64, "boolean": np.uint8}
_UNESCAPE = re.compile("%(25|2F)")


def dataset_name(label: str) -> str:
    """The dataset name of a signal label under /signals: "%" -> "%25", "/" -> "%2F"."""
    return label.replace("%", "%25").replace("/", "%2F")


def signal_label(name: str) -> str:
    """The label of a dataset name under /signals (the inverse of `dataset_name`)."""
    return _UNESCAPE.sub(lambda m: "%" if m.group(1) == "25" else "/", name)


def _label(ds: Any, name: str) -> str:
    label = ds.attrs.get("name")
    if label is None:
        return signal_label(name)
    return label.decode() if isinstance(label, bytes) else str(label)


class ResultsWriter:
    """Observer that records the plan's record variables into an HDF5 file."""

    def __init__(
        self,
        path: str | Path,
        system: ResolvedSystem,
        plan: Plan,
        *,
        flush_interval: float = 1.0,
        buffer_rows: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.plan = plan
        self.flush_interval = flush_interval
        n = len(plan.rec_labels)
        if buffer_rows is None:  # about 1 MiB of rows
            buffer_rows = max(256, min(65536, (1 << 20) // (8 * (n + 1))))
        self._buf = np.zeros((buffer_rows, n + 1), dtype=np.float64)
        self._rows = [self._buf[r, 1:] for r in range(buffer_rows)]  # views built once
        self._pending = 0
        self._written = 0
        self._last_flush = _time.monotonic()
        self._decimation = plan.record_decimation
        self._last_recorded_step = -1
        self._ex: Execution | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.path, "w")
        chunk = (min(buffer_rows, 8192),)
        self._time = self._file.create_dataset(
            "time", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=chunk
        )
        self._time.attrs["unit"] = "s"
        group = self._file.create_group("signals", track_order=True)
        self._signals = []
        for k, label in enumerate(plan.rec_labels):
            kind = plan.rec_kinds[k]
            ds = group.create_dataset(
                dataset_name(label),
                shape=(0,),
                maxshape=(None,),
                dtype=_DTYPES.get(kind, np.float64),
                chunks=chunk,
            )
            component, _, variable = label.partition(".")
            ds.attrs["name"] = label
            ds.attrs["unit"] = plan.rec_units[k]
            ds.attrs["component"] = component
            ds.attrs["variable"] = variable
            ds.attrs["kind"] = kind
            self._signals.append(ds)
        self._write_metadata(system)
        for key, value in (attrs or {}).items():
            self._file.attrs[key] = value
        self._file.flush()

    # ------------------------------------------------------------------ metadata
    def _write_metadata(self, system: ResolvedSystem) -> None:
        spec = system.spec
        a = self._file.attrs
        a["system_name"] = spec.name
        a["description"] = spec.description or ""
        a["yaml"] = spec.text
        a["yaml_sha256"] = spec.sha256
        a["yaml_path"] = str(spec.path)
        a["cosim_version"] = __version__
        comps = [
            {
                "name": c.name,
                "fmu": str(c.fmu_path),
                "guid": c.guid,
                "fmi_version": c.fmi_version,
                "step": c.decimation * system.step_ticks / TICKS_PER_SECOND,
            }
            for c in system.components
        ]
        a["components"] = json.dumps(comps)
        a["fmu_guids"] = json.dumps({c["name"]: c["guid"] for c in comps})
        a["fmu_paths"] = json.dumps({c["name"]: c["fmu"] for c in comps})
        a["start"] = system.start_tick / TICKS_PER_SECOND
        a["stop"] = system.stop_tick / TICKS_PER_SECOND
        a["step"] = system.step_ticks / TICKS_PER_SECOND
        a["algorithm"] = spec.simulation.algorithm
        a["record_interval"] = system.record_decimation * system.step_ticks / TICKS_PER_SECOND
        a["signals"] = json.dumps(list(self.plan.rec_labels))  # recording order
        a["status"] = "running"

    # ------------------------------------------------------------------ observer
    def simulation_initialized(self, execution: Execution) -> None:
        self._ex = execution
        self._record(execution.step_count, execution.tick)

    def step_complete(self, step: int, tick: int) -> None:
        if step % self._decimation == 0:
            self._record(step, tick)
        elif self._pending and _time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def _record(self, step: int, tick: int) -> None:
        r = self._pending
        self._buf[r, 0] = tick / TICKS_PER_SECOND
        self._ex.gather_records(self._rows[r])
        self._pending = r + 1
        self._last_recorded_step = step
        if (
            self._pending == len(self._rows)
            or _time.monotonic() - self._last_flush >= self.flush_interval
        ):
            self.flush()

    # ------------------------------------------------------------------ writing
    @property
    def rows_written(self) -> int:
        return self._written

    def flush(self) -> None:
        """Append the buffered rows to every dataset, then flush the file."""
        k = self._pending
        if k:
            start, stop = self._written, self._written + k
            self._time.resize((stop,))
            self._time[start:stop] = self._buf[:k, 0]
            for j, ds in enumerate(self._signals):
                ds.resize((stop,))
                ds[start:stop] = self._buf[:k, j + 1]
            self._written = stop
            self._pending = 0
        self._file.flush()
        self._last_flush = _time.monotonic()

    def close(
        self,
        stats: RunStatistics | None = None,
        status: str | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        """Record the final state if it is not on the record grid, write the summary, close."""
        if not self._file.id.valid:
            return
        try:
            ex = self._ex
            final_ok = status in (None, "completed", "stopped", "interrupted")
            if ex is not None and final_ok and ex.step_count != self._last_recorded_step:
                self._record(ex.step_count, ex.tick)
            self.flush()
            a = self._file.attrs
            a["status"] = status or (stats.status if stats else "unknown")
            a["error"] = "" if error is None else str(error)
            if stats is not None:
                a["steps"] = stats.steps
                a["wall_time"] = stats.wall_time
                rtf = stats.real_time_factor
                a["real_time_factor"] = rtf if rtf is not None else np.nan
                a["statistics"] = json.dumps(stats.as_dict())
        finally:
            self._file.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(status="failed" if exc[0] else None, error=exc[1])


def read_results(path: str | Path) -> dict[str, Any]:
    """Load a results file into memory: time, signals {label: array}, units and attrs
    (labels from each dataset's `name` attribute, see the module docstring)."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            group = f["signals"]
            labels = {name: _label(ds, name) for name, ds in group.items()}
            return {
                "time": f["time"][:],
                "signals": {labels[name]: ds[:] for name, ds in group.items()},
                "units": {labels[name]: ds.attrs.get("unit", "") for name, ds in group.items()},
                "attrs": dict(f.attrs),
            }
    except (OSError, KeyError) as exc:
        raise ConfigError(
            Problem(Location(str(path)), f"not a cosim results file: {exc}", "pass a results.h5")
        ) from None


def export_csv(h5_path: str | Path, csv_path: str | Path, chunk_rows: int = 65536) -> int:
    """Write `time,<component>.<variable>,...` rows to `csv_path`; returns the number of rows.

    Columns follow the recording order; integers and booleans are written as integers, reals
    with 17 significant digits (they read back bit-exactly).
    """
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
        by_label = {_label(ds, name): ds for name, ds in f["signals"].items()}
        labels = json.loads(f.attrs.get("signals", "null") or "null")
        order = labels if labels and sorted(labels) == sorted(by_label) else list(by_label)
        datasets = [by_label[label] for label in order]
        fmts = ["%.17g"] + ["%d" if ds.dtype.kind in "iub" else "%.17g" for ds in datasets]
        n = time_ds.shape[0]
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as out:
            out.write(",".join(["time", *order]) + "\n")
            for a in range(0, n, chunk_rows):
                b = min(n, a + chunk_rows)
                block = np.empty((b - a, len(datasets) + 1), dtype=np.float64)
                block[:, 0] = time_ds[a:b]
                for j, ds in enumerate(datasets):
                    block[:, j + 1] = ds[a:b]
                np.savetxt(out, block, fmt=fmts, delimiter=",")
    return n


__all__ = ["ResultsWriter", "dataset_name", "export_csv", "read_results", "signal_label"]
