"""LoopThread: one asyncio event loop in its own daemon thread, the only thread boundary."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from cosim.errors import BridgeError


class LoopThread:
    """Runs an event loop in a daemon thread; other threads hand it coroutines.

    submit() is asyncio.run_coroutine_threadsafe; run() also waits for the result;
    wake() schedules a plain callback without waiting (used to set an asyncio.Event);
    close() cancels every task still pending, stops the loop and joins the thread.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self.closed = False

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float, what: str = "task") -> Any:
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BridgeError(
                f"the OPC UA thread did not finish {what} within {timeout:g} s"
            ) from None

    def wake(self, callback: Callable[[], Any]) -> None:
        if not self.closed:
            self.loop.call_soon_threadsafe(callback)

    def close(self, timeout: float = 10.0) -> None:
        if self.closed:
            return
        self.closed = True
        # closing must go on even if a task refuses to die
        with contextlib.suppress(BaseException):
            self.submit(_cancel_pending()).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


async def _cancel_pending() -> None:
    """Cancel every other task on this loop (asyncua leaves session/subscription timers)."""
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
