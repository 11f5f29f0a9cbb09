"""The helpers that let column work run side by side: order kept, failures raised, nothing shared
by mistake, and the garbage collector left as it was found."""
from __future__ import annotations

import gc
import threading
import time

import pandas as pd
import pytest

from transforms import parallel
from transforms.derivations import derived, shared_derivations
from transforms.gc_pause import gc_paused


def test_jobs_come_back_in_order_and_run_side_by_side(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    threads = set()

    def job(i: int):
        threads.add(threading.get_ident())
        time.sleep(0.02 * (5 - i))  # the first given finishes last
        return i

    assert parallel.run_all([lambda i=i: job(i) for i in range(5)]) == [0, 1, 2, 3, 4]
    assert len(threads) >= 2


def test_the_first_failing_job_in_order_is_raised(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)

    def fail(message: str):
        raise ValueError(message)

    with pytest.raises(ValueError, match="first"):
        parallel.run_all([lambda: 1, lambda: fail("first"), lambda: fail("second")])


def test_a_job_that_runs_jobs_runs_them_inline(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    inner = [lambda: parallel.run_all([lambda: "a", lambda: "b"]) for _ in range(4)]  # would wait for ever
    assert parallel.run_all(inner) == [["a", "b"]] * 4


def test_one_core_runs_jobs_in_this_thread(monkeypatch):
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    assert parallel.run_all([threading.get_ident, threading.get_ident]) == [threading.get_ident()] * 2


def test_a_derived_column_is_worked_out_once_per_check_of_the_frame():
    frame, other = pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [1, 2]})
    worked = []

    def double(df: pd.DataFrame) -> pd.Series:
        worked.append(id(df))
        return df["a"] * 2

    with shared_derivations(frame):
        first = derived(frame, "double", double)
        assert derived(frame, "double", double) is first
        derived(other, "double", double)  # another frame, though equal, is its own
    assert worked == [id(frame), id(other)]
    frame.loc[0, "a"] = 5  # outside a check, the frame may change: worked out afresh
    assert derived(frame, "double", double).tolist() == [10, 4]


def test_a_derived_column_needed_by_two_threads_at_once_is_worked_out_once():
    frame = pd.DataFrame({"a": [1]})
    calls = []

    def slow(df: pd.DataFrame) -> int:
        calls.append(1)
        time.sleep(0.1)
        return 7

    with shared_derivations(frame):
        threads = [threading.Thread(target=derived, args=(frame, "slow", slow)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert calls == [1]


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_is_paused_while_objects_are_built_and_left_as_it_was(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the outer pause still holds
        assert gc.isenabled() == enabled
        with pytest.raises(RuntimeError), gc_paused():
            raise RuntimeError("boom")
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()
