"""The API on the PostgreSQL store: log, accounts and history share one schema and survive a restart."""

from __future__ import annotations

from decimal import Decimal

import psycopg
from fastapi.testclient import TestClient

from spotlab.api.app import create_app
from spotlab.store.postgres import split_url
from tests.api.conftest import PASSWORD


def test_the_api_runs_on_postgresql_and_keeps_everything_across_a_restart(pg_url, settings):
    served = settings.model_copy(update={"store": pg_url})
    with TestClient(create_app(served)) as api:
        assert api.post("/v1/accounts", json={"username": "frank", "password": PASSWORD}).status_code == 201
        token = api.post("/v1/auth/token", json={"username": "frank", "password": PASSWORD}).json()["access_token"]
        frank = {"Authorization": f"Bearer {token}"}
        assert api.post("/v1/deposits", json={"asset": "USDT", "amount": "1000"}, headers=frank).status_code == 201
        order = {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "50000", "quantity": "0.01"}
        placed = api.post("/v1/orders", json=order, headers=frank).json()
        assert api.delete(f"/v1/orders/{placed['id']}", headers=frank).json()["status"] == "CANCELED"

    conninfo, schema = split_url(pg_url)
    with psycopg.connect(conninfo) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        )}  # fmt: skip
    assert {"log", "users", "api_keys"} <= tables and any("order" in name for name in tables)

    with TestClient(create_app(served)) as api:
        orders = api.get("/v1/orders", headers=frank).json()["items"]
        assert [(o["id"], o["status"]) for o in orders] == [(placed["id"], "CANCELED")]
        deposits = api.get("/v1/deposits", headers=frank).json()["items"]
        assert [Decimal(d["amount"]) for d in deposits] == [Decimal(1000)]
        assert api.get("/readyz").json() == {"status": "ready"}
