"""Servers and accounts for the API benchmarks: real uvicorn subprocesses on 127.0.0.1.

- ``exchange_server(workdir)``: ``spotlab serve`` (the deployed path: uvicorn, one
  worker, uvloop + httptools, no access log, log level warning) on a durable SQLite
  store in ``workdir``, with the benchmark's settings (``BENCH_SETTINGS``: rate limits
  raised so that they never refuse, a day-long token lifetime, cheap password hashing
  for the untimed account setup). The limiter still runs on every request.
  With ``websocket=True`` it is ``spotlab.bench.api_serve`` (the same, plus WebSocket options).
- ``bare_server()``: uvicorn on ``spotlab.bench.api_bare:app``, same server options.
- ``prepare_accounts(url, n)``: registers, logs in and funds ``n`` accounts over REST;
  returns their bearer tokens.
- ``order_counts(url)``: ``POST /v1/orders`` answers by status, from the server's
  ``/metrics`` (how the harness checks that the server accepted what was sent).

Invariants
- Every server listens on a fresh free port of 127.0.0.1 and is stopped (SIGINT, then
  SIGKILL after a grace period) when its ``with`` block ends, even on error.
- A server that exits or fails its readiness probe raises ``RuntimeError`` with the
  tail of its output.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

#: Settings of the benchmarked exchange server, as ``SPOTLAB_*`` variables.
BENCH_SETTINGS = {
    "SPOTLAB_RATE_LIMIT_PER_MINUTE": "100000000",  # raised: the limiter runs but never refuses
    "SPOTLAB_RATE_LIMIT_IP_PER_MINUTE": "100000000",
    "SPOTLAB_TOKEN_TTL_SECONDS": "86400",  # tokens outlive any run
    "SPOTLAB_PASSWORD_MEMORY_KIB": "1024",  # account setup is not measured; argon2 at full cost only slows it
    "SPOTLAB_PASSWORD_TIME_COST": "1",
    "SPOTLAB_SECRET_KEY": "bench-secret-key-0123456789abcdef",
    "SPOTLAB_LOG_LEVEL": "warning",
}
DEPOSITS = (("USDT", "100000000"), ("BTC", "10000"))
PASSWORD = "bench password 123"
READY_TIMEOUT_SECONDS = 30.0


@dataclass
class Server:
    """A running server subprocess: its base URL and process."""

    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/v1/ws"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def exchange_server(
    workdir: Path, *, websocket: bool = False, coalesce_seconds: float | None = None
) -> Iterator[Server]:
    """``spotlab serve`` on a durable SQLite store in ``workdir`` (created fresh by the caller).

    ``websocket=True``: ``spotlab.bench.api_serve`` instead (the same server, with WebSocket order
    entry not limited per connection and the hub's ``coalesce_seconds`` if given).
    """
    port = free_port()
    if websocket:
        command = [sys.executable, "-m", "spotlab.bench.api_serve", "--port", str(port), "--data-dir", str(workdir)]
        if coalesce_seconds is not None:
            command += ["--coalesce-seconds", str(coalesce_seconds)]
    else:
        command = [sys.executable, "-m", "spotlab.cli", "serve", "--port", str(port), "--data-dir", str(workdir)]
    env = dict(BENCH_SETTINGS)
    with _server("exchange", command, port, env, workdir) as server:
        yield server


@contextmanager
def bare_server(workdir: Path) -> Iterator[Server]:
    """The bare reference app under uvicorn with the same server options as ``spotlab serve``."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "spotlab.bench.api_bare:app", "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning", "--no-server-header",
    ]  # fmt: skip
    with _server("bare", command, port, {}, workdir) as server:
        yield server


@contextmanager
def _server(name: str, command: list[str], port: int, env: dict[str, str], workdir: Path) -> Iterator[Server]:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the {server.name} server exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the {server.name} server was not ready after {timeout:g} s:\n{server.log_tail()}")


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGINT (uvicorn shuts down cleanly, the exchange closes its store), SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def prepare_accounts(url: str, count: int, prefix: str = "bench") -> list[str]:
    """Register, log in and fund ``count`` accounts; their bearer tokens, in order."""
    tokens = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for i in range(count):
            username = f"{prefix}{i:04d}"
            _expect(client.post("/v1/accounts", json={"username": username, "password": PASSWORD}), 201)
            login = _expect(client.post("/v1/auth/token", json={"username": username, "password": PASSWORD}), 200)
            token = login.json()["access_token"]
            for asset, amount in DEPOSITS:
                answer = client.post(
                    "/v1/deposits",
                    json={"asset": asset, "amount": amount},
                    headers={"Authorization": f"Bearer {token}"},
                )
                _expect(answer, 200, 201)
            tokens.append(token)
    return tokens


def write_tokens(tokens: list[str], directory: Path) -> Path:
    """The tokens, one per line, in a file for the wrk script."""
    handle, name = tempfile.mkstemp(prefix="tokens-", suffix=".txt", dir=directory)
    with os.fdopen(handle, "w") as out:
        out.write("\n".join(tokens) + "\n")
    return Path(name)


_ORDER_LINE = re.compile(
    r'^spotlab_http_requests_total\{(?=[^}]*method="POST")(?=[^}]*route="/v1/orders")[^}]*status="(\d+)"[^}]*\}\s+(\S+)$',
    re.M,
)


def order_counts(url: str) -> dict[int, int]:
    """``{status: answers}`` of ``POST /v1/orders`` so far, from the server's Prometheus metrics."""
    text = httpx.get(url + "/metrics", timeout=10.0).text
    counts: dict[int, int] = {}
    for status, value in _ORDER_LINE.findall(text):
        counts[int(status)] = counts.get(int(status), 0) + int(float(value))
    return counts


def _expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}: "
            f"{response.text[:500]}"
        )
    return response
