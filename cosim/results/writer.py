"""The results.h5 writer: an observer whose rows reach the file on a writer thread of its own.

The step thread only buffers rows; `read_results` reads a file back. The file layout is in
`cosim.results.layout`.

The step thread only copies each recorded row into a preallocated block (see
`cosim.results.recorder`). A block is handed to the writer thread when it is full and at least
every `flush_interval` seconds of wall time, the first time FIRST_FLUSH after the start (the
clock is read on every recorded row and, while rows are pending, on every step in between:
about 50 ns, so even a run whose steps take a long time hands its rows over within one step of
the interval). There are two blocks (double
buffering): while the writer thread appends one to the datasets and flushes the file, the step
thread fills the other; it waits only when the disk is slower than the run. Each write is
followed by a flush, and nothing touches the file between writes, so a process killed at any
time leaves a file that holds every row up to the last flush.

A failed write on the writer thread (a full disk, a removed folder) is kept and raised on the
step thread at the next hand-off (the next recorded row, since the writer moves the deadline
to "now") or at close(), as a SimulationError naming the file; the rows after it are not
written. close() hands over the last rows, joins the thread and writes the final attributes.
"""

from __future__ import annotations

import math
import queue
import threading
import time as _time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
from h5py import h5s

from cosim.errors import ConfigError, Location, Problem, SimulationError
from cosim.model.spec import ResolvedSystem
from cosim.results.csv import export_csv
from cosim.results.layout import (
    create_datasets,
    dataset_name,
    descriptions,
    label_of,
    metadata,
    signal_label,
    summary,
    text_attr,
    write_statistics,
)
from cosim.results.recorder import GridRecorder, RowBlock, RowLayout, block_rows

if TYPE_CHECKING:
    from cosim.engine.execution import RunStatistics
    from cosim.engine.plan import Plan

_STOP = None  # the work queue's "no more blocks" item
FIRST_FLUSH = 0.1  # s of wall time after the file is made: the first rows are handed over


class ResultsWriter(GridRecorder):
    """Observer that records the plan's record variables into an HDF5 file.

    Call order: ResultsWriter(...) (creates the file, status "running") -> used as an observer
    of one Execution -> close(stats, status, error) (always, e.g. in a finally block).
    """

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
        n = len(plan.rec_labels)
        if buffer_rows is None:  # about 1 MiB of rows
            buffer_rows = block_rows(n, 1 << 20)
        layout = RowLayout.of(system, plan)
        super().__init__(plan, layout, RowBlock(buffer_rows, layout))
        self.path = Path(path)
        self.flush_interval = flush_interval
        self._free: queue.SimpleQueue[RowBlock] = queue.SimpleQueue()
        self._free.put(RowBlock(buffer_rows, layout))  # the second buffer
        self._work: queue.Queue[tuple[RowBlock, int] | None] = queue.Queue()
        self._written = 0
        self._failure: BaseException | None = None  # set by the writer thread
        self._raised = False  # the failure has been raised on the caller's thread
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self.path, "w")
        labels = plan.rec_labels
        self._time, self._signals = create_datasets(
            self._file,
            labels,
            plan.rec_units,
            plan.rec_kinds,
            descriptions(system, labels),
            chunk_rows=min(buffer_rows, 8192),
            dtypes=layout.dtypes,
        )
        self._datasets = [self._time, *self._signals]
        self._file.attrs.update(metadata(system, labels))
        for key, value in (attrs or {}).items():
            self._file.attrs[key] = value
        self._file.flush()
        # the first rows reach the file soon after the start (a run that dies early leaves
        # them), then every flush_interval
        self.deadline = _time.monotonic() + min(FIRST_FLUSH, flush_interval)
        self._thread = threading.Thread(
            target=self._run, name=f"cosim-results-{self.path.name}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ step thread
    @property
    def rows_written(self) -> int:
        """Rows that have reached the file (appended and flushed)."""
        return self._written

    def _hand_off(self) -> None:
        self.deadline = _time.monotonic() + self.flush_interval  # before the check: see _run
        self._check()
        self._submit()

    def _submit(self) -> None:
        if self._pending:
            self._work.put((self._block, self._pending))
            self._use_block(self._free.get())  # waits only while both blocks are in flight

    def flush(self) -> None:
        """Hand the buffered rows to the writer thread and wait until they are in the file."""
        self._hand_off()
        self._work.join()
        self._check()

    def _check(self) -> None:
        if self._failure is not None and not self._raised:
            self._raised = True
            raise self._error()

    def _error(self) -> SimulationError:
        exc = self._failure
        return SimulationError(
            f"cannot write results to {self.path} (rows from {self._written} on are lost): "
            f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        )

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            item = self._work.get()
            try:
                if item is _STOP:
                    return
                block, k = item
                if self._failure is None:
                    try:
                        self._write_rows(block, k)
                    except BaseException as exc:  # noqa: BLE001 - raised on the step thread
                        self._failure = exc
                        self.deadline = -math.inf  # the next recorded row hands off and raises
                self._free.put(block)
            finally:
                self._work.task_done()

    def _write_rows(self, block: RowBlock, k: int) -> None:
        """Append block rows [0, k) to every dataset, then flush the file (writer thread).

        One transposed copy per block group makes every column contiguous, in its dataset's
        dtype (`RowLayout.stored`: exact, never through float64); each goes in with one
        low-level H5Dwrite of a hyperslab (about half the cost of h5py's slice assignment)."""
        start, stop = self._written, self._written + k
        columns = [block.time[:k], *block.columns(self.layout, k)]
        memory = h5s.create_simple((k,))
        for ds, column in zip(self._datasets, columns, strict=True):
            ds.resize((stop,))
            space = ds.id.get_space()
            space.select_hyperslab((start,), (k,))
            ds.id.write(memory, space, column)
        self._file.flush()
        self._written = stop

    # ------------------------------------------------------------------ close
    def close(
        self,
        stats: RunStatistics | None = None,
        status: str | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        """Record the final state if it is not on the record grid, write every row and the
        summary attributes, close the file. Raises SimulationError if rows could not be
        written and that was not raised before."""
        if self._closed:
            return
        self._closed = True
        raised_before = self._raised
        try:
            try:
                if self._failure is None:
                    self.record_final(status)
                    self._submit()
            except SimulationError:
                pass  # a failed write: in the summary below, raised at the end
            finally:
                self._work.put(_STOP)
                self._thread.join()
            final = summary(stats, status, error)
            if self._failure is not None and error is None:
                final["status"], final["error"] = "failed", str(self._error())
            try:
                self._file.attrs.update(final)
                write_statistics(self._file, stats)
            except Exception:  # the disk may still be full: report the first failure
                if self._failure is None:
                    raise
        finally:
            try:
                self._file.close()
            except Exception:  # HDF5 cannot write its last metadata after a failed write
                if self._failure is None:
                    raise
        if self._failure is not None and not raised_before:
            self._raised = True
            raise self._error()

    def abandon(self, stats: Any, status: str, error: str) -> None:
        """close() from another thread while the step thread is stuck inside an FMU call (the
        watchdog's emergency exit): the rows handed over or buffered so far, the final
        attributes with `status` and `error`, the file closed. The rows the compiled kernel was
        writing into the current block are not counted yet and stay out."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._failure is None and self._pending:
                self._work.put((self._block, self._pending))
            self._work.put(_STOP)
            self._thread.join(timeout=5.0)
            final = summary(stats, status, error)
            self._file.attrs.update(final)
            write_statistics(self._file, stats)
        finally:
            self._file.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(status="failed" if exc[0] else None, error=exc[1])


def read_results(path: str | Path) -> dict[str, Any]:
    """Load a results file into memory: time, signals {label: array}, units, descriptions and
    attrs (labels from each dataset's `name` attribute, see cosim.results.layout)."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            group = f["signals"]
            labels = {name: label_of(ds, name) for name, ds in group.items()}
            return {
                "time": f["time"][:],
                "signals": {labels[name]: ds[:] for name, ds in group.items()},
                "units": {labels[name]: text_attr(ds.attrs, "unit") for name, ds in group.items()},
                "descriptions": {
                    labels[name]: text_attr(ds.attrs, "description") for name, ds in group.items()
                },
                "attrs": dict(f.attrs),
            }
    except (OSError, KeyError) as exc:
        raise ConfigError(
            Problem(Location(str(path)), f"not a cosim results file: {exc}", "pass a results.h5")
        ) from None


__all__ = ["ResultsWriter", "dataset_name", "export_csv", "read_results", "signal_label"]
