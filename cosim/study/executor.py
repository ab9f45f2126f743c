"""Where study runs execute: local worker processes, or a Dask cluster (an address or local).

Every executor takes the study's Payload once and yields Outcomes as runs finish, in any
order. Cases travel in small batches (one task: several runs, fewer towards the end) so that
scheduling costs little per run:

    LocalExecutor(workers)      a process pool (spawn); the payload goes to each worker once,
                                through the pool's initializer
    DaskExecutor(address)       a running `dask scheduler` (tcp://host:port), or, with
                                address None, a LocalCluster it starts and stops; the payload
                                is scattered to every worker once (broadcast) and each task
                                names it, so FMUs travel once per worker, not per run. A worker
                                that dies loses no run: the scheduler reruns its tasks
                                elsewhere (and `retries` covers tasks that raise)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from cosim.errors import ConfigError, Problem
from cosim.study.runner import Outcome, Payload, run_cases

Case = tuple[int, dict[str, Any]]


def batches(cases: Sequence[Case], workers: int) -> list[list[Case]]:
    """Cases in batches of at most 16, shrinking towards the end (guided: each a quarter of
    what remains per worker), so scheduling costs little per run and no worker is left with
    a long last batch while the others idle."""
    out, k, n = [], 0, len(cases)
    while k < n:
        size = max(1, min(16, (n - k) // max(1, 4 * workers)))
        out.append(list(cases[k : k + size]))
        k += size
    return out


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- local processes
_payload: Payload | None = None  # in a pool worker: the study, set once by _init


def _init(payload: Payload) -> None:
    global _payload
    _payload = payload


def _run_local(cases: list[Case]) -> list[Outcome]:
    assert _payload is not None
    return run_cases(_payload, cases)


def _alone(context: Any, payload: Payload, case: Case) -> Outcome:
    """Run one case in a process of its own; a failed Outcome if that process dies."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(1, mp_context=context, initializer=_init, initargs=(payload,)) as pool:
        try:
            return pool.submit(_run_local, [case]).result()[0]
        except BrokenProcessPool:
            return Outcome(
                case[0], "failed", {},
                "the process running this case died (a crash inside an FMU?)",
            )  # fmt: skip


class LocalExecutor:
    """Runs on `workers` local processes (1: in this process, no pool)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self.description = f"{self.workers} local process{'es' if self.workers > 1 else ''}"

    def run(self, payload: Payload, cases: Sequence[Case]) -> Iterator[Outcome]:
        if self.workers == 1:
            for case in cases:
                yield from run_cases(payload, [case])
            return
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        context = multiprocessing.get_context("spawn")
        finished: set[int] = set()
        broken = False
        with ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_init, initargs=(payload,)
        ) as pool:
            pending = {pool.submit(_run_local, b) for b in batches(cases, self.workers)}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        try:
                            outcomes = future.result()
                        except BrokenProcessPool:  # a worker died: a crash inside an FMU?
                            broken = True
                            continue
                        for outcome in outcomes:
                            finished.add(outcome.case)
                            yield outcome
            finally:
                for future in pending:
                    future.cancel()
        if broken:  # every run the dead pool took with it, again, alone: one crash, one run
            for case in cases:
                if case[0] not in finished:
                    yield _alone(context, payload, case)

    def futures(self) -> Any:
        """A concurrent.futures executor on the same processes (calibration's `map`)."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def close(self) -> None:
        return None


# --------------------------------------------------------------------------- Dask
# A LocalCluster that cosim starts runs its workers with Dask's periodic monitors slowed down
# and the statistical profiler off: on a machine whose cores all run simulations they take
# CPU from the runs (measured on 2 cores, 200 EV runs: 167.9 -> 159.2 ms per run, the local
# pool's figure). Workers keep glibc's own malloc trim threshold (Dask's nanny sets 64 KiB,
# which makes the runs' array allocations slower). docs/sweeps.md gives the same settings
# for `dask worker` as environment variables.
QUIET_WORKERS: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    },
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "2s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "1s",
}


class DaskExecutor:
    """Runs on a Dask cluster: `address` of a running scheduler, or None for a LocalCluster
    of `workers` single-threaded worker processes."""

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                Problem(
                    None,
                    "running on Dask needs the dask.distributed package",
                    "pip install 'dask[distributed]' (it comes with cosim's install)",
                )
            ) from None
        self._cluster = None
        try:
            if address is None:
                import dask

                n = workers or default_workers()
                with dask.config.set(QUIET_WORKERS):
                    self._cluster = LocalCluster(
                        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
                    )
                self.client = Client(self._cluster)
                self.description = f"a local Dask cluster of {n} workers"
            else:
                self.client = Client(address, timeout=10)
                self.description = f"the Dask cluster at {address}"
        except OSError as exc:
            if self._cluster is not None:
                self._cluster.close()
            raise ConfigError(
                Problem(
                    None,
                    f"cannot reach the Dask scheduler at {address}: {exc}",
                    "start one with `dask scheduler` and workers with `dask worker ADDRESS`, "
                    "or leave out --scheduler to run on local processes",
                )
            ) from None

    def _workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def run(self, payload: Payload, cases: Sequence[Case]) -> Iterator[Outcome]:
        from distributed import as_completed

        shared = self.client.scatter(payload, broadcast=True, hash=False)
        futures = [
            self.client.submit(run_cases, shared, batch, pure=False, retries=2)
            for batch in batches(cases, self._workers())
        ]
        try:
            for future in as_completed(futures):
                yield from future.result()
        finally:
            self.client.cancel(futures)

    def futures(self) -> Any:
        """A concurrent.futures executor on the cluster (calibration's `map`)."""
        return self.client.get_executor(pure=False)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(spec: Any = None) -> Any:
    """An executor from what a caller wrote: None (local, every core), an int (local
    processes), "tcp://host:port" (a Dask scheduler), "local-cluster" (a LocalCluster), or an
    executor itself."""
    if spec is None or isinstance(spec, int):
        return LocalExecutor(spec)
    if isinstance(spec, str):
        if spec in ("local", "local-cluster"):
            return DaskExecutor(None)
        return DaskExecutor(spec)
    if hasattr(spec, "run"):
        return spec
    raise ConfigError(
        Problem(
            None,
            f"executor: expected None, a number of workers, a scheduler address or an "
            f"executor, got {type(spec).__name__}",
        )
    )


__all__ = [
    "QUIET_WORKERS",
    "DaskExecutor",
    "LocalExecutor",
    "batches",
    "default_workers",
    "make_executor",
]
