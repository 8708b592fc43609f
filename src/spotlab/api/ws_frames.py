"""Frames built once, written to many sockets: the fast path of the WebSocket fan-out.

A message to 1,000 subscribers used to cost 1,000 trips through Starlette, the ASGI ``send``
and the WebSocket library, each framing the same text again. A server frame is not masked
(RFC 6455, 5.1), so the bytes of one text frame are the same for every connection: the hub
builds them once (``spotlab.api.streams.text_frame``) and each subscriber's transport takes them in one
``write``, synchronously, from the hub's own loop.

``FrameWebSocketProtocol`` is uvicorn's sans-I/O WebSocket protocol with one addition: the
ASGI scope of each connection carries the extension ``"spotlab.frames"``, a ``FrameSink``
through which the application may write whole frames. ``spotlab serve`` runs with it; under
another server (or the test client) the extension is absent and messages take the ASGI
``send`` as before (``spotlab.api.streams.Subscriber`` queues them for a sender task).

Invariants
- Only whole frames are written, each in one ``transport.write``, so they never interleave
  with the frames the protocol writes itself (replies through ``send``, pings, the close).
- Nothing is written unless the connection is open: the handshake is done, no close frame
  has been sent or received, the transport is not closing, and no extension (compression)
  was negotiated, since the frames are written uncompressed. ``write`` answers ``None``
  otherwise, and the caller stops using the sink.
- Flow control is the caller's: ``write`` returns the bytes the transport still buffers,
  and the subscriber closes a connection whose buffer passes its limit (a slow consumer).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

EXTENSION = "spotlab.frames"


class FrameSink:
    """Writes whole frames straight to one connection's transport (see the module docstring)."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def usable(self) -> bool:
        """Whether frames may be written now: open, and no extension negotiated."""
        protocol = self._protocol
        return protocol.handshake_complete and not protocol.conn.extensions and self._open()

    def _open(self) -> bool:
        protocol = self._protocol
        transport = protocol.transport
        return (
            not protocol.close_sent
            and transport is not None
            and not transport.is_closing()
            and protocol.conn.state is State.OPEN
        )

    def write(self, frames: bytes) -> int | None:
        """Write ``frames`` (whole frames); the bytes the transport still buffers, or ``None`` if it is not open."""
        if not self._open():
            return None
        transport = self._protocol.transport
        transport.write(frames)
        return transport.get_write_buffer_size()


class FrameWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, with a ``FrameSink`` in every connection's ASGI scope."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][EXTENSION] = FrameSink(self)


def sink_of(scope: dict[str, Any]) -> FrameSink | None:
    """The connection's ``FrameSink`` if the server provides one and it is usable now."""
    sink = (scope.get("extensions") or {}).get(EXTENSION)
    return sink if isinstance(sink, FrameSink) and sink.usable() else None
