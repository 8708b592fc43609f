"""The group-commit store tells asyncio callers their commands are durable: one thread-safe call per loop."""

from __future__ import annotations

import asyncio
import threading

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.store.group_commit import _notify_all


def test_a_commit_group_settles_all_its_waiters_of_one_loop_with_one_thread_safe_call():
    loop = asyncio.new_event_loop()
    try:
        calls = []
        real = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = lambda *args: calls.append(args) or real(*args)  # type: ignore[method-assign]
        futures = [loop.create_future() for _ in range(5)]
        writer = threading.Thread(target=_notify_all, args=([(i, loop, f) for i, f in enumerate(futures)], None))
        writer.start()
        writer.join()
        loop.run_until_complete(asyncio.sleep(0))
        assert len(calls) == 1
        assert [f.result() for f in futures] == [None] * 5
    finally:
        loop.close()


def test_after_a_failure_each_waiter_gets_an_error_of_its_own():
    loop = asyncio.new_event_loop()
    try:
        futures = [loop.create_future() for _ in range(3)]
        futures[1].cancel()  # a caller that gave up is skipped
        failed = lambda: SpotlabError(ErrorCode.STORE_UNAVAILABLE, "the store failed")  # noqa: E731
        _notify_all([(i, loop, f) for i, f in enumerate(futures)], failed)
        loop.run_until_complete(asyncio.sleep(0))
        errors = [futures[0].exception(), futures[2].exception()]
        assert all(e.code is ErrorCode.STORE_UNAVAILABLE for e in errors)
        assert errors[0] is not errors[1]  # raised in two tasks: their tracebacks must not mix
        assert futures[1].cancelled()
    finally:
        loop.close()


def test_a_waiter_whose_loop_is_closed_is_not_told_and_nothing_raises():
    loop = asyncio.new_event_loop()
    future = loop.create_future()
    loop.close()
    _notify_all([(1, loop, future)], None)
    assert not future.done()
