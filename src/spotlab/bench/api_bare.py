"""The references of the API benchmarks: a bare FastAPI app that parses an order and does nothing else.

``POST /v1/orders`` validates the body with the API's own ``OrderCreate`` model (the
same pydantic validators: decimal strings, enums, the client order id pattern), so
the reference pays exactly the parsing the real route pays, and answers 201 with a
small JSON object. There is no middleware, no authentication (the ``Authorization``
header is sent and ignored), no exchange and no store. ``GET /healthz`` answers for
the harness's readiness probe.

``/v1/ws`` is the same for WebSocket order entry: it takes the real ``/v1/ws``'s messages
as ``spotlab.bench.api_ws_clients.pipelined_orders`` sends them, one JSON object per text
frame. ``place_order`` validates ``order`` with ``OrderCreate`` and answers
``{"type": "result", "id", "op", "duplicate": false, "data": {"id", "client_order_id",
"status"}}``; ``auth`` is answered ``authenticated`` without looking at the credential.
The serialisation is the REST route's: ``json.loads`` in, ``json.dumps`` out (``send_json``),
as FastAPI parses a body and renders a ``JSONResponse``.

Run it as the benchmark does::

    uvicorn spotlab.bench.api_bare:app --port 8001 --no-access-log --log-level warning

Invariants
- Stateless apart from a counter: every well-formed order gets 201 (WebSocket: a ``result``)
  and an increasing ``id``; a malformed one gets FastAPI's 422 (WebSocket: an ``error``
  with code ``VALIDATION_ERROR`` and the op's ``id``; an unknown op or a frame that is
  not JSON the same, and the connection stays open).
- WebSocket messages are answered one at a time, in the order received.
"""

from __future__ import annotations

import json
from itertools import count
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from spotlab.api.routes.order_schemas import OrderCreate

app = FastAPI(title="spotlab bench: bare order endpoint", openapi_url=None, docs_url=None, redoc_url=None)
_ids = count(1)


@app.post("/v1/orders", status_code=201)
async def place_order(body: OrderCreate) -> dict[str, object]:
    return {"id": next(_ids), "client_order_id": body.client_order_id, "status": "NEW"}


@app.websocket("/v1/ws")
async def order_entry(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_json(answer(await websocket.receive_text()))
    except WebSocketDisconnect:
        return


def answer(text: str) -> dict[str, Any]:
    """The answer to one client message: ``place_order`` and ``auth`` are served, anything else refused."""
    try:
        message = json.loads(text)
    except ValueError:
        return refusal(None, "a message is one JSON object per text frame")
    op = message.get("op") if isinstance(message, dict) else None
    op_id = message.get("id") if isinstance(message, dict) else None
    if op == "place_order":
        try:
            order = OrderCreate.model_validate(message.get("order"))
        except ValidationError as error:
            return refusal(op_id, f"invalid order: {error.error_count()} problem(s)")
        data = {"id": next(_ids), "client_order_id": order.client_order_id, "status": "NEW"}
        return {"type": "result", "id": op_id, "op": op, "duplicate": False, "data": data}
    if op == "auth":
        return {"type": "authenticated", "id": op_id, "account": "bare", "scopes": ["trade"], "via": "token"}
    return refusal(op_id, f"the bare endpoint serves place_order and auth only, not {op!r}")


def refusal(op_id: Any, detail: str) -> dict[str, Any]:
    return {"type": "error", "id": op_id, "code": "VALIDATION_ERROR", "status": 422, "detail": detail}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
