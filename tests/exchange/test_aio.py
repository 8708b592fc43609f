"""``exchange.aio``: a command is applied at the call, and awaiting its ``Applied`` gives the answer once durable.

Pipelining callers (WebSocket order entry) rely on both halves: the order of calls is the order
of commands, and nothing is answered before its record is durable.
"""

from __future__ import annotations

import asyncio

import pytest

from spotlab import ErrorCode, Exchange, SpotlabError
from tests.conftest import fund
from tests.store.raw_log import stalled_writes


async def answer_of(applied):
    return await applied


def test_a_command_is_applied_at_the_call_and_awaiting_gives_its_answer():
    with Exchange.open() as ex:
        alice = fund(ex, "alice", USDT="1000")
        applied = ex.aio.place_order(alice, "BTC/USDT", "buy", "limit", "100", "0.1")  # no event loop needed
        assert [o.id for o in ex.open_orders(alice)] == [applied.value.id]
        assert applied.durable and ex.durable_index >= applied.index
        assert asyncio.run(answer_of(applied)) == applied.value


def test_a_refusal_raises_at_the_call_and_changes_nothing():
    with Exchange.open() as ex:
        alice = fund(ex, "alice", USDT="10")
        before = ex.state_hash()
        with pytest.raises(SpotlabError) as refused:
            ex.aio.place_order(alice, "BTC/USDT", "buy", "limit", "100", "0.1")
        assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS
        assert ex.state_hash() == before


def test_an_applied_command_is_answered_only_once_its_record_is_durable(tmp_path):
    url = f"sqlite:///{tmp_path}/aio.sqlite"
    with Exchange.open(url) as ex:
        alice = fund(ex, "alice", USDT="1000")

        async def place_during_a_stall():
            with stalled_writes(url):
                applied = ex.aio.place_order(alice, "BTC/USDT", "buy", "limit", "100", "0.1")
                waiting = asyncio.ensure_future(answer_of(applied))
                await asyncio.sleep(0.3)
                assert not applied.durable and ex.durable_index < applied.index and not waiting.done()
            return applied, await asyncio.wait_for(waiting, 10)

        applied, answer = asyncio.run(place_during_a_stall())
        assert applied.durable and answer == applied.value
