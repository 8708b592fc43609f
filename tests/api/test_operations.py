"""Operations on the assembled app: health, readiness, metrics, request ids, body limit, CORS."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from spotlab import Exchange
from spotlab.api.app import create_app
from spotlab.settings import Settings
from tests.api.conftest import SECRET, problem


def test_healthz_and_readyz_answer_while_the_exchange_is_usable(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}


def test_readyz_is_503_once_the_exchange_is_closed(api):
    api.app.state.ctx.exchange.close()
    problem(api.get("/readyz"), 503, "EXCHANGE_CLOSED")
    assert api.get("/healthz").status_code == 200  # alive, but not ready


def test_metrics_count_requests_by_route_and_orders_by_market(api, user):
    alice = user("alice")
    api.app.state.ctx.exchange.deposit("alice", "USDT", "1000")
    order = {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "50000", "quantity": "0.01"}
    assert alice.post("/v1/orders", order).status_code == 201
    alice.get("/v1/orders/999999")
    text = api.get("/metrics").text
    assert 'spotlab_orders_total{market="BTC-USDT",side="buy",type="limit"} 1.0' in text
    assert 'spotlab_http_requests_total{method="POST",route="/v1/orders",status="201"} 1.0' in text
    assert 'spotlab_http_requests_total{method="GET",route="/v1/orders/{order_id}",status="404"} 1.0' in text
    assert "spotlab_command_seconds_count 1.0" in text


def test_event_log_commits_are_timed_by_the_store_on_a_durable_exchange(tmp_path, clock, settings):
    with Exchange.open(f"sqlite:///{tmp_path}/exchange.sqlite", clock=clock) as exchange:
        with TestClient(create_app(settings, exchange=exchange, clock=clock)) as api:
            exchange.create_account("zoe")
            exchange.deposit("zoe", "USDT", "100")
            value = api.app.state.ctx.metrics.registry.get_sample_value
            commits = value("spotlab_event_log_write_seconds_count")
            assert commits >= 1 and value("spotlab_event_log_records_written_total") >= 2
            assert value("spotlab_event_log_write_seconds_sum") > 0


def test_the_history_linger_is_a_setting(exchange, clock, settings, monkeypatch):
    assert settings.history_linger_ms == 20
    monkeypatch.setenv("SPOTLAB_HISTORY_LINGER_MS", "0")
    from_env = Settings(secret_key=SECRET, password_memory_kib=1024, password_time_cost=1)
    with TestClient(create_app(from_env, exchange=exchange, clock=clock)) as api:
        assert api.app.state.ctx.history.linger_seconds == 0
    monkeypatch.setenv("SPOTLAB_HISTORY_LINGER_MS", "-1")
    with pytest.raises(ValidationError, match="history_linger_ms"):
        Settings(secret_key=SECRET)


def test_every_answer_carries_a_request_id_and_rate_limit_headers(api):
    answer = api.get("/v1/markets", headers={"X-Request-ID": "trace-42"})
    assert answer.headers["x-request-id"] == "trace-42"
    assert int(answer.headers["ratelimit-remaining"]) < int(answer.headers["ratelimit-limit"])
    failed = api.get("/v1/markets/NOPE-NOPE")
    assert problem(failed, 404, "UNKNOWN_MARKET")["request_id"] == failed.headers["x-request-id"]


def test_an_oversized_body_is_413_and_changes_nothing(api, user):
    alice = user("alice")
    before = api.app.state.ctx.exchange.state_hash()
    answer = alice.client.post(
        "/v1/orders", headers={**alice.headers, "Content-Type": "application/json"}, content=b"{" + b" " * 70_000 + b"}"
    )
    problem(answer, 413, "PAYLOAD_TOO_LARGE")
    assert api.app.state.ctx.exchange.state_hash() == before


def test_cors_is_off_unless_configured(exchange, clock, settings):
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(settings, exchange=exchange, clock=clock)) as plain:
        assert "access-control-allow-origin" not in plain.options("/v1/orders", headers=preflight).headers
    allowed = settings.model_copy(update={"cors_origins": ["https://app.example"]})
    with TestClient(create_app(allowed, exchange=exchange, clock=clock)) as cors:
        answer = cors.options("/v1/orders", headers=preflight)
        assert answer.headers["access-control-allow-origin"] == "https://app.example"


def test_the_docs_page_and_both_api_documents_are_served(api):
    assert "swagger" in api.get("/docs").text.lower()
    spec = api.get("/v1/openapi.json").json()
    assert spec["info"]["title"] == "spotlab API" and "/v1/orders" in spec["paths"]
    assert api.get("/v1/asyncapi.json").json()["asyncapi"].startswith(("2.", "3."))


def test_every_endpoint_documents_an_example_request_and_response_that_the_models_accept(api):
    spec = api.get("/v1/openapi.json").json()
    components = spec["components"]["schemas"]

    def example(schema: dict):
        if "$ref" in schema:
            return components[schema["$ref"].rsplit("/", 1)[1]].get("examples", [None])[0]
        if schema.get("type") == "array":
            item = example(schema["items"])
            return None if item is None else [item]
        if isinstance(schema.get("additionalProperties"), dict):
            value = example(schema["additionalProperties"])
            return None if value is None else {"USDT": value}
        return (schema.get("examples") or [None])[0]

    missing = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                content = answer.get("content", {}).get("application/json")
                if status.startswith("2") and content and example(content["schema"]) is None:
                    missing.append(f"{method.upper()} {path} {status}")
            if "requestBody" in operation:
                if example(operation["requestBody"]["content"]["application/json"]["schema"]) is None:
                    missing.append(f"{method.upper()} {path} request")
    assert missing == []
    # the composed examples are real: each validates against its model
    from spotlab.api.routes import accounts, funds, markets, order_schemas, security

    for module in (accounts, funds, markets, order_schemas, security):
        for name, model in vars(module).items():
            if isinstance(model, type) and name in components and hasattr(model, "model_validate"):
                for sample in components[name].get("examples", []):
                    model.model_validate(sample)


def test_a_bug_in_a_route_is_a_500_problem_with_the_request_id_and_no_trace(api, caplog):
    async def broken() -> None:
        raise RuntimeError("secret internals")

    api.app.add_api_route("/v1/broken", broken)
    answer = api.get("/v1/broken", headers={"X-Request-ID": "bug-1"})
    body = problem(answer, 500, "INTERNAL_ERROR")
    assert body["request_id"] == "bug-1" and "secret internals" not in answer.text and "Traceback" not in answer.text
    assert any(getattr(r, "request_id", None) == "bug-1" and r.exc_info for r in caplog.records)
