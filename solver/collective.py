"""Failure paths that end on every MPI rank together.

An exception raised on one rank while the others wait in a barrier (or in the next collective
call) hangs the job. The helpers here decide on all ranks first and then raise on all ranks:

- :func:`on_root` runs a function on rank 0 (file-system work) and re-raises its exception, or
  returns its result, on every rank;
- :func:`raise_if_any` takes each rank's own exception (or None) and raises on every rank when any
  rank failed.

Both are collective over ``comm``: every rank must call them at the same point. Without MPI (a
communicator of size 1) they cost nothing.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
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
