"""Results in memory: a run's signals with units and descriptions, and the observer recording them.

`Results` holds time, signals, units, descriptions and attributes; `MemoryRecorder` is the
observer that records them.

    rec = MemoryRecorder(system, plan)        # an observer of one Execution
    ...run...
    rec.close(stats, status, error)           # final row off the grid, status attributes
    res = rec.results()
    res.time, res["mass1.x1"], res.units["mass1.x1"], res.descriptions["mass1.x1"]
    res.to_pandas(), res.to_h5("out.h5"), res.to_csv("out.csv"), Results.from_h5("out.h5")

`Results.attrs` holds the same attributes as a results.h5 file (see cosim.results.layout):
system_name, start, stop, step, algorithm, signals, ..., and after close status, error, steps,
wall_time, real_time_factor and statistics (a JSON string, as in the file). `to_h5` writes that
layout with the same code as the streaming ResultsWriter, so `from_h5(to_h5(res))` gives back
equal results.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.errors import ConfigError, Location, Problem
from cosim.results.layout import descriptions, metadata, summary
from cosim.results.recorder import GridRecorder, RowBlock, RowLayout, block_rows

if TYPE_CHECKING:
    import pandas

    from cosim.engine.execution import RunStatistics
    from cosim.engine.plan import Plan
    from cosim.model.spec import ResolvedSystem

_MAX_FIRST_BLOCK = 1 << 26  # bytes: a run expected to fit in 64 MiB gets one exact block
_BLOCK_BYTES = 1 << 23  # then blocks of about 8 MiB


class Results:
    """Recorded signals of one run: a time vector (s) and one array per label, with units.

    Reads like a mapping label -> numpy array in the dtype results.h5 stores it in (exact: float64
    or float32 for reals, the FMI type's integer dtype, int64 for FMI 2.0 integers, uint8 for
    booleans; see cosim.results.layout), in recording order; `names` lists the labels.
    """

    def __init__(
        self,
        time: np.ndarray,
        signals: Mapping[str, np.ndarray],
        units: Mapping[str, str] | None = None,
        descriptions: Mapping[str, str] | None = None,
        kinds: Mapping[str, str] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        self.time = np.asarray(time, dtype=np.float64)
        self._signals = {k: np.asarray(v) for k, v in signals.items()}
        for label, values in self._signals.items():
            if values.shape != self.time.shape:
                raise ValueError(
                    f"signal {label!r} has shape {values.shape}, expected {self.time.shape} "
                    "(one value per time)"
                )
        self.units: dict[str, str] = {k: (units or {}).get(k, "") for k in self._signals}
        self.descriptions: dict[str, str] = {
            k: (descriptions or {}).get(k, "") for k in self._signals
        }
        self.kinds: dict[str, str] = {
            k: (kinds or {}).get(k) or _kind_of(v) for k, v in self._signals.items()
        }
        self.attrs: dict[str, Any] = dict(attrs or {})

    # ------------------------------------------------------------------ mapping
    @property
    def names(self) -> list[str]:
        """The signal labels, in recording order."""
        return list(self._signals)

    def __getitem__(self, label: str) -> np.ndarray:
        try:
            return self._signals[label]
        except KeyError:
            raise KeyError(_unknown(label, self.names)) from None

    def get(self, label: str, default: Any = None) -> Any:
        return self._signals.get(label, default)

    def keys(self) -> list[str]:
        return self.names

    def items(self) -> list[tuple[str, np.ndarray]]:
        return list(self._signals.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._signals)

    def __len__(self) -> int:
        return len(self._signals)

    def __contains__(self, label: object) -> bool:
        return label in self._signals

    @property
    def status(self) -> str:
        """The run's final status ("completed", "stopped", "failed", ...; "running" if open)."""
        return str(self.attrs.get("status", "unknown"))

    def __repr__(self) -> str:
        span = f"{self.time[0]:g}..{self.time[-1]:g} s" if self.time.size else "no rows"
        return (
            f"<Results {self.attrs.get('system_name', '')!s}: {len(self)} signals, "
            f"{self.time.size} rows, {span}, status {self.status}>"
        )

    # ------------------------------------------------------------------ export
    def to_pandas(self) -> pandas.DataFrame:
        """A DataFrame indexed by time (s), one column per label; units in df.attrs["units"],
        descriptions in df.attrs["descriptions"]."""
        import pandas as pd

        index = pd.Index(self.time, name="time")
        df = pd.DataFrame(dict(self._signals), index=index, columns=self.names, copy=True)
        df.attrs["units"] = dict(self.units)
        df.attrs["descriptions"] = dict(self.descriptions)
        return df

    def to_h5(self, path: str | Path) -> Path:
        """Write the results.h5 layout (cosim.results.layout) to path; returns the path."""
        import h5py

        from cosim.results.layout import create_datasets

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        labels = self.names
        with h5py.File(path, "w") as f:
            create_datasets(
                f,
                labels,
                [self.units[k] for k in labels],
                [self.kinds[k] for k in labels],
                [self.descriptions[k] for k in labels],
                data=(self.time, self._signals),
            )
            f.attrs.update(self.attrs)
            f.attrs["signals"] = json.dumps(labels)
        return path

    def to_csv(self, path: str | Path) -> Path:
        """Write the CSV format of `cosim export` (units in the header); returns the path."""
        from cosim.results.csv import write_csv

        columns = [(k, self.units[k], self._signals[k]) for k in self.names]
        write_csv(path, self.time, columns)
        return Path(path)

    @classmethod
    def from_h5(cls, path: str | Path) -> Results:
        """Read a results.h5 file (labels, units, descriptions, kinds, attributes)."""
        import h5py

        from cosim.results.layout import label_of, text_attr

        path = Path(path)
        try:
            with h5py.File(path, "r") as f:
                group = f["signals"]
                time = f["time"][()]
                by_label = {label_of(ds, name): ds for name, ds in group.items()}
                order = json.loads(text_attr(f.attrs, "signals", "null") or "null")
                if not order or sorted(order) != sorted(by_label):
                    order = list(by_label)
                n = min([time.shape[0], *(by_label[k].shape[0] for k in order)])
                signals = {k: by_label[k][:n] for k in order}
                units = {k: text_attr(by_label[k].attrs, "unit") for k in order}
                desc = {k: text_attr(by_label[k].attrs, "description") for k in order}
                kinds = {k: text_attr(by_label[k].attrs, "kind") for k in order}
                attrs = {k: _plain(v) for k, v in f.attrs.items()}
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(
                Problem(
                    Location(str(path)), f"not a cosim results file: {exc}", "pass a results.h5"
                )
            ) from None
        return cls(time[:n], signals, units, desc, kinds, attrs)


class MemoryRecorder(GridRecorder):
    """Observer that keeps the plan's record variables in memory, on the ResultsWriter's grid.

    Call order: MemoryRecorder(system, plan) -> used as an observer of one Execution ->
    close(stats, status, error) -> results(). results() may also be called during the run
    (the rows so far). Rows go into preallocated blocks: one block sized for the whole run when
    that is at most 64 MiB, otherwise blocks of about 8 MiB, so no row allocates.
    """

    def __init__(self, system: ResolvedSystem, plan: Plan) -> None:
        n = len(plan.rec_labels)
        expected = plan.n_steps // max(1, plan.record_decimation) + 2  # + row 0 + final row
        if expected * 8 * (n + 1) <= _MAX_FIRST_BLOCK:
            first = expected
        else:
            first = block_rows(n, _BLOCK_BYTES)
        layout = RowLayout.of(system, plan)
        super().__init__(plan, layout, RowBlock(first, layout))
        self._full: list[tuple[RowBlock, int]] = []  # handed-off blocks and their rows
        labels = plan.rec_labels
        self._units = dict(zip(labels, plan.rec_units, strict=True))
        self._kinds = dict(zip(labels, plan.rec_kinds, strict=True))
        self._descriptions = dict(zip(labels, descriptions(system, labels), strict=True))
        self.attrs: dict[str, Any] = metadata(system, labels)
        self._closed = False

    def _room(self) -> None:
        if self._pending == self._capacity:  # the block filled at the last row: a new one
            self._full.append((self._block, self._pending))
            n = self.layout.n_signals
            self._use_block(RowBlock(block_rows(n, _BLOCK_BYTES), self.layout))

    def _hand_off(self) -> None:
        # a full block is replaced only when another row comes (`_record`): a run whose rows
        # fill its exact first block (the usual case) never allocates a second one
        self.deadline = math.inf

    def close(
        self,
        stats: RunStatistics | None = None,
        status: str | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        """Record the final state if it is not on the record grid; set the status attributes."""
        if self._closed:
            return
        self._closed = True
        self.record_final(status)
        self.attrs.update(summary(stats, status, error))

    def results(self) -> Results:
        """The rows recorded so far as Results (copies: the recorder may go on)."""
        blocks = [*self._full, (self._block, self._pending)]
        time = np.concatenate([b.time[:k] for b, k in blocks])  # a copy, also of one block
        groups = [
            np.concatenate([b.groups[g][:k] for b, k in blocks])
            for g in range(len(self.layout.groups))
        ]
        columns = self.layout.columns(groups)
        signals = dict(zip(self.plan.rec_labels, columns, strict=True))
        return Results(
            time,
            signals,
            self._units,
            self._descriptions,
            self._kinds,
            dict(self.attrs),
        )


def _kind_of(values: np.ndarray) -> str:
    if values.dtype.kind == "b" or (values.dtype.kind == "u" and values.dtype.itemsize == 1):
        return "boolean"
    return "integer" if values.dtype.kind in "iu" else "real"


def _plain(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (str, int, float)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _unknown(label: str, names: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(label, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    few = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"no signal {label!r} in the results (recorded: {few or 'none'}){hint}"


__all__ = ["MemoryRecorder", "Results"]
