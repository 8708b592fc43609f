"""Operations middleware: request ids, JSON logs, Prometheus metrics, body size limit, security headers.

Each test drives a tiny FastAPI app wrapped by ``add_operations_middleware`` (security
headers -> observability -> body size limit) through httpx's ASGI transport; one test
runs the same stack under a real uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from starlette.routing import Mount

from spotlab.api.logs import REQUEST_ID, JsonFormatter, configure_logging
from spotlab.api.metrics import Metrics, metrics_endpoint
from spotlab.api.observability import add_operations_middleware
from spotlab.api.problems import PROBLEM_MEDIA_TYPE, problem_response

LIMIT = 1024  # bytes; small so the tests stay small
CHUNK = b"x" * 256


class Note(BaseModel):
    text: str


def tiny_app(metrics: Metrics | None = None, *, hsts: bool = False) -> FastAPI:
    app = FastAPI()
    app.state.handled = []

    @app.get("/items/{id}")
    async def item(id: int, request: Request) -> dict:
        logging.getLogger("spotlab.test").info("looking up item %s", id)
        return {"id": id, "request_id": request.state.request_id}

    @app.get("/slow")
    async def slow() -> dict:
        await asyncio.sleep(0.03)
        return {}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("secret internals: password=hunter2")

    @app.websocket("/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.state.request_id)
        await websocket.close()

    @app.post("/notes")
    async def notes(note: Note) -> dict:
        app.state.handled.append(note.text)
        return {"length": len(note.text)}

    markets = APIRouter(prefix="/markets/{market}")

    @markets.get("/book")
    async def book(market: str) -> dict:
        return {"market": market}

    app.include_router(markets, prefix="/v1")
    inner = FastAPI()

    @inner.get("/ping/{n}")
    async def ping(n: int) -> dict:
        return {"n": n}

    app.router.routes.append(Mount("/sub", app=inner))
    if metrics is not None:
        app.add_api_route("/metrics", metrics_endpoint(metrics), methods=["GET"], include_in_schema=False)
    add_operations_middleware(app, metrics, max_body_bytes=LIMIT, hsts=hsts)
    return app


def call(app, method: str, url: str, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def samples(app, metrics: Metrics) -> dict[tuple[str, frozenset], float]:
    text = call(app, "GET", "/metrics").text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(found: dict, route: str, status: str, method: str = "GET") -> float:
    labels = frozenset({"method": method, "route": route, "status": status}.items())
    return found.get(("spotlab_http_requests_total", labels), 0.0)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def app(metrics) -> FastAPI:
    return tiny_app(metrics)


# --- request ids ---------------------------------------------------------------------------------------------------


def test_a_sane_client_request_id_is_echoed_in_the_header_and_request_state(app):
    answer = call(app, "GET", "/items/7", headers={"X-Request-ID": "client-42.a_b"})
    assert answer.headers["x-request-id"] == "client-42.a_b"
    assert answer.json() == {"id": 7, "request_id": "client-42.a_b"}


@pytest.mark.parametrize("sent", [None, "", "has space", "a/b", "x" * 65, 'quote"d'])
def test_a_missing_or_insane_request_id_is_replaced_by_a_generated_one(app, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    answer = call(app, "GET", "/items/7", headers=headers)
    generated = answer.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert answer.json()["request_id"] == generated


def test_a_websocket_connection_gets_a_request_id_too(app):
    with TestClient(app).websocket_connect("/stream", headers={"X-Request-ID": "ws-1"}) as session:
        assert session.receive_text() == "ws-1"
        assert (b"x-request-id", b"ws-1") in session.extra_headers


def test_every_request_gets_its_own_id(app):
    ids = {call(app, "GET", "/items/1").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


# --- server errors -------------------------------------------------------------------------------------------------


def test_an_unhandled_error_is_a_500_problem_with_the_request_id_and_no_trace(app, caplog):
    answer = call(app, "GET", "/boom", headers={"X-Request-ID": "oops-1"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.headers["x-request-id"] == "oops-1"
    problem = answer.json()
    assert problem["code"] == "INTERNAL_ERROR" and problem["request_id"] == "oops-1"
    assert (
        problem["type"] == "https://spotlab.dev/problems/internal-error" and problem["title"] == "Internal Server Error"
    )
    assert "Traceback" not in answer.text and "hunter2" not in answer.text and "RuntimeError" not in answer.text


def test_an_unhandled_error_is_logged_with_the_request_id_and_stack_trace(app, caplog):
    call(app, "GET", "/boom", headers={"X-Request-ID": "oops-2"})
    (record,) = [r for r in caplog.records if r.name == "spotlab.api"]
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["request_id"], line["route"]) == ("ERROR", "oops-2", "/boom")
    assert "Traceback" in line["exc"] and "hunter2" in line["exc"]


# --- access log ----------------------------------------------------------------------------------------------------


def test_one_json_access_line_per_request_without_the_query_string(app, caplog):
    caplog.set_level(logging.INFO, logger="spotlab.access")
    call(app, "GET", "/items/9?api_key=secret", headers={"X-Request-ID": "acc-1"})
    (record,) = [r for r in caplog.records if r.name == "spotlab.access"]
    line = json.loads(JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "request_id", "method", "path", "route", "status", "client")} == {
        "level": "INFO",
        "request_id": "acc-1",
        "method": "GET",
        "path": "/items/9",
        "route": "/items/{id}",
        "status": 200,
        "client": "203.0.113.7",
    }
    assert line["duration_ms"] >= 0 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert "secret" not in json.dumps(line)


def test_no_access_record_is_built_when_the_access_logger_is_off(app, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("spotlab.access").disabled = True
    try:
        call(app, "GET", "/items/9")
    finally:
        logging.getLogger("spotlab.access").disabled = False
    assert not [r for r in caplog.records if r.name == "spotlab.access"]


# --- metrics -------------------------------------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_never_by_raw_path(app, metrics):
    for url in ("/items/1", "/items/2", "/items/nope", "/no/such/path", "/v1/markets/BTC-USDT/book", "/sub/ping/3"):
        call(app, "GET", url)
    found = samples(app, metrics)
    assert requests_counted(found, "/items/{id}", "200") == 2
    assert requests_counted(found, "/items/{id}", "422") == 1
    assert requests_counted(found, "unmatched", "404") == 1
    assert requests_counted(found, "/v1/markets/{market}/book", "200") == 1  # the include prefix is kept
    assert requests_counted(found, "/sub/ping/{n}", "200") == 1  # and the mount's
    assert not [key for key in found if any("BTC-USDT" in value or "/items/1" in value for _, value in key[1])]


def test_unknown_methods_are_counted_as_other(app, metrics):
    call(app, "BREW", "/items/1")
    assert requests_counted(samples(app, metrics), "/items/{id}", "405", method="OTHER") == 1


def test_the_500_is_counted(app, metrics):
    call(app, "GET", "/boom")
    assert requests_counted(samples(app, metrics), "/boom", "500") == 1


def test_the_latency_histogram_observes_each_request(app, metrics):
    call(app, "GET", "/slow")
    found = samples(app, metrics)
    labels = {"method": "GET", "route": "/slow"}

    def bucket(le: str) -> float:
        return found[("spotlab_http_request_duration_seconds_bucket", frozenset({**labels, "le": le}.items()))]

    assert found[("spotlab_http_request_duration_seconds_count", frozenset(labels.items()))] == 1
    assert found[("spotlab_http_request_duration_seconds_sum", frozenset(labels.items()))] >= 0.03
    assert (bucket("0.025"), bucket("+Inf")) == (0, 1)


def test_the_metrics_endpoint_speaks_the_prometheus_text_format(app, metrics):
    answer = call(app, "GET", "/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=")
    for name in (
        "spotlab_orders_total",
        "spotlab_trades_total",
        "spotlab_websocket_connections",
        "spotlab_event_log_write_seconds",
        "spotlab_event_log_records_written_total",
        "spotlab_command_seconds",
        "spotlab_rate_limited_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in answer.text


def test_each_app_has_its_own_registry(metrics):
    other = Metrics()
    first, second = tiny_app(metrics), tiny_app(other)
    call(first, "GET", "/items/1")
    assert requests_counted(samples(first, metrics), "/items/{id}", "200") == 1
    assert requests_counted(samples(second, other), "/items/{id}", "200") == 0


def test_domain_metrics_for_the_routes_to_update(metrics):
    metrics.count_order("BTC/USDT", "buy", "limit")
    metrics.count_trades("BTC/USDT", 3)
    metrics.count_trades("BTC/USDT", 0)
    with metrics.websocket_connected():
        assert metrics.registry.get_sample_value("spotlab_websocket_connections") == 1
    value = metrics.registry.get_sample_value
    assert value("spotlab_websocket_connections") == 0
    assert value("spotlab_orders_total", {"market": "BTC/USDT", "side": "buy", "type": "limit"}) == 1
    assert value("spotlab_trades_total", {"market": "BTC/USDT"}) == 3


def test_command_latency_is_observed_only_for_acknowledged_commands(metrics):
    async def command(fail: bool) -> None:
        with metrics.time_command():
            await asyncio.sleep(0.002)
            if fail:
                raise ValueError("refused")

    asyncio.run(command(fail=False))
    with pytest.raises(ValueError):
        asyncio.run(command(fail=True))
    value = metrics.registry.get_sample_value
    assert value("spotlab_command_seconds_count") == 1
    assert value("spotlab_command_seconds_sum") >= 0.002
    assert value("spotlab_command_seconds_bucket", {"le": "0.001"}) == 0


# --- body size limit -----------------------------------------------------------------------------------------------


def note_of(size: int) -> bytes:
    overhead = len(b'{"text":""}')
    return b'{"text":"' + b"x" * (size - overhead) + b'"}'


def test_a_body_at_the_limit_is_accepted(app):
    answer = call(app, "POST", "/notes", content=note_of(LIMIT), headers={"content-type": "application/json"})
    assert answer.status_code == 200 and answer.json() == {"length": LIMIT - 11}


def test_a_declared_content_length_over_the_limit_is_refused_before_the_app_runs(app):
    answer = call(
        app,
        "POST",
        "/notes",
        content=note_of(LIMIT + 1),
        headers={"content-type": "application/json", "X-Request-ID": "big-1"},
    )
    assert answer.status_code == 413 and answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = answer.json()
    assert (problem["code"], problem["request_id"], problem["max_bytes"]) == ("PAYLOAD_TOO_LARGE", "big-1", LIMIT)
    assert problem["type"] == "https://spotlab.dev/problems/payload-too-large"
    assert app.state.handled == []


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit_without_reading_the_rest(app, metrics):
    pulled = []

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(20):  # 5 KiB in all
            pulled.append(index)
            yield CHUNK

    answer = call(app, "POST", "/notes", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["code"] == "PAYLOAD_TOO_LARGE"  # not FastAPI's own 400
    assert len(pulled) == LIMIT // len(CHUNK) + 1  # stopped at the first chunk past the limit
    assert app.state.handled == []
    assert requests_counted(samples(app, metrics), "/notes", "413", method="POST") == 1


def test_a_chunked_body_under_the_limit_reaches_the_app(app):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text":"'
        yield b"y" * 500
        yield b'"}'

    answer = call(app, "POST", "/notes", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 200 and answer.json() == {"length": 500}


# --- security headers ----------------------------------------------------------------------------------------------


def test_nosniff_always_and_no_hsts_without_tls(app):
    for url in ("/items/1", "/boom", "/no/such/path"):
        headers = call(app, "GET", url).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in headers


def test_hsts_when_tls_is_on_even_on_errors():
    app = tiny_app(Metrics(), hsts=True)
    for answer in (
        call(app, "GET", "/items/1"),
        call(app, "GET", "/boom"),
        call(app, "POST", "/notes", content=CHUNK * 5),
    ):
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
        assert answer.headers["x-content-type-options"] == "nosniff"


# --- problems and logging setup ------------------------------------------------------------------------------------


def test_a_problem_response_has_the_standard_shape_and_keeps_decimals_exact():
    answer = problem_response(409, "INSUFFICIENT_FUNDS", "not enough USDT", "rid-9", available=Decimal("0.10"))
    assert answer.status_code == 409 and answer.media_type == PROBLEM_MEDIA_TYPE
    assert json.loads(answer.body) == {
        "type": "https://spotlab.dev/problems/insufficient-funds",
        "title": "Conflict",
        "status": 409,
        "code": "INSUFFICIENT_FUNDS",
        "detail": "not enough USDT",
        "request_id": "rid-9",
        "available": "0.10",
    }


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_logs_are_json_lines_carrying_the_request_id_of_the_request_they_were_logged_in(root_logging, app):
    stream = io.StringIO()
    configure_logging("INFO", stream=io.StringIO())
    configure_logging("INFO", json=True, stream=stream)  # replaces the first handler, does not add a second
    call(app, "GET", "/items/5", headers={"X-Request-ID": "json-1"})
    logging.getLogger("spotlab.test").info("after the request", extra={"amount": Decimal("0.10")})
    lines = {line["message"]: line for line in map(json.loads, stream.getvalue().splitlines())}
    assert lines["looking up item 5"]["request_id"] == "json-1"
    assert lines["GET /items/5 200"]["request_id"] == "json-1"
    assert "request_id" not in lines["after the request"] and lines["after the request"]["amount"] == "0.10"
    assert len(lines) == len(stream.getvalue().splitlines())  # each record once
    assert REQUEST_ID.get() is None


def test_configure_logging_as_text_names_the_request_id(root_logging, app):
    stream = io.StringIO()
    configure_logging("INFO", json=False, stream=stream)
    call(app, "GET", "/items/5", headers={"X-Request-ID": "text-1"})
    logging.getLogger("spotlab.test").info("outside")
    first, *_, last = stream.getvalue().splitlines()
    assert "[text-1] looking up item 5" in first and "[-] outside" in last


# --- a real server -------------------------------------------------------------------------------------------------


@pytest.fixture
def served(metrics) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(tiny_app(metrics), host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def test_under_uvicorn_both_kinds_of_oversized_body_get_the_413(served):
    def chunks() -> Iterator[bytes]:
        yield from [CHUNK] * 5

    with httpx.Client(base_url=served) as client:
        declared = client.post("/notes", content=CHUNK * 5, headers={"content-type": "application/json"})
        streamed = client.post("/notes", content=chunks(), headers={"content-type": "application/json"})
        fine = client.post("/notes", json={"text": "hi"})
    assert [declared.status_code, streamed.status_code, fine.status_code] == [413, 413, 200]
    assert streamed.json()["request_id"] == streamed.headers["x-request-id"]
