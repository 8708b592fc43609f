"""``spotlab bench api`` runs end to end at tiny sizes (this checks the harness, not the speed).

The Python parts always run (servers, accounts, the asyncio load, WebSocket subscribers and
order entry); the parts that need ``wrk`` are skipped with a message when it is missing.
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from spotlab.api.routes.order_schemas import OrderCreate
from spotlab.bench.api import ApiOptions, run
from spotlab.bench.api_floor import SIDES, FloorOptions
from spotlab.bench.api_load import Latencies, OrderFlow
from spotlab.bench.api_rest import WRK_INSTALL_HINT, WRK_SCRIPT, RestOptions, parse_wrk, run_wrk, wrk_available
from spotlab.bench.api_servers import bare_server, exchange_server, prepare_accounts, write_tokens
from spotlab.bench.api_ws import EntryOptions, FanoutOptions, entry_websocket, fanout_on
from spotlab.bench.api_ws_clients import BUCKET_NS, LagHistogram
from spotlab.cli import app

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8000
  12345 requests in 1.00s, 2.00MB read
WRKJSON {"requests":1200,"duration_us":2000000,"bytes":1,"connect_errors":0,"read_errors":1,"write_errors":0,\
"status_errors":3,"timeouts":2,"p50_us":1500,"p90_us":2000,"p99_us":4500,"max_us":9000,"mean_us":1600.0}
"""


def need_wrk() -> None:
    if not wrk_available():
        pytest.skip(f"the wrk part is not tested here: {WRK_INSTALL_HINT}")


# -- pure parts ---------------------------------------------------------------------------------


def test_wrk_figures_are_read_from_the_line_the_script_prints():
    run = parse_wrk(WRK_OUTPUT)
    assert (run.requests, run.seconds, run.non_2xx, run.socket_errors) == (1200, 2.0, 3, 3)
    assert (run.p50_ms, run.p99_ms, run.max_ms) == (1.5, 4.5, 9.0)
    assert run.per_second == (1200 - 3) / 2.0


def test_a_wrk_output_without_the_figures_line_is_an_error():
    with pytest.raises(RuntimeError, match="WRKJSON"):
        parse_wrk("Running 1s test\n")


def test_the_order_flow_is_seeded_valid_and_unique():
    first = [OrderFlow(3, "t", seed=5).next_order() for _ in range(1)]
    flow, again = OrderFlow(3, "t", seed=5), OrderFlow(3, "t", seed=5)
    orders = [flow.next_order() for _ in range(400)]
    assert orders == [again.next_order() for _ in range(400)] and orders[0] == first[0]
    assert {index for index, _ in orders} == {0, 1, 2}
    assert len({body["client_order_id"] for _, body in orders}) == 400
    for _, body in orders:
        order = OrderCreate.model_validate(body)  # what the API parses
        cents = int(order.price * 100) - 6_000_000
        assert -15 <= cents <= 5 if body["side"] == "buy" else -5 <= cents <= 15
    assert {body["side"] for _, body in orders} == {"buy", "sell"}


def test_the_wrk_script_is_where_the_harness_looks():
    assert WRK_SCRIPT.is_file() and "WRKJSON" in WRK_SCRIPT.read_text()


def test_latency_percentiles_are_nearest_rank():
    latencies = Latencies()
    for ms in range(1, 101):
        latencies.add(ms * 1_000_000)
    assert latencies.summary() == {"p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert Latencies().summary() == {"p50_ms": None, "p99_ms": None, "max_ms": None}


def test_the_lag_histogram_gives_bucket_edges_and_survives_json():
    histogram = LagHistogram()
    for lag_ms in (1, 2, 3, 50):
        histogram.add(lag_ms * 1_000_000 + 1)
    histogram.add(-5)  # clock skew: counted as 0 and reported
    other = LagHistogram.from_json(json.loads(json.dumps(histogram.to_json())))
    other.merge(histogram)
    assert other.total == 10 and other.negative == 2
    assert other.percentile_ms(50) == pytest.approx(2 + BUCKET_NS / 1e6)
    assert other.percentile_ms(100) == pytest.approx(50 + BUCKET_NS / 1e6)
    assert other.max_ns == 50_000_001


# -- end to end (real servers) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory):
    """One WebSocket benchmark server with two funded accounts, shared by the WebSocket tests."""
    workdir = tmp_path_factory.mktemp("ws-server")
    with exchange_server(workdir / "store", websocket=True) as server:
        yield server, prepare_accounts(server.url, 2), workdir


@pytest.mark.slow
def test_the_command_runs_the_rest_part_with_the_python_load(tmp_path):
    out = tmp_path / "api.json"
    result = CliRunner().invoke(
        app,
        ["bench", "api", "--parts", "rest", "--rounds", "1", "--seconds", "0.3", "--warmup", "0",
         "--connections", "2", "--accounts", "1", "--load", "python", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads(out.read_text())
    assert set(report) >= {"machine", "command", "rest", "targets"}
    (entry,) = report["rest"]["rounds"]
    for target in ("exchange", "bare"):
        assert entry[target]["requests"] > 0 and entry[target]["non_2xx"] == 0
    assert entry["exchange"]["server_201"] == entry["exchange"]["requests"]  # the server counted every order
    assert [target["target"] for target in report["targets"]] == ["REST orders vs bare endpoint (median ratio)"]


@pytest.mark.slow
def test_wrk_runs_the_order_script_and_its_figures_are_read(tmp_path):
    need_wrk()
    with bare_server(tmp_path / "bare") as server:
        tokens_file = write_tokens(["x" * 180], tmp_path)
        run = run_wrk(server.url, tokens_file, RestOptions(connections=2), 1, "t")
    assert run.requests > 0 and run.non_2xx == 0 and run.socket_errors == 0
    assert 0 < run.p50_ms <= run.p99_ms <= run.max_ms


@pytest.mark.slow
def test_fanout_measures_trade_lag_and_every_book_diff_chains(ws_server):
    server, tokens, workdir = ws_server
    options = FanoutOptions(subscribers=6, subscriber_processes=1, order_rate=80, seconds=0.6, warmup_seconds=0.2,
                            load_connections=2)  # fmt: skip
    report = fanout_on(server, tokens, options, workdir, say=lambda text: None)
    assert report["orders_per_second"] > 0 and report["lag_samples"] > 0
    assert report["lag_samples"] == pytest.approx(report["trades_per_second"] * 6 * options.seconds, abs=0.5)
    assert report["lag_negative"] == 0 and 0 < report["lag_p50_ms"] <= report["lag_p99_ms"]
    assert report["book_gaps"] == 0 and report["sockets_closed_by_server"] == 0
    assert report["events_per_second"] == pytest.approx(
        report["orders_per_second"] + report["trades_per_second"], abs=0.2
    )


@pytest.mark.slow
def test_websocket_order_entry_keeps_its_window_full_and_gets_every_answer(ws_server):
    server, tokens, _ = ws_server
    options = EntryOptions(seconds=0.8, warmup_seconds=0.2, connections=2, window=4)
    report = entry_websocket(server, tokens, options, tag="t")
    assert report["results"] > 8 and report["errors"] == {}
    assert report["results_per_second"] == pytest.approx(report["results"] / report["seconds"], rel=0.01)
    assert report["p50_ms"] <= report["p99_ms"]


@pytest.mark.slow
def test_the_floor_part_measures_server_cpu_per_order_on_bare_and_real_servers(tmp_path):
    load = "wrk" if wrk_available() else "python"
    floor = FloorOptions(rounds=1, seconds=1, warmup_seconds=0, connections=2, window=4, accounts=2, rest_load=load)
    out = tmp_path / "api.json"
    run(ApiOptions(parts=("floor",), floor=floor, json_path=out), Console(file=io.StringIO(), width=200))
    report = json.loads(out.read_text())
    assert report["targets"] == []  # a reference, never judged as a target
    (row,) = report["floor"]["rounds"]
    for side in SIDES:
        figures = row[side]
        assert figures["orders"] > 0 and figures["errors"] == 0, (side, figures)
        assert figures["server_cpu_seconds"] > 0
        expected_us = figures["server_cpu_seconds"] / figures["orders"] * 1e6
        assert figures["server_cpu_us_per_order"] == pytest.approx(expected_us, rel=0.01, abs=0.01)
    bare_rest, bare_ws = row["bare_rest"]["server_cpu_us_per_order"], row["bare_ws"]["server_cpu_us_per_order"]
    assert row["ratio"] == report["floor"]["median_ratio"] == pytest.approx(bare_rest / bare_ws, rel=0.01)
    assert report["floor"]["needed_ratio"] == 2.1 and "2.1" in report["floor"]["verdict"][0]


def test_an_unknown_part_is_refused():
    with pytest.raises(ValueError, match="bogus"):
        ApiOptions(parts=("rest", "bogus"))
