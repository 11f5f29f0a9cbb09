"""Building many small Python objects at once without paying for Python's cyclic GC each time.

The collector walks every object in the process once enough new containers have been made; a
batch's reasons and quarantine rows are tens of thousands of dicts and lists (none of them in a
cycle), and building them with the collector on costs several full walks: most of the time
they take. Collection is paused while they are built and resumes as it was afterwards."""
from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Nested and concurrent uses are fine: collection resumes when the last one ends, and only
    if it was on when the first began."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
