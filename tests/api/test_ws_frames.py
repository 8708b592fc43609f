"""Frames built once and written straight to the sockets: the encoding, the sink and write-through delivery."""

from __future__ import annotations

import json

import pytest
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect

from spotlab.api.app import create_app
from spotlab.api.streams import Hub, Subscriber, text_frame
from spotlab.errors import SpotlabError
from spotlab.settings import Settings
from tests.api.live import running


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 300_000])
def test_a_text_frame_is_the_one_the_websockets_library_builds_for_a_server(size):
    payload = ("x" * size).encode()
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


class Sink:
    """A transport stand-in: records frames, reports a buffer size, or says the connection is gone."""

    def __init__(self, buffered: int = 0) -> None:
        self.frames: list[bytes] = []
        self.buffered: int | None = buffered

    def __call__(self, frame: bytes) -> int | None:
        if self.buffered is None:
            return None
        self.frames.append(frame)
        return self.buffered


def test_write_through_sends_each_message_at_once_as_its_frame_and_queues_nothing():
    subscriber, sink = Subscriber(), Sink()
    subscriber.write_through(sink)

    assert subscriber.deliver('{"a":1}')
    assert subscriber.deliver('{"b":2}', frame=text_frame(b'{"b":2}'))

    assert sink.frames == [text_frame(b'{"a":1}'), text_frame(b'{"b":2}')]
    assert subscriber.pending == 0 and not subscriber.closed


def test_a_socket_buffering_more_than_max_chars_is_closed_as_a_slow_consumer():
    subscriber, sink = Subscriber(max_chars=100), Sink(buffered=100)
    subscriber.write_through(sink)
    assert subscriber.deliver("{}")  # exactly at the limit: still fine

    sink.buffered = 101
    assert not subscriber.deliver("{}")

    assert (subscriber.close_code, subscriber.close_reason) == (1008, "slow consumer: 101 bytes unsent")
    assert not subscriber.deliver("{}") and len(sink.frames) == 2  # closed: nothing more is written


def test_a_connection_that_no_longer_takes_frames_closes_the_subscriber_as_going_away():
    subscriber, sink = Subscriber(), Sink()
    subscriber.write_through(sink)
    sink.buffered = None

    assert not subscriber.deliver("{}")
    assert subscriber.closed and subscriber.close_code == 1001


def test_write_through_is_refused_once_messages_wait_in_the_queue():
    subscriber = Subscriber()
    subscriber.deliver("{}")
    with pytest.raises(SpotlabError, match="before anything is queued"):
        subscriber.write_through(Sink())


@pytest.mark.parametrize("compressed", [False, True])
def test_the_served_app_writes_frames_through_unless_the_socket_is_compressed(tmp_path, compressed):
    """Under ``spotlab serve``'s protocol the hub's subscribers write through; messages arrive as before.

    A connection that negotiated compression cannot take prebuilt frames: it keeps the queue and ASGI send.
    """
    app = create_app(Settings(data_dir=tmp_path, password_memory_kib=1024, password_time_cost=1))
    with running(app, ws_per_message_deflate=compressed) as url:
        with connect(url.replace("http", "ws") + "/v1/ws") as ws:
            ws.send(json.dumps({"op": "subscribe", "id": 1, "channels": ["book:BTC-USDT"]}))
            answers = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
            [subscriber] = app.state.ctx.hub.hub._connected
            assert (subscriber._sink is None) is compressed
    assert [a["type"] for a in answers] == ["subscribed", "snapshot"]


def test_a_batch_writes_everything_a_drain_publishes_to_each_socket_in_one_write():
    hub = Hub()
    through, queued, slow = Subscriber(), Subscriber(), Subscriber(max_chars=10)
    through_sink, slow_sink = Sink(), Sink(buffered=11)
    through.write_through(through_sink)
    slow.write_through(slow_sink)
    for subscriber in (through, queued, slow):
        hub.connect(subscriber)
        hub.add(subscriber, "trades:BTC-USDT", "trades:BTC-USDT")
    hub.add(through, "book:BTC-USDT", "book:BTC-USDT")

    with hub.batch():
        hub.publish("trades:BTC-USDT", {"type": "trades"})
        hub.publish("book:BTC-USDT", {"type": "update"})
        assert through_sink.frames == []  # held until the batch ends

    assert through_sink.frames == [text_frame(b'{"type":"trades"}') + text_frame(b'{"type":"update"}')]
    assert queued.pending == 1  # a queued subscriber is unchanged: its sender task sends
    assert slow.close_reason == "slow consumer: 11 bytes unsent" and hub.connected == 2  # closed and forgotten
