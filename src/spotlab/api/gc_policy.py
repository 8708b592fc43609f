"""Short garbage-collector pauses for a long-running server: freeze what survives a full collection.

CPython's cyclic collector runs a full collection whenever the objects that survived the
younger generations grow by a quarter, and a full collection walks every tracked object.
An exchange keeps hundreds of thousands of them (resting orders, books, subscribers), so
its full collections grew to 100-370 ms as the book grew in ``spotlab bench api``, and each
held every request and every WebSocket delivery for that long: the tail of the latency was
the collector's.

The policy: after each full collection, ``gc.freeze()`` moves the survivors to the
permanent generation, which later collections skip. A full collection then walks only what
was created since the previous one, and its pause stays proportional to that growth. What
is frozen is never examined again, so a reference cycle among frozen objects that later
becomes garbage would stay in memory; every ``full_seconds`` (default 15 minutes) the
policy unfreezes everything and runs one complete collection, which finds those too (one
long pause per period instead of one per 25 % of growth).

Invariants
- Process-wide (the collector is): ``install`` once per server process, from its entry
  point (``spotlab serve``), never from library code; ``uninstall`` restores the collector
  as it was (unfrozen, the callback removed, the periodic thread stopped).
- Only the collector's bookkeeping changes: no object is freed that a full collection
  would keep, and the periodic complete collection frees what the freezing deferred.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

DEFAULT_FULL_SECONDS = 15 * 60.0


class GcPolicy:
    """Freeze the survivors of every full collection; run a complete one every ``full_seconds``."""

    def __init__(self, full_seconds: float | None = DEFAULT_FULL_SECONDS) -> None:
        if full_seconds is not None and not full_seconds > 0:
            raise ValueError(f"full_seconds must be positive or None, got {full_seconds!r}")
        self.full_seconds = full_seconds
        self.complete_collections = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._installed = False

    def install(self) -> GcPolicy:
        if self._installed:
            return self
        self._installed = True
        gc.freeze()  # what start-up built (modules, the app, the recovered exchange) is never walked again
        gc.callbacks.append(self._on_collection)
        if self.full_seconds is not None:
            self._thread = threading.Thread(target=self._periodic, name="spotlab-gc", daemon=True)
            self._thread.start()
        return self

    def uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
        gc.unfreeze()

    def collect_everything(self) -> int:
        """Unfreeze and run one complete collection (the survivors are frozen again); objects found unreachable."""
        gc.unfreeze()
        found = gc.collect()
        self.complete_collections += 1
        return found

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    def _periodic(self) -> None:
        while not self._stop.wait(self.full_seconds):
            self.collect_everything()

    def __enter__(self) -> GcPolicy:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()
