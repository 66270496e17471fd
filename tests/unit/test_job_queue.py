"""PriorityPool (ecmx.solver.studies.job_queue): urgent calls overtake the waiting later ones."""

from __future__ import annotations

import concurrent.futures as cf
import threading

import pytest

from ecmx.solver.studies.job_queue import PriorityPool


def test_urgent_calls_start_before_the_waiting_later_ones() -> None:
    order: list[str] = []
    gate = threading.Event()

    def job(name: str) -> str:
        if name == "first":
            gate.wait(10)
        order.append(name)
        return name

    with cf.ThreadPoolExecutor(1) as inner:
        pool = PriorityPool(inner, 1)
        later = [pool.submit_later(job, name) for name in ("first", "run-a", "run-b")]
        urgent = [pool.submit(job, name) for name in ("figure-a", "figure-b")]
        gate.set()
        assert [f.result(10) for f in [*later, *urgent]] == ["first", "run-a", "run-b", "figure-a", "figure-b"]
    # the running call is not interrupted; the figures overtake the runs still waiting, each lane in order
    assert order == ["first", "figure-a", "figure-b", "run-a", "run-b"]


def test_at_most_one_call_per_slot_is_handed_to_the_pool() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def job(k: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.01)
        with lock:
            running[0] -= 1
        return k

    with cf.ThreadPoolExecutor(4) as inner:
        pool = PriorityPool(inner, 2)
        futures = [pool.submit_later(job, k) for k in range(8)] + [pool.submit(job, 8)]
        assert [f.result(10) for f in futures] == list(range(9))
    assert peak[0] == 2


def test_errors_pass_through_and_a_closed_pool_fails_the_waiting_calls() -> None:
    def fail() -> None:
        raise ValueError("in the job")

    inner = cf.ThreadPoolExecutor(1)
    pool = PriorityPool(inner, 1)
    with pytest.raises(ValueError, match="in the job"):
        pool.submit(fail).result(10)
    inner.shutdown()
    waiting = pool.submit_later(len, "abc")
    with pytest.raises(RuntimeError):
        waiting.result(10)
    with pytest.raises(RuntimeError):
        pool.submit(len, "abc")  # the pool takes no more calls: raised at once, as a broken pool does


def test_cancel_waiting_leaves_the_running_call() -> None:
    gate = threading.Event()
    with cf.ThreadPoolExecutor(1) as inner:
        pool = PriorityPool(inner, 1)
        running = pool.submit_later(gate.wait, 10)
        waiting = pool.submit_later(len, "abc")
        pool.cancel_waiting()
        gate.set()
        assert running.result(10) is True and waiting.cancelled()
