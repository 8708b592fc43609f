"""``spotlab demo``: the exchange, its API and a moving simulated market in one process, with a paper account.

What a start does
- Opens the exchange on the embedded SQLite store in the data directory (or the store given),
  serves the API with uvicorn on 127.0.0.1 (as ``spotlab serve``), and once the server answers:
- makes sure the demo account exists, through the API as any user would (register, log in,
  create an API key with the ``read`` and ``trade`` scopes, deposit paper money), and keeps its
  credentials in ``<data-dir>/demo-account.json`` (mode 0600: a paper account on your own machine);
- starts the market simulator (``spotlab.sim``) on the same exchange, at real time, so the
  markets move and have liquidity;
- prints the URL, the docs URL, the demo account's login and its API key and secret.

Invariants
- Starting again resumes: the exchange replays its log, the demo account and its key are found
  (nothing is created twice), the simulator reuses its agents' accounts and starts from each
  market's last trade price.
- Ctrl-C stops cleanly: the server stops taking requests, the simulator finishes its step, the
  exchange snapshots and closes its store; nothing acknowledged is lost (the log is durable
  before any answer).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from spotlab.errors import ErrorCode, SpotlabError

DEMO_USER = "demo"
#: What a new demo account starts with (paper money).
DEMO_FUNDS = {"USDT": Decimal("100000"), "USD": Decimal("50000"), "BTC": Decimal("1"), "ETH": Decimal("10")}
CREDENTIALS_FILE = "demo-account.json"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    password: str
    key_id: str
    secret: str
    created: bool  # False when an earlier start had made it


def ensure_demo_account(base_url: str, data_dir: Path, funds: dict[str, Decimal] | None = None) -> DemoAccount:
    """The demo account and its API key, made through the API on the first start, read back afterwards."""
    import httpx

    path = data_dir / CREDENTIALS_FILE
    with httpx.Client(base_url=base_url, timeout=30) as http:
        if path.exists():
            saved = json.loads(path.read_text())
            login = http.post("/v1/auth/token", json={"username": saved["username"], "password": saved["password"]})
            if login.status_code == 200:
                return DemoAccount(saved["username"], saved["password"], saved["key_id"], saved["secret"], False)
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{path} does not match this exchange's demo account (login answered {login.status_code}); "
                "remove the file and the data directory's exchange to start afresh",
            )
        password = secrets.token_urlsafe(12)
        _ok(http.post("/v1/accounts", json={"username": DEMO_USER, "password": password}), "register")
        token = _ok(http.post("/v1/auth/token", json={"username": DEMO_USER, "password": password}), "log in")
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        key = _ok(
            http.post("/v1/api-keys", headers=bearer, json={"label": "demo", "scopes": ["read", "trade"]}),
            "create the API key",
        )
        for asset, amount in (funds or DEMO_FUNDS).items():
            _ok(http.post("/v1/deposits", headers=bearer, json={"asset": asset, "amount": str(amount)}), "deposit")
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"username": DEMO_USER, "password": password, "key_id": key["key_id"], "secret": key["secret"]}, f)
    return DemoAccount(DEMO_USER, password, key["key_id"], key["secret"], True)


def _ok(answer, what: str) -> dict[str, Any]:
    if answer.status_code >= 300:
        raise SpotlabError(ErrorCode.INVALID_ARGUMENT, f"could not {what} the demo account: {answer.text}")
    return answer.json()


def check_port_free(host: str, port: int) -> None:
    """Refuse, before anything opens, a port another process already listens on (a second demo, a server)."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"{host}:{port} is in use ({error.strerror}): is another spotlab demo or server running? "
                "Stop it, or pass --port",
            ) from None


def wait_until_started(server, timeout: float = 60.0) -> None:
    """Block until the uvicorn ``server`` accepts connections (or raise after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or server.should_exit:
            raise SpotlabError(ErrorCode.STORE_UNAVAILABLE, "the API server did not start")
        time.sleep(0.05)


class Background:
    """A thread that runs ``target(stop)`` and records the error that ended it, if any."""

    def __init__(self, target, name: str) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._target = target
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Background:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._target(self.stop)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        self.stop.set()
        self._thread.join(timeout)


def quiet_server(config):
    """A uvicorn server that leaves signals to ``serve_venues`` (several servers share one Ctrl-C)."""
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    return Quiet(config)


def serve_venues(
    venues: list,
    *,
    seed: int = 0,
    speed: float = 1.0,
    basis=None,
    on_ready=None,
) -> list[dict[str, object]]:
    """Run one exchange, API server and simulated market per ``Settings`` in ``venues`` until Ctrl-C.

    The first venue's references drive the others', each apart by a mean-reverting gap (``basis``,
    ``spotlab.sim.prices.LinkedPrices``): their prices drift apart and come back together, which is
    what an arbitrageur trades. ``on_ready(index, base_url, account)`` is called per venue once its server
    answers and its demo account exists. Answers each simulator's last ``stats()``.
    """
    import asyncio
    import signal

    import uvicorn

    from spotlab.api.app import create_app
    from spotlab.api.gc_policy import GcPolicy
    from spotlab.api.ws_frames import FrameWebSocketProtocol
    from spotlab.clock import WallClock
    from spotlab.exchange import Exchange
    from spotlab.sim import Basis, SimConfig, Simulator

    for settings in venues:
        check_port_free(settings.host, settings.port)
    clock = WallClock()
    exchanges, servers, simulators, threads = [], [], [], []
    try:
        for settings in venues:
            exchange = Exchange.open(settings.resolved_store(), clock=clock)
            exchanges.append(exchange)
            config = uvicorn.Config(
                create_app(settings, exchange=exchange, clock=clock), host=settings.host, port=settings.port,
                log_config=None, access_log=False, ws=FrameWebSocketProtocol, ws_per_message_deflate=False,
                server_header=False, lifespan="on",
            )  # fmt: skip
            servers.append(quiet_server(config))
        first_ready = threading.Event()
        for index, (settings, exchange, server) in enumerate(zip(venues, exchanges, servers, strict=True)):
            simulator = Simulator(exchange, SimConfig(seed=seed + index), clock)
            simulators.append(simulator)

            def market(stop, index=index, settings=settings, server=server, simulator=simulator) -> None:
                wait_until_started(server)
                base_url = f"http://{settings.host}:{settings.port}"
                account = ensure_demo_account(base_url, settings.data_dir)
                if index > 0:  # follow the first venue's references, apart by the basis
                    first_ready.wait()
                    leader = simulators[0].prices
                    simulator.config = dataclasses.replace(simulator.config, follow=leader, basis=basis or Basis())
                simulator.setup()  # creates the agents, or finds them and resumes from the last prices
                if index == 0:
                    first_ready.set()
                if on_ready is not None:
                    on_ready(index, base_url, account)
                simulator.run(stop, speed=speed)

            threads.append(Background(market, f"spotlab-demo-market-{index}").start())

        def stop_all(*_: object) -> None:
            for server in servers:
                server.should_exit = True

        previous = {sig: signal.signal(sig, stop_all) for sig in (signal.SIGINT, signal.SIGTERM)}
        collector = GcPolicy().install()
        try:
            asyncio.run(_serve_all(servers))
        finally:
            collector.uninstall()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        for thread in threads:
            thread.join(timeout=30)
        for exchange in exchanges:
            exchange.close()
    for thread in threads:
        if thread.error is not None:
            raise thread.error
    return [simulator.stats() for simulator in simulators]


async def _serve_all(servers) -> None:
    import asyncio

    await asyncio.gather(*(server.serve() for server in servers))
