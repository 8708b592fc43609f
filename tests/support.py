"""Helpers for tests that could hang or race on a real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from spotlab import ErrorCode, SpotlabError

T = TypeVar("T")

#: How long a call may take before the test calls it hung.
HANG_SECONDS = 10


def within(seconds: float, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, failing the test if it has not returned after ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            box["error"] = error

    thread = threading.Thread(target=run, name=f"within: {what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{what} did not return within {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box["value"]


def after_close(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)`` that opens a store just closed, allowing a slow server 2 s to let go.

    A closed store releases its lock before ``close`` returns
    (``test_a_closed_store_can_be_reopened_at_once`` proves it); this only keeps a slow
    server from making the other tests flaky.
    """
    deadline = time.monotonic() + 2
    while True:
        try:
            return call(*args, **kwargs)
        except SpotlabError as error:
            if error.code is not ErrorCode.STORE_LOCKED or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
