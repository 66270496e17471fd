"""A worker pool whose queued calls can be overtaken: the comparison's figures start as soon as the
runs they draw have finished, ahead of the runs still waiting (the sensitivity runs).

A :class:`concurrent.futures.ProcessPoolExecutor` starts its calls in the order they were submitted,
so a call submitted while twenty runs wait starts after all of them. :class:`PriorityPool` keeps
the waiting calls itself and hands the pool at most one call per worker process at a time: calls
given to :meth:`PriorityPool.submit` start before every call given to
:meth:`PriorityPool.submit_later` that has not started yet (each kind in its own order). A call
that has started is never interrupted.

A broken pool (a worker process died) fails the call it was running, then every waiting call, with
the pool's own :class:`~concurrent.futures.process.BrokenProcessPool`; later submits raise it.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import functools
import threading
from collections.abc import Callable
from typing import Any

_Call = tuple[cf.Future, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class PriorityPool(cf.Executor):
    """``pool`` with ``slots`` calls at most handed to it at a time (its worker count); the rest wait
    here in two lanes, urgent (:meth:`submit`) before later (:meth:`submit_later`)."""

    def __init__(self, pool: cf.Executor, slots: int) -> None:
        self._pool, self._slots = pool, max(1, slots)
        self._urgent: collections.deque[_Call] = collections.deque()
        self._later: collections.deque[_Call] = collections.deque()
        self._running = 0
        self._broken: RuntimeError | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        """Queue ``fn(*args, **kwargs)`` ahead of every waiting :meth:`submit_later` call."""
        return self._queue(self._urgent, fn, args, kwargs)

    def submit_later(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        """Queue ``fn(*args, **kwargs)`` behind the urgent calls (and the earlier later ones)."""
        return self._queue(self._later, fn, args, kwargs)

    def cancel_waiting(self) -> None:
        """Cancel the calls that have not been handed to the pool (those running go on)."""
        with self._lock:
            waiting = [*self._urgent, *self._later]
            self._urgent.clear()
            self._later.clear()
        for future, *_ in waiting:
            future.cancel()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the pool down (``cancel_futures``: the waiting calls are cancelled first)."""
        if cancel_futures:
            self.cancel_waiting()
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def _queue(self, lane: collections.deque[_Call], fn: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> cf.Future:
        future: cf.Future = cf.Future()
        with self._lock:
            if self._broken is not None:
                raise type(self._broken)(*self._broken.args)
            lane.append((future, fn, args, kwargs))
        self._pump()
        return future

    def _next(self) -> _Call | None:
        """The next waiting call to start, counted as running; None when none may start now."""
        with self._lock:
            while self._running < self._slots and (self._urgent or self._later):
                call = (self._urgent or self._later).popleft()
                if call[0].set_running_or_notify_cancel():
                    self._running += 1
                    return call
        return None

    def _pump(self) -> None:
        """Hand waiting calls to the pool while it has a free worker."""
        while (call := self._next()) is not None:
            future, fn, args, kwargs = call
            try:
                inner = self._pool.submit(fn, *args, **kwargs)
            except RuntimeError as exc:  # broken (BrokenProcessPool) or shut down
                self._fail(future, exc)
                return
            inner.add_done_callback(functools.partial(self._finished, future))

    def _finished(self, future: cf.Future, inner: cf.Future) -> None:
        """Pass the pool's result on and start the next waiting call."""
        with self._lock:
            self._running -= 1
        exc = cf.CancelledError() if inner.cancelled() else inner.exception()
        if exc is None:
            future.set_result(inner.result())
        else:
            future.set_exception(exc)
        self._pump()

    def _fail(self, future: cf.Future, exc: RuntimeError) -> None:
        """The pool takes no more calls: fail ``future`` and every waiting call with ``exc``."""
        with self._lock:
            self._running -= 1
            self._broken = exc
            waiting = [*self._urgent, *self._later]
            self._urgent.clear()
            self._later.clear()
        future.set_exception(exc)
        for other, *_ in waiting:
            if other.set_running_or_notify_cancel():
                other.set_exception(exc)
