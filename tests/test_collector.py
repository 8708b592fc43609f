"""spotlab.collector: the cyclic collector is paused for a block and comes back as it was."""

from __future__ import annotations

import gc
import weakref

import pytest

from spotlab.collector import collector_paused


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def _collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_inside_and_back_on_after_even_on_error():
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off_and_nesting_keeps_the_outer_pause():
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()  # the inner block found it off and left it off
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_ticks_collect_garbage_cycles_every_so_many_units_of_work():
    with collector_paused(every=3) as collector:
        cycle = weakref.ref(Node())
        collector.tick(2)
        assert cycle() is not None  # not yet collected: the pause holds
        collector.tick(1)
        assert cycle() is None  # the third unit collected the young generations


def test_without_every_ticks_never_collect():
    with collector_paused() as collector:
        cycle = weakref.ref(Node())
        collector.tick(10**6)
        assert cycle() is not None
    gc.collect()
    assert cycle() is None


def test_every_must_be_positive():
    with pytest.raises(ValueError, match="every"):
        collector_paused(every=0)
