"""``spotlab bench api`` (REST part): order placement through the real server vs a bare FastAPI endpoint.

What is measured
- **exchange**: ``spotlab serve`` (uvicorn, one worker) on a durable SQLite store in a
  fresh directory per round; ``POST /v1/orders`` with a bearer token, the whole real path:
  security headers, request ids and metrics, body limit, rate limiter (limits raised so it
  never refuses; see ``api_servers.BENCH_SETTINGS``), authentication, validation, the
  exchange (hold, match, settle, durable in the SQLite log before the answer), the answer.
- **bare**: uvicorn with the same options on ``spotlab.bench.api_bare``: one route that
  parses the same ``OrderCreate`` body and answers a small JSON object.
- Load: ``wrk`` (``bench/wrk/orders.lua``: the ``api_load.OrderFlow`` mix, a new order and a
  unique ``client_order_id`` per request, the accounts' tokens in turn) with the same threads,
  connections and duration against each, after an unmeasured warm-up. Without ``wrk`` (or with
  ``load="python"``) the Python client of ``api_load`` does the same (figures not comparable
  with wrk's: the client takes much of the CPU).
- Rounds alternate the order (bare first, then the exchange first, ...): wrk and the servers
  share the machine's cores, so ratios within a round are the figure; the summary is the
  median ratio over rounds.
- Checks: wrk's non-2xx count and socket errors, and the server's own count of ``201``
  answers to ``POST /v1/orders`` (``/metrics``) against what wrk completed.

Invariants
- Requests/s counts 2xx answers only; non-2xx answers and socket errors are reported, never
  hidden. Every measured run gets a fresh server (store, accounts, book) and a warm-up.
- The wrk script lives in the checkout (``bench/wrk/orders.lua``); without wrk the caller
  is told how to install it.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spotlab.bench.api_load import http_orders
from spotlab.bench.api_servers import Server, bare_server, exchange_server, order_counts, prepare_accounts, write_tokens

WRK_SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "wrk" / "orders.lua"
WRK_INSTALL_HINT = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)"
#: The bare app ignores the Authorization header; it gets a token-sized one so requests are the same size.
DUMMY_TOKEN = "x" * 180


@dataclass(frozen=True)
class RestOptions:
    rounds: int = 3
    seconds: float = 15.0
    warmup_seconds: float = 3.0
    connections: int = 64
    threads: int = 1
    accounts: int = 16
    seed: int = 42
    load: str = "wrk"  # "wrk" or "python"
    workdir: Path | None = None

    def __post_init__(self) -> None:
        if self.load not in ("wrk", "python"):
            raise ValueError(f"load must be 'wrk' or 'python', got {self.load!r}")
        if self.rounds < 1 or self.seconds <= 0 or self.connections < 1 or self.accounts < 1:
            raise ValueError("rounds, seconds, connections and accounts must be positive")


@dataclass
class Run:
    """One measured load run against one server."""

    target: str  # "exchange" or "bare"
    requests: int  # completed answers
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    server_201: int | None = None  # the server's own count of 201 answers during the run (exchange only)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "requests_per_second": round(self.per_second, 1),
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "server_201": self.server_201,
            **self.notes,
        }


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_rest(options: RestOptions, say=print) -> dict[str, Any]:
    """All rounds; returns ``{"rounds": [...], "median_ratio": ..., ...}`` (see the module docstring)."""
    if options.load == "wrk" and not wrk_available():
        raise RuntimeError(WRK_INSTALL_HINT)
    base = Path(tempfile.mkdtemp(prefix="spotlab-bench-api-", dir=options.workdir))
    rounds = []
    try:
        for number in range(1, options.rounds + 1):
            order = ("bare", "exchange") if number % 2 else ("exchange", "bare")
            runs = {}
            for target in order:
                workdir = base / f"round{number}-{target}"
                runs[target] = measure(target, workdir, options, tag=f"r{number}")
                say(_describe(number, runs[target]))
            ratio = runs["exchange"].per_second / runs["bare"].per_second if runs["bare"].per_second else None
            rounds.append({"round": number, "order": list(order), **{k: v.summary() for k, v in runs.items()},
                           "ratio": None if ratio is None else round(ratio, 3)})  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ratios = [r["ratio"] for r in rounds if r["ratio"] is not None]
    return {
        "load": options.load,
        "connections": options.connections,
        "threads": options.threads,
        "seconds": options.seconds,
        "warmup_seconds": options.warmup_seconds,
        "accounts": options.accounts,
        "rounds": rounds,
        "median_ratio": round(statistics.median(ratios), 3) if ratios else None,
        "median_exchange_rps": round(statistics.median(r["exchange"]["requests_per_second"] for r in rounds), 1),
        "median_bare_rps": round(statistics.median(r["bare"]["requests_per_second"] for r in rounds), 1),
    }


def measure(target: str, workdir: Path, options: RestOptions, tag: str) -> Run:
    """Start ``target``'s server, prepare its accounts, warm it up, measure one run, stop it."""
    starter = exchange_server if target == "exchange" else bare_server
    with starter(workdir) as server:
        if target == "exchange":
            tokens = prepare_accounts(server.url, options.accounts)
        else:
            tokens = [DUMMY_TOKEN] * options.accounts
        if options.warmup_seconds > 0:
            _load(server, tokens, workdir, options, options.warmup_seconds, tag + "w")
        before = order_counts(server.url).get(201, 0) if target == "exchange" else None
        run = _load(server, tokens, workdir, options, options.seconds, tag + "m")
        run.target = target
        if before is not None:
            run.server_201 = order_counts(server.url).get(201, 0) - before
        return run


def _load(server: Server, tokens: list[str], workdir: Path, options: RestOptions, seconds: float, tag: str) -> Run:
    if options.load == "wrk":
        return run_wrk(server.url, write_tokens(tokens, workdir), options, seconds, tag)
    result = http_orders(server.url, tokens, connections=options.connections, seconds=seconds, tag=tag)
    figures = result.latencies.summary()
    return Run(
        server.name,
        sum(result.statuses.values()),
        result.seconds,
        result.errors - result.socket_errors,
        result.socket_errors,
        figures["p50_ms"],
        figures["p99_ms"],
        figures["max_ms"],
        notes={"statuses": {str(k): v for k, v in sorted(result.statuses.items())}},
    )


def wrk_command(url: str, tokens_file: Path, options: RestOptions, seconds: float, tag: str) -> list[str]:
    return [
        "wrk", f"-t{options.threads}", f"-c{options.connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "-s", str(WRK_SCRIPT), url, "--", str(tokens_file), tag, str(options.seed),
    ]  # fmt: skip


def run_wrk(url: str, tokens_file: Path, options: RestOptions, seconds: float, tag: str) -> Run:
    command = wrk_command(url, tokens_file, options, seconds, tag)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse_wrk(done.stdout)


_WRKJSON = re.compile(r"^WRKJSON (\{.*\})$", re.M)


def parse_wrk(output: str) -> Run:
    """The figures of the ``WRKJSON`` line printed by ``orders.lua``'s ``done``."""
    found = _WRKJSON.search(output)
    if found is None:
        raise RuntimeError(f"no WRKJSON line in wrk's output:\n{output[-2000:]}")
    data = json.loads(found.group(1))
    socket_errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return Run(
        "?",
        data["requests"],
        data["duration_us"] / 1e6,
        data["status_errors"],
        socket_errors,
        round(data["p50_us"] / 1000, 3),
        round(data["p99_us"] / 1000, 3),
        round(data["max_us"] / 1000, 3),
    )


def _describe(number: int, run: Run) -> str:
    check = "" if run.server_201 is None else f", server counted {run.server_201} x 201"
    return (
        f"round {number} {run.target:8s}: {run.per_second:8.0f} req/s  p50 {run.p50_ms} ms  p99 {run.p99_ms} ms  "
        f"({run.requests} answers, {run.non_2xx} non-2xx, {run.socket_errors} socket errors{check})"
    )
