"""Columns that several checks of one frame work out from it (the local day of a stop, the age
at the stop): worked out once while the frame is checked, not once per check."""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pandas as pd

T = TypeVar("T")

_derivations_lock = threading.Lock()
_derivations: dict[int, tuple[weakref.ref, dict, dict]] = {}  # id(frame) -> (frame, {name: column}, {name: lock})


@contextmanager
def shared_derivations(frame: pd.DataFrame) -> Iterator[None]:
    """While the frame's checks run (and nothing changes it), a column several row checks work
    out from it (`derived`) is worked out once."""
    with _derivations_lock:
        _derivations[id(frame)] = (weakref.ref(frame), {}, {})
    try:
        yield
    finally:
        with _derivations_lock:
            _derivations.pop(id(frame), None)


def derived(frame: pd.DataFrame, name: str, work_out: Callable[[pd.DataFrame], T]) -> T:
    """`work_out(frame)`, once per `shared_derivations` of the frame (every time outside one)."""
    entry = _derivations.get(id(frame))
    if entry is None or entry[0]() is not frame:
        return work_out(frame)
    _, found, locks = entry
    with _derivations_lock:
        lock = locks.setdefault(name, threading.Lock())
    with lock:  # a check that needs it while another works it out waits for that one
        if name not in found:
            found[name] = work_out(frame)
    return found[name]
