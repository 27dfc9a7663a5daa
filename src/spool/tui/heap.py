"""Keeps the garbage collector from stalling the UI.

A full (generation 2) collection walks every object Textual, the openai SDK and pydantic have
created: measured at 80–130 ms here, several times a minute while a reply streams, which shows
as a frozen screen. `settle_heap()` collects what is garbage now and moves everything that
survives into the permanent generation (`gc.freeze()`), so later full collections only walk
objects created since. It runs when the app becomes ready and after each run, when the UI is idle.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect, then freeze the survivors (cheap after the first time: frozen objects are skipped)."""
    gc.collect()
    gc.freeze()
