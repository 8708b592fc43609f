"""The reference of the REST benchmark: a bare FastAPI app that parses an order and does nothing else.

``POST /v1/orders`` validates the body with the API's own ``OrderCreate`` model (the
same pydantic validators: decimal strings, enums, the client order id pattern), so
the reference pays exactly the parsing the real route pays, and answers 201 with a
small JSON object. There is no middleware, no authentication (the ``Authorization``
header is sent and ignored), no exchange and no store. ``GET /healthz`` answers for
the harness's readiness probe.

Run it as the benchmark does::

    uvicorn spotlab.bench.api_bare:app --port 8001 --no-access-log --log-level warning

Invariants
- Stateless apart from a counter: every well-formed order gets 201 and an increasing
  ``id``; a malformed one gets FastAPI's 422.
"""

from __future__ import annotations

from itertools import count

from fastapi import FastAPI

from spotlab.api.routes.order_schemas import OrderCreate

app = FastAPI(title="spotlab bench: bare order endpoint", openapi_url=None, docs_url=None, redoc_url=None)
_ids = count(1)


@app.post("/v1/orders", status_code=201)
async def place_order(body: OrderCreate) -> dict[str, object]:
    return {"id": next(_ids), "client_order_id": body.client_order_id, "status": "NEW"}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
