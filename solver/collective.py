"""Failure paths that end on every MPI rank together.

An exception raised on one rank while the others wait in a barrier (or in the next collective
call) hangs the job. The helpers here decide on all ranks first and then raise on all ranks:

- :func:`on_root` runs a function on rank 0 (file-system work) and re-raises its exception, or
  returns its result, on every rank;
- :func:`raise_if_any` takes each rank's own exception (or None) and raises on every rank when any
  rank failed;
- :class:`DeferredInterrupt` turns Ctrl-C into a flag that the ranks check together, so that an
  interrupted run stops on every rank at the same point (not inside a collective call).

Both are collective over ``comm``: every rank must call them at the same point. Without MPI (a
communicator of size 1) they cost nothing.
"""

from __future__ import annotations

import pickle
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling (to travel between ranks), else a RuntimeError."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # unpicklable exception: keep its type name and message
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def on_root(comm: Any, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``function`` on rank 0 only; return its result on every rank, or raise its exception on every rank.

    KeyboardInterrupt and SystemExit are not caught. Collective over ``comm``.
    """
    result: Any = None
    error: BaseException | None = None
    if comm.rank == 0:
        try:
            result = function(*args, **kwargs)
        except Exception as exc:
            error = _portable(exc)
    if comm.size > 1:
        result, error = comm.bcast((result, error), root=0)
    if error is not None:
        raise error
    return result


def raise_if_any(comm: Any, error: BaseException | None) -> None:
    """Raise on every rank when any rank passes an exception (the lowest failing rank's one).

    Collective over ``comm``: call it on every rank, with None where nothing failed.
    """
    if comm.size > 1:
        errors = comm.allgather(None if error is None else _portable(error))
        error = next((e for e in errors if e is not None), None)
    if error is not None:
        raise error


class DeferredInterrupt:
    """Ctrl-C (SIGINT) that ends a loop on every MPI rank at the same point.

    Inside the ``with`` block a first SIGINT only sets a flag; :meth:`check` (collective: call it
    on every rank at the same point, e.g. before each time step) raises KeyboardInterrupt on every
    rank once any rank got one. A second SIGINT raises at once, as outside the block. Where SIGINT
    does not have Python's default handler (ignored, or handled by a parent's code) or outside the
    main thread, nothing is installed and :meth:`check` only agrees on "no interrupt".

    Args:
        comm: the communicator whose ranks stop together (mpi4py).
    """

    def __init__(self, comm: Any):
        self.comm = comm
        self.pending = False
        self._previous: Any = None

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def check(self) -> None:
        """Raise KeyboardInterrupt on every rank when any rank was interrupted (collective)."""
        pending = self.pending
        if self.comm.size > 1:
            pending = any(self.comm.allgather(pending))
        if pending:
            self.pending = False
            raise KeyboardInterrupt
