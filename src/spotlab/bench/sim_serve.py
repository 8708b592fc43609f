"""The server of the simulator benchmark: the API and the market simulator in one process, as ``spotlab demo``.

    python -m spotlab.bench.sim_serve --port 8000 --data-dir /tmp/x --status /tmp/x/status.json \\
        --markets 8 --orders-per-second 1000 --warmup 5 --seconds 30

The same pieces ``spotlab.demo.serve_venues`` wires: the exchange on the embedded SQLite store in
``--data-dir``, the FastAPI app under uvicorn (the demo's server options) and the ``Simulator`` on the
same exchange in a background thread, on the wall clock, with the demo's garbage-collection policy.
Differences, and only these: the simulator trades the first ``--markets`` default markets (not all
nine), no demo account is made (the benchmark reads public books only), and the simulator is paced
by orders instead of market time:

- ``--orders-per-second R`` (> 0): after each step the simulator waits until ``placed / R`` seconds
  have passed since it started (``run_paced``), so it offers exactly ``R`` orders a second whatever
  the agent mix; if it falls more than a second behind it drops the backlog, as ``Simulator.run`` does.
- ``--orders-per-second 0``: flat out, ``Simulator.run(stop, speed=0)``.

``--switch-interval S`` (an experiment, not what ``spotlab demo`` does): ``sys.setswitchinterval(S)``
before anything starts; Python's default is 0.005 s. A thread that wants the GIL waits up to that long
for a busy one to let go, and a request crosses threads several times.

Once the server answers and the simulator is set up, the status file (JSON, replaced atomically) reads
``{"phase": "warmup", "measure_start": m0, "measure_end": m1}`` with ``time.monotonic()`` instants (one
clock for every process of the machine). At ``m0`` and ``m1`` a monitor thread takes the simulator's
``stats()`` and the CPU seconds of the process and of the simulator's thread; after ``m1`` the status is
``{"phase": "done", "start": ..., "end": ...}``. A simulator that fails writes ``{"phase": "failed"}``
with its error. The simulator keeps trading until SIGINT or SIGTERM, which stop the server cleanly.

Invariants
- Figures come from ``Simulator.stats()`` counters read between the two instants: orders placed
  (``PlaceOrder`` commands sent, refused ones included; refusals are counted apart), cancels, trades.
- The status file is never seen half-written (written beside it, then ``os.replace``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from spotlab.sim.simulator import DEFAULT_MARKETS, SimConfig, Simulator

_TICKS = os.sysconf("SC_CLK_TCK")


def run_paced(simulator: Simulator, stop: threading.Event, orders_per_second: float) -> None:
    """Step ``simulator`` until ``stop`` is set, offering ``orders_per_second`` orders placed a second."""
    simulator.setup()
    venue = simulator.venue
    origin, placed = time.monotonic(), venue.placed
    while not stop.is_set():
        simulator.step()
        delay = origin + (venue.placed - placed) / orders_per_second - time.monotonic()
        if delay < -1.0:  # more than a second behind: drop the backlog instead of bursting
            origin, placed = time.monotonic(), venue.placed
        elif delay > 0 and stop.wait(delay):
            break


def cpu_seconds(task: int | None = None) -> float:
    """User + system CPU seconds of this process, or of one of its threads (by native id)."""
    path = f"/proc/self/task/{task}/stat" if task is not None else "/proc/self/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat)


def write_status(path: Path, status: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(status))
    os.replace(partial, path)


def snapshot(simulator: Simulator, thread_id: int | None) -> dict[str, Any]:
    return {
        "monotonic": time.monotonic(),
        "stats": simulator.stats(),
        "process_cpu_seconds": cpu_seconds(),
        "simulator_cpu_seconds": cpu_seconds(thread_id) if thread_id is not None else 0.0,
    }


def serve(args: argparse.Namespace) -> None:
    import asyncio
    import signal

    import uvicorn

    from spotlab.api.app import create_app
    from spotlab.api.gc_policy import GcPolicy
    from spotlab.api.logs import configure_logging
    from spotlab.api.ws_frames import FrameWebSocketProtocol
    from spotlab.clock import WallClock
    from spotlab.demo import Background, quiet_server, wait_until_started
    from spotlab.exchange import Exchange
    from spotlab.settings import Settings

    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    settings = Settings(port=args.port, data_dir=args.data_dir)
    configure_logging(settings.log_level)
    clock = WallClock()
    exchange = Exchange.open(settings.resolved_store(), clock=clock)
    config = uvicorn.Config(
        create_app(settings, exchange=exchange, clock=clock), host=settings.host, port=settings.port,
        log_config=None, access_log=False, ws=FrameWebSocketProtocol, ws_per_message_deflate=False,
        server_header=False, lifespan="on",
    )  # fmt: skip
    server = quiet_server(config)
    simulator = Simulator(exchange, SimConfig(markets=DEFAULT_MARKETS[: args.markets], seed=args.seed), clock)
    status: Path = args.status
    native_id: list[int] = []

    def market(stop: threading.Event) -> None:
        try:
            wait_until_started(server)
            simulator.setup()
            native_id.append(threading.get_native_id())
            start = time.monotonic() + args.warmup
            threading.Thread(target=monitor, args=(start, start + args.seconds), daemon=True).start()
            write_status(status, {"phase": "warmup", "measure_start": start, "measure_end": start + args.seconds})
            if args.orders_per_second > 0:
                run_paced(simulator, stop, args.orders_per_second)
            else:
                simulator.run(stop, speed=0)
        except BaseException as error:
            write_status(status, {"phase": "failed", "error": f"{type(error).__name__}: {error}"})
            raise

    def monitor(start: float, end: float) -> None:
        time.sleep(max(0.0, start - time.monotonic()))
        first = snapshot(simulator, native_id[0])
        time.sleep(max(0.0, end - time.monotonic()))
        last = snapshot(simulator, native_id[0])
        write_status(status, {"phase": "done", "measure_start": start, "measure_end": end, "start": first, "end": last})

    thread = Background(market, "spotlab-bench-sim").start()

    def stop_serving(*_: object) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop_serving)
    GcPolicy().install()  # as spotlab demo
    try:
        asyncio.run(server.serve())
    finally:
        thread.join(timeout=30)
        exchange.close()
    if thread.error is not None:
        raise thread.error


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--markets", type=int, default=8, choices=range(1, len(DEFAULT_MARKETS) + 1))
    parser.add_argument("--orders-per-second", type=float, default=1000.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--switch-interval", type=float, default=None)
    serve(parser.parse_args(argv))


if __name__ == "__main__":
    main()
