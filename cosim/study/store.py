"""A study on disk: the run journal (append-only, survives SIGKILL) and sweep.h5 built from it.

<out>/sweep.runs.jsonl   one JSON line per finished run (case, status, QoIs, error, wall
                         time, worker), after a header line with the study id; appended
                         and flushed as each run finishes, so a killed study loses only
                         the runs in flight, and `--resume` skips every case it holds
<out>/runs/<case>.npz    keep: full: the run's time and signals
<out>/sweep.h5           written at the end (and on Ctrl-C) from the design and journal:

    /design/<name>       one dataset per design column (float64, int64 or UTF-8 text),
                         attrs: columns (their order)
    /qoi/<label>         float64 [cases]: NaN where a run failed or did not run
    /status              UTF-8 [cases]: completed | stopped | failed | pending
    /error               UTF-8 [cases]: the failure's message ("" otherwise)
    /wall_time           float64 [cases]: seconds per run
    /worker              UTF-8 [cases]: host:pid that ran it
    /runs/<case>/time, /runs/<case>/signals/<label>   keep: full
    attributes: study (id), system, cases, completed, failed, pending, created, cosim
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cosim.errors import ConfigError, Problem

JOURNAL = "sweep.runs.jsonl"
SWEEP_FILE = "sweep.h5"


class Journal:
    """The append-only record of finished runs of one study."""

    def __init__(self, folder: str | os.PathLike[str], study: str, *, resume: bool, force: bool):
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL
        self.study = study
        self.done: dict[int, dict[str, Any]] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and resume:
            self._load()
        elif (self.path.exists() or (self.folder / SWEEP_FILE).exists()) and not force:
            raise ConfigError(
                Problem(
                    None,
                    f"{self.folder} already holds a study ({JOURNAL} or {SWEEP_FILE})",
                    "continue it with --resume, replace it with --force, or choose another --out",
                )
            )
        else:  # a new study (or --force): nothing of an earlier one may leak into it
            import shutil

            self.path.unlink(missing_ok=True)
            (self.folder / SWEEP_FILE).unlink(missing_ok=True)
            shutil.rmtree(self.folder / "runs", ignore_errors=True)
        mode = "a" if self.done or (resume and self.path.exists()) else "w"
        self._fh = open(self.path, mode, encoding="utf-8")  # noqa: SIM115 (closed in close())
        if mode == "w":
            self._write({"study": study, "created": time.time()})

    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        header = _json(lines[0]) if lines else None
        if not header or header.get("study") != self.study:
            raise ConfigError(
                Problem(
                    None,
                    f"{self.path} belongs to another study (the system, its FMUs, the design or "
                    "the quantities of interest changed)",
                    "resume with the same system file, or start anew with --force",
                )
            )
        self.done.update(_records(lines[1:]))

    def close(self) -> dict[int, dict[str, Any]]:
        """Close the journal and return every run it holds on disk (the study's truth: a
        Ctrl-C between a record's write and its return must not lose that run)."""
        self._fh.close()
        with open(self.path, encoding="utf-8") as fh:
            self.done.update(_records(fh.read().splitlines()[1:]))
        return self.done

    def _write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, allow_nan=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, outcome: Any) -> dict[str, Any]:
        """Record a finished run (its signals to runs/<case>.npz with keep: full)."""
        if outcome.signals is not None:
            runs = self.folder / "runs"
            runs.mkdir(exist_ok=True)
            arrays = {"time": outcome.time, **{f"s:{k}": v for k, v in outcome.signals.items()}}
            partial = runs / f"{outcome.case}.partial.npz"
            np.savez(partial, **arrays)
            os.replace(partial, runs / f"{outcome.case}.npz")
        record = outcome_record(outcome)
        self._write(record)
        self.done[outcome.case] = record
        return record


def _records(lines: Iterable[str]) -> dict[int, dict[str, Any]]:
    """The finished runs in journal lines (a line cut by a kill is skipped: its run is redone)."""
    done: dict[int, dict[str, Any]] = {}
    for line in lines:
        record = _json(line)
        if record is not None and isinstance(record.get("case"), int):
            done[record["case"]] = record
    return done


def outcome_record(outcome: Any) -> dict[str, Any]:
    """A finished run as the journal and the study table hold it (NaN QoIs as None)."""
    return {
        "case": outcome.case,
        "status": outcome.status,
        "qoi": {k: _finite(v) for k, v in outcome.qoi.items()},
        "error": outcome.error,
        "wall_time": outcome.wall_time,
        "worker": outcome.worker,
    }


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _json(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def table(design: Any, done: Mapping[int, Mapping[str, Any]], qoi: Iterable[str]) -> Any:
    """The study as a DataFrame: design columns, one column per QoI, status, error, wall_time."""
    frame = design.copy()
    labels = list(qoi)
    n = len(frame)
    values = {label: np.full(n, np.nan) for label in labels}
    status = np.array(["pending"] * n, dtype=object)
    error = np.array([""] * n, dtype=object)
    wall = np.full(n, np.nan)
    for case, record in done.items():
        if not 0 <= case < n:
            continue
        for label in labels:
            v = (record.get("qoi") or {}).get(label)
            values[label][case] = np.nan if v is None else float(v)
        status[case] = record.get("status", "failed")
        error[case] = record.get("error", "")
        wall[case] = record.get("wall_time", np.nan)
    for label in labels:
        frame[label] = values[label]
    frame["status"] = status
    frame["error"] = error
    frame["wall_time"] = wall
    return frame


def write_sweep_h5(
    folder: str | os.PathLike[str],
    frame: Any,
    design_columns: Iterable[str],
    qoi: Iterable[str],
    done: Mapping[int, Mapping[str, Any]],
    attrs: Mapping[str, Any],
) -> Path:
    """sweep.h5 from the study table (see the module docstring); written next to, then over."""
    import h5py

    folder = Path(folder)
    path = folder / SWEEP_FILE
    partial = folder / (SWEEP_FILE + ".partial")
    text = h5py.string_dtype("utf-8")
    columns = list(design_columns)
    with h5py.File(partial, "w") as f:
        g = f.create_group("design")
        g.attrs["columns"] = np.array(columns, dtype=object).astype(text) if columns else []
        for name in columns:
            data = _column(frame[name].tolist())
            ds = g.create_dataset(name.replace("/", "%2F"), data=data)
            ds.attrs["name"] = name
        q = f.create_group("qoi")
        for label in qoi:
            q.create_dataset(label, data=np.asarray(frame[label], dtype=np.float64))
        for key in ("status", "error"):
            f.create_dataset(key, data=np.array(frame[key].tolist(), dtype=object), dtype=text)
        f.create_dataset("wall_time", data=np.asarray(frame["wall_time"], dtype=np.float64))
        workers = [str(done.get(k, {}).get("worker", "")) for k in range(len(frame))]
        f.create_dataset("worker", data=np.array(workers, dtype=object), dtype=text)
        runs = folder / "runs"
        for case in sorted(done):
            npz = runs / f"{case}.npz"
            if not npz.exists():
                continue
            with np.load(npz) as data:
                r = f.create_group(f"runs/{case}")
                r.create_dataset("time", data=data["time"])
                s = r.create_group("signals")
                for key in data.files:
                    if key.startswith("s:"):
                        ds = s.create_dataset(key[2:].replace("/", "%2F"), data=data[key])
                        ds.attrs["name"] = key[2:]
        statuses = frame["status"].tolist()
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["cases"] = len(frame)
        for key in ("completed", "failed", "pending"):
            f.attrs[key] = sum(1 for s in statuses if s == key)
    os.replace(partial, path)
    return path


def _column(values: list[Any]) -> np.ndarray:
    """A design column as an HDF5-friendly array: int64, float64 or UTF-8 text."""
    if all(isinstance(v, bool | np.bool_) for v in values):
        return np.asarray(values, dtype=np.uint8)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64)
    import h5py

    return np.array([str(v) for v in values], dtype=h5py.string_dtype("utf-8"))


__all__ = ["JOURNAL", "SWEEP_FILE", "Journal", "outcome_record", "table", "write_sweep_h5"]
