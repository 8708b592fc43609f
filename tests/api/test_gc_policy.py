"""The server's collector policy: survivors of a full collection are frozen; a periodic complete one frees the rest."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from spotlab.api.gc_policy import GcPolicy


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def a_cycle() -> tuple[weakref.ref, Node]:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first), first


def test_a_full_collection_freezes_its_survivors_and_uninstall_thaws_them():
    gc.unfreeze()
    with GcPolicy(full_seconds=None):
        survivor = [Node() for _ in range(100)]
        gc.collect()
        assert gc.get_freeze_count() > len(survivor)
    assert gc.get_freeze_count() == 0


def test_a_cycle_frozen_while_alive_is_freed_by_the_complete_collection():
    with GcPolicy(full_seconds=None) as policy:
        ref, holder = a_cycle()
        gc.collect()  # the cycle survives (it is held) and is frozen with everything else
        del holder
        gc.collect()
        assert ref() is not None  # frozen: ordinary collections no longer look at it
        assert policy.collect_everything() >= 2
        assert ref() is None


def test_the_complete_collection_runs_every_full_seconds():
    with GcPolicy(full_seconds=0.02) as policy:
        deadline = time.monotonic() + 5
        while policy.complete_collections < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert policy.complete_collections >= 2


@pytest.mark.parametrize("bad", [0, -1.0])
def test_a_period_must_be_positive(bad):
    with pytest.raises(ValueError, match="full_seconds must be positive"):
        GcPolicy(full_seconds=bad)
